package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors/okxsim"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

// okxConfig is two strategies on two keys of one sub-account of a
// simulated OKX venue, with the okx budget preset.
func okxConfig(t *testing.T, venueExtra, keyExtra string) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse([]byte(`
venues:
  okx: {kind: okx, simulate: true` + venueExtra + `}
keys:
  o1: {venue: okx, account: sub1` + keyExtra + `}
  o2: {venue: okx, account: sub1` + keyExtra + `}
strategies:
  s: {keys: [o1]}
  t: {keys: [o2]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Fills and cancels through the whole program, over HTTP and WebSocket
// to the OKX simulator.
func TestOKXThroughSimulator(t *testing.T) {
	ka := testApp(t, okxConfig(t, "", ""))
	c := newClient(t, ka)

	c.submit("s", `{"client_order_id":"m1","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	last := c.waitReport("s", "m1", "filled", func(r messages.ExecutionReport) bool { return r.Status == messages.StatusFilled })
	rs := c.reports("s", "m1")
	checkSeq(t, rs)
	if rs[0].Kind != messages.KindAccepted || rs[0].Venue != "okx" || rs[0].VenueOrderID == "" || rs[0].Key != "o1" {
		t.Errorf("first report %+v", rs[0])
	}
	if last.Fill == nil || !last.Fill.Fee.IsPositive() || last.Fill.TradeID == "" {
		t.Errorf("fill %+v, want a fee and a trade ID", last.Fill)
	}

	// A resting order fills when the market crosses it.
	c.submit("t", `{"client_order_id":"r1","symbol":"ETH-USDT","side":"buy","type":"limit","quantity":"0.01","price":"2900"}`)
	c.waitKind("t", "r1", messages.KindAccepted)
	ka.Exchange("okx").SetPrice("ETH-USDT", mustDec(t, "2899"))
	if r := c.waitKind("t", "r1", messages.KindFill); r.Fill.Liquidity != messages.Maker || r.Status != messages.StatusFilled {
		t.Errorf("resting fill %+v", r)
	}

	c.submit("t", `{"client_order_id":"l1","symbol":"ETH-USDT","side":"sell","type":"limit","quantity":"0.01","price":"9000"}`)
	c.waitKind("t", "l1", messages.KindAccepted)
	c.cancel("t", "l1")
	if r := c.waitKind("t", "l1", messages.KindCanceled); r.Status != messages.StatusCanceled {
		t.Errorf("canceled: status %s", r.Status)
	}
	c.cancel("t", "l1")
	c.waitKind("t", "l1", messages.KindCancelRejected)

	// An instrument rule the order cannot meet is refused before it costs
	// budget or a request.
	c.submit("s", `{"client_order_id":"f1","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.001","price":"50000.001"}`)
	r := c.waitKind("s", "f1", messages.KindRejected)
	if r.Reason != messages.ReasonInvalid || !strings.Contains(r.Message, "tickSz") {
		t.Errorf("rule violation: reason %s message %q", r.Reason, r.Message)
	}
	// m1's fill arrived twice (its first push answered the Place, and the
	// same push reached the worker as an update): it was reported once.
	if ks := kinds(c.reports("s", "m1")); len(ks) != 2 || ks[0] != "accepted#1" || ks[1] != "fill#2" {
		t.Errorf("m1 reports %v, want accepted then one fill", ks)
	}
	sim := ka.OKXSimulator("okx")
	if n := len(sim.Orders("sub1")); n != 3 {
		t.Errorf("venue holds %d orders, want 3", n)
	}
	if d := sim.Duplicates(); len(d) != 0 {
		t.Errorf("duplicate placements %v", d)
	}
}

func mustDec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tempFile writes a test file in a new temporary directory and returns
// its path.
func tempFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// 1,000 orders spread over 20 instruments on one key go out at the
// per-instrument rate and never draw a 50011. The simulator's place limit
// is 5 a second per instrument (OKX's is 60 per 2 s: same shape, a
// faster clock, so the test takes seconds, and a rate, 100 orders a
// second in all, that the worker reaches even under the race detector on
// a busy CI machine, so the limit is what paces it); the key's budget has
// the preset's shape with the same figures and a 150 ms guard on the
// window (a request can reach the venue that much later than the one
// five before it: the race detector on two busy cores drew a 50011 with
// 50 ms).
func TestOKXThousandOrdersTwentyInstruments(t *testing.T) {
	const (
		nInst   = 20
		nOrders = 1000
		perWin  = 5
		win     = time.Second
		guarded = 1150 * time.Millisecond
	)
	var syms strings.Builder
	for i := range nInst {
		fmt.Fprintf(&syms, "  - {symbol: C%02d-USDT, price: \"100\", tick_size: \"0.01\", step_size: \"0.001\", min_qty: \"0.001\", max_qty: \"1000\", min_notional: \"0\", max_fill_qty: \"0\"}\n", i)
	}
	simCfg := tempFile(t, "okxsim.yaml", fmt.Sprintf(`
symbols:
%slimits:
  place: {max: %d, window: %s}
  sub_account_window: %s
seed: 3
`, syms.String(), perWin, win, win))
	cfg, err := configs.Parse([]byte(fmt.Sprintf(`
venues:
  okx: {kind: okx, simulate: true, sim_config: %q}
keys:
  o1:
    venue: okx
    account: sub1
    limits:
      - {name: PLACE_2S, shape: sliding, max: %d, window: %s, scope: symbol, costs: {new: 1}}
      - {name: SUBACCOUNT_ORDERS_2S, shape: sliding, max: 1000, window: %s, scope: account, costs: {new: 1}}
strategies:
  s: {keys: [o1]}
`, simCfg, perWin, guarded, guarded)))
	if err != nil {
		t.Fatal(err)
	}
	ka := testApp(t, cfg)
	c := newClient(t, ka)
	start := time.Now()
	for i := range nOrders {
		c.submit("s", fmt.Sprintf(`{"client_order_id":"o%d","symbol":"C%02d-USDT","side":"buy","type":"limit","quantity":"0.001","price":"50"}`, i, i%nInst))
	}
	for i := range nOrders {
		if r := c.waitKind("s", fmt.Sprintf("o%d", i), messages.KindAccepted); r.Key != "o1" {
			t.Fatalf("o%d accepted on %s", i, r.Key)
		}
	}
	elapsed := time.Since(start)
	sim := ka.OKXSimulator("okx")
	st := sim.Stats()
	if st.Rejected429() != 0 || st.SubAccount50061 != 0 {
		t.Errorf("simulator answered %v 50011s and %d 50061s, want none", st.Throttled50011, st.SubAccount50061)
	}
	log := sim.OrderLog()
	if len(log) != nOrders || len(sim.Duplicates()) != 0 {
		t.Fatalf("order log holds %d placements (%d clOrdIds twice), want %d once each", len(log), len(sim.Duplicates()), nOrders)
	}
	// Independently of the simulator's own count: no window of any
	// instrument held more than the limit, and the orders went out at
	// the rate the limit allows, not slower.
	byInst := map[string][]time.Time{}
	for _, p := range log {
		byInst[p.InstID] = append(byInst[p.InstID], p.At)
	}
	var spans []time.Duration
	for inst, ts := range byInst {
		for i := perWin; i < len(ts); i++ {
			if d := ts[i].Sub(ts[i-perWin]); d <= win {
				t.Fatalf("%s: %d orders within %v", inst, perWin+1, d)
			}
		}
		spans = append(spans, ts[len(ts)-1].Sub(ts[0]))
	}
	// 50 orders per instrument are 10 windows' worth: the venue lets the
	// last go out 9 windows after the first, the budget 9 guarded ones.
	windows := time.Duration(nOrders/nInst/perWin - 1)
	venueFloor, budgetFloor := windows*win, windows*guarded
	var worst time.Duration
	for _, s := range spans {
		if s < budgetFloor {
			t.Errorf("an instrument's orders went out in %v, faster than its budget allows (%v)", s, budgetFloor)
		}
		worst = max(worst, s)
	}
	t.Logf("%d orders over %d instruments in %v (%.0f/s); slowest instrument's %d orders spanned %v: %.0f%% of the venue's limit (%v), %.0f%% of the budget's (%v); 50011: %d, 50061: %d",
		nOrders, nInst, elapsed.Round(time.Millisecond), float64(nOrders)/elapsed.Seconds(), nOrders/nInst, worst.Round(time.Millisecond),
		100*venueFloor.Seconds()/worst.Seconds(), venueFloor, 100*budgetFloor.Seconds()/worst.Seconds(), budgetFloor,
		st.Rejected429(), st.SubAccount50061)
	if worst > budgetFloor*3/2 {
		t.Errorf("slowest instrument took %v, over 1.5 times the %v its budget needs: not going out at the limit's rate", worst, budgetFloor)
	}
}

// Two keys of one sub-account share the sub-account's limit of new
// orders (read from account-rate-limit into the preset) and each
// instrument's place limit: a burst on both keys draws neither a 50061
// nor a 50011. The preset is OKX's own, 2 s windows. Sub-account sub1's
// limit is lowered to 80 and its keys send 160 orders on two instruments,
// so the sub-account limit binds; sub2's keys send 100 orders on one
// instrument, so its place limit (60) binds. Either limit counted per key
// would draw refusals.
func TestOKXTwoKeysOneSubAccount(t *testing.T) {
	simCfg := tempFile(t, "okxsim.yaml", `
accounts:
  - {id: sub1, acc_rate_limit: 80}
  - {id: sub2, acc_rate_limit: 1000}
seed: 5
`)
	cfg, err := configs.Parse([]byte(`
venues:
  okx: {kind: okx, simulate: true, sim_config: ` + strconv.Quote(simCfg) + `}
keys:
  a1: {venue: okx, account: sub1}
  a2: {venue: okx, account: sub1}
  b1: {venue: okx, account: sub2}
  b2: {venue: okx, account: sub2}
strategies:
  sa1: {keys: [a1]}
  sa2: {keys: [a2]}
  sb1: {keys: [b1]}
  sb2: {keys: [b2]}
`))
	if err != nil {
		t.Fatal(err)
	}
	ka := testApp(t, cfg)
	c := newClient(t, ka)
	var statuses bustest.Buffer
	sub, err := c.nc.Subscribe("keys.a1.status", func(m *nats.Msg) { statuses.Write(append(m.Data, '\n')) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	type id struct{ strategy, cid string }
	var ids []id
	submit := func(strategy, cid, sym string) {
		qty, px := "0.001", "10000"
		if sym == "ETH-USDT" {
			qty, px = "0.01", "1000"
		}
		c.submit(strategy, fmt.Sprintf(`{"client_order_id":%q,"symbol":%q,"side":"buy","type":"limit","quantity":%q,"price":%q}`, cid, sym, qty, px))
		ids = append(ids, id{strategy, cid})
	}
	for i := range 80 {
		// sub1: per key 50 on BTC-USDT and 30 on ETH-USDT.
		sym := "BTC-USDT"
		if i%8 >= 5 {
			sym = "ETH-USDT"
		}
		submit("sa1", fmt.Sprint("a", i), sym)
		submit("sa2", fmt.Sprint("a", i), sym)
		if i < 50 {
			// sub2: per key 50 on BTC-USDT.
			submit("sb1", fmt.Sprint("b", i), "BTC-USDT")
			submit("sb2", fmt.Sprint("b", i), "BTC-USDT")
		}
	}
	for _, x := range ids {
		c.waitKind(x.strategy, x.cid, messages.KindAccepted)
	}
	sim := ka.OKXSimulator("okx")
	st := sim.Stats()
	if st.SubAccount50061 != 0 || st.Rejected429() != 0 {
		t.Errorf("simulator answered %d 50061s and %v 50011s, want none", st.SubAccount50061, st.Throttled50011)
	}
	if st.OrdersPlaced["sub1"] != 160 || st.OrdersPlaced["sub2"] != 100 {
		t.Errorf("simulator placed %v orders, want sub1 160 and sub2 100", st.OrdersPlaced)
	}
	log := sim.OrderLog()
	if len(log) != len(ids) || len(sim.Duplicates()) != 0 {
		t.Errorf("order log holds %d placements (%v twice), want %d once each", len(log), sim.Duplicates(), len(ids))
	}
	keys := map[string]int{}
	span := map[string][2]time.Time{}
	for _, p := range log {
		keys[p.APIKey]++
		sp := span[p.Account]
		if sp[0].IsZero() {
			sp[0] = p.At
		}
		sp[1] = p.At
		span[p.Account] = sp
	}
	if len(keys) != 4 {
		t.Errorf("placements by key %v, want all four keys", keys)
	}
	// a1's budget took sub1's limit from account-rate-limit.
	bustest.WaitFor(t, "a1's status with sub1's limit", func() bool {
		return strings.Contains(statuses.String(), `"name":"SUBACCOUNT_ORDERS_2S","used":`) &&
			strings.Contains(statuses.String(), `"max":80,`)
	})
	for acct, sp := range span {
		t.Logf("%s: %d orders on 2 keys in %v", acct, st.OrdersPlaced[acct], sp[1].Sub(sp[0]).Round(time.Millisecond))
		if sp[1].Sub(sp[0]) < 2*time.Second {
			t.Errorf("%s's orders went out in %v: faster than its limits allow", acct, sp[1].Sub(sp[0]))
		}
	}
	t.Logf("50061: %d, 50011: %v", st.SubAccount50061, st.Throttled50011)
}

// With OKX failing (503s that did nothing), timing out (requests that
// sometimes took effect) and dropping the private WebSocket, every intent
// gets one first report and no clOrdId is ever placed twice: the
// simulator lets a closed order's clOrdId be placed again, as OKX does,
// so a blind resend would show in its order log.
func TestOKXFaultsNeverDuplicate(t *testing.T) {
	simCfg := tempFile(t, "okxsim.yaml", `
faults:
  error_5xx_rate: 0.15
  timeout_rate: 0.15
  timeout_applies_rate: 0.5
  drop_stream_every: 5
  paths: [/api/v5/trade/order]
seed: 7
`)
	ka := testApp(t, okxConfig(t, ", timeout: 300ms, recv_window: 400ms, sim_config: "+strconv.Quote(simCfg), ""))
	c := newClient(t, ka)
	const n = 24
	for i := range n {
		c.submit("s", fmt.Sprintf(`{"client_order_id":"x%d","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`, i))
	}
	accepted := 0
	for i := range n {
		id := fmt.Sprintf("x%d", i)
		var first messages.ExecutionReport
		bustest.WaitFor(t, id+"'s first report", func() bool {
			rs := c.reports("s", id)
			if len(rs) > 0 {
				first = rs[0]
			}
			return len(rs) > 0
		})
		if first.Kind == messages.KindAccepted {
			accepted++
		} else {
			t.Logf("%s: first report %s %s: %s", id, first.Kind, first.Reason, first.Message)
		}
		nAcc := 0
		for _, r := range c.reports("s", id) {
			if r.Kind == messages.KindAccepted {
				nAcc++
			}
		}
		if nAcc > 1 {
			t.Errorf("%s accepted %d times", id, nAcc)
		}
	}
	sim := ka.OKXSimulator("okx")
	st := sim.Stats()
	if st.Errors5xx == 0 || st.Timeouts == 0 || st.TimeoutsApplied == 0 {
		t.Fatalf("faults did not happen: %+v", st)
	}
	if d := sim.Duplicates(); len(d) != 0 {
		t.Errorf("clOrdIds placed more than once: %v", d)
	}
	if got := len(sim.OrderLog()); got != accepted {
		t.Errorf("simulator created %d orders, keyrouter accepted %d", got, accepted)
	}
	t.Logf("%d of %d accepted; simulator: %d 503s, %d timeouts (%d took effect), %d stream drops, %d orders created",
		accepted, n, st.Errors5xx, st.Timeouts, st.TimeoutsApplied, st.StreamDrops, len(sim.OrderLog()))
}

// Promise 7 for OKX: neither a key's secret nor its passphrase appears in
// a log line, a report or a KeyStatus; a revoked key runs the error paths
// too (REST 50111 and WebSocket login refusals).
func TestOKXSecretsNeverLeak(t *testing.T) {
	secrets := map[string]string{
		"KR_O1_SECRET": "QQsecret1QQ0123456789abcdefSECRET",
		"KR_O1_PASS":   "QQpass1QQ0123456789abcdefPASSPHR",
		"KR_O2_SECRET": "QQsecret2QQ9876543210fedcbaSECRET",
		"KR_O2_PASS":   "QQpass2QQ9876543210fedcbaPASSPHR",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	cfg, err := configs.Parse([]byte(`
venues: {okx: {kind: okx, simulate: true}}
keys:
  o1: {venue: okx, account: sub1, api_key: pub-o1, secret_env: KR_O1_SECRET, passphrase_env: KR_O1_PASS}
  o2: {venue: okx, account: sub2, api_key: pub-o2, secret_env: KR_O2_SECRET, passphrase_env: KR_O2_PASS}
strategies: {s: {keys: [o1]}, t: {keys: [o2]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var logs, statuses bustest.Buffer
	ka := testApp(t, cfg, func(a *app.App) { a.Logger = zerolog.New(&logs).Level(zerolog.DebugLevel) })
	c := newClient(t, ka)
	sub, err := c.nc.Subscribe("keys.>", func(m *nats.Msg) { statuses.Write(append(m.Data, '\n')) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	c.submit("s", `{"client_order_id":"a","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	c.submit("s", `{"client_order_id":"b","symbol":"ETH-USDT","side":"buy","type":"limit","quantity":"0.01","price":"1000"}`)
	c.submit("s", `{"client_order_id":"c","symbol":"ETH-USDT","side":"buy","type":"limit","quantity":"0.01","price":"1000.001"}`)
	c.waitReport("s", "a", "filled", func(r messages.ExecutionReport) bool { return r.Status == messages.StatusFilled })
	c.waitKind("s", "b", messages.KindAccepted)
	c.waitKind("s", "c", messages.KindRejected)
	c.cancel("s", "b")
	c.cancel("s", "nope")
	c.waitKind("s", "b", messages.KindCanceled)
	c.waitKind("s", "nope", messages.KindCancelRejected)
	// Revoke o2's key at the venue: its next order fails and the key goes down.
	sim := ka.OKXSimulator("okx")
	if !sim.RevokeKey("pub-o2", true) {
		t.Fatal("no key pub-o2 at the simulator")
	}
	c.submit("t", `{"client_order_id":"d","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	r := c.waitKind("t", "d", messages.KindRejected)
	if r.Reason != messages.ReasonKeyUnavailable || !strings.Contains(r.Message, "50111") {
		t.Errorf("order on a revoked key: reason %s (%s), want key_unavailable for 50111", r.Reason, r.Message)
	}
	bustest.WaitFor(t, "o2 down in KeyStatus", func() bool { return strings.Contains(statuses.String(), `"state":"down"`) })
	bustest.WaitFor(t, "a refused websocket login", func() bool { return sim.Stats().AuthFailures >= 2 })
	if err := ka.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	c.mu.Lock()
	var reports bytes.Buffer
	for _, raw := range c.raw {
		reports.Write(raw)
		reports.WriteByte('\n')
	}
	c.mu.Unlock()
	for name, text := range map[string]string{"logs": logs.String(), "reports": reports.String(), "key status": statuses.String()} {
		if len(text) == 0 {
			t.Errorf("no %s captured", name)
		}
		for env, sec := range secrets {
			if strings.Contains(text, sec) || strings.Contains(text, sec[:12]) {
				t.Errorf("%s contain %s", name, env)
			}
		}
		// Nor a signed header or the WebSocket login's arguments.
		for _, leak := range []string{"OK-ACCESS-SIGN:", "OK-ACCESS-PASSPHRASE:", `"passphrase":"`, `"sign":"`} {
			if strings.Contains(text, leak) {
				t.Errorf("%s contain %s", name, leak)
			}
		}
	}
	for _, want := range []string{"o2", "okx refused the API key"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the logs do not mention %q", want)
		}
	}
}

// Only the executor serving a key loads its secret and passphrase: an
// executor of o1 starts with o2's passphrase nowhere to be found, and a
// process that would execute o2 refuses to start, naming the variable.
func TestOKXOnlyTheKeysExecutorLoadsItsPassphrase(t *testing.T) {
	sc := okxsim.DefaultConfig()
	sc.Accounts = []okxsim.AccountConfig{
		{ID: "sub1", Keys: []okxsim.KeyConfig{{APIKey: "pub-o1", Secret: "o1-secret-value", Passphrase: "o1-pass-value"}}},
		{ID: "sub2", Keys: []okxsim.KeyConfig{{APIKey: "pub-o2", Secret: "o2-secret-value", Passphrase: "o2-pass-value"}}},
	}
	sim, err := okxsim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	url, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	t.Setenv("KR_ONLY_O1", "o1-secret-value")
	t.Setenv("KR_ONLY_O1_PASS", "o1-pass-value")
	t.Setenv("KR_ONLY_O2", "o2-secret-value")
	cfg, err := configs.Parse([]byte(`
venues: {okx: {kind: okx, base_url: "` + url + `", ws_url: "ws` + strings.TrimPrefix(url, "http") + `/ws/v5/private"}}
keys:
  o1: {venue: okx, account: sub1, api_key: pub-o1, secret_env: KR_ONLY_O1, passphrase_env: KR_ONLY_O1_PASS}
  o2: {venue: okx, account: sub2, api_key: pub-o2, secret_env: KR_ONLY_O2, passphrase_env: KR_ONLY_O2_PASS_UNSET}
strategies: {s: {keys: [o1]}, t: {keys: [o2]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	ka := testApp(t, cfg, func(a *app.App) { a.Keys = []string{"o1"} })
	c := newClient(t, ka)
	c.submit("s", `{"client_order_id":"o1","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	if r := c.waitKind("s", "o1", messages.KindAccepted); r.Key != "o1" {
		t.Errorf("accepted on %s", r.Key)
	}
	if n := len(sim.Orders("sub1")); n != 1 {
		t.Errorf("simulator holds %d orders of sub1, want 1", n)
	}
	all := &app.App{Config: cfg, Keys: app.AllKeys, DataDir: t.TempDir()}
	err = all.Start(t.Context())
	if err == nil {
		all.Close()
		t.Fatal("a process executing o2 started without o2's passphrase")
	}
	if !strings.Contains(err.Error(), "KR_ONLY_O2_PASS_UNSET") || strings.Contains(err.Error(), "value") {
		t.Errorf("error %q: want the variable named and no secret shown", err)
	}
}

// A strategy holds keys on Binance and on OKX (both simulated in
// process); an intent's venue restricts it to that venue's keys.
func TestTwoVenues(t *testing.T) {
	cfg, err := configs.Parse([]byte(`
venues:
  binance: {kind: binance, simulate: true}
  okx: {kind: okx, simulate: true}
keys:
  b1: {venue: binance, account: main}
  o1: {venue: okx, account: sub1}
strategies:
  s: {keys: [b1, o1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	ka := testApp(t, cfg)
	c := newClient(t, ka)
	c.submit("s", `{"client_order_id":"any","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	c.submit("s", `{"client_order_id":"viaokx","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001","venue":"okx"}`)
	c.submit("s", `{"client_order_id":"viabn","symbol":"ETH-USDT","side":"buy","type":"market","quantity":"0.01","venue":"binance"}`)
	c.submit("s", `{"client_order_id":"nowhere","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001","venue":"kraken"}`)
	for id, want := range map[string][2]string{"any": {"b1", "binance"}, "viaokx": {"o1", "okx"}, "viabn": {"b1", "binance"}} {
		r := c.waitReport("s", id, "filled", func(r messages.ExecutionReport) bool { return r.Status == messages.StatusFilled })
		if r.Key != want[0] || r.Venue != want[1] {
			t.Errorf("%s filled on %s/%s, want %s/%s", id, r.Key, r.Venue, want[0], want[1])
		}
	}
	if r := c.waitKind("s", "nowhere", messages.KindRejected); r.Reason != messages.ReasonNotPermitted {
		t.Errorf("unknown venue: reason %s (%s)", r.Reason, r.Message)
	}
	if n := len(ka.OKXSimulator("okx").Orders("sub1")); n != 1 {
		t.Errorf("OKX holds %d orders, want 1", n)
	}
	if n := len(ka.Exchange("binance").AllOrders("main", "")); n != 2 {
		t.Errorf("Binance holds %d orders, want 2", n)
	}
}
