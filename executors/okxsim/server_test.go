package okxsim

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

// Every credential problem is refused with OKX's code and HTTP 401, in
// the order OKX checks them, and nothing is placed.
func TestAuthREST(t *testing.T) {
	s, url := newTestServer(t, nil)
	good := func() *client { return newClient(t, url, "sub1-key", "sub1-secret", "sub1-pass", nil) }
	cases := []struct {
		name string
		mut  func(c *client)
		code string
	}{
		{"no key", func(c *client) { c.key = ""; c.header = http.Header{} }, "50103"},
		{"unknown key", func(c *client) { c.key = "nobody" }, "50111"},
		{"no passphrase", func(c *client) { c.pass = "" }, "50104"},
		{"wrong passphrase", func(c *client) { c.pass = "sub2-pass" }, "50105"},
		{"stale timestamp", func(c *client) { c.now = func() time.Time { return time.Now().Add(-31 * time.Second) } }, "50102"},
		{"timestamp ahead", func(c *client) { c.now = func() time.Time { return time.Now().Add(31 * time.Second) } }, "50102"},
		{"wrong secret", func(c *client) { c.secret = "sub2-secret" }, "50113"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			c.t = t
			tc.mut(c)
			a := c.place("BTC-USDT", "auth1", "buy", "market", "0.001", "")
			if a.status != http.StatusUnauthorized || a.Code != tc.code {
				t.Errorf("got HTTP %d code %s (%s), want 401 %s", a.status, a.Code, a.Msg, tc.code)
			}
		})
	}
	// The query string is part of what is signed: a request sent with
	// another query than the one signed is refused.
	c := good()
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	req, _ := http.NewRequest(http.MethodGet, url+"/api/v5/trade/order?instId=BTC-USDT&clOrdId=zz", nil)
	req.Header.Set("OK-ACCESS-KEY", "sub1-key")
	req.Header.Set("OK-ACCESS-PASSPHRASE", "sub1-pass")
	req.Header.Set("OK-ACCESS-TIMESTAMP", ts)
	req.Header.Set("OK-ACCESS-SIGN", hmacB64("sub1-secret", ts+"GET/api/v5/trade/order?instId=BTC-USDT&clOrdId=yy"))
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("query other than signed: HTTP %d, want 401", resp.StatusCode)
	}
	if a := c.do(http.MethodGet, "/api/v5/trade/order?instId=BTC-USDT&clOrdId=zz", nil); a.Code != "51603" {
		t.Errorf("good key, unknown order: code %s, want 51603", a.Code)
	}
	if n := len(s.OrderLog()); n != 0 {
		t.Errorf("%d orders placed by refused requests", n)
	}
	if a := good().place("BTC-USDT", "auth2", "buy", "market", "0.001", ""); a.Code != "0" || a.sCode() != "0" {
		t.Errorf("good request: code %s sCode %s (%s)", a.Code, a.sCode(), a.Msg)
	}
	s.RevokeKey("sub1-key", true)
	if a := good().place("BTC-USDT", "auth3", "buy", "market", "0.001", ""); a.status != 401 || a.Code != "50111" {
		t.Errorf("revoked key: HTTP %d code %s, want 401 50111", a.status, a.Code)
	}
	if st := s.Stats(); st.AuthFailures != int64(len(cases))+2 {
		t.Errorf("auth failures %d, want %d", st.AuthFailures, len(cases)+2)
	}
}

