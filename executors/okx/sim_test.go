package okx_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/okx"
	"github.com/keyrouter/keyrouter/executors/okxsim"
	"github.com/keyrouter/keyrouter/executors/venuetest"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/rs/zerolog"
)

// TestContractAgainstSimulator runs the venue contract against the adapter
// talking HTTP and WebSocket to okxsim on loopback. The simulator's place
// limit is 20 orders per minute per instrument, so the rate-limit case
// draws a 50011 without waiting for a 2 s window to pass.
func TestContractAgainstSimulator(t *testing.T) {
	venuetest.Run(t, func(t *testing.T) venuetest.Harness {
		cfg := okxsim.DefaultConfig()
		cfg.Limits.Place = okxsim.Limit{Max: 20, Window: time.Minute}
		srv, err := okxsim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		base, err := srv.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		v, err := okx.New(context.Background(), okx.Config{
			BaseURL:      base,
			WSURL:        "ws" + strings.TrimPrefix(base, "http") + "/ws/v5/private",
			APIKey:       "sub1-key",
			Secret:       []byte("sub1-secret"),
			Passphrase:   []byte("sub1-pass"),
			Timeout:      5 * time.Second,
			PollInterval: 100 * time.Millisecond,
			Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		waitUp(t, v)
		return venuetest.Harness{
			Venue:    v,
			SetPrice: srv.Exchange().SetPrice,
			Orders:   func() []executors.OrderUpdate { return srv.Orders("sub1") },
			RateLimit: &venuetest.RateLimitCase{Limit: budget.OKXPlace + ":BTC-USDT", Max: 20,
				Rejections: func() int64 { return srv.Stats().Throttled50011["place"] }},
		}
	})
}

// waitUp waits for the orders channel, so the contract sees pushes.
func waitUp(t *testing.T, v *okx.Venue) {
	t.Helper()
	bustest.WaitFor(t, "the orders channel", v.StreamUp)
}
