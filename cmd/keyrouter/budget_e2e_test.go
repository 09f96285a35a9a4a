package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go"
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

func TestCancelsOvertakeQueuedOrders(t *testing.T) {
	// Two requests per 10 s: the third order onwards waits in the queue.
	ka := testApp(t, oneKeyConfig(t, `[{name: r10s, shape: fixed, max: 2, window: 10s}]`, "", 100))
	c := newClient(t, ka)
	waitWindowStart(10*time.Second, 8*time.Second)
	for i := 1; i <= 4; i++ {
		c.submit("s", limitIntent(fmt.Sprintf("n%d", i)))
	}
	c.waitKind("s", "n2", messages.KindAccepted)
	waitFor(t, 5*time.Second, "n3 and n4 queued", func() bool { return ka.Worker("k").Status().QueueDepth == 2 })
	// Cancel n4 (queued here: no venue request needed) and n1 (at the
	// venue: it needs budget, and must get it before n3).
	c.cancel("s", "n4")
	c.cancel("s", "n1")
	c.waitKind("s", "n4", messages.KindCanceled)
	c.waitKind("s", "n1", messages.KindCanceled)
	c.waitKind("s", "n3", messages.KindAccepted)
	// Reports of different orders are published concurrently, so the
	// venue's own clock says what was sent first.
	x := ka.Exchange("paper")
	n1, err1 := x.Info("k", "ETH-USDT", clientIDOf("s", "n1"))
	n3, err3 := x.Info("k", "ETH-USDT", clientIDOf("s", "n3"))
	if err1 != nil || err3 != nil {
		t.Fatalf("venue lookup: %v, %v", err1, err3)
	}
	if n1.Status != messages.StatusCanceled || n3.Created.Before(n1.Updated) {
		t.Errorf("n3 reached the venue at %v, before the cancel of n1 at %v (n1 %s)", n3.Created, n1.Updated, n1.Status)
	}
	rs := c.reports("s", "n4")
	if len(rs) != 2 || rs[0].Kind != messages.KindAccepted || rs[1].Kind != messages.KindCanceled {
		t.Errorf("n4 reports %v, want accepted then canceled", kinds(rs))
	}
	for _, o := range ka.Exchange("paper").AllOrders("k", "") {
		if o.ClientID == clientIDOf("s", "n4") {
			t.Errorf("n4 reached the venue although it was canceled in the queue")
		}
	}
}

// waitWindowStart sleeps until the next clock-aligned window of length w
// begins if less than need is left of the current one, so a test's
// requests fall in one window.
func waitWindowStart(w, need time.Duration) {
	now := time.Now()
	next := now.Truncate(w).Add(w)
	if next.Sub(now) < need {
		time.Sleep(time.Until(next) + 10*time.Millisecond)
	}
}

func TestUnmeetableDeadlineExpiresAtOnce(t *testing.T) {
	ka := testApp(t, oneKeyConfig(t, `[{name: r10s, shape: fixed, max: 1, window: 10s}]`, "", 100))
	c := newClient(t, ka)
	waitWindowStart(10*time.Second, 6*time.Second)
	c.submit("s", marketIntent("first"))
	c.waitKind("s", "first", messages.KindAccepted)
	deadline := time.Now().Add(3 * time.Second)
	sent := time.Now()
	c.submit("s", `{"client_order_id":"late","symbol":"ETH-USDT","side":"buy","type":"market","quantity":"0.01","expires_at":"`+deadline.UTC().Format(time.RFC3339Nano)+`"}`)
	r := c.waitKind("s", "late", messages.KindExpired)
	if took := time.Since(sent); took > time.Second {
		t.Errorf("expired after %v; it should be expired at once, not near its deadline", took)
	}
	if r.Reason != messages.ReasonExpired || !strings.Contains(r.Message, "budget") {
		t.Errorf("reason %s message %q", r.Reason, r.Message)
	}
	if n := len(ka.Exchange("paper").AllOrders("k", "")); n != 1 {
		t.Errorf("venue has %d orders, want 1", n)
	}
}