// The place limit is per sub-account and instrument (50011, HTTP 429);
// the sub-account limit spans instruments and keys (sCode 50061, HTTP
// 200); a refused request counts against neither; windows slide on the
// simulator's clock, so no test waits for one.
func TestLimits(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	s, url := newTestServer(t, func(c *Config) {
		c.Now = clk.Now
		c.Accounts[0].AccRateLimit = 100
		c.Accounts[0].Keys = append(c.Accounts[0].Keys, KeyConfig{APIKey: "sub1-key2", Secret: "s2", Passphrase: "p2"})
	})
	k1 := newClient(t, url, "sub1-key", "sub1-secret", "sub1-pass", clk.Now)
	k2 := newClient(t, url, "sub1-key2", "s2", "p2", clk.Now)
	other := newClient(t, url, "sub2-key", "sub2-secret", "sub2-pass", clk.Now)
	rest := func(c *client, inst string, i int) answer {
		t.Helper()
		px := "1000"
		return c.place(inst, fmt.Sprintf("L%s%d", inst[:3], i), "buy", "limit", "0.01", px)
	}
	// 60 on BTC between two keys of sub1: the 61st is refused.
	for i := range 60 {
		c := k1
		if i%2 == 1 {
			c = k2
		}
		if a := rest(c, "BTC-USDT", i); a.sCode() != "0" {
			t.Fatalf("BTC order %d: code %s sCode %s %s", i, a.Code, a.sCode(), a.Msg)
		}
	}
	a := rest(k2, "BTC-USDT", 60)
	if a.status != http.StatusTooManyRequests || a.Code != "50011" {
		t.Fatalf("61st BTC order: HTTP %d code %s, want 429 50011", a.status, a.Code)
	}
	if a := rest(other, "BTC-USDT", 0); a.sCode() != "0" {
		t.Errorf("another sub-account's BTC order refused: %s %s", a.Code, a.sCode())
	}
	// 40 more on ETH reach sub1's 100 (so the refused 61st BTC order did
	// not count against the sub-account); the 101st new order is refused.
	for i := range 40 {
		if a := rest(k1, "ETH-USDT", i); a.sCode() != "0" {
			t.Fatalf("ETH order %d: code %s sCode %s", i, a.Code, a.sCode())
		}
	}
	a = rest(k2, "ETH-USDT", 40)
	if a.status != http.StatusOK || a.Code != "1" || a.sCode() != "50061" {
		t.Fatalf("101st order: HTTP %d code %s sCode %s, want 200 1 50061", a.status, a.Code, a.sCode())
	}
	if st := s.Stats(); st.Throttled50011["place"] != 1 || st.SubAccount50061 != 1 || st.OrdersPlaced["sub1"] != 100 {
		t.Errorf("stats %+v", st)
	}
	// The windows slide: 2 s later the first orders no longer count.
	clk.Add(2*time.Second + time.Millisecond)
	if a := rest(k2, "BTC-USDT", 61); a.sCode() != "0" {
		t.Errorf("after the window: code %s sCode %s", a.Code, a.sCode())
	}
	for i := range 60 {
		if a := rest(k1, "ETH-USDT", 100+i); a.sCode() != "0" {
			t.Fatalf("ETH order %d after the window: %s %s", i, a.Code, a.sCode())
		}
	}
	if a := rest(k1, "ETH-USDT", 200); a.Code != "50011" {
		t.Errorf("61st ETH order of the new window: code %s, want 50011", a.Code)
	}
}

// As on OKX, a clOrdId must be unique among pending orders only: a live
// one is refused (51016), a closed one may be placed again, the order log
// shows both placements and a query answers with the latest.
func TestClOrdIDReuse(t *testing.T) {
	s, url := newTestServer(t, nil)
	c := newClient(t, url, "sub1-key", "sub1-secret", "sub1-pass", nil)
	first := c.place("BTC-USDT", "dup1", "buy", "limit", "0.001", "10000")
	if first.sCode() != "0" {
		t.Fatalf("first: %s %s", first.Code, first.sCode())
	}
	if a := c.place("BTC-USDT", "dup1", "buy", "limit", "0.001", "10000"); a.sCode() != "51016" {
		t.Errorf("live clOrdId again: sCode %s, want 51016", a.sCode())
	}
	if a := c.do(http.MethodPost, "/api/v5/trade/cancel-order", map[string]string{"instId": "BTC-USDT", "clOrdId": "dup1"}); a.sCode() != "0" {
		t.Fatalf("cancel: %s %s", a.Code, a.sCode())
	}
	if a := c.do(http.MethodPost, "/api/v5/trade/cancel-order", map[string]string{"instId": "BTC-USDT", "clOrdId": "dup1"}); a.sCode() != "51400" {
		t.Errorf("cancel again: sCode %s, want 51400", a.sCode())
	}
	second := c.place("BTC-USDT", "dup1", "buy", "market", "0.001", "")
	if second.sCode() != "0" || second.field("ordId") == first.field("ordId") {
		t.Fatalf("closed clOrdId again: sCode %s ordId %s (first %s)", second.sCode(), second.field("ordId"), first.field("ordId"))
	}
	q := c.do(http.MethodGet, "/api/v5/trade/order?instId=BTC-USDT&clOrdId=dup1", nil)
	if q.field("ordId") != second.field("ordId") || q.field("state") != "filled" || q.field("ordType") != "market" {
		t.Errorf("query by clOrdId: ordId %s state %s, want the latest %s filled", q.field("ordId"), q.field("state"), second.field("ordId"))
	}
	if d := s.Duplicates(); d["sub1/dup1"] != 2 || len(s.OrderLog()) != 2 {
		t.Errorf("duplicates %v, log %d entries; want dup1 twice", d, len(s.OrderLog()))
	}
}

