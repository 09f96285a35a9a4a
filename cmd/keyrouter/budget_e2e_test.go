package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/keyrouter/keyrouter/router/bus/clocktest"
	"github.com/shopspring/decimal"
)

// oneKeyConfig is strategy s with one key k on the paper venue, with the
// given limits (YAML flow sequences) and queue size.
func oneKeyConfig(t *testing.T, limits, venueLimits string, queue int) *configs.Config {
	t.Helper()
	y := fmt.Sprintf(`
venues: {paper: {kind: paper, seed: 1, tick: 1h}}
keys:
  k:
    venue: paper
    queue_size: %d
    limits: %s
`, queue, limits)
	if venueLimits != "" {
		y += "    venue_limits: " + venueLimits + "\n"
	}
	y += "strategies: {s: {keys: [k]}}\n"
	cfg, err := configs.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func limitIntent(id string) string {
	return fmt.Sprintf(`{"client_order_id":%q,"symbol":"ETH-USDT","side":"buy","type":"limit","quantity":"0.1","price":"100"}`, id)
}

func marketIntent(id string) string {
	return fmt.Sprintf(`{"client_order_id":%q,"symbol":"ETH-USDT","side":"buy","type":"market","quantity":"0.01"}`, id)
}

// Orders waiting in the queue when the process stops are not lost: the
// next process takes them and each is placed once. Both processes run on
// a manual clock, so the budget's windows move only when the test says.
func TestRestartKeepsQueuedOrders(t *testing.T) {
	dir := t.TempDir()
	cfg := oneKeyConfig(t, `[{name: r10s, shape: fixed, max: 1, window: 10s}]`, "", 100)
	clock := clocktest.New(windowStart)
	ka := &app.App{Config: cfg, RunRouter: true, Keys: app.AllKeys, DataDir: dir, Clock: clock}
	if err := ka.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ka)
	for _, id := range []string{"r1", "r2", "r3"} {
		c.submit("s", marketIntent(id))
	}
	c.waitKind("s", "r1", messages.KindAccepted)
	bustest.WaitFor(t, "two queued", func() bool { return ka.Worker("k").Status().QueueDepth == 2 })
	c.nc.Close()
	if err := ka.Close(); err != nil {
		t.Fatal(err)
	}

	// The next process, a minute later: one order fits its window, the
	// other the next one.
	clock2 := clocktest.New(windowStart.Add(time.Minute))
	app2 := testApp(t, cfg, func(a *app.App) { a.DataDir, a.Clock = dir, clock2 })
	c2 := newClient(t, app2)
	bustest.WaitFor(t, "one of r2 and r3 accepted", func() bool { return len(accepted(c2, "s", "r2", "r3")) == 1 })
	clock2.Advance(10 * time.Second)
	c2.waitKind("s", "r2", messages.KindAccepted)
	c2.waitKind("s", "r3", messages.KindAccepted)
	for _, id := range []string{"r1", "r2", "r3"} {
		if n := len(accepted(c2, "s", id)); n != 1 {
			t.Errorf("%s accepted %d times, want 1", id, n)
		}
	}
}

// windowStart is a clock-aligned instant for manual clocks: a window of
// any whole number of seconds up to a minute begins here.
var windowStart = time.Unix(1_800_000_000, 0)

// accepted returns the accepted reports of strategy's orders ids.
func accepted(c *client, strategy string, ids ...string) []messages.ExecutionReport {
	var out []messages.ExecutionReport
	for _, id := range ids {
		for _, r := range c.reports(strategy, id) {
			if r.Kind == messages.KindAccepted {
				out = append(out, r)
			}
		}
	}
	return out
}

func clientIDOf(strategy, id string) string { return executors.VenueClientID(strategy, id) }

// Promise 2: an order that an earlier attempt already placed (here placed
// at the venue behind keyrouter's back under the order's derived client
// ID, as a crashed executor would have left it) is not placed again: the
// venue's refusal of the client ID makes the worker look it up and report
// that order.
func TestOrderAlreadyAtVenueIsNotPlacedTwice(t *testing.T) {
	ka := testApp(t, oneKeyConfig(t, `[{name: r1s, shape: fixed, max: 50, window: 1s}]`, "", 100))
	c := newClient(t, ka)
	x := ka.Exchange("paper")
	prev, err := x.Place("k", executors.Order{ClientID: clientIDOf("s", "p1"), Symbol: "ETH-USDT",
		Side: messages.Buy, Type: messages.Limit, TimeInForce: messages.GTC,
		Quantity: decimal.RequireFromString("0.1"), Price: decimal.RequireFromString("100")})
	if err != nil {
		t.Fatal(err)
	}
	c.submit("s", limitIntent("p1"))
	r := c.waitKind("s", "p1", messages.KindAccepted)
	if r.VenueOrderID != prev.VenueOrderID {
		t.Errorf("accepted venue_order_id %s, want the order already there, %s", r.VenueOrderID, prev.VenueOrderID)
	}
	if n := len(x.AllOrders("k", "")); n != 1 {
		t.Errorf("venue holds %d orders, want 1", n)
	}
}

