package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// binanceConfig is two strategies on two keys of one account of a
// simulated Binance venue, with the budget preset (from exchangeInfo).
func binanceConfig(t *testing.T, venueExtra, keyExtra string) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse([]byte(`
venues:
  binance: {kind: binance, simulate: true` + venueExtra + `}
keys:
  b1: {venue: binance, account: acct1` + keyExtra + `}
  b2: {venue: binance, account: acct1` + keyExtra + `}
strategies:
  s: {keys: [b1]}
  t: {keys: [b2]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestBinanceThroughSimulator(t *testing.T) {
	ka := testApp(t, binanceConfig(t, "", ""))
	c := newClient(t, ka)

	c.submit("s", `{"client_order_id":"m1","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	last := c.waitReport("s", "m1", "filled", func(r messages.ExecutionReport) bool { return r.Status == messages.StatusFilled })
	rs := c.reports("s", "m1")
	checkSeq(t, rs)
	if rs[0].Kind != messages.KindAccepted || rs[0].Venue != "binance" || rs[0].VenueOrderID == "" {
		t.Errorf("first report %+v", rs[0])
	}
	if last.Fill == nil || !last.Fill.Fee.IsPositive() || last.Fill.TradeID == "" {
		t.Errorf("fill %+v, want a fee and a trade ID", last.Fill)
	}

	c.submit("t", `{"client_order_id":"l1","symbol":"ETH-USDT","side":"sell","type":"limit","quantity":"0.01","price":"9000"}`)
	c.waitKind("t", "l1", messages.KindAccepted)
	c.cancel("t", "l1")
	if r := c.waitKind("t", "l1", messages.KindCanceled); r.Status != messages.StatusCanceled {
		t.Errorf("canceled: status %s", r.Status)
	}

	// A filter the order cannot meet is refused before it costs budget or
	// a request.
	c.submit("s", `{"client_order_id":"f1","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.001","price":"50000.001"}`)
	r := c.waitKind("s", "f1", messages.KindRejected)
	if r.Reason != messages.ReasonInvalid || !strings.Contains(r.Message, "PRICE_FILTER") {
		t.Errorf("filter violation: reason %s message %q", r.Reason, r.Message)
	}
	if n := len(ka.Exchange("binance").AllOrders("acct1", "")); n != 2 {
		t.Errorf("venue holds %d orders, want 2", n)
	}
}

// The budget preset takes the venue's own limits from exchangeInfo and
// shares the account's order count between its keys: a burst on both keys
// of one account never draws a 429. The burst is twice what the account's
// window holds, each intent expiring a second after it is sent: what
// cannot be sent by then is expired at once, so the test waits for no
// window, wherever it starts.
func TestBinancePresetSharesTheAccountLimit(t *testing.T) {
	ka := testApp(t, binanceConfig(t, "", ""), func(a *app.App) {
		a.SimHook = func(_ string, sc *binancesim.Config) {
			sc.RateLimits = []binancesim.RateLimit{
				{Type: "REQUEST_WEIGHT", Interval: "MINUTE", IntervalNum: 1, Limit: 6000},
				{Type: "ORDERS", Interval: "SECOND", IntervalNum: 10, Limit: 6},
				{Type: "ORDERS", Interval: "DAY", IntervalNum: 1, Limit: 200000},
			}
		}
	})
	c := newClient(t, ka)
	exp := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	for i := 0; i < 6; i++ {
		for _, s := range []string{"s", "t"} {
			c.submit(s, fmt.Sprintf(`{"client_order_id":"%s%d","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001","expires_at":%q}`, s, i, exp))
		}
	}
	accepted := 0
	for i := 0; i < 6; i++ {
		for _, s := range []string{"s", "t"} {
			id := fmt.Sprintf("%s%d", s, i)
			r := c.waitReport(s, id, "a first report", func(r messages.ExecutionReport) bool {
				return r.Kind == messages.KindAccepted || r.Kind == messages.KindExpired
			})
			if r.Kind == messages.KindAccepted {
				accepted++
			}
		}
	}
	st := ka.Simulator("binance").Stats()
	if st.Rejected429 != 0 || st.Banned418 != 0 {
		t.Errorf("simulator answered %d 429s and %d 418s, want none", st.Rejected429, st.Banned418)
	}
	if st.OrdersPlaced["acct1"] != int64(accepted) {
		t.Errorf("orders placed %d, accepted %d", st.OrdersPlaced["acct1"], accepted)
	}
	// The venue's clock: no 10 s window of the account holds more than 6
	// orders (a budget per key would have sent all 12 at once), and the
	// account's window was filled.
	perWindow := map[time.Time]int{}
	for _, o := range ka.Exchange("binance").Orders("acct1", "", false) {
		perWindow[o.Created.Truncate(10*time.Second)]++
	}
	most := 0
	for w, n := range perWindow {
		if n > 6 {
			t.Errorf("the venue took %d orders of the account in the window of %v, over its limit of 6", n, w)
		}
		most = max(most, n)
	}
	if most < 6 && accepted < 12 {
		t.Errorf("orders per window %v and %d expired: the account's limit was not used", perWindow, 12-accepted)
	}
}

// With the venue failing and timing out, every intent still gets one first
// report and the venue never holds an order keyrouter did not report once.
func TestBinanceFaultsNeverDuplicate(t *testing.T) {
	ka := testApp(t, binanceConfig(t, ", timeout: 300ms, recv_window: 1s", ""), func(a *app.App) {
		a.SimHook = func(_ string, sc *binancesim.Config) {
			sc.Faults = binancesim.Faults{Error5xxRate: 0.2, TimeoutRate: 0.2, TimeoutAppliesRate: 0.5,
				Paths: []string{"/api/v3/order"}}
			sc.Seed = 7
		}
	})
	c := newClient(t, ka)
	const n = 20
	for i := 0; i < n; i++ {
		c.submit("s", fmt.Sprintf(`{"client_order_id":"x%d","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`, i))
	}
	accepted := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("x%d", i)
		first := c.waitReport("s", id, "a first report", func(messages.ExecutionReport) bool { return true })
		if first.Kind == messages.KindAccepted {
			accepted++
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
	st := ka.Simulator("binance").Stats()
	if st.Errors5xx == 0 || st.Timeouts == 0 {
		t.Fatalf("faults did not happen: %+v", st)
	}
	if got := len(ka.Exchange("binance").AllOrders("acct1", "")); got != accepted {
		t.Errorf("venue holds %d orders, keyrouter accepted %d", got, accepted)
	}
	t.Logf("%d of %d accepted; simulator: %d 5xx, %d timeouts (%d applied)", accepted, n, st.Errors5xx, st.Timeouts, st.TimeoutsApplied)
}

// Promise 7: a key's secret never appears in a log line, a report, a
// KeyStatus or an error, nor does a request's signature; a revoked key
// makes the error paths run too.
func TestSecretNeverLeaks(t *testing.T) {
	secrets := map[string]string{
		"KR_B1_SECRET": "ZZsecret1ZZ0123456789abcdefSECRET",
		"KR_B2_SECRET": "ZZsecret2ZZ9876543210fedcbaSECRET",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	cfg, err := configs.Parse([]byte(`
venues: {binance: {kind: binance, simulate: true}}
keys:
  b1: {venue: binance, account: acct1, api_key: pub-b1, secret_env: KR_B1_SECRET}
  b2: {venue: binance, account: acct2, api_key: pub-b2, secret_env: KR_B2_SECRET}
strategies: {s: {keys: [b1]}, t: {keys: [b2]}}
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
	// Revoke b2's key at the venue: its next order fails and the key goes down.
	if !ka.Simulator("binance").RevokeKey("pub-b2", true) {
		t.Fatal("no key pub-b2 at the simulator")
	}
	c.submit("t", `{"client_order_id":"d","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	r := c.waitKind("t", "d", messages.KindRejected)
	if r.Reason != messages.ReasonKeyUnavailable {
		t.Errorf("order on a revoked key: reason %s (%s), want key_unavailable", r.Reason, r.Message)
	}
	bustest.WaitFor(t, "b2 down in KeyStatus", func() bool { return strings.Contains(statuses.String(), `"state":"down"`) })
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
		for _, sec := range secrets {
			if strings.Contains(text, sec) || strings.Contains(text, sec[:12]) {
				t.Errorf("%s contain a secret", name)
			}
		}
		if strings.Contains(strings.ToLower(text), "signature=") {
			t.Errorf("%s contain a signed query string", name)
		}
	}
	if !strings.Contains(logs.String(), "b2") {
		t.Errorf("the logs do not mention the key that went down")
	}
}

// Only the executor serving a key loads its secret: an executor of b1 and
// a router start with b2's secret nowhere to be found, and a process that
// would execute b2 refuses to start, naming where the secret should be.
func TestOnlyTheKeysExecutorLoadsItsSecret(t *testing.T) {
	sc := binancesim.DefaultConfig()
	sc.Accounts = []binancesim.AccountConfig{
		{ID: "acct1", Keys: []binancesim.KeyConfig{{APIKey: "pub-b1", Secret: "b1-secret-value"}}},
		{ID: "acct2", Keys: []binancesim.KeyConfig{{APIKey: "pub-b2", Secret: "b2-secret-value"}}},
	}
	sim, err := binancesim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	url, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	t.Setenv("KR_ONLY_B1", "b1-secret-value")
	cfg, err := configs.Parse([]byte(`
venues: {binance: {kind: binance, base_url: "` + url + `", ws_url: "ws` + strings.TrimPrefix(url, "http") + `/ws-api/v3"}}
keys:
  b1: {venue: binance, account: acct1, api_key: pub-b1, secret_env: KR_ONLY_B1}
  b2: {venue: binance, account: acct2, api_key: pub-b2, secret_env: KR_ONLY_B2_UNSET}
strategies: {s: {keys: [b1]}, t: {keys: [b2]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	ka := testApp(t, cfg, func(a *app.App) { a.Keys = []string{"b1"} })
	c := newClient(t, ka)
	c.submit("s", `{"client_order_id":"o1","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	if r := c.waitKind("s", "o1", messages.KindAccepted); r.Key != "b1" {
		t.Errorf("accepted on %s", r.Key)
	}
	if n := len(sim.Exchange().AllOrders("acct1", "")); n != 1 {
		t.Errorf("simulator holds %d orders of acct1, want 1", n)
	}

	all := &app.App{Config: cfg, Keys: app.AllKeys, DataDir: t.TempDir()}
	err = all.Start(t.Context())
	if err == nil {
		all.Close()
		t.Fatal("a process executing b2 started without b2's secret")
	}
	if !strings.Contains(err.Error(), "KR_ONLY_B2_UNSET") || strings.Contains(err.Error(), "secret-value") {
		t.Errorf("error %q: want the variable named and no secret shown", err)
	}
}
