package binance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

// newTestVenue connects a Venue to f with fast timings; mut may change the
// config first.
func newTestVenue(t *testing.T, f *fakeBinance, mut func(*Config)) (*Venue, *bustest.Buffer) {
	t.Helper()
	logs := &bustest.Buffer{}
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
