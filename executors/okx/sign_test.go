package okx

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
)

// The signing example OKX publishes with its SDKs (okcoin-okex
// open-api-v3-sdk, okex-go-sdk-api/utils.go: "secretKey =
// E65791902180E9EF4510DB6A77F6EBAE ... return signed string =
// TO6uwdqz+31SIPkd4I+9NiZGmVH74dXi+Fd5X0EzzSQ="): the same pre-hash and
// base64 HMAC-SHA256 the v5 docs describe. The v5 docs give the recipe
// and inputs but no resulting signature.
func TestSignOKXExample(t *testing.T) {
	pre := prehash("2018-03-08T10:59:25.789Z", "POST", "/orders?before=2&limit=30",
		`{"product_id":"BTC-USD-0309","order_id":"377454671037440"}`)
	if want := `2018-03-08T10:59:25.789ZPOST/orders?before=2&limit=30{"product_id":"BTC-USD-0309","order_id":"377454671037440"}`; pre != want {
		t.Fatalf("pre-hash %q, want %q", pre, want)
	}
	if got, want := sign([]byte("E65791902180E9EF4510DB6A77F6EBAE"), pre), "TO6uwdqz+31SIPkd4I+9NiZGmVH74dXi+Fd5X0EzzSQ="; got != want {
		t.Errorf("sign = %s, want %s", got, want)
	}
	// The v5 docs' own example inputs: a GET signs its query as part of
	// the request path and has no body; the timestamp is ISO 8601 UTC
	// with milliseconds.
	ts := isoTimestamp(time.Date(2020, 12, 8, 9, 8, 57, 715_000_000, time.FixedZone("CET", 3600)).Add(time.Hour))
	if ts != "2020-12-08T09:08:57.715Z" {
		t.Errorf("timestamp %q, want 2020-12-08T09:08:57.715Z", ts)
	}
	if got := prehash(ts, "GET", "/api/v5/account/balance?ccy=BTC", ""); got != "2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC" {
		t.Errorf("v5 example pre-hash %q", got)
	}
	// WebSocket login: Unix seconds, GET /users/self/verify.
	lts, lsig := loginArgs([]byte("E65791902180E9EF4510DB6A77F6EBAE"), time.Unix(1538054050, 975_000_000))
	if lts != "1538054050" || lsig != sign([]byte("E65791902180E9EF4510DB6A77F6EBAE"), "1538054050GET/users/self/verify") {
		t.Errorf("login args %s %s", lts, lsig)
	}
}

func TestClassify(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		status int
		code   string
		kind   executors.ErrorKind
		reason messages.Reason
	}{
		{429, "50011", executors.Throttled, messages.ReasonRateLimited},
		{200, "50011", executors.Throttled, messages.ReasonRateLimited},
		{200, "50061", executors.Throttled, messages.ReasonRateLimited},
		{401, "50111", executors.KeyInvalid, messages.ReasonKeyUnavailable},
		{401, "50105", executors.KeyInvalid, messages.ReasonKeyUnavailable},
		{401, "50113", executors.KeyInvalid, messages.ReasonKeyUnavailable},
		{400, "50100", executors.KeyInvalid, messages.ReasonKeyUnavailable},
		{401, "59999", executors.KeyInvalid, messages.ReasonKeyUnavailable},
		{401, "50102", executors.Rejected, messages.ReasonVenueError},
		{503, "50001", executors.Unknown, messages.ReasonVenueError},
		{400, "50004", executors.Unknown, messages.ReasonVenueError},
		{502, "HTTP_502", executors.Unknown, messages.ReasonVenueError},
		{200, "50037", executors.Unavailable, messages.ReasonVenueError},
		{200, "51603", executors.Rejected, messages.ReasonUnknownOrder},
		{200, "51121", executors.Rejected, messages.ReasonInvalid},
		{200, "51000", executors.Rejected, messages.ReasonInvalid},
		{200, "51008", executors.Rejected, messages.ReasonVenueRejected},
		{200, "51016", executors.Rejected, messages.ReasonVenueRejected},
	} {
		ve := classify(tc.status, tc.code, "m", now)
		if ve.Kind != tc.kind || ve.Reason != tc.reason || ve.Code != tc.code {
			t.Errorf("classify(%d, %s) = %s/%s/%s, want %s/%s", tc.status, tc.code, ve.Kind, ve.Reason, ve.Code, tc.kind, tc.reason)
		}
		if tc.kind == executors.Throttled && !ve.RetryAfter.After(now) {
			t.Errorf("classify(%d, %s): no RetryAfter", tc.status, tc.code)
		}
	}
	if ve := classify(http.StatusOK, "50061", "You've reached the maximum order rate limit for this account.", now); !strings.Contains(ve.Message, "sub-account") {
		t.Errorf("50061 message %q does not say the limit is the sub-account's", ve.Message)
	}
}
