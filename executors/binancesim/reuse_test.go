package binancesim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// reuse places r1 (rests), tries r1 again while it is open (refused),
// cancels it and places r1 again as a market order, which Binance accepts
// as a second order. It returns the two orders.
func reuse(t *testing.T, c *client) (first, second orderResp) {
	t.Helper()
	order := func(kv ...string) answer {
		t.Helper()
		return c.signed(http.MethodPost, "/api/v3/order", form(append([]string{"symbol", "BTCUSDT"}, kv...)...))
	}
	a := order("side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "quantity", "0.01", "price", "59000", "newClientOrderId", "r1")
	wantStatus(t, a, http.StatusOK)
	a.decode(t, &first)
	wantErr(t, order("side", "BUY", "type", "MARKET", "quantity", "0.02", "newClientOrderId", "r1"),
		http.StatusBadRequest, -2010, "Duplicate order sent.")
	wantStatus(t, c.signed(http.MethodDelete, "/api/v3/order", form("symbol", "BTCUSDT", "origClientOrderId", "r1")), http.StatusOK)
	a = order("side", "BUY", "type", "MARKET", "quantity", "0.02", "newClientOrderId", "r1")
	wantStatus(t, a, http.StatusOK) // refused with -2010 when IDs were taken forever
	a.decode(t, &second)
	if second.OrderID == first.OrderID || second.ClientOrderID != "r1" || second.Status != "FILLED" {
		t.Fatalf("second placement: got %+v; want a new FILLED order r1", second)
	}
	return first, second
}

// Binance refuses a newClientOrderId only while an order with it is open;
// once closed, the ID places a new order, which queries by client ID find.
func TestClientIDReusedOnceClosed(t *testing.T) {
	srv, base := start(t, binancesim.DefaultConfig())
	srv.Exchange().SetPrice("BTC-USDT", decimal.RequireFromString("60000"))
	c := newClient(t, base, "acct1-key", "acct1-secret", nil)
	conn := dial(t, base, "/ws/"+listenKey(t, c))
	first, second := reuse(t, c)

	var q orderResp
	c.signed(http.MethodGet, "/api/v3/order", form("symbol", "BTCUSDT", "origClientOrderId", "r1")).decode(t, &q)
	if q.OrderID != second.OrderID {
		t.Errorf("query by client ID: got order %d, want the newest %d", q.OrderID, second.OrderID)
	}
	c.signed(http.MethodGet, "/api/v3/order", form("symbol", "BTCUSDT", "orderId", itoa(first.OrderID))).decode(t, &q)
	if q.OrderID != first.OrderID || q.Status != "CANCELED" || q.OrigQty != "0.01000000" {
		t.Errorf("query by orderId: got %+v, want the first order, canceled", q)
	}
	wantErr(t, c.signed(http.MethodDelete, "/api/v3/order", form("symbol", "BTCUSDT", "orderId", itoa(first.OrderID))),
		http.StatusBadRequest, -2011, "Unknown order sent.")
	var all []orderResp
	c.signed(http.MethodGet, "/api/v3/allOrders", form("symbol", "BTCUSDT")).decode(t, &all)
	if len(all) != 2 {
		t.Errorf("allOrders: got %d orders, want 2", len(all))
	}

	// The stream tells the two orders apart by orderId.
	want := []struct {
		exec string
		id   int64
	}{{"NEW", first.OrderID}, {"CANCELED", first.OrderID}, {"NEW", second.OrderID}, {"TRADE", second.OrderID}}
	for _, w := range want {
		ev := nextReport(t, conn)
		if ev.Exec != w.exec || ev.OrderID != w.id {
			t.Fatalf("stream: got %s of order %d, want %s of %d", ev.Exec, ev.OrderID, w.exec, w.id)
		}
	}
}

// The order log counts every placement per account and client ID, with
// each order's venue ID, status, quantities and fills.
func TestOrderLog(t *testing.T) {
	srv, base := start(t, binancesim.DefaultConfig())
	srv.Exchange().SetPrice("BTC-USDT", decimal.RequireFromString("60000"))
	c := newClient(t, base, "acct1-key", "acct1-secret", nil)
	first, second := reuse(t, c)
	wantStatus(t, newClient(t, base, "acct2-key", "acct2-secret", nil).signed(http.MethodPost, "/api/v3/order",
		form("symbol", "BTCUSDT", "side", "SELL", "type", "MARKET", "quantity", "0.01", "newClientOrderId", "r1")), http.StatusOK)

	log := srv.OrderLog()
	if len(log) != 2 {
		t.Fatalf("log: got %d entries, want 2 (r1 of acct1, r1 of acct2): %+v", len(log), log)
	}
	e := log[0]
	if e.Account != "acct1" || e.ClientOrderID != "r1" || e.Placements != 2 || len(e.Orders) != 2 || e.Refused["duplicate"] != 1 {
		t.Fatalf("acct1 r1: got %+v", e)
	}
	o1, o2 := e.Orders[0], e.Orders[1]
	if o1.VenueOrderID != itoa(first.OrderID) || o1.Status != messages.StatusCanceled || o1.Type != messages.Limit ||
		!o1.Quantity.Equal(decimal.RequireFromString("0.01")) || o1.Price == nil || !o1.CumQuantity.IsZero() || len(o1.Fills) != 0 {
		t.Errorf("first order: got %+v", o1)
	}
	if o2.VenueOrderID != itoa(second.OrderID) || o2.Status != messages.StatusFilled || o2.Price != nil ||
		!o2.CumQuantity.Equal(decimal.RequireFromString("0.02")) || len(o2.Fills) != 1 ||
		o2.Fills[0].TradeID != itoa(second.Fills[0].TradeID) || !o2.Fills[0].Quantity.Equal(o2.CumQuantity) {
		t.Errorf("second order: got %+v", o2)
	}
	if log[1].Account != "acct2" || log[1].Placements != 1 {
		t.Errorf("acct2 r1: got %+v", log[1])
	}
	if r := binancesim.Reused(log); len(r) != 1 || r[0].Account != "acct1" {
		t.Errorf("Reused: got %+v, want acct1's r1 only", r)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, b)
	}
}

