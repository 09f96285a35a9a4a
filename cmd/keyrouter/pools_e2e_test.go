package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/keyrouter/keyrouter/router/bus/clocktest"
	"github.com/nats-io/nats.go"
)

func parseConfig(t *testing.T, y string) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// keyOf returns the key that accepted (strategy, id).
func (c *client) keyOf(strategy, id string) string {
	c.t.Helper()
	return c.waitKind(strategy, id, messages.KindAccepted).Key
}

func control(t *testing.T, nc *nats.Conn, verb string, req messages.HaltRequest) messages.ControlReply {
	t.Helper()
	data, _ := json.Marshal(req)
	var msg *nats.Msg
	bustest.WaitFor(t, "the control service to answer "+verb, func() bool {
		var err error
		msg, err = nc.Request(messages.ControlService+"."+verb, data, 2*time.Second)
		return err == nil
	})
	var reply messages.ControlReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil || !reply.OK {
		t.Fatalf("%s: reply %s %v", verb, msg.Data, msg.Header)
	}
	return reply
}

// A key that turns bad hands its queued orders to the next key of a
// failover pool, new intents go there while it is bad, cancels follow the
// moved orders, and traffic returns when the key recovers. keyrouter and
// the venue run on a manual clock: k1's throttle ends when the test moves
// it to the venue's next window.
func TestFailoverMovesOrdersAndReturns(t *testing.T) {
	clock := clocktest.New(windowStart)
	ka := testApp(t, parseConfig(t, `
venues: {paper: {kind: paper, seed: 1, tick: 1h}}
keys:
  k1:
    venue: paper
    limits: [{name: r1s, shape: fixed, max: 50, window: 1s}]
    venue_limits: [{name: r10s, shape: fixed, max: 2, window: 10s}]
  k2: {venue: paper, limits: [{name: r1s, shape: fixed, max: 50, window: 1s}]}
strategies: {s: {keys: [k1, k2], policy: failover}}
`), func(a *app.App) { a.Clock = clock })
	c := newClient(t, ka)
	for i := 1; i <= 5; i++ {
		c.submit("s", limitIntent(fmt.Sprintf("o%d", i)))
	}
	got := map[string]string{}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("o%d", i)
		got[id] = c.keyOf("s", id)
	}
	if got["o1"] != "k1" || got["o2"] != "k1" {
		t.Errorf("o1, o2 on %s, %s; want k1 (the first of the pool)", got["o1"], got["o2"])
	}
	for _, id := range []string{"o3", "o4", "o5"} {
		if got[id] != "k2" {
			t.Errorf("%s accepted on %s, want k2 (k1 was throttled before sending it)", id, got[id])
		}
	}
	// While k1 is throttled, new intents go to k2.
	bustest.WaitFor(t, "the router to see k1 throttled", func() bool {
		s, _ := ka.Router().Health().State("k1", clock.Now())
		return s == messages.KeyThrottled
	})
	c.submit("s", limitIntent("o6"))
	if k := c.keyOf("s", "o6"); k != "k2" {
		t.Errorf("o6 on %s while k1 is throttled, want k2", k)
	}
	// The cancel of a moved order reaches the key holding it.
	c.cancel("s", "o4")
	if r := c.waitKind("s", "o4", messages.KindCanceled); r.Key != "k2" {
		t.Errorf("o4 canceled on %s, want k2", r.Key)
	}
	// Back to k1 once its throttle ends, with the venue's next window.
	clock.Set(windowStart.Add(10 * time.Second))
	bustest.WaitFor(t, "k1 active again", func() bool {
		s, _ := ka.Router().Health().State("k1", clock.Now())
		return s == messages.KeyActive
	})
	c.submit("s", limitIntent("o7"))
	if k := c.keyOf("s", "o7"); k != "k1" {
		t.Errorf("o7 on %s after k1 recovered, want k1", k)
	}
	// Every order was accepted once and is at exactly one venue account.
	x := ka.Exchange("paper")
	for i := 1; i <= 7; i++ {
		id := fmt.Sprintf("o%d", i)
		n := 0
		for _, r := range c.reports("s", id) {
			if r.Kind == messages.KindAccepted {
				n++
			}
		}
		at := 0
		for _, k := range []string{"k1", "k2"} {
			if _, err := x.Info(k, "ETH-USDT", clientIDOf("s", id)); err == nil {
				at++
			}
		}
		if n != 1 || at != 1 {
			t.Errorf("%s: accepted %d times, at %d keys; want 1 and 1", id, n, at)
		}
	}
}

