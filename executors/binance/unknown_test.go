package binance

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
)

// An order whose answer never comes (a 5XX, a timeout) is reported
// unknown at once, never resent, with the instant from which asking the
// venue is definite (its timestamp plus recvWindow) in RetryAfter; the
// worker asks then (Query), whether or not the order was booked.
func TestUnknownOutcomeIsReportedAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		booked bool
		answer func(w http.ResponseWriter, r *http.Request)
	}{
		{"503 after booking", true, func(w http.ResponseWriter, r *http.Request) {
			apiErr(w, 503, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.")
		}},
		{"500, nothing booked", false, func(w http.ResponseWriter, r *http.Request) {
			apiErr(w, 500, -1000, "An unknown error occurred while processing the request.")
		}},
		{"timeout after booking", true, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			v, _ := newTestVenue(t, f, func(c *Config) { c.Timeout = 200 * time.Millisecond })
			f.setHook(func(w http.ResponseWriter, r *http.Request, p url.Values) bool {
				if r.Method == http.MethodPost && r.URL.Path == "/api/v3/order" {
					if tc.booked {
						f.create(p)
					}
					tc.answer(w, r)
					return true
				}
				return false
			})
			id := "kr0000000000000000000000000000x1"
			start := time.Now()
			_, err := v.Place(context.Background(), limitOrder(id, "buy", "0.001", "20000"))
			ve := venueErr(t, err)
			if ve.Kind != executors.Unknown {
				t.Fatalf("got %v kind %s, want Unknown", ve, ve.Kind)
			}
			if took := time.Since(start); took > v.cfg.Timeout+300*time.Millisecond {
				t.Errorf("Place took %v: it waited instead of answering at once", took)
			}
			if !ve.RetryAfter.After(start.Add(v.cfg.RecvWindow)) {
				t.Errorf("RetryAfter %v is not past the request's recvWindow (%v after %v)", ve.RetryAfter, v.cfg.RecvWindow, start)
			}
			if got := f.count("POST /api/v3/order"); got != 1 {
				t.Fatalf("%d POSTs, want 1: the adapter never resends", got)
			}
			if got := f.count("GET /api/v3/order"); got != 0 {
				t.Fatalf("%d queries: asking is the worker's, once RetryAfter has passed", got)
			}
			f.setHook(nil)
			_, qerr := v.Query(context.Background(), "BTC-USDT", id)
			if tc.booked && qerr != nil {
				t.Errorf("Query of the booked order: %v", qerr)
			}
			if !tc.booked && !errors.Is(qerr, executors.ErrUnknownOrder) {
				t.Errorf("Query of an order never booked: %v, want ErrUnknownOrder", qerr)
			}
		})
	}
}

// Nothing listening: the request never left, so the venue is Unavailable.
func TestConnectionRefusedIsUnavailable(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	v.cfg.BaseURL = "http://" + addr
	_, err = v.Place(context.Background(), limitOrder("kr0000000000000000000000000000c1", "buy", "0.001", "20000"))
	ve := venueErr(t, err)
	if ve.Kind != executors.Unavailable {
		t.Fatalf("got %v kind %s, want Unavailable", ve, ve.Kind)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("the cause is not kept: %v", err)
	}
}
