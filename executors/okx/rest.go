package okx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/keyrouter/keyrouter/messages"
)

// maxBody bounds a response read into memory (instruments is the largest).
const maxBody = 32 << 20

// response is an answer OKX processed: code "0", or a single-order
// operation's "1" whose reason is in data[0].sCode.
type response struct {
	code string
	msg  string
	data json.RawMessage
}

// request is one REST call.
type request struct {
	method  string
	path    string     // e.g. /api/v5/trade/order
	query   url.Values // GET parameters, part of the signed request path
	body    any        // POST body, sent as JSON
	private bool       // signed with the key
	expTime time.Time  // if set, the expTime header (new orders)
}

// do sends one request. Errors are *executors.VenueError and never
// contain the signature, the secret or the passphrase (they travel in
// headers only, and no error quotes a header).
func (v *Venue) do(ctx context.Context, rq request) (*response, error) {
	requestPath := rq.path
	if len(rq.query) > 0 {
		requestPath += "?" + rq.query.Encode()
	}
	var body []byte
	if rq.body != nil {
		var err error
		if body, err = json.Marshal(rq.body); err != nil {
			return nil, &executors.VenueError{Kind: executors.Unavailable, Reason: messages.ReasonVenueError,
				Message: "encoding request " + rq.method + " " + rq.path, Err: err}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	var connected atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	})
	req, err := http.NewRequestWithContext(ctx, rq.method, v.cfg.BaseURL+requestPath, bytes.NewReader(body))
	if err != nil {
		return nil, &executors.VenueError{Kind: executors.Unavailable, Reason: messages.ReasonVenueError,
			Message: "building request " + rq.method + " " + rq.path, Err: errors.New("invalid request")}
	}
	req.Header.Set("Accept", "application/json")
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if v.cfg.Demo {
		req.Header.Set("x-simulated-trading", "1")
	}
	if !rq.expTime.IsZero() {
		req.Header.Set("expTime", strconv.FormatInt(rq.expTime.UnixMilli(), 10))
	}
	if rq.private {
		ts := isoTimestamp(v.serverNow())
		req.Header.Set("OK-ACCESS-KEY", v.cfg.APIKey)
		req.Header.Set("OK-ACCESS-TIMESTAMP", ts)
		req.Header.Set("OK-ACCESS-PASSPHRASE", string(v.cfg.Passphrase))
		req.Header.Set("OK-ACCESS-SIGN", sign(v.cfg.Secret, prehash(ts, rq.method, requestPath, string(body))))
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		kind := executors.Unknown
		if !connected.Load() {
			// No connection was ever made: nothing reached the venue.
			kind = executors.Unavailable
		}
		return nil, &executors.VenueError{Kind: kind, Reason: messages.ReasonVenueError,
			Message: rq.method + " " + rq.path, Err: transportErr(err)}
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if rerr != nil {
		// The venue answered but we lost the body: outcome unknown.
		return nil, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
			Message: rq.method + " " + rq.path + ": reading answer", Err: transportErr(rerr)}
	}
	v.log.Debug().Str("method", rq.method).Str("path", rq.path).Int("status", resp.StatusCode).Msg("okx request")
	var env struct {
		Code string          `json:"code"`
		Msg  string          `json:"msg"`
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &env) != nil || env.Code == "" {
		code := "HTTP_" + strconv.Itoa(resp.StatusCode)
		msg := truncate(strings.TrimSpace(string(raw)), 200)
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		ve := classify(resp.StatusCode, code, msg, v.cfg.Now())
		if resp.StatusCode/100 == 2 {
			// Accepted, but the answer is unreadable.
			ve.Kind, ve.Reason = executors.Unknown, messages.ReasonVenueError
		}
		return nil, ve
	}
	if resp.StatusCode/100 == 2 && (env.Code == "0" || env.Code == "1" || env.Code == "2") {
		return &response{code: env.Code, msg: env.Msg, data: env.Data}, nil
	}
	ve := classify(resp.StatusCode, env.Code, env.Msg, v.cfg.Now())
	v.noteError(ve)
	return nil, ve
}

// noteError logs what an operator must act on.
func (v *Venue) noteError(ve *executors.VenueError) {
	if ve.Kind == executors.KeyInvalid {
		v.log.Error().Str("api_key", venuekit.KeyHint(v.cfg.APIKey)).Str("code", ve.Code).Str("msg", ve.Message).
			Msg("okx refused the API key: deleted, frozen, IP not allowed, wrong passphrase or secret, or missing the trade permission")
	}
}

// Retry-after of the refusals OKX gives no time for: its limits count
// over 2 s (plus the budget's guard), its "busy" answer means soon.
const (
	throttleWait = budget.OKXWindow + budget.OKXWindowGuard
	busyWait     = time.Second
)

