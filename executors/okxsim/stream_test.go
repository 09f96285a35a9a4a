package okxsim

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsClient is a raw private WebSocket connection.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func dialWS(t *testing.T, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws/v5/private", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	if err := w.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

// read returns the next message, or "" and the error.
func (w *wsClient) read() (map[string]any, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		return nil, "", err
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m, string(b), nil
}

func (w *wsClient) login(key, secret, pass string, at time.Time) {
	ts := strconv.FormatInt(at.Unix(), 10)
	w.send(map[string]any{"op": "login", "args": []map[string]string{{
		"apiKey": key, "passphrase": pass, "timestamp": ts, "sign": hmacB64(secret, ts+"GET/users/self/verify"),
	}}})
}

func TestWebSocketLogin(t *testing.T) {
	_, url := newTestServer(t, nil)
	for _, tc := range []struct {
		name, key, secret, pass string
		at                      time.Time
		code                    string
	}{
		{"unknown key", "nobody", "x", "y", time.Now(), "60005"},
		{"wrong secret", "sub1-key", "sub2-secret", "sub1-pass", time.Now(), "60007"},
		{"wrong passphrase", "sub1-key", "sub1-secret", "sub2-pass", time.Now(), "60024"},
		{"stale", "sub1-key", "sub1-secret", "sub1-pass", time.Now().Add(-time.Minute), "60006"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dialWS(t, url)
			w.login(tc.key, tc.secret, tc.pass, tc.at)
			m, raw, err := w.read()
			if err != nil || m["event"] != "error" || m["code"] != tc.code {
				t.Fatalf("got %s, %v; want an error event %s", raw, err, tc.code)
			}
			if _, _, err := w.read(); err == nil {
				t.Error("the connection stayed open after a refused login")
			}
		})
	}
	w := dialWS(t, url)
	w.send(map[string]any{"op": "subscribe", "args": []map[string]string{{"channel": "orders", "instType": "SPOT"}}})
	if m, raw, _ := w.read(); m["code"] != "60011" {
		t.Errorf("subscribe before login: %s, want 60011", raw)
	}
	if err := w.c.Write(context.Background(), websocket.MessageText, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, raw, _ := w.read(); raw != "pong" {
		t.Errorf("ping answered %q, want pong", raw)
	}
}

// The orders channel pushes every state change of the sub-account's
// orders: one entry per fill, live, canceled with its cancelSource; a
// post-only order that would take is taken and canceled (31).
func TestOrdersChannel(t *testing.T) {
	s, url := newTestServer(t, func(c *Config) { c.TakerFee = decimalOf("0.001") })
	w := dialWS(t, url)
	w.login("sub1-key", "sub1-secret", "sub1-pass", time.Now())
	if m, raw, err := w.read(); err != nil || m["event"] != "login" || m["code"] != "0" {
		t.Fatalf("login: %s %v", raw, err)
	}
	w.send(map[string]any{"id": "s1", "op": "subscribe", "args": []map[string]string{{"channel": "orders", "instType": "SPOT"}}})
	if m, raw, _ := w.read(); m["event"] != "subscribe" || m["id"] != "s1" {
		t.Fatalf("subscribe: %s", raw)
	}
	c := newClient(t, url, "sub1-key", "sub1-secret", "sub1-pass", nil)
	type entry struct {
		ClOrdID, State, FillSz, FillFee, FillFeeCcy, ExecType, TradeID, AccFillSz, CancelSource string
	}
	next := func() []entry {
		t.Helper()
		m, raw, err := w.read()
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Arg  map[string]string `json:"arg"`
			Data []entry           `json:"data"`
		}
		json.Unmarshal([]byte(raw), &p)
		if p.Arg["channel"] != "orders" || p.Arg["uid"] == "" || len(p.Data) == 0 {
			t.Fatalf("not an orders push: %s (%v)", raw, m)
		}
		return p.Data
	}
	// A market order of 1.2 BTC fills in three fills (0.5 at most each),
	// all in one push.
	c.place("BTC-USDT", "m1", "buy", "market", "1.2", "")
	es := next()
	if len(es) != 3 || es[0].State != "partially_filled" || es[2].State != "filled" || es[2].AccFillSz != "1.2" {
		t.Fatalf("market push %+v", es)
	}
	for _, e := range es {
		if e.TradeID == "" || e.ExecType != "T" || !strings.HasPrefix(e.FillFee, "-") || e.FillFeeCcy != "USDT" {
			t.Errorf("fill entry %+v: want a trade ID, taker, a negative fee in USDT", e)
		}
	}
	c.place("BTC-USDT", "l1", "buy", "limit", "0.001", "10000")
	if es := next(); len(es) != 1 || es[0].State != "live" || es[0].ClOrdID != "l1" {
		t.Fatalf("resting push %+v", es)
	}
	c.do(http.MethodPost, "/api/v5/trade/cancel-order", map[string]string{"instId": "BTC-USDT", "clOrdId": "l1"})
	if es := next(); es[0].State != "canceled" || es[0].CancelSource != "1" {
		t.Fatalf("cancel push %+v", es)
	}
	a := c.place("BTC-USDT", "p1", "buy", "post_only", "0.001", "70000")
	if a.sCode() != "0" {
		t.Fatalf("post-only answer %+v", a)
	}
	if es := next(); es[0].State != "canceled" || es[0].CancelSource != "31" || es[0].ClOrdID != "p1" {
		t.Fatalf("post-only push %+v", es)
	}
	c.place("BTC-USDT", "i1", "buy", "fok", "1.2", "60000")
	if es := next(); es[0].State != "canceled" || es[0].CancelSource != "13" {
		t.Fatalf("FOK push %+v", es)
	}
	if log := s.OrderLog(); len(log) != 4 || log[2].Book || !log[3].Book {
		t.Errorf("order log %+v: want 4 placements, the post-only one off the book", log)
	}
	if n := len(s.Orders("sub1")); n != 3 {
		t.Errorf("engine holds %d orders, want 3 (the post-only one never reached it)", n)
	}
}

