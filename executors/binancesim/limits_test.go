package binancesim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
)

func limitsConfig(clk *clock, limits ...binancesim.RateLimit) binancesim.Config {
	cfg := binancesim.DefaultConfig()
	cfg.Now = clk.Now
	cfg.RateLimits = limits
	return cfg
}

func TestRequestWeightWindow(t *testing.T) {
	// 30 s into a minute: the window resets at the next whole minute.
	clk := newClock(time.Date(2026, 1, 2, 3, 4, 30, 0, time.UTC))
	srv, base := start(t, limitsConfig(clk, binancesim.RateLimit{Type: "REQUEST_WEIGHT", Interval: "MINUTE", IntervalNum: 1, Limit: 10}))
	c := newClient(t, base, "acct1-key", "acct1-secret", clk.Now)

	// 2 × time (1) + exchangeInfo-free mix: 1 + 1 + 4 (order query) + 4 = 10.
	for i, w := range []string{"1", "2"} {
		a := c.public(http.MethodGet, "/api/v3/time", nil)
		wantStatus(t, a, http.StatusOK)
		wantHeader(t, a, "X-MBX-USED-WEIGHT-1M", w)
		_ = i
	}
	for _, w := range []string{"6", "10"} {
		a := c.signed(http.MethodGet, "/api/v3/order", form("symbol", "BTCUSDT", "orderId", "1"))
		wantErr(t, a, http.StatusBadRequest, -2013, "") // counted all the same
		wantHeader(t, a, "X-MBX-USED-WEIGHT-1M", w)
	}
	a := c.public(http.MethodGet, "/api/v3/ping", nil)
	wantErr(t, a, http.StatusTooManyRequests, -1003,
		"Too much request weight used; current limit is 10 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
	wantHeader(t, a, "Retry-After", "30")
	wantHeader(t, a, "X-MBX-USED-WEIGHT-1M", "11")

	clk.Add(29*time.Second + 999*time.Millisecond) // 03:04:59.999: same window
	a = c.public(http.MethodGet, "/api/v3/ping", nil)
	wantStatus(t, a, http.StatusTooManyRequests)
	wantHeader(t, a, "Retry-After", "1")

	clk.Add(time.Millisecond) // 03:05:00: a new window
	a = c.public(http.MethodGet, "/api/v3/ping", nil)
	wantStatus(t, a, http.StatusOK)
	wantHeader(t, a, "X-MBX-USED-WEIGHT-1M", "1")

	if st := srv.Stats(); st.Rejected429 != 2 || st.Banned418 != 0 {
		t.Fatalf("stats: got %+v", st)
	}
}

func TestWeightPerIP(t *testing.T) {
	clk := newClock(time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	cfg := limitsConfig(clk, binancesim.RateLimit{Type: "REQUEST_WEIGHT", Interval: "MINUTE", IntervalNum: 1, Limit: 1})
	cfg.TrustForwardedFor = true
	_, base := start(t, cfg)
	a1 := newClient(t, base, "", "", nil)
	a1.forwarded = "10.0.0.1"
	a2 := newClient(t, base, "", "", nil)
	a2.forwarded = "10.0.0.2"
	wantStatus(t, a1.public(http.MethodGet, "/api/v3/ping", nil), http.StatusOK)
	wantStatus(t, a2.public(http.MethodGet, "/api/v3/ping", nil), http.StatusOK)
	wantStatus(t, a1.public(http.MethodGet, "/api/v3/ping", nil), http.StatusTooManyRequests)
}

func TestOrderCountWindows(t *testing.T) {
	// 4 s into a 10 s window.
	clk := newClock(time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC))
	srv, base := start(t, limitsConfig(clk,
		binancesim.RateLimit{Type: "REQUEST_WEIGHT", Interval: "MINUTE", IntervalNum: 1, Limit: 6000},
		binancesim.RateLimit{Type: "ORDERS", Interval: "SECOND", IntervalNum: 10, Limit: 3},
		binancesim.RateLimit{Type: "ORDERS", Interval: "DAY", IntervalNum: 1, Limit: 5},
	))
	c1 := newClient(t, base, "acct1-key", "acct1-secret", clk.Now)
	c2 := newClient(t, base, "acct2-key", "acct2-secret", clk.Now)
	buy := func(c *client) answer {
		t.Helper()
		return c.signed(http.MethodPost, "/api/v3/order", form("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
			"timeInForce", "GTC", "quantity", "0.001", "price", "50000"))
	}
	for _, n := range []string{"1", "2", "3"} {
		a := buy(c1)
		wantStatus(t, a, http.StatusOK)
		wantHeader(t, a, "X-MBX-ORDER-COUNT-10S", n)
		wantHeader(t, a, "X-MBX-ORDER-COUNT-1D", n)
	}
	a := buy(c1)
	wantErr(t, a, http.StatusTooManyRequests, -1015, "Too many new orders; current limit is 3 orders per 10 SECOND.")
	wantHeader(t, a, "Retry-After", "6")
	wantHeader(t, a, "X-MBX-ORDER-COUNT-10S", "3")

	// Per account: acct2 has its own count; cancels and queries do not count.
	wantHeader(t, buy(c2), "X-MBX-ORDER-COUNT-10S", "1")
	a = c1.signed(http.MethodGet, "/api/v3/openOrders", form("symbol", "BTCUSDT"))
	wantStatus(t, a, http.StatusOK)
	wantHeader(t, a, "X-MBX-ORDER-COUNT-10S", "3")

	clk.Set(time.Date(2026, 1, 2, 3, 4, 10, 0, time.UTC)) // next 10 s window
	for _, n := range []string{"4", "5"} {
		a := buy(c1)
		wantStatus(t, a, http.StatusOK)
		wantHeader(t, a, "X-MBX-ORDER-COUNT-1D", n)
	}
	a = buy(c1)
	wantErr(t, a, http.StatusTooManyRequests, -1015, "Too many new orders; current limit is 5 orders per 1 DAY.")
	wantHeader(t, a, "Retry-After", itoa(int64(20*time.Hour+55*time.Minute+50*time.Second)/int64(time.Second)))

	clk.Set(time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)) // midnight UTC
	wantHeader(t, buy(c1), "X-MBX-ORDER-COUNT-1D", "1")

	st := srv.Stats()
	if st.OrdersCounted["acct1"] != 6 || st.OrdersPlaced["acct1"] != 6 || st.OrdersCounted["acct2"] != 1 || st.Rejected429 != 2 {
		t.Fatalf("stats: got %+v", st)
	}
}