// The deadline check counts the orders queued ahead: with the next
// window's budget already promised to them, an order that must go in
// that window is expired at once, not when it reaches the head.
func TestDeadlineCountsTheQueueAhead(t *testing.T) {
	ka := testApp(t, oneKeyConfig(t, `[{name: r10s, shape: fixed, max: 2, window: 10s}]`, "", 100))
	c := newClient(t, ka)
	waitWindowStart(10*time.Second, 7*time.Second)
	for _, id := range []string{"a", "b", "c", "d"} {
		c.submit("s", limitIntent(id))
	}
	c.waitKind("s", "b", messages.KindAccepted)
	waitFor(t, 5*time.Second, "c and d queued", func() bool { return ka.Worker("k").Status().QueueDepth == 2 })
	// The next window starts within 10 s; e's deadline is 5 s into it.
	next := time.Now().Truncate(10 * time.Second).Add(10 * time.Second)
	exp := next.Add(5 * time.Second).UTC().Format(time.RFC3339Nano)
	sent := time.Now()
	c.submit("s", `{"client_order_id":"e","symbol":"ETH-USDT","side":"buy","type":"limit","quantity":"0.1","price":"100","expires_at":"`+exp+`"}`)
	r := c.waitKind("s", "e", messages.KindExpired)
	if took := time.Since(sent); took > time.Second {
		t.Errorf("expired after %v, want at once", took)
	}
	if r.Reason != messages.ReasonExpired {
		t.Errorf("reason %s", r.Reason)
	}
	if got := ka.Worker("k").Status().QueueDepth; got != 2 {
		t.Errorf("queue depth %d after e, want 2", got)
	}
}

func TestFullQueueRejectsRateLimited(t *testing.T) {
	ka := testApp(t, oneKeyConfig(t, `[{name: r10s, shape: fixed, max: 1, window: 10s}]`, "", 2))
	c := newClient(t, ka)
	waitWindowStart(10*time.Second, 6*time.Second)
	c.submit("s", limitIntent("a"))
	c.waitKind("s", "a", messages.KindAccepted)
	for _, id := range []string{"b", "c", "d"} {
		c.submit("s", limitIntent(id))
	}
	r := c.waitKind("s", "d", messages.KindRejected)
	if r.Reason != messages.ReasonRateLimited {
		t.Errorf("reason %s, want rate_limited", r.Reason)
	}
	if got := ka.Worker("k").Status().QueueDepth; got != 2 {
		t.Errorf("queue depth %d, want 2", got)
	}
}