func put(t *testing.T, url, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The admin API, on a listener of its own, serves the order log, the
// counters (429s included) and the fault injection.
func TestAdminAPI(t *testing.T) {
	cfg := binancesim.DefaultConfig()
	cfg.RateLimits = append(binancesim.DefaultRateLimits(),
		binancesim.RateLimit{Type: "ORDERS", Interval: "MINUTE", IntervalNum: 1, Limit: 3})
	srv, base := start(t, cfg)
	srv.Exchange().SetPrice("BTC-USDT", decimal.RequireFromString("60000"))
	admin, err := srv.StartAdmin("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, base, "acct1-key", "acct1-secret", nil)
	reuse(t, c) // 3 orders counted: the limit
	wantErr(t, c.signed(http.MethodPost, "/api/v3/order", form("symbol", "BTCUSDT", "side", "BUY", "type", "MARKET", "quantity", "0.01")),
		http.StatusTooManyRequests, -1015, "")

	var orders struct {
		P            int                       `json:"placements"`
		N            int                       `json:"client_order_ids"`
		R            int                       `json:"reused"`
		ClientOrders []binancesim.ClientOrders `json:"client_orders"`
	}
	getJSON(t, admin+"/sim/orders", &orders)
	if orders.P != 2 || orders.N != 1 || orders.R != 1 || len(orders.ClientOrders) != 1 || orders.ClientOrders[0].Placements != 2 {
		t.Errorf("/sim/orders: got %+v", orders)
	}
	getJSON(t, admin+"/sim/orders?account=acct2", &orders)
	if orders.N != 0 || len(orders.ClientOrders) != 0 {
		t.Errorf("/sim/orders?account=acct2: got %+v", orders)
	}
	var st map[string]any
	getJSON(t, admin+"/sim/stats", &st)
	if st["rejected_429"] != 1.0 || st["banned_418"] != 0.0 {
		t.Errorf("/sim/stats: got %v, want rejected_429 1, banned_418 0", st)
	}

	if code := put(t, admin+"/sim/faults", `{"error_5xx_rate": 1, "latency": "1ms", "paths": ["/api/v3/time"]}`); code != http.StatusOK {
		t.Fatalf("PUT /sim/faults: got %d", code)
	}
	if got := srv.Faults(); got.Error5xxRate != 1 || got.Latency != time.Millisecond {
		t.Errorf("Faults after PUT: got %+v", got)
	}
	wantStatus(t, c.public(http.MethodGet, "/api/v3/time", nil), http.StatusServiceUnavailable)
	for _, bad := range []string{`{"error_5xx_rate": 2}`, `{"no_such_fault": 1}`, `{"latency": "soon"}`} {
		if code := put(t, admin+"/sim/faults", bad); code != http.StatusBadRequest {
			t.Errorf("PUT /sim/faults %s: got %d, want 400", bad, code)
		}
	}
	var f map[string]any
	getJSON(t, admin+"/sim/faults", &f)
	if f["latency"] != "1ms" || f["error_5xx_rate"] != 1.0 {
		t.Errorf("/sim/faults: got %v", f)
	}
	if code := put(t, admin+"/sim/faults", `{}`); code != http.StatusOK {
		t.Fatalf("PUT /sim/faults {}: got %d", code)
	}
	wantStatus(t, c.public(http.MethodGet, "/api/v3/time", nil), http.StatusOK)

	// None of it is on the Binance API's address.
	wantStatus(t, c.public(http.MethodGet, "/sim/stats", nil), http.StatusNotFound)
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := binancesim.LoadConfig(writeFile(t, `
accounts:
  - id: a
    keys: [{api_key: a-key, secret_file: `+secret+`}]
`))
	if err != nil {
		t.Fatal(err)
	}
	_, base := start(t, cfg)
	wantStatus(t, newClient(t, base, "a-key", "file-secret", nil).signed(http.MethodGet, "/api/v3/account", nil), http.StatusOK)

	cfg.Accounts[0].Keys[0].SecretEnv = "X"
	if _, err := binancesim.New(cfg); err == nil || !strings.Contains(err.Error(), "one of secret") {
		t.Errorf("secret_file with secret_env: got %v", err)
	}
	cfg.Accounts[0].Keys[0].SecretEnv = ""
	cfg.Accounts[0].Keys[0].SecretFile = filepath.Join(dir, "missing")
	if _, err := binancesim.New(cfg); err == nil || !strings.Contains(err.Error(), "secret_file") {
		t.Errorf("missing secret_file: got %v", err)
	}
}