// account-rate-limit reports the sub-account's limit, follows
// SetAccRateLimit, and allows one read per second.
func TestAccountRateLimitEndpoint(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	s, url := newTestServer(t, func(c *Config) { c.Now = clk.Now; c.Accounts[0].AccRateLimit = 2500 })
	c := newClient(t, url, "sub1-key", "sub1-secret", "sub1-pass", clk.Now)
	if a := c.do(http.MethodGet, "/api/v5/trade/account-rate-limit", nil); a.field("accRateLimit") != "2500" {
		t.Errorf("accRateLimit %q, want 2500", a.field("accRateLimit"))
	}
	if a := c.do(http.MethodGet, "/api/v5/trade/account-rate-limit", nil); a.Code != "50011" {
		t.Errorf("second read within a second: code %s, want 50011", a.Code)
	}
	s.SetAccRateLimit("sub1", 1000)
	clk.Add(time.Second)
	if a := c.do(http.MethodGet, "/api/v5/trade/account-rate-limit", nil); a.field("accRateLimit") != "1000" {
		t.Errorf("after SetAccRateLimit: %q, want 1000", a.field("accRateLimit"))
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("accounts:\n  - {id: a, acc_rate_limit: 5, keys: [{api_key: k, secret: s, passphrase: p}]}\nlimits:\n  place: {max: 5, window: 250ms}\n"), 0o600)
	cfg, err := LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.cfg.Limits.Place != (Limit{5, 250 * time.Millisecond}) || s.cfg.Limits.Cancel != (Limit{60, 2 * time.Second}) {
		t.Errorf("limits %+v", s.cfg.Limits)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("accounts: []\nlimtis: {}\n"), 0o600)
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), "limtis") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := New(Config{Accounts: []AccountConfig{{ID: "a", Keys: []KeyConfig{{APIKey: "k", Secret: "s"}}}}}); err == nil ||
		!strings.Contains(err.Error(), "passphrase") {
		t.Errorf("key without a passphrase: %v", err)
	}
	t.Setenv("OKXSIM_TEST_PASS", "")
	_, err = New(Config{Accounts: []AccountConfig{{ID: "a", Keys: []KeyConfig{{APIKey: "k", Secret: "s", PassphraseEnv: "OKXSIM_TEST_PASS"}}}}})
	if err == nil || !strings.Contains(err.Error(), "OKXSIM_TEST_PASS") {
		t.Errorf("empty passphrase variable: %v", err)
	}
}