// classify maps an HTTP status and an OKX code (top level or sCode) to a
// VenueError. It is pure; callers handle the codes that need a follow-up
// (50102 resync, 51016 duplicate, 51400 cancel, 51603 unknown order).
func classify(status int, code, msg string, now time.Time) *executors.VenueError {
	ve := &executors.VenueError{Code: code, Message: msg}
	switch code {
	case "50011":
		ve.Kind, ve.Reason, ve.RetryAfter = executors.Throttled, messages.ReasonRateLimited, now.Add(throttleWait)
		ve.Message = msg + " (OKX 50011: a per-instrument limit of this sub-account)"
		return ve
	case "50061":
		ve.Kind, ve.Reason, ve.RetryAfter = executors.Throttled, messages.ReasonRateLimited, now.Add(throttleWait)
		ve.Message = msg + " (OKX 50061: the sub-account's limit of new and amended orders per 2 s, shared by every key of the sub-account)"
		return ve
	case "50013":
		ve.Kind, ve.Reason, ve.RetryAfter = executors.Throttled, messages.ReasonRateLimited, now.Add(busyWait)
		return ve
	case "50100", "50101", "50103", "50104", "50105", "50106", "50107", "50108", "50109", "50110",
		"50111", "50113", "50114", "50119", "50120", "50121", "50030", "50035":
		ve.Kind, ve.Reason = executors.KeyInvalid, messages.ReasonKeyUnavailable
		return ve
	case "50102", "50112":
		// The timestamp was refused before anything happened.
		ve.Kind, ve.Reason = executors.Rejected, messages.ReasonVenueError
		return ve
	case "50001", "50004", "50026":
		// "Does not mean that the request was successful or failed."
		ve.Kind, ve.Reason = executors.Unknown, messages.ReasonVenueError
		return ve
	case "50037":
		// expTime passed: OKX did not process the order.
		ve.Kind, ve.Reason = executors.Unavailable, messages.ReasonVenueError
		return ve
	case "51603":
		ve.Kind, ve.Reason, ve.Err = executors.Rejected, messages.ReasonUnknownOrder, executors.ErrUnknownOrder
		return ve
	case "51000", "51001", "51020", "51121", "51139", "51201", "51202", "51203", "50014", "50015":
		// A parameter or an instrument rule the order breaks.
		ve.Kind, ve.Reason = executors.Rejected, messages.ReasonInvalid
		return ve
	}
	switch {
	case status == http.StatusTooManyRequests:
		ve.Kind, ve.Reason, ve.RetryAfter = executors.Throttled, messages.ReasonRateLimited, now.Add(throttleWait)
	case status == http.StatusUnauthorized:
		ve.Kind, ve.Reason = executors.KeyInvalid, messages.ReasonKeyUnavailable
	case status >= 500:
		ve.Kind, ve.Reason = executors.Unknown, messages.ReasonVenueError
	default:
		ve.Kind, ve.Reason = executors.Rejected, messages.ReasonVenueRejected
	}
	return ve
}

// opResult is data[0] of a single-order operation.
type opResult struct {
	ClOrdID string `json:"clOrdId"`
	OrdID   string `json:"ordId"`
	SCode   string `json:"sCode"`
	SMsg    string `json:"sMsg"`
}

// op reads a single-order answer: the operation's result, or its refusal
// (sCode != 0) as a VenueError.
func (v *Venue) op(r *response) (opResult, error) {
	var ops []opResult
	if err := json.Unmarshal(r.data, &ops); err != nil || len(ops) == 0 {
		if r.code != "0" {
			return opResult{}, classify(http.StatusOK, r.code, r.msg, v.cfg.Now())
		}
		return opResult{}, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
			Message: "unreadable answer", Err: errors.New("no data")}
	}
	o := ops[0]
	if o.SCode != "" && o.SCode != "0" {
		ve := classify(http.StatusOK, o.SCode, o.SMsg, v.cfg.Now())
		v.noteError(ve)
		return o, ve
	}
	return o, nil
}

// transportErr is a net/http error without its URL (which holds nothing
// secret, but is noise) that still unwraps to the cause, so
// errors.Is(err, context.DeadlineExceeded) works.
func transportErr(err error) error { return venuekit.Transport(err, nil) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// serverNow is the local clock corrected by the offset to OKX's.
func (v *Venue) serverNow() time.Time {
	return v.cfg.Now().Add(time.Duration(v.offset.Load()))
}

// syncClock sets the clock offset from GET /api/v5/public/time.
func (v *Venue) syncClock(ctx context.Context) error {
	t0 := v.cfg.Now()
	r, err := v.do(ctx, request{method: http.MethodGet, path: "/api/v5/public/time"})
	if err != nil {
		return err
	}
	t1 := v.cfg.Now()
	var ts []struct {
		TS string `json:"ts"`
	}
	if err := json.Unmarshal(r.data, &ts); err != nil || len(ts) == 0 {
		return errors.New("okx: bad /api/v5/public/time answer")
	}
	n, err := strconv.ParseInt(ts[0].TS, 10, 64)
	if err != nil {
		return fmt.Errorf("okx: bad server time %q", ts[0].TS)
	}
	mid := t0.Add(t1.Sub(t0) / 2)
	off := time.UnixMilli(n).Sub(mid)
	v.offset.Store(int64(off))
	v.log.Debug().Dur("offset", off).Msg("okx clock offset")
	return nil
}
