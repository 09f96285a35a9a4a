package binance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/keyrouter/keyrouter/messages"
)

// security is how a request authenticates.
type security int

const (
	public     security = iota // no key
	apiKeyOnly                 // X-MBX-APIKEY, no signature (listenKey management)
	signed                     // X-MBX-APIKEY, timestamp, recvWindow, signature
)

// maxBody bounds a response read into memory (exchangeInfo is the largest).
const maxBody = 64 << 20

// response is a 2xx answer.
type response struct {
	body  []byte
	usage []executors.Usage
}

// apiError is Binance's error payload.
type apiError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// do sends one request. Parameters go in the query string for GET and
// DELETE and in a form body otherwise; a signed request signs exactly the
// string sent. Errors are *executors.VenueError and never contain the query
// string, the signature or the secret.
func (v *Venue) do(ctx context.Context, method, path string, p params, sec security) (*response, error) {
	payload := p.appendTo(nil)
	if sec == signed {
		payload = appendSigned(payload, 0, v.signer, v.cfg.RecvWindow, v.serverNow())
	}
	return v.roundTrip(ctx, method, path, payload, sec)
}

// roundTrip sends one request whose parameters, signed if sec says so,
// are payload, as do says.
func (v *Venue) roundTrip(ctx context.Context, method, path string, payload []byte, sec security) (*response, error) {
	u := v.cfg.BaseURL + path
	var body io.Reader
	inBody := method == http.MethodPost || method == http.MethodPut
	if inBody {
		body = bytes.NewReader(payload)
	} else if len(payload) > 0 {
		u += "?" + string(payload)
	}

	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	var connected atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	})
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, &executors.VenueError{Kind: executors.Unavailable, Reason: messages.ReasonVenueError,
			Message: "building request " + method + " " + path, Err: errors.New("invalid request")}
	}
	if inBody {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if sec != public {
		req.Header.Set("X-MBX-APIKEY", v.cfg.APIKey)
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		kind := executors.Unknown
		if !connected.Load() {
			// No connection was ever made: nothing reached the venue.
			kind = executors.Unavailable
		}
		return nil, &executors.VenueError{Kind: kind, Reason: messages.ReasonVenueError,
			Message: method + " " + path, Err: sanitizeErr(err, string(payload))}
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	usage := parseUsage(resp.Header)
	v.noteUsage(usage)
	if rerr != nil {
		// The venue answered but we lost the body: outcome unknown.
		return nil, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
			Message: method + " " + path + ": reading answer", Usage: usage, Err: sanitizeErr(rerr, string(payload))}
	}
	v.log.Debug().Str("method", method).Str("path", path).Int("status", resp.StatusCode).Msg("binance request")
	if resp.StatusCode/100 == 2 {
		return &response{body: raw, usage: usage}, nil
	}
	var ae apiError
	if json.Unmarshal(raw, &ae) != nil || (ae.Code == 0 && ae.Msg == "") {
		ae.Msg = truncate(redact(strings.TrimSpace(string(raw)), string(payload)), 200)
		if ae.Msg == "" {
			ae.Msg = http.StatusText(resp.StatusCode)
		}
	}
	ve := classify(resp.StatusCode, ae, retryAfter(resp.Header, ae, v.cfg.Now()))
	ve.Usage = usage
	if ve.Kind == executors.KeyInvalid {
		v.log.Error().Str("api_key", venuekit.KeyHint(v.cfg.APIKey)).Int("code", ae.Code).Str("msg", ae.Msg).
			Msg("binance refused the API key: revoked, IP not allowed, or missing the spot trading permission")
	}
	return nil, ve
}

