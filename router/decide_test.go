package router

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// fakeView is a View with fixed answers.
type fakeView struct {
	unusable  map[string]bool
	open      map[string]int
	prices    map[string]decimal.Decimal
	openNot   decimal.Decimal
	haltedS   map[string]bool
	haltedK   map[string]bool
	headrooms map[string]float64
	earliest  map[string]time.Time // EarliestNew's answer; absent: nothing holds a new order back
}

func (f fakeView) Candidate(key string, _ time.Time) Candidate {
	h, ok := f.headrooms[key]
	if !ok {
		h = 1
	}
	return Candidate{Key: key, Usable: !f.unusable[key], Headroom: h, Capacity: 100}
}
func (f fakeView) OpenOrders(key string) int { return f.open[key] }
func (f fakeView) EarliestNew(key string, _ time.Time) (time.Time, bool) {
	at, ok := f.earliest[key]
	return at, ok
}
func (f fakeView) Explain(key string, _ time.Time) string {
	if f.unusable[key] {
		return "down, last status 4.2s ago"
	}
	return "active, last status 1s ago"
}
func (f fakeView) Price(s string) (decimal.Decimal, bool) {
	p, ok := f.prices[s]
	return p, ok
}
func (f fakeView) OpenNotional(string) decimal.Decimal { return f.openNot }
func (f fakeView) HaltedStrategy(s string) bool        { return f.haltedS[s] || f.haltedS["*"] }
func (f fakeView) HaltedKey(k string) bool             { return f.haltedK[k] }

