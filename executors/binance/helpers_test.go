package binance

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

// syncBuffer is a log sink safe for the venue's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestVenue connects a Venue to f with fast timings; mut may change the
// config first.
func newTestVenue(t *testing.T, f *fakeBinance, mut func(*Config)) (*Venue, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg := Config{
		BaseURL:      f.srv.URL,
		WSURL:        f.wsURL() + "/ws-api/v3",
		APIKey:       docAPIKey,
		Secret:       []byte(docSecret),
		RecvWindow:   100 * time.Millisecond,
		Timeout:      2 * time.Second,
		PollInterval: 20 * time.Millisecond,
		Logger:       zerolog.New(logs).Level(zerolog.DebugLevel),
	}
	if mut != nil {
		mut(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v, logs
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nextUpdate waits for one update of clientID (others are skipped).
func nextUpdate(t *testing.T, v *Venue, clientID string) executors.OrderUpdate {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case u, ok := <-v.Updates():
			if !ok {
				t.Fatal("Updates closed")
			}
			if u.ClientID == clientID {
				return u
			}
		case <-timeout:
			t.Fatalf("no update for %s", clientID)
		}
	}
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func limitOrder(id, side, qty, price string) executors.Order {
	return executors.Order{
		ClientID: id, Symbol: "BTC-USDT", Side: messages.Side(side), Type: messages.Limit,
		TimeInForce: messages.GTC, Quantity: d(qty), Price: d(price),
	}
}

func venueErr(t *testing.T, err error) *executors.VenueError {
	t.Helper()
	var ve *executors.VenueError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *executors.VenueError", err, err)
	}
	return ve
}