func TestBanEscalation(t *testing.T) {
	clk := newClock(time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	cfg := limitsConfig(clk, binancesim.RateLimit{Type: "REQUEST_WEIGHT", Interval: "MINUTE", IntervalNum: 1, Limit: 2})
	cfg.Ban = binancesim.BanConfig{After: 2}
	srv, base := start(t, cfg)
	c := newClient(t, base, "", "", nil)
	ping := func() answer { return c.public(http.MethodGet, "/api/v3/ping", nil) }

	round := func(banSeconds string) {
		t.Helper()
		wantStatus(t, ping(), http.StatusOK)
		wantStatus(t, ping(), http.StatusOK)
		for range 3 { // the first 429 and the two more tolerated
			a := ping()
			wantStatus(t, a, http.StatusTooManyRequests)
			wantHeader(t, a, "Retry-After", "60")
		}
		a := ping()
		wantErr(t, a, http.StatusTeapot, -1003, "")
		wantHeader(t, a, "Retry-After", banSeconds)
		clk.Add(30 * time.Second)
		a = ping() // still banned, whatever the window
		wantStatus(t, a, http.StatusTeapot)
	}
	round("120")
	clk.Set(time.Date(2026, 1, 2, 3, 6, 0, 0, time.UTC)) // the ban is over
	round("240")

	st := srv.Stats()
	if st.Rejected429 != 6 || st.Banned418 != 4 {
		t.Fatalf("stats: got 429=%d 418=%d, want 6 and 4", st.Rejected429, st.Banned418)
	}
}

func TestBackingOffAvoidsBan(t *testing.T) {
	clk := newClock(time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	cfg := limitsConfig(clk, binancesim.RateLimit{Type: "REQUEST_WEIGHT", Interval: "MINUTE", IntervalNum: 1, Limit: 1})
	cfg.Ban = binancesim.BanConfig{After: 1}
	srv, base := start(t, cfg)
	c := newClient(t, base, "", "", nil)
	for range 5 {
		wantStatus(t, c.public(http.MethodGet, "/api/v3/ping", nil), http.StatusOK)
		wantStatus(t, c.public(http.MethodGet, "/api/v3/ping", nil), http.StatusTooManyRequests)
		clk.Add(time.Minute) // waits the Retry-After
	}
	if st := srv.Stats(); st.Banned418 != 0 || st.Rejected429 != 5 {
		t.Fatalf("stats: got %+v", st)
	}
}