func TestPermissionsAndRisk(t *testing.T) {
	ka := testApp(t, parseConfig(t, `
venues: {paper: {kind: paper, seed: 1, tick: 1h}}
keys:
  k1:
    venue: paper
    permissions: {symbols: ["BTC-*"], sides: [buy], types: [limit], max_notional: "1000", max_open_orders: 2}
strategies:
  s:
    keys: [k1]
    risk: {max_order_notional: "500", max_open_notional: "800", price_band: "0.1"}
`))
	c := newClient(t, ka)
	bustest.WaitFor(t, "reference prices from the key's heartbeat", func() bool {
		_, ok := ka.Router().Health().Price("BTC-USDT")
		return ok
	})
	order := func(id, side, typ, symbol, qty, price string) string {
		p := ""
		if price != "" {
			p = `,"price":"` + price + `"`
		}
		return fmt.Sprintf(`{"client_order_id":%q,"symbol":%q,"side":%q,"type":%q,"quantity":%q%s}`, id, symbol, side, typ, qty, p)
	}
	for _, tc := range []struct {
		id, body string
		reason   messages.Reason
		mention  string
	}{
		{"p1", order("p1", "buy", "limit", "ETH-USDT", "0.1", "2900"), messages.ReasonNotPermitted, "ETH-USDT"},
		{"p2", order("p2", "sell", "limit", "BTC-USDT", "0.001", "60000"), messages.ReasonNotPermitted, "sell"},
		{"p3", order("p3", "buy", "market", "BTC-USDT", "0.001", ""), messages.ReasonNotPermitted, "market"},
		{"p4", order("p4", "buy", "limit", "BTC-USDT", "0.02", "59000"), messages.ReasonNotPermitted, "max_notional"},
		{"r1", order("r1", "buy", "limit", "BTC-USDT", "0.01", "59000"), messages.ReasonRisk, "max_order_notional"},
		{"r2", order("r2", "buy", "limit", "BTC-USDT", "0.001", "30000"), messages.ReasonRisk, "band"},
	} {
		c.submit("s", tc.body)
		r := c.waitKind("s", tc.id, messages.KindRejected)
		if r.Reason != tc.reason || !strings.Contains(r.Message, tc.mention) {
			t.Errorf("%s: %s (%s), want %s mentioning %q", tc.id, r.Reason, r.Message, tc.reason, tc.mention)
		}
	}
	// Open notional: 472 rests; another 472 would make 944 > 800.
	c.submit("s", order("n1", "buy", "limit", "BTC-USDT", "0.008", "59000"))
	c.waitKind("s", "n1", messages.KindAccepted)
	c.submit("s", order("n2", "buy", "limit", "BTC-USDT", "0.008", "59000"))
	if r := c.waitKind("s", "n2", messages.KindRejected); r.Reason != messages.ReasonRisk || !strings.Contains(r.Message, "max_open_notional") {
		t.Errorf("n2: %s (%s), want risk on max_open_notional", r.Reason, r.Message)
	}
	// Max open orders 2.
	c.submit("s", order("n3", "buy", "limit", "BTC-USDT", "0.001", "59000"))
	c.waitKind("s", "n3", messages.KindAccepted)
	bustest.WaitFor(t, "k1's heartbeat to count 2 open orders", func() bool { return ka.Router().Health().OpenOrders("k1") == 2 })
	c.submit("s", order("n4", "buy", "limit", "BTC-USDT", "0.001", "59000"))
	if r := c.waitKind("s", "n4", messages.KindRejected); r.Reason != messages.ReasonNotPermitted || !strings.Contains(r.Message, "max_open_orders") {
		t.Errorf("n4: %s (%s), want not_permitted on max_open_orders", r.Reason, r.Message)
	}
	// Canceling one frees both the open order and its notional.
	c.cancel("s", "n1")
	c.waitKind("s", "n1", messages.KindCanceled)
	bustest.WaitFor(t, "k1 down to 1 open order", func() bool { return ka.Router().Health().OpenOrders("k1") == 1 })
	c.submit("s", order("n5", "buy", "limit", "BTC-USDT", "0.008", "59000"))
	c.waitKind("s", "n5", messages.KindAccepted)
	if n := len(ka.Exchange("paper").AllOrders("k1", "")); n != 3 {
		t.Errorf("venue holds %d orders, want 3 (nothing refused reached it)", n)
	}
}

