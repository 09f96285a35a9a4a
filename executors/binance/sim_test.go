package binance_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/binance"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/executors/venuetest"
	"github.com/rs/zerolog"
)

// TestContractAgainstSimulator runs the venue contract against the adapter
// talking HTTP and WebSocket to binancesim on loopback, once per user data
// stream flow.
func TestContractAgainstSimulator(t *testing.T) {
	for _, stream := range []string{binance.StreamWSAPI, binance.StreamListenKey} {
		t.Run(stream, func(t *testing.T) { runContract(t, stream) })
	}
}

func runContract(t *testing.T, stream string) {
	venuetest.Run(t, func(t *testing.T) venuetest.Harness {
		cfg := binancesim.DefaultConfig()
		cfg.RateLimits = append(binancesim.DefaultRateLimits(),
			binancesim.RateLimit{Type: "ORDERS", Interval: "MINUTE", IntervalNum: 1, Limit: 20})
		srv, err := binancesim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		base, err := srv.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		ws := "ws" + strings.TrimPrefix(base, "http")
		if stream == binance.StreamWSAPI {
			ws += "/ws-api/v3"
		}
		v, err := binance.New(context.Background(), binance.Config{
			BaseURL:      base,
			WSURL:        ws,
			UserStream:   stream,
			APIKey:       "acct1-key",
			Secret:       []byte("acct1-secret"),
			Timeout:      5 * time.Second,
			PollInterval: 100 * time.Millisecond,
			Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		x := srv.Exchange()
		return venuetest.Harness{
			Venue:    v,
			SetPrice: x.SetPrice,
			Orders:   func() []executors.OrderUpdate { return x.AllOrders("acct1", "") },
			// As Binance: a closed order's client ID places a new order.
			ReusesClosedClientIDs: true,
			RateLimit: &venuetest.RateLimitCase{Limit: "ORDERS_1M", Max: 20,
				Rejections: func() int64 { return srv.Stats().Rejected429 }},
		}
	})
}
