package okx_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/okx"
	"github.com/keyrouter/keyrouter/executors/okxsim"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

// env is a simulator and a Venue of its key sub1-key.
type env struct {
	srv  *okxsim.Server
	base string
	v    *okx.Venue
	logs *bustest.Buffer
}

func newEnv(t *testing.T, simMut func(*okxsim.Config), mut func(*okx.Config)) *env {
	t.Helper()
	sc := okxsim.DefaultConfig()
	if simMut != nil {
		simMut(&sc)
	}
	srv, err := okxsim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &env{srv: srv, base: base, logs: &bustest.Buffer{}}
	cfg := okx.Config{
		BaseURL: base, WSURL: "ws" + strings.TrimPrefix(base, "http") + "/ws/v5/private",
		APIKey: "sub1-key", Secret: []byte("sub1-secret"), Passphrase: []byte("sub1-pass"),
		Timeout: 2 * time.Second, PollInterval: 20 * time.Millisecond, ExpWindow: 300 * time.Millisecond,
		Logger: zerolog.New(e.logs).Level(zerolog.DebugLevel),
	}
	if mut != nil {
		mut(&cfg)
	}
	v, err := okx.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	e.v = v
	return e
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

var idSeq int

func order(typ messages.OrderType, side messages.Side, qty, px string) executors.Order {
	idSeq++
	o := executors.Order{ClientID: executors.VenueClientID("test", fmt.Sprint(time.Now().UnixNano(), idSeq)), Symbol: "BTC-USDT",
		Side: side, Type: typ, TimeInForce: messages.GTC, Quantity: decimal.RequireFromString(qty)}
	if typ == messages.Market {
		o.TimeInForce = messages.IOC
	} else {
		o.Price = decimal.RequireFromString(px)
	}
	return o
}

// With the orders channel up, a Place costs one request: the answer's
// state and fills come from the push, not from a query.
func TestPlaceIsOneRequest(t *testing.T) {
	e := newEnv(t, nil, nil)
	waitUp(t, e.v)
	before := e.srv.Stats().Requests
	u, err := e.v.Place(ctx(t), order(messages.Market, messages.Buy, "1.2", ""))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Stats().Requests - before; n != 1 {
		t.Errorf("Place made %d requests, want 1", n)
	}
	if u.Status != messages.StatusFilled || len(u.Fills) != 3 {
		t.Errorf("got %s with %d fills, want filled with 3", u.Status, len(u.Fills))
	}
}

// With the private WebSocket unreachable, Place and Cancel read the state
// over REST, and the poller delivers a resting order's fills.
func TestWithoutTheStream(t *testing.T) {
	e := newEnv(t, nil, func(c *okx.Config) { c.WSURL = "ws://127.0.0.1:1/ws/v5/private" })
	if e.v.StreamUp() {
		t.Fatal("stream up against a closed port")
	}
	u, err := e.v.Place(ctx(t), order(messages.Market, messages.Buy, "1.2", ""))
	if err != nil || u.Status != messages.StatusFilled || len(u.Fills) != 3 || !u.CumQuantity.Equal(decimal.RequireFromString("1.2")) {
		t.Fatalf("market over REST: %+v, %v", u, err)
	}
	o := order(messages.Limit, messages.Buy, "0.001", "59000")
	if u, err := e.v.Place(ctx(t), o); err != nil || u.Status != messages.StatusNew {
		t.Fatalf("resting over REST: %+v, %v", u, err)
	}
	e.srv.Exchange().SetPrice("BTC-USDT", decimal.RequireFromString("58999"))
	deadline := time.After(5 * time.Second)
	for {
		select {
		case u := <-e.v.Updates():
			if u.ClientID == o.ClientID && u.Status == messages.StatusFilled {
				if len(u.Fills) != 1 || u.Fills[0].Liquidity != messages.Maker {
					t.Errorf("polled fill %+v", u)
				}
				c := order(messages.Limit, messages.Sell, "0.001", "70000")
				if _, err := e.v.Place(ctx(t), c); err != nil {
					t.Fatal(err)
				}
				if u, err := e.v.Cancel(ctx(t), c.Symbol, c.ClientID); err != nil || u.Status != messages.StatusCanceled {
					t.Errorf("cancel over REST: %+v, %v", u, err)
				}
				return
			}
		case <-deadline:
			t.Fatal("the poller did not deliver the fill")
		}
	}
}

// A request that times out is reported unknown at once, never sent
// again, with the instant its expTime passes in RetryAfter; asked then
// (as the worker does), OKX has the order if it took effect and not
// otherwise, and one not there is sent again with the same clOrdId.
func TestUnknownOutcomeIsReportedAtOnce(t *testing.T) {
	for _, applies := range []float64{1, 0} {
		t.Run(fmt.Sprintf("took effect %v", applies == 1), func(t *testing.T) {
			e := newEnv(t, func(c *okxsim.Config) {
				c.Faults = okxsim.Faults{TimeoutRate: 1, TimeoutAppliesRate: applies, Paths: []string{"POST /api/v5/trade/order"}}
			}, func(c *okx.Config) { c.Timeout = 200 * time.Millisecond })
			o := order(messages.Market, messages.Buy, "0.001", "")
			start := time.Now()
			_, err := e.v.Place(ctx(t), o)
			var ve *executors.VenueError
			if !errors.As(err, &ve) || ve.Kind != executors.Unknown {
				t.Fatalf("Place: %v, want an Unknown venue error", err)
			}
			if !ve.RetryAfter.After(start.Add(300 * time.Millisecond)) {
				t.Errorf("RetryAfter %v: before the request's expTime", ve.RetryAfter.Sub(start))
			}
			if n := e.srv.Stats().Timeouts; n != 1 {
				t.Fatalf("%d timeouts, want 1 (no resend)", n)
			}
			e.srv.SetFaults(okxsim.Faults{})
			time.Sleep(time.Until(ve.RetryAfter)) // the worker waits as long on its clock
			q, qerr := e.v.Query(ctx(t), o.Symbol, o.ClientID)
			if applies == 1 {
				if qerr != nil || q.Status != messages.StatusFilled {
					t.Fatalf("Query of the order that took effect: %+v, %v", q, qerr)
				}
				if n := len(e.srv.OrderLog()); n != 1 {
					t.Errorf("%d orders at the venue, want 1", n)
				}
				return
			}
			if !errors.Is(qerr, executors.ErrUnknownOrder) {
				t.Fatalf("Query of an order that did not take effect: %v", qerr)
			}
			if u, err := e.v.Place(ctx(t), o); err != nil || u.Status != messages.StatusFilled {
				t.Fatalf("second Place: %+v, %v", u, err)
			}
			if log := e.srv.OrderLog(); len(log) != 1 || log[0].ClOrdID != o.ClientID {
				t.Fatalf("order log %+v, want one order of %s", log, o.ClientID)
			}
		})
	}
}

// 50061 is Throttled, says the limit is the sub-account's, reports the
// sub-account as full and when to try again; a 50011 of the place limit
// is Throttled too.
func TestRateLimitErrors(t *testing.T) {
	e := newEnv(t, func(c *okxsim.Config) {
		c.Accounts[0].AccRateLimit = 2
		c.Limits.Place = okxsim.Limit{Max: 2, Window: time.Minute}
	}, nil)
	if n, _ := e.v.AccountRateLimit(); n != 2 {
		t.Fatalf("AccountRateLimit %d, want 2 (read at New)", n)
	}
	for range 2 {
		if _, err := e.v.Place(ctx(t), order(messages.Market, messages.Buy, "0.001", "")); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.v.Place(ctx(t), order(messages.Market, messages.Buy, "0.001", ""))
	var ve *executors.VenueError
	if !errors.As(err, &ve) || ve.Kind != executors.Throttled || ve.Code != "50011" || ve.RetryAfter.IsZero() {
		t.Fatalf("third BTC order: %v, want Throttled 50011 with RetryAfter", err)
	}
	o := order(messages.Market, messages.Buy, "0.01", "")
	o.Symbol = "ETH-USDT"
	_, err = e.v.Place(ctx(t), o)
	if !errors.As(err, &ve) || ve.Kind != executors.Throttled || ve.Code != "50061" || ve.RetryAfter.IsZero() ||
		!strings.Contains(ve.Message, "sub-account") {
		t.Fatalf("third new order: %v, want Throttled 50061 naming the sub-account", err)
	}
	if len(ve.Usage) != 1 || ve.Usage[0] != (executors.Usage{Limit: budget.OKXSubAccount, Used: 2}) {
		t.Errorf("50061 usage %+v, want the sub-account full", ve.Usage)
	}
}

// A revoked key is KeyInvalid, logged for the operator, and neither the
// secret nor the passphrase is in any log line or error.
func TestRevokedKey(t *testing.T) {
	e := newEnv(t, nil, nil)
	waitUp(t, e.v)
	e.srv.RevokeKey("sub1-key", true)
	_, err := e.v.Place(ctx(t), order(messages.Market, messages.Buy, "0.001", ""))
	var ve *executors.VenueError
	if !errors.As(err, &ve) || ve.Kind != executors.KeyInvalid || ve.Code != "50111" {
		t.Fatalf("got %v, want KeyInvalid 50111", err)
	}
	bustest.WaitFor(t, "the refused websocket login", func() bool { return strings.Contains(e.logs.String(), "websocket login") })
	text := e.logs.String() + err.Error() + fmt.Sprintf("%v %+v %#v %s %q", okxCfg(), okxCfg(), okxCfg(), okxCfg(), okxCfg())
	for _, s := range []string{"sub1-secret", "sub1-pass"} {
		if strings.Contains(text, s) {
			t.Errorf("%q leaked into logs, an error or a printed config", s)
		}
	}
	if !strings.Contains(e.logs.String(), "okx refused the API key") {
		t.Error("no log line for the operator")
	}
}

func okxCfg() okx.Config {
	return okx.Config{APIKey: "sub1-key-long-enough", Secret: []byte("sub1-secret"), Passphrase: []byte("sub1-pass")}
}

// account-rate-limit is read again on schedule, and tickers give prices.
func TestRefreshes(t *testing.T) {
	e := newEnv(t, func(c *okxsim.Config) { c.Accounts[0].AccRateLimit = 1500 }, func(c *okx.Config) {
		c.RateLimitRefresh = 50 * time.Millisecond
		c.PriceRefresh = 20 * time.Millisecond
	})
	if n, _ := e.v.AccountRateLimit(); n != 1500 {
		t.Fatalf("AccountRateLimit %d, want 1500", n)
	}
	e.srv.SetAccRateLimit("sub1", 3000)
	bustest.WaitFor(t, "the new sub-account limit", func() bool { n, _ := e.v.AccountRateLimit(); return n == 3000 })
	e.srv.Exchange().SetPrice("ETH-USDT", decimal.RequireFromString("3210.5"))
	bustest.WaitFor(t, "ETH's new price", func() bool { return e.v.Prices()["ETH-USDT"].Equal(decimal.RequireFromString("3210.5")) })
}

// Check refuses what breaks an instrument's rules, and ordTypes OKX has
// not, before any request.
func TestCheck(t *testing.T) {
	e := newEnv(t, nil, nil)
	waitUp(t, e.v) // its handshake is a request too
	before := e.srv.Stats().Requests
	for _, tc := range []struct {
		name string
		mut  func(*executors.Order)
	}{
		{"tick", func(o *executors.Order) { o.Price = decimal.RequireFromString("59000.001") }},
		{"lot", func(o *executors.Order) { o.Quantity = decimal.RequireFromString("0.000015") }},
		{"min size", func(o *executors.Order) { o.Quantity = decimal.RequireFromString("0.000001") }},
		{"max size", func(o *executors.Order) { o.Quantity = decimal.RequireFromString("9001") }},
		{"unknown instrument", func(o *executors.Order) { o.Symbol = "NOPE-USDT" }},
		{"reduce only", func(o *executors.Order) { o.ReduceOnly = true }},
		{"post-only ioc", func(o *executors.Order) { o.PostOnly, o.TimeInForce = true, messages.IOC }},
		{"market fok", func(o *executors.Order) { o.Type, o.TimeInForce, o.Price = messages.Market, messages.FOK, decimal.Zero }},
	} {
		o := order(messages.Limit, messages.Buy, "0.001", "59000")
		tc.mut(&o)
		var ve *executors.VenueError
		if err := e.v.Check(o); !errors.As(err, &ve) || ve.Kind != executors.Rejected {
			t.Errorf("%s: Check = %v, want a refusal", tc.name, err)
		}
	}
	if n := e.srv.Stats().Requests - before; n != 0 {
		t.Errorf("Check made %d requests", n)
	}
}