// Promise 4: when the venue enforces exactly the key's limits, a burst far
// above them is sent as fast as they allow and the venue never answers
// 429. keyrouter and the venue share a manual clock, moved a tenth of a
// second at a time once every order is routed.
func TestBurstNeverExceedsTheLimit(t *testing.T) {
	clock := clocktest.New(windowStart)
	ka := testApp(t, oneKeyConfig(t, `[{name: r1s, shape: fixed, max: 10, window: 1s}, {name: r3s, shape: fixed, max: 25, window: 3s}]`, "", 100),
		func(a *app.App) { a.Clock = clock })
	c := newClient(t, ka)
	const n = 40
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, fmt.Sprintf("b%d", i))
		c.submit("s", marketIntent(ids[i]))
	}
	bustest.WaitFor(t, "ten sent, thirty queued", func() bool {
		return len(accepted(c, "s", ids...)) == 10 && ka.Worker("k").Status().QueueDepth == n-10
	})
	bustest.WaitFor(t, "every order accepted", func() bool {
		if len(accepted(c, "s", ids...)) == n {
			return true
		}
		clock.Advance(100 * time.Millisecond)
		return false
	})
	if got := ka.Venue("k").(*paper.Venue).Rejections429(); got != 0 {
		t.Errorf("venue answered 429 %d times, want 0", got)
	}
	// The venue's own clock: no second holds more than 10 orders, no
	// 3-second window more than 25.
	var times []time.Time
	for _, o := range ka.Exchange("paper").Orders("k", "", false) {
		times = append(times, o.Created)
	}
	if len(times) != n {
		t.Fatalf("venue holds %d orders, want %d", len(times), n)
	}
	for _, a := range times {
		inSecond, in3s := 0, 0
		for _, b := range times {
			if b.Truncate(time.Second).Equal(a.Truncate(time.Second)) {
				inSecond++
			}
			if b.Truncate(3 * time.Second).Equal(a.Truncate(3 * time.Second)) {
				in3s++
			}
		}
		if inSecond > 10 || in3s > 25 {
			t.Fatalf("venue saw %d orders in one second, %d in 3 s; limits are 10 and 25", inSecond, in3s)
		}
	}
}

// Promises 3 and 2 across a router crash: a router that published an
// intent's claim (the routed order) and died before acking the intent
// left it for redelivery; the next router finds the claim the intent made
// and routes nothing again, however late, and a re-sent intent is still a
// duplicate. The executor places the order once.
func TestRouterCrashAfterClaimingRoutesNothingAgain(t *testing.T) {
	cfg := oneKeyConfig(t, `[{name: r1s, shape: fixed, max: 50, window: 1s}]`, "", 100)
	execs := testApp(t, cfg, func(a *app.App) { a.RunRouter = false; a.Listen = "127.0.0.1:-1" })
	c := newClient(t, execs)
	ack, err := c.js.Publish(t.Context(), messages.OrdersNewSubject("s"), []byte(marketIntent("c1")))
	if err != nil {
		t.Fatal(err)
	}
	// What the crashed router had published.
	in, err := messages.DecodeOrderIntent([]byte(marketIntent("c1")), "s")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(messages.ExecOrder{Intent: in, IntentSeq: ack.Sequence, Routed: 1})
	if _, err := c.js.PublishMsg(t.Context(), bus.ClaimMsg(messages.ExecNewSubject("k", "s", "c1"), data, ack.Sequence, 1)); err != nil {
		t.Fatal(err)
	}
	routerApp := &app.App{Config: cfg, NATSURL: execs.ClientURL(), RunRouter: true}
	if err := routerApp.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer routerApp.Close()
	if r := c.waitKind("s", "c1", messages.KindAccepted); r.Seq != 1 {
		t.Errorf("accepted with seq %d", r.Seq)
	}
	c.submit("s", marketIntent("c1"))
	c.waitReport("s", "c1", "duplicate", func(r messages.ExecutionReport) bool { return r.Reason == messages.ReasonDuplicate })
	if n := len(execs.Exchange("paper").AllOrders("k", "")); n != 1 {
		t.Errorf("venue holds %d orders, want 1", n)
	}
}