// An order past its expTime is not processed (50037); tick, lot and
// minimum size rules refuse with their codes; nothing is placed.
func TestOrderRules(t *testing.T) {
	s, url := newTestServer(t, nil)
	c := newClient(t, url, "sub1-key", "sub1-secret", "sub1-pass", nil)
	c.header = http.Header{"Exptime": {fmt.Sprint(time.Now().Add(-time.Second).UnixMilli())}}
	if a := c.place("BTC-USDT", "exp1", "buy", "market", "0.001", ""); a.sCode() != "50037" {
		t.Errorf("expired: sCode %s, want 50037", a.sCode())
	}
	for _, tc := range []struct {
		name, sz, px, code string
	}{
		{"price off tick", "0.001", "10000.001", "51000"},
		{"size off lot", "0.000015", "10000", "51121"},
		{"below minSz", "0.000001", "10000", "51121"},
		{"notional below minimum", "0.00001", "10000", "51020"},
		{"above maxLmtSz", "9001", "10000", "51203"},
	} {
		if a := c.place("BTC-USDT", "r"+fmt.Sprint(len(tc.name)), "buy", "limit", tc.sz, tc.px); a.sCode() != tc.code {
			t.Errorf("%s: sCode %s (%s), want %s", tc.name, a.sCode(), a.field("sMsg"), tc.code)
		}
	}
	if a := c.place("NOPE-USDT", "r1", "buy", "limit", "1", "1"); a.Code != "51001" {
		t.Errorf("unknown instrument: code %s, want 51001", a.Code)
	}
	if n := len(s.OrderLog()); n != 0 {
		t.Errorf("%d orders placed", n)
	}
}

// A 503 does nothing; a timeout that takes effect places the order
// although the client never hears of it; one that does not, does not.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults Faults
		placed int
	}{
		{"503", Faults{Error5xxRate: 1, Paths: []string{"/api/v5/trade/order"}}, 0},
		{"timeout applied", Faults{TimeoutRate: 1, TimeoutAppliesRate: 1, Paths: []string{"/api/v5/trade/order"}}, 1},
		{"timeout not applied", Faults{TimeoutRate: 1, Paths: []string{"/api/v5/trade/order"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, url := newTestServer(t, func(c *Config) { c.Faults = tc.faults })
			c := newClient(t, url, "sub1-key", "sub1-secret", "sub1-pass", nil)
			c.hc.Timeout = 200 * time.Millisecond
			a, err := c.try(http.MethodPost, "/api/v5/trade/order", placeBody("BTC-USDT", "f1", "buy", "market", "0.001", ""))
			switch {
			case tc.faults.Error5xxRate > 0 && (err != nil || a.status != http.StatusServiceUnavailable || a.Code != "50001"):
				t.Errorf("got %+v, %v; want HTTP 503 code 50001", a, err)
			case tc.faults.TimeoutRate > 0 && err == nil:
				t.Errorf("a held request was answered: %+v", a)
			}
			if tc.placed > 0 {
				bustest.WaitFor(t, "the order log", func() bool { return len(s.OrderLog()) == tc.placed })
			}
			if got := len(s.OrderLog()); got != tc.placed {
				t.Errorf("%d orders placed, want %d", got, tc.placed)
			}
			// Queries are faulted on the same path (GET /api/v5/trade/order).
			st := s.Stats()
			if st.Errors5xx+st.Timeouts != 1 || st.TimeoutsApplied != int64(tc.placed) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}