// A venue stricter than the key's budget answers 429 with Retry-After: the
// key turns throttled and nothing is sent to it before that time.
func TestVenueThrottleHoldsTheKey(t *testing.T) {
	ka := testApp(t, oneKeyConfig(t,
		`[{name: r1s, shape: fixed, max: 50, window: 1s}]`,
		`[{name: r2s, shape: fixed, max: 3, window: 2s}]`, 100))
	c := newClient(t, ka)
	var mu sync.Mutex
	var states []messages.KeyStatus
	sub, err := c.nc.Subscribe(messages.KeyStatusSubject("k"), func(m *nats.Msg) {
		var st messages.KeyStatus
		if json.Unmarshal(m.Data, &st) == nil {
			mu.Lock()
			states = append(states, st)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	waitWindowStart(2*time.Second, 1500*time.Millisecond)
	// With a deadline, an intent routed while the key is throttled waits
	// at its key rather than being refused key_unavailable.
	exp := time.Now().Add(20 * time.Second).UTC().Format(time.RFC3339Nano)
	for i := 0; i < 6; i++ {
		c.submit("s", fmt.Sprintf(`{"client_order_id":"t%d","symbol":"ETH-USDT","side":"buy","type":"market","quantity":"0.01","expires_at":%q}`, i, exp))
	}
	for i := 0; i < 6; i++ {
		c.waitKind("s", fmt.Sprintf("t%d", i), messages.KindAccepted)
	}
	v := ka.Venue("k").(*paper.Venue)
	if got := v.Rejections429(); got != 1 {
		t.Errorf("venue answered 429 %d times, want exactly 1 (nothing sent while throttled)", got)
	}
	mu.Lock()
	defer mu.Unlock()
	throttled := false
	for _, st := range states {
		if st.State == messages.KeyThrottled && st.Until != nil {
			throttled = true
		}
	}
	if !throttled {
		t.Errorf("no KeyStatus with state throttled and until")
	}
	// The three orders after the 429 were accepted in the next window.
	for i := 3; i < 6; i++ {
		r := c.reports("s", fmt.Sprintf("t%d", i))[0]
		if r.TS.Truncate(2*time.Second) == c.reports("s", "t0")[0].TS.Truncate(2*time.Second) {
			t.Errorf("t%d accepted in the window of the 429", i)
		}
	}
}

// Orders waiting in the queue when the process stops are not lost: the
// next process takes them and each is placed once.
func TestRestartKeepsQueuedOrders(t *testing.T) {
	dir := t.TempDir()
	cfg := oneKeyConfig(t, `[{name: r10s, shape: fixed, max: 1, window: 10s}]`, "", 100)
	ka := &app.App{Config: cfg, RunRouter: true, Keys: app.AllKeys, DataDir: dir}
	if err := ka.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ka)
	waitWindowStart(10*time.Second, 6*time.Second)
	for _, id := range []string{"r1", "r2", "r3"} {
		c.submit("s", marketIntent(id))
	}
	c.waitKind("s", "r1", messages.KindAccepted)
	waitFor(t, 5*time.Second, "two queued", func() bool { return ka.Worker("k").Status().QueueDepth == 2 })
	c.nc.Close()
	if err := ka.Close(); err != nil {
		t.Fatal(err)
	}

	app2 := testApp(t, cfg, func(a *app.App) { a.DataDir = dir })
	c2 := newClient(t, app2)
	for _, id := range []string{"r2", "r3"} {
		c2.waitKind("s", id, messages.KindAccepted)
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		n := 0
		for _, r := range c2.reports("s", id) {
			if r.Kind == messages.KindAccepted {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s accepted %d times, want 1", id, n)
		}
	}
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
// above them is sent as fast as they allow and the venue never answers 429.
func TestBurstNeverExceedsTheLimit(t *testing.T) {
	ka := testApp(t, oneKeyConfig(t, `[{name: r1s, shape: fixed, max: 10, window: 1s}, {name: r3s, shape: fixed, max: 25, window: 3s}]`, "", 100))
	c := newClient(t, ka)
	const n = 40
	for i := 0; i < n; i++ {
		c.submit("s", marketIntent(fmt.Sprintf("b%d", i)))
	}
	for i := 0; i < n; i++ {
		c.waitReport("s", fmt.Sprintf("b%d", i), "accepted", func(r messages.ExecutionReport) bool { return r.Kind == messages.KindAccepted })
	}
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

// A cancel costs more when its order is young (Kraken's rule): the order's
// age reaches the budget through the worker.
func TestCancelCostDependsOnTheOrdersAge(t *testing.T) {
	ka := testApp(t, oneKeyConfig(t, `[{name: r10s, shape: fixed, max: 20, window: 10s, costs: {new: 1, cancel: 1}, age_costs: [{under: 1s, cost: 8}, {under: 300s, cost: 1}]}]`, "", 100))
	c := newClient(t, ka)
	waitWindowStart(10*time.Second, 5*time.Second)
	c.submit("s", limitIntent("young"))
	c.submit("s", limitIntent("old"))
	c.waitKind("s", "young", messages.KindAccepted)
	c.waitKind("s", "old", messages.KindAccepted)
	c.cancel("s", "young")
	c.waitKind("s", "young", messages.KindCanceled)
	time.Sleep(1100 * time.Millisecond) // "old" must be over 1 s old: time itself is what is tested
	c.cancel("s", "old")
	c.waitKind("s", "old", messages.KindCanceled)
	// 2 new orders (1 each) + a cancel under 1 s (1+8) + one over 1 s (1+1).
	if used := ka.Worker("k").Status().Limits[0].Used; used != 13 {
		t.Errorf("budget used %v, want 13", used)
	}
}