// classify maps an HTTP status and Binance error to a VenueError. It is
// pure: the caller handles the codes that need a follow-up (-1021 resync,
// -2010 duplicate, -2011 cancel).
func classify(status int, ae apiError, retryAt time.Time) *executors.VenueError {
	ve := &executors.VenueError{Code: strconv.Itoa(ae.Code), Message: ae.Msg}
	if ae.Code == 0 {
		ve.Code = "HTTP_" + strconv.Itoa(status)
	}
	switch {
	case status == http.StatusTeapot:
		ve.Kind, ve.Reason, ve.RetryAfter = executors.Banned, messages.ReasonKeyUnavailable, retryAt
	case status == http.StatusTooManyRequests, ae.Code == -1003, ae.Code == -1015:
		ve.Kind, ve.Reason, ve.RetryAfter = executors.Throttled, messages.ReasonRateLimited, retryAt
	case ae.Code == -1022, ae.Code == -2014, ae.Code == -2015, ae.Code == -1002:
		ve.Kind, ve.Reason = executors.KeyInvalid, messages.ReasonKeyUnavailable
	case status >= 500, ae.Code == -1006, ae.Code == -1007:
		// Binance: a 5XX's execution status is UNKNOWN, it could have
		// been a success.
		ve.Kind, ve.Reason = executors.Unknown, messages.ReasonVenueError
	case ae.Code == -1021:
		// Timestamp outside recvWindow: refused before anything happened.
		ve.Kind, ve.Reason = executors.Rejected, messages.ReasonVenueError
	case ae.Code == -1013, ae.Code == -1111:
		// Filter failure or too much precision: the order breaks the
		// symbol's rules.
		ve.Kind, ve.Reason = executors.Rejected, messages.ReasonInvalid
	case ae.Code == -2013, ae.Code == -2011 && strings.HasPrefix(ae.Msg, "Unknown order"):
		ve.Kind, ve.Reason, ve.Err = executors.Rejected, messages.ReasonUnknownOrder, executors.ErrUnknownOrder
	default:
		ve.Kind, ve.Reason = executors.Rejected, messages.ReasonVenueRejected
	}
	return ve
}

var bannedUntil = regexp.MustCompile(`until (\d{12,14})`)

// retryAfter is when a throttled or banned key may send again: the
// Retry-After header (seconds) if present, else the ban's end named in the
// message, else a conservative default.
func retryAfter(h http.Header, ae apiError, now time.Time) time.Time {
	if s := h.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n >= 0 {
			return now.Add(time.Duration(n) * time.Second)
		}
	}
	if m := bannedUntil.FindStringSubmatch(ae.Msg); m != nil {
		if ms, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			return time.UnixMilli(ms)
		}
	}
	return now.Add(time.Minute)
}

// parseUsage reads X-MBX-USED-WEIGHT-<n><u> and X-MBX-ORDER-COUNT-<n><u>
// into limits named like RateLimitInfo.Name: REQUEST_WEIGHT_1M, ORDERS_10S,
// ORDERS_1D.
func parseUsage(h http.Header) []executors.Usage {
	var out []executors.Usage
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		uk := strings.ToUpper(k)
		var name string
		switch {
		case strings.HasPrefix(uk, "X-MBX-USED-WEIGHT-"):
			name = "REQUEST_WEIGHT_" + strings.TrimPrefix(uk, "X-MBX-USED-WEIGHT-")
		case strings.HasPrefix(uk, "X-MBX-ORDER-COUNT-"):
			name = "ORDERS_" + strings.TrimPrefix(uk, "X-MBX-ORDER-COUNT-")
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, executors.Usage{Limit: name, Used: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Limit < out[j].Limit })
	return out
}

// sanitizeErr strips the URL (whose query holds the signature) that
// *url.Error puts into its message, and the payload from the rest.
func sanitizeErr(err error, payload string) error {
	return venuekit.Transport(err, func(s string) string { return redact(s, payload) })
}

// redact removes the signed payload, and anything after a signature=, from
// text that might echo a request.
func redact(s, payload string) string {
	if payload != "" {
		s = strings.ReplaceAll(s, payload, "<redacted>")
	}
	if i := strings.Index(s, "signature="); i >= 0 {
		s = s[:i] + "signature=<redacted>"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// serverNow is the local clock corrected by the offset to Binance's.
func (v *Venue) serverNow() time.Time {
	return v.cfg.Now().Add(time.Duration(v.offset.Load()))
}

// syncClock sets the clock offset from GET /api/v3/time.
func (v *Venue) syncClock(ctx context.Context) error {
	t0 := v.cfg.Now()
	r, err := v.do(ctx, http.MethodGet, "/api/v3/time", nil, public)
	if err != nil {
		return err
	}
	t1 := v.cfg.Now()
	var st struct {
		ServerTime int64 `json:"serverTime"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil || st.ServerTime == 0 {
		return fmt.Errorf("binance: bad /api/v3/time answer")
	}
	mid := t0.Add(t1.Sub(t0) / 2)
	off := time.UnixMilli(st.ServerTime).Sub(mid)
	v.offset.Store(int64(off))
	v.log.Debug().Dur("offset", off).Msg("binance clock offset")
	return nil
}