func TestHaltAndResume(t *testing.T) {
	ka := testApp(t, parseConfig(t, `
venues: {paper: {kind: paper, seed: 1, tick: 1h}}
keys:
  a1: {venue: paper}
  b1: {venue: paper}
  b2: {venue: paper}
strategies:
  alpha: {keys: [a1]}
  beta: {keys: [b1, b2]}
`))
	c := newClient(t, ka)
	// Discoverable like any NATS service (nats micro ls).
	var info *nats.Msg
	bustest.WaitFor(t, "the control service", func() bool {
		var err error
		info, err = c.nc.Request("$SRV.INFO."+messages.ControlService, nil, time.Second)
		return err == nil
	})
	if !strings.Contains(string(info.Data), `"halt"`) {
		t.Fatalf("service info without the halt endpoint: %s", info.Data)
	}

	control(t, c.nc, "halt", messages.HaltRequest{Strategy: "alpha", Reason: "test"})
	c.submit("alpha", marketIntentBTC("h1"))
	if r := c.waitKind("alpha", "h1", messages.KindRejected); r.Reason != messages.ReasonHalted {
		t.Errorf("halted strategy: %s, want halted", r.Reason)
	}
	c.submit("beta", marketIntentBTC("h2"))
	c.waitKind("beta", "h2", messages.KindAccepted)
	control(t, c.nc, "resume", messages.HaltRequest{Strategy: "alpha"})
	c.submit("alpha", marketIntentBTC("h3"))
	c.waitKind("alpha", "h3", messages.KindAccepted)

	// Halting a key with cancel-open cancels its resting orders and moves
	// new intents to the rest of the pool.
	c.submit("beta", limitIntent("rest"))
	if k := c.keyOf("beta", "rest"); k != "b1" {
		t.Fatalf("rest on %s, want b1", k)
	}
	reply := control(t, c.nc, "halt", messages.HaltRequest{Key: "b1", CancelOpen: true})
	if reply.Canceled != 1 {
		t.Errorf("canceled %d open orders, want 1", reply.Canceled)
	}
	c.waitKind("beta", "rest", messages.KindCanceled)
	c.submit("beta", marketIntentBTC("h4"))
	if k := c.keyOf("beta", "h4"); k != "b2" {
		t.Errorf("h4 on %s while b1 is halted, want b2", k)
	}
	c.submit("beta", `{"client_order_id":"h5","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001","key":"b1"}`)
	if r := c.waitKind("beta", "h5", messages.KindRejected); r.Reason != messages.ReasonHalted {
		t.Errorf("intent pinned to a halted key: %s, want halted", r.Reason)
	}
	bustest.WaitFor(t, "b1 halted in KeyStatus", func() bool { return ka.Worker("b1").State() == messages.KeyHalted })

	control(t, c.nc, "halt", messages.HaltRequest{All: true})
	c.submit("beta", marketIntentBTC("h6"))
	if r := c.waitKind("beta", "h6", messages.KindRejected); r.Reason != messages.ReasonHalted {
		t.Errorf("everything halted: %s, want halted", r.Reason)
	}
	control(t, c.nc, "resume", messages.HaltRequest{All: true})
	control(t, c.nc, "resume", messages.HaltRequest{Key: "b1"})
	bustest.WaitFor(t, "the router to see b1 active", func() bool {
		s, _ := ka.Router().Health().State("b1", time.Now())
		return s == messages.KeyActive
	})
	c.submit("beta", marketIntentBTC("h7"))
	if k := c.keyOf("beta", "h7"); k != "b1" {
		t.Errorf("h7 on %s after resume, want b1", k)
	}
}

func marketIntentBTC(id string) string {
	return fmt.Sprintf(`{"client_order_id":%q,"symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`, id)
}

// A key added to a pool needs no restart: its executor starts anywhere,
// the router reloads its config, and the key takes traffic.
func TestAddKeyWithoutRestart(t *testing.T) {
	base := `
venues: {paper: {kind: paper, seed: 1, tick: 1h}}
keys:
  k1: {venue: paper}
  k2: {venue: paper}
`
	cfg1 := parseConfig(t, base+"strategies: {s: {keys: [k1, k2], policy: least_loaded}}\n")
	cfg2 := parseConfig(t, base+"  k3: {venue: paper}\nstrategies: {s: {keys: [k1, k2, k3], policy: least_loaded}}\n")
	current := cfg1
	ka := testApp(t, cfg1, func(a *app.App) {
		a.Listen = "127.0.0.1:-1"
		a.RouterOptions.Reload = func() (*configs.Config, error) { return current, nil }
	})
	c := newClient(t, ka)
	c.submit("s", `{"client_order_id":"x1","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001","key":"k3"}`)
	if r := c.waitKind("s", "x1", messages.KindRejected); r.Reason != messages.ReasonNotPermitted {
		t.Fatalf("k3 before it exists: %s, want not_permitted", r.Reason)
	}
	// A second process executes k3 against the same NATS.
	exec := &app.App{Config: cfg2, NATSURL: ka.ClientURL(), Keys: []string{"k3"}, DataDir: t.TempDir()}
	if err := exec.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer exec.Close()
	current = cfg2
	control(t, c.nc, "reload", messages.HaltRequest{})
	c.submit("s", `{"client_order_id":"x2","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001","key":"k3"}`)
	if k := c.keyOf("s", "x2"); k != "k3" {
		t.Errorf("x2 on %s, want k3", k)
	}
	// Unpinned traffic spreads over all three.
	used := map[string]int{}
	for i := 0; i < 30; i++ {
		c.submit("s", marketIntentBTC(fmt.Sprintf("y%d", i)))
	}
	for i := 0; i < 30; i++ {
		used[c.keyOf("s", fmt.Sprintf("y%d", i))]++
	}
	if used["k3"] == 0 || len(used) != 3 {
		t.Errorf("orders per key %v; want all three keys used", used)
	}
}
