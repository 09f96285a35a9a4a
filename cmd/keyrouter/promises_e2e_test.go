package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Promise 8: a cancel published after its order's intent was stored
// applies to that order, never unknown_order because it overtook it (50
// pairs, each publish stored-acked before the next).
func TestCancelsAfterTheirIntentAlwaysApply(t *testing.T) {
	ka := testApp(t, oneKeyConfig(t, `[{name: r1s, shape: fixed, max: 1000, window: 1s}]`, "", 1000))
	c := newClient(t, ka)
	const n = 50
	for i := range n {
		id := fmt.Sprintf("p%d", i)
		c.submit("s", limitIntent(id))
		c.cancel("s", id)
	}
	for i := range n {
		id := fmt.Sprintf("p%d", i)
		r := c.waitReport("s", id, "its cancel's outcome", func(r messages.ExecutionReport) bool {
			return r.Kind == messages.KindCanceled || r.Kind == messages.KindCancelRejected
		})
		if r.Kind != messages.KindCanceled {
			t.Errorf("%s: cancel answered %s %s (%s)", id, r.Kind, r.Reason, r.Message)
		}
	}
	if open := ka.Exchange("paper").OpenOrders("k", "ETH-USDT"); len(open) != 0 {
		t.Errorf("%d orders left open at the venue after their cancels", len(open))
	}
}

// Issue 8 point 9: a venue that does not answer at start leaves its key
// down (and retries in the background) while every other key trades; the
// process does not exit.
func TestUnreachableVenueLeavesOnlyItsKeyDown(t *testing.T) {
	t.Setenv("KR_DEAD_SECRET", "0123456789abcdef")
	cfg, err := configs.Parse([]byte(`
venues:
  paper: {kind: paper, seed: 1}
  dead: {kind: binance, base_url: "http://127.0.0.1:1", ws_url: "ws://127.0.0.1:1/ws-api/v3", timeout: 200ms}
keys:
  k: {venue: paper}
  d: {venue: dead, api_key: pub-d, secret_env: KR_DEAD_SECRET}
strategies: {s: {keys: [k]}, t: {keys: [d]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	ka := testApp(t, cfg)
	c := newClient(t, ka)
	c.submit("s", marketIntent("alive"))
	c.waitKind("s", "alive", messages.KindFill)
	var mu sync.Mutex
	var down *messages.KeyStatus
	sub, err := c.nc.Subscribe(messages.KeyStatusSubject("d"), func(m *nats.Msg) {
		var st messages.KeyStatus
		if json.Unmarshal(m.Data, &st) == nil && st.State == messages.KeyDown {
			mu.Lock()
			down = &st
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	bustest.WaitFor(t, "key d to say it is down", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return down != nil
	})
	if !strings.Contains(down.Message, "venue unreachable") {
		t.Errorf("down key's message %q", down.Message)
	}
	c.submit("t", marketIntent("stuck"))
	if r := c.waitKind("t", "stuck", messages.KindRejected); r.Reason != messages.ReasonKeyUnavailable {
		t.Errorf("an intent for the down key: %s %s", r.Reason, r.Message)
	}
}

// Issue 8 point 8: the router's log lines reach the process's logger.
func TestRouterLogsReachTheLogger(t *testing.T) {
	var logs bustest.Buffer
	testApp(t, nil, func(a *app.App) { a.Logger = zerolog.New(&logs).Level(zerolog.InfoLevel) })
	bustest.WaitFor(t, "the router's log line", func() bool { return strings.Contains(logs.String(), `"role":"router"`) })
}

// Issue 8 point 12: the record of a closed order expires (the order-state
// bucket does not grow for ever); the claim that makes a re-sent intent a
// duplicate stays in EXEC for the dedupe horizon.
func TestClosedOrderRecordsExpire(t *testing.T) {
	ka := testApp(t, oneKeyConfig(t, `[{name: r1s, shape: fixed, max: 50, window: 1s}]`, "", 100))
	c := newClient(t, ka)
	c.submit("s", marketIntent("m1"))
	c.waitKind("s", "m1", messages.KindFill)
	s, err := c.js.Stream(t.Context(), "KV_"+messages.BucketOrders)
	if err != nil {
		t.Fatal(err)
	}
	var ttl string
	bustest.WaitFor(t, "the closed order's record", func() bool {
		m, err := s.GetLastMsgForSubject(t.Context(), messages.OrderStateSubject(messages.OrderStateKey("k", "s", "m1")))
		if err != nil {
			return false
		}
		var rec messages.OrderRecord
		if json.Unmarshal(m.Data, &rec) != nil || rec.Phase != messages.PhaseDone {
			return false
		}
		ttl = m.Header.Get("Nats-TTL")
		return true
	})
	if ttl != bus.RecordTTL.String() {
		t.Errorf("closed order's record has Nats-TTL %q, want %s", ttl, bus.RecordTTL)
	}
	exec, err := c.js.Stream(t.Context(), messages.StreamExec)
	if err != nil {
		t.Fatal(err)
	}
	info, err := exec.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != ka.Config.Streams.DedupeHorizon {
		t.Errorf("EXEC keeps claims for %v, want the dedupe horizon %v", info.Config.MaxAge, ka.Config.Streams.DedupeHorizon)
	}
}