func decideConfig(t *testing.T) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse([]byte(`
venues: {paper: {kind: paper}, other: {kind: paper}}
keys:
  k1: {venue: paper, permissions: {symbols: ["BTC-*"], max_open_orders: 2}}
  k2: {venue: paper}
  k3: {venue: other}
strategies:
  s: {keys: [k1, k2, k3], risk: {max_order_notional: "1000", price_band: "0.1"}}
  ll: {keys: [k1, k2], policy: least_loaded}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func intent(s, symbol, side, typ, qty, price string) *messages.OrderIntent {
	in := &messages.OrderIntent{ClientOrderID: "x", Strategy: s, Symbol: symbol, Side: messages.Side(side),
		Type: messages.OrderType(typ), Quantity: decimal.RequireFromString(qty)}
	if price != "" {
		p := decimal.RequireFromString(price)
		in.Price = &p
	}
	return in
}

func TestChooseKey(t *testing.T) {
	cfg := decideConfig(t)
	now := time.Unix(1000, 0)
	past := now.Add(-time.Second)
	future := now.Add(time.Minute)
	soon := now.Add(500 * time.Millisecond)
	prices := map[string]decimal.Decimal{"BTC-USDT": decimal.NewFromInt(60000), "ETH-USDT": decimal.NewFromInt(3000)}
	cases := []struct {
		name    string
		in      *messages.OrderIntent
		mod     func(*messages.OrderIntent)
		v       fakeView
		key     string
		reason  messages.Reason
		mention string
	}{
		{name: "first key", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), key: "k1"},
		{name: "unknown strategy", in: intent("zz", "BTC-USDT", "buy", "limit", "1", "1"), reason: messages.ReasonUnknownStrategy},
		{name: "expired", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), mod: func(in *messages.OrderIntent) { in.ExpiresAt = &past }, reason: messages.ReasonExpired},
		{name: "strategy halted", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), v: fakeView{haltedS: map[string]bool{"s": true}}, reason: messages.ReasonHalted},
		{name: "symbol not permitted on k1 goes to k2", in: intent("s", "ETH-USDT", "buy", "limit", "0.1", "3000"), key: "k2"},
		{name: "pinned to a key that forbids the symbol", in: intent("s", "ETH-USDT", "buy", "limit", "0.1", "3000"), mod: func(in *messages.OrderIntent) { in.Key = "k1" }, reason: messages.ReasonNotPermitted, mention: "ETH-USDT"},
		{name: "key not in the pool", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), mod: func(in *messages.OrderIntent) { in.Key = "k9" }, reason: messages.ReasonNotPermitted},
		{name: "venue restricts", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), mod: func(in *messages.OrderIntent) { in.Venue = "other" }, key: "k3"},
		{name: "no key of the venue", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), mod: func(in *messages.OrderIntent) { in.Venue = "nope" }, reason: messages.ReasonNotPermitted, mention: "nope"},
		{name: "max open orders moves on", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), v: fakeView{open: map[string]int{"k1": 2}}, key: "k2"},
		{name: "order notional", in: intent("s", "BTC-USDT", "buy", "limit", "1", "60000"), reason: messages.ReasonRisk, mention: "max_order_notional"},
		{name: "market priced at the reference", in: intent("s", "BTC-USDT", "buy", "market", "1", ""), reason: messages.ReasonRisk, mention: "60000"},
		{name: "market without a reference price", in: intent("s", "BTC-USDT", "buy", "market", "0.001", ""), v: fakeView{prices: map[string]decimal.Decimal{}}, reason: messages.ReasonRisk, mention: "no reference price"},
		{name: "price band", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "50000"), reason: messages.ReasonRisk, mention: "band"},
		{name: "unusable first key", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), v: fakeView{unusable: map[string]bool{"k1": true}}, key: "k2"},
		{name: "halted first key", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), v: fakeView{haltedK: map[string]bool{"k1": true}}, key: "k2"},
		{name: "all halted", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), v: fakeView{haltedK: map[string]bool{"k1": true, "k2": true, "k3": true}}, reason: messages.ReasonHalted},
		{name: "none usable, no deadline", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), v: fakeView{unusable: map[string]bool{"k1": true, "k2": true, "k3": true}}, reason: messages.ReasonKeyUnavailable, mention: "k1 (down, last status 4.2s ago)"},
		{name: "none usable, a deadline: waits at the first", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), mod: func(in *messages.OrderIntent) { in.ExpiresAt = &future }, v: fakeView{unusable: map[string]bool{"k1": true, "k2": true, "k3": true}}, key: "k1"},
		{name: "a deadline the first key's budget can meet", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), mod: func(in *messages.OrderIntent) { in.ExpiresAt = &soon }, v: fakeView{earliest: map[string]time.Time{"k1": soon.Add(-time.Millisecond)}}, key: "k1"},
		{name: "a deadline the first key's budget cannot meet goes to the next", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), mod: func(in *messages.OrderIntent) { in.ExpiresAt = &soon }, v: fakeView{earliest: map[string]time.Time{"k1": soon, "k2": now}}, key: "k2"},
		{name: "a deadline no key's budget can meet: expired at once", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), mod: func(in *messages.OrderIntent) { in.ExpiresAt = &soon }, v: fakeView{earliest: map[string]time.Time{"k1": soon, "k2": soon.Add(time.Second), "k3": now.Add(1234 * time.Millisecond)}}, reason: messages.ReasonExpired, mention: "k1 in 500ms, k2 in 1.5s, k3 in 1.23s"},
		{name: "pinned to a key whose budget cannot meet the deadline", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), mod: func(in *messages.OrderIntent) { in.ExpiresAt = &soon; in.Key = "k1" }, v: fakeView{earliest: map[string]time.Time{"k1": soon}}, reason: messages.ReasonExpired, mention: "k1 in 500ms"},
		{name: "no deadline: the budget is the key's to wait for", in: intent("s", "BTC-USDT", "buy", "limit", "0.01", "60000"), v: fakeView{earliest: map[string]time.Time{"k1": future}}, key: "k1"},
		{name: "least loaded", in: intent("ll", "BTC-USDT", "buy", "market", "0.001", ""), v: fakeView{headrooms: map[string]float64{"k1": 0.2, "k2": 0.9}}, key: "k2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mod != nil {
				tc.mod(tc.in)
			}
			if tc.v.prices == nil {
				tc.v.prices = prices
			}
			d := ChooseKey(cfg, tc.v, tc.in, now)
			if d.Key != tc.key || d.Reason != tc.reason {
				t.Fatalf("got key %q reason %q (%s), want key %q reason %q", d.Key, d.Reason, d.Message, tc.key, tc.reason)
			}
			if tc.mention != "" && !strings.Contains(d.Message, tc.mention) {
				t.Errorf("message %q does not mention %q", d.Message, tc.mention)
			}
		})
	}
}

// Health explains a key for a key_unavailable refusal: its state and how
// long ago its last status came.
func TestHealthExplain(t *testing.T) {
	h := NewHealth(3 * time.Second)
	t0 := time.Unix(100, 0)
	h.Observe(messages.KeyStatus{Key: "k", State: messages.KeyActive, TS: t0}, t0)
	for _, c := range []struct {
		key   string
		after time.Duration
		want  string
	}{
		{"k", time.Second, "active, last status 1s ago"},
		// No process known alive: down once silent past the timeout.
		{"k", 4200 * time.Millisecond, "down, last status 4.2s ago"},
		{"never", 0, "active, never heard from"},
	} {
		if got := h.Explain(c.key, t0.Add(c.after)); got != c.want {
			t.Errorf("%s %v on: %q, want %q", c.key, c.after, got, c.want)
		}
	}
	if got, want := whyUnusable(view{Health: h}, []string{"k", "never"}, t0.Add(4*time.Second)), "k (down, last status 4s ago) never (active, never heard from)"; got != want {
		t.Errorf("whyUnusable: %q, want %q", got, want)
	}
}

// Health says when a key could send one more new order by its last
// status's capacity, counting the orders handed to it since; a status
// without capacity, or too old, holds nothing back.
func TestHealthEarliestNew(t *testing.T) {
	h := NewHealth(3 * time.Second)
	t0 := time.Unix(100, 0)
	ms := func(n int64) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	h.Observe(messages.KeyStatus{Key: "k", State: messages.KeyActive, TS: t0,
		Capacity: []messages.CapacityPoint{{InMS: 300, OrdersBefore: 0}, {InMS: 1300, OrdersBefore: 2}, {InMS: 3000, OrdersBefore: 4}}}, t0)
	h.Observe(messages.KeyStatus{Key: "idle", State: messages.KeyActive, TS: t0}, t0)
	check := func(key string, now time.Time, want time.Time, wantOK bool) {
		t.Helper()
		if got, ok := h.EarliestNew(key, now); ok != wantOK || !got.Equal(want) {
			t.Errorf("%s at %v: %v %v, want %v %v", key, now.Sub(t0), got.Sub(t0), ok, want.Sub(t0), wantOK)
		}
	}
	check("k", t0, ms(300), true)
	h.Sent("k", ms(1))
	check("k", ms(1), ms(300), true) // the second order: still the first step's
	h.Sent("k", ms(2))
	check("k", ms(2), ms(1300), true)
	h.Sent("k", ms(3))
	h.Sent("k", ms(4))
	check("k", ms(4), ms(3000), true)
	h.Sent("k", ms(5))
	check("k", ms(5), ms(3000), true) // past the last step: no later than it
	check("k", t0.Add(capacityFresh+time.Millisecond), time.Time{}, false)
	check("idle", t0, time.Time{}, false)
	check("never", t0, time.Time{}, false)
	// A status taken after some sends counts them itself.
	h.Observe(messages.KeyStatus{Key: "k", State: messages.KeyActive, TS: ms(3),
		Capacity: []messages.CapacityPoint{{InMS: 0, OrdersBefore: 0}, {InMS: 100, OrdersBefore: 2}}}, ms(6))
	check("k", ms(6), ms(103), true) // two sent after it was taken
}

func TestHealthInFlightCountsSendsAfterTheHeartbeat(t *testing.T) {
	h := NewHealth(time.Second)
	t0 := time.Unix(100, 0)
	h.Observe(messages.KeyStatus{Key: "k", State: messages.KeyActive, OpenOrders: 3, TS: t0}, t0)
	h.Sent("k", t0.Add(time.Millisecond))
	h.Sent("k", t0.Add(2*time.Millisecond))
	if got := h.OpenOrders("k"); got != 5 {
		t.Errorf("open orders %d, want 3 reported + 2 sent since", got)
	}
	h.Unsent("k")
	if got := h.Candidate("k", t0).InFlight; got != 1 {
		t.Errorf("in flight %d after a failed publish, want 1", got)
	}
	// The next heartbeat was taken after the send: it counts it itself.
	h.Observe(messages.KeyStatus{Key: "k", State: messages.KeyActive, OpenOrders: 4, TS: t0.Add(5 * time.Millisecond)}, t0.Add(5*time.Millisecond))
	if got := h.OpenOrders("k"); got != 4 {
		t.Errorf("open orders %d, want 4", got)
	}
	if h.Usable("k", t0.Add(2*time.Second)) {
		t.Errorf("usable after the heartbeat timeout")
	}
	if !h.Usable("never-heard", t0) {
		t.Errorf("a key never heard from should be usable (its orders wait in EXEC)")
	}
}

// A key that idles is heard from every messages.KeyStatusHeartbeat: past
// the heartbeat timeout it stays up while its worker's process is alive,
// for two heartbeats more; a dead process's key is down at the timeout.
func TestHealthIdleKeyOfALiveProcess(t *testing.T) {
	const timeout = 3 * time.Second
	alive := map[string]bool{"p1": true}
	var asked []string
	h := NewHealth(timeout)
	h.SetAlive(func(worker string) bool {
		asked = append(asked, worker)
		_, inst, _ := strings.Cut(worker, "@")
		return alive[inst]
	})
	t0 := time.Unix(100, 0)
	h.Observe(messages.KeyStatus{Key: "a", State: messages.KeyActive, Worker: "a@p1", TS: t0}, t0)
	h.Observe(messages.KeyStatus{Key: "b", State: messages.KeyActive, Worker: "b@p2", TS: t0}, t0)
	for _, c := range []struct {
		key   string
		after time.Duration
		want  bool
	}{
		{"a", timeout, true},
		{"a", timeout + messages.KeyStatusHeartbeat, true},
		{"a", timeout + 2*messages.KeyStatusHeartbeat, true},
		{"a", timeout + 2*messages.KeyStatusHeartbeat + time.Millisecond, false},
		{"b", timeout, true},
		{"b", timeout + time.Millisecond, false},
	} {
		if got := h.Usable(c.key, t0.Add(c.after)); got != c.want {
			t.Errorf("%s %v after its last status: usable %v, want %v", c.key, c.after, got, c.want)
		}
	}
	if !slices.Contains(asked, "a@p1") {
		t.Errorf("the process of a was never asked about: %v", asked)
	}
	alive["p1"] = false
	if h.Usable("a", t0.Add(timeout+time.Second)) {
		t.Error("a's process died: a is still usable past the timeout")
	}
}

// twoKeys is a config of keys k1 and k2 on the paper venue, both in
// strategy's pool (policy failover).
func twoKeys(tb testing.TB, strategy string) *configs.Config {
	tb.Helper()
	cfg, err := configs.Parse([]byte(`
venues: {paper: {kind: paper}}
keys: {k1: {venue: paper}, k2: {venue: paper}}
strategies: {` + strategy + `: {keys: [k1, k2]}}
`))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// BenchmarkChooseKey is the decision for an intent over two keys with
// statuses heard, without a deadline and with one (the keys' capacity
// consulted: busy keys with a second of orders queued and a full step
// list, the intent sent to the first key that can meet it).
func BenchmarkChooseKey(b *testing.B) {
	cfg := twoKeys(b, "f")
	now := time.Unix(1000, 0)
	h := NewHealth(3 * time.Second)
	var steps []messages.CapacityPoint
	for i := range 60 {
		steps = append(steps, messages.CapacityPoint{InMS: 900 + int64(i)*50, OrdersBefore: i * 5})
	}
	// failover ranks k1 first; it cannot meet the deadline with 150
	// orders handed to it since its status, k2 can.
	for k, used := range map[string]float64{"k1": 10, "k2": 50} {
		h.Observe(messages.KeyStatus{Key: k, State: messages.KeyActive, TS: now, QueueDepth: 100, Capacity: steps,
			Limits: []messages.LimitStatus{{Name: "orders", Used: used, Max: 100, Window: 1}}}, now)
	}
	for range 150 {
		h.Sent("k1", now.Add(time.Millisecond))
	}
	v := view{Health: h, Book: NewBook(), Halts: NewHalts()}
	exp := now.Add(time.Second)
	for _, c := range []struct {
		name string
		exp  *time.Time
		want string
	}{{"no deadline", nil, "k1"}, {"deadline", &exp, "k2"}} {
		want := c.want
		b.Run(c.name, func(b *testing.B) {
			in := intent("f", "BTC-USDT", "buy", "limit", "0.01", "60000")
			in.ExpiresAt = c.exp
			b.ReportAllocs()
			for b.Loop() {
				if d := ChooseKey(cfg, v, in, now.Add(2*time.Millisecond)); d.Key != want {
					b.Fatalf("got %q (%s), want %s", d.Key, d.Message, want)
				}
			}
		})
	}
}
