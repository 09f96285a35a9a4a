package binance

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/keyrouter/keyrouter/messages"
)

// A 5XX after the venue booked the order: Place finds it by client ID and
// returns its state without sending it again.
func TestUnknownOutcomeFoundByQuery(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	f.setHook(func(w http.ResponseWriter, r *http.Request, p url.Values) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v3/order" {
			f.create(p) // booked ...
			apiErr(w, 503, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.")
			return true // ... but the answer says unknown
		}
		return false
	})
	u, err := v.Place(context.Background(), limitOrder("kr0000000000000000000000000000x1", "buy", "0.001", "20000"))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if u.Status != messages.StatusNew || u.VenueOrderID == "" {
		t.Fatalf("Place: got %+v", u)
	}
	if got := f.count("POST /api/v3/order"); got != 1 {
		t.Fatalf("%d POSTs, want 1", got)
	}
}

// A timeout (no answer at all) after booking is resolved the same way.
func TestTimeoutFoundByQuery(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	var once atomic.Bool
	f.setHook(func(w http.ResponseWriter, r *http.Request, p url.Values) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v3/order" && once.CompareAndSwap(false, true) {
			f.create(p)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			return true
		}
		return false
	})
	u, err := v.Place(context.Background(), limitOrder("kr0000000000000000000000000000x2", "buy", "0.001", "31000"))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if u.Status != messages.StatusFilled || len(u.Fills) != 1 {
		t.Fatalf("Place: got %+v, want the filled order with its fill", u)
	}
	if got := f.count("POST /api/v3/order"); got != 1 {
		t.Fatalf("%d POSTs, want 1", got)
	}
}

// A 5XX where nothing was booked: once the first request can no longer
// reach the matching engine (timestamp+recvWindow) and the query still
// finds nothing, Place says nothing was placed (Unavailable) and does not
// resend it itself: sending again is the worker's, inside the key's
// budget (a resend here would be an order no budget counted).
func TestUnknownOutcomeNotFoundIsNothingPlaced(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	var posts atomic.Int32
	var firstAt time.Time
	f.setHook(func(w http.ResponseWriter, r *http.Request, p url.Values) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v3/order" {
			posts.Add(1)
			firstAt = time.Now()
			apiErr(w, 500, -1000, "An unknown error occurred while processing the request.")
			return true
		}
		return false
	})
	_, err := v.Place(context.Background(), limitOrder("kr0000000000000000000000000000x3", "buy", "0.001", "20000"))
	var ve *executors.VenueError
	if !errors.As(err, &ve) || ve.Kind != executors.Unavailable {
		t.Fatalf("Place: %v, want an Unavailable venue error (nothing placed)", err)
	}
	if got := posts.Load(); got != 1 {
		t.Fatalf("%d POSTs, want 1: the adapter must not resend by itself", got)
	}
	if f.count("GET /api/v3/order") == 0 {
		t.Fatal("declared not placed without querying")
	}
	if gap := time.Since(firstAt); gap < v.cfg.RecvWindow {
		t.Fatalf("declared not placed %s after the send, before its recvWindow (%s) ran out", gap, v.cfg.RecvWindow)
	}
}

// When neither the order nor the queries get an answer, Place says Unknown
// and never resends blind.
func TestUnknownOutcomeStaysUnknown(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	f.setHook(func(w http.ResponseWriter, r *http.Request, p url.Values) bool {
		if r.URL.Path == "/api/v3/order" {
			apiErr(w, 502, 0, "Bad Gateway")
			return true
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := v.Place(ctx, limitOrder("kr0000000000000000000000000000x4", "buy", "0.001", "20000"))
	ve := venueErr(t, err)
	if ve.Kind != executors.Unknown || !ve.Retryable() {
		t.Fatalf("got %v kind %s, want Unknown", ve, ve.Kind)
	}
	if got := f.count("POST /api/v3/order"); got != 1 {
		t.Fatalf("%d POSTs, want 1", got)
	}
	if got := f.count("GET /api/v3/order"); got != venuekit.ResolveAttempts {
		t.Fatalf("%d queries, want %d", got, venuekit.ResolveAttempts)
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
