package binancesim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/shopspring/decimal"
)

// event is the union of the stream's events, by Binance's one-letter keys.
// encoding/json matches keys case-insensitively when no field matches
// exactly, so every key whose other case is decoded needs its own field.
type event struct {
	E         string  `json:"e"`
	EventTime int64   `json:"E"`
	StopPrice string  `json:"P"`
	Iceberg   string  `json:"F"`
	Comm      string  `json:"n"`
	Transact  int64   `json:"T"`
	Ignore1   int64   `json:"I"`
	Ignore2   bool    `json:"M"`
	Created   int64   `json:"O"`
	QuoteQty  string  `json:"Q"`
	OnBook    bool    `json:"w"`
	Working   int64   `json:"W"`
	Symbol    string  `json:"s"`
	Client    string  `json:"c"`
	OrigCl    string  `json:"C"`
	Side      string  `json:"S"`
	Type      string  `json:"o"`
	TIF       string  `json:"f"`
	Qty       string  `json:"q"`
	Price     string  `json:"p"`
	Exec      string  `json:"x"`
	Status    string  `json:"X"`
	OrderID   int64   `json:"i"`
	LastQty   string  `json:"l"`
	CumQty    string  `json:"z"`
	LastPrice string  `json:"L"`
	CommAsset *string `json:"N"`
	TradeID   int64   `json:"t"`
	Maker     bool    `json:"m"`
	CumQuote  string  `json:"Z"`
	Balances  []struct {
		Asset  string `json:"a"`
		Free   string `json:"f"`
		Locked string `json:"l"`
	} `json:"B"`
}

func listenKey(t *testing.T, c *client) string {
	t.Helper()
	a := c.public(http.MethodPost, "/api/v3/userDataStream", nil)
	wantStatus(t, a, http.StatusOK)
	var lk struct{ ListenKey string }
	a.decode(t, &lk)
	if len(lk.ListenKey) != 60 {
		t.Fatalf("listenKey: got %q", lk.ListenKey)
	}
	return lk.ListenKey
}

func dial(t *testing.T, base, path string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

func readEvent(t *testing.T, conn *websocket.Conn) event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var ev event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return ev
}

// nextReport skips outboundAccountPosition events.
func nextReport(t *testing.T, conn *websocket.Conn) event {
	t.Helper()
	for {
		if ev := readEvent(t, conn); ev.E == "executionReport" {
			return ev
		}
	}
}

func TestUserDataStream(t *testing.T) {
	cfg := binancesim.DefaultConfig()
	srv, base := start(t, cfg)
	x := srv.Exchange()
	x.SetPrice("BTC-USDT", decimal.RequireFromString("60000"))
	c := newClient(t, base, "acct1-key", "acct1-secret", nil)
	key := listenKey(t, c)
	if again := listenKey(t, c); again != key {
		t.Fatalf("second POST: got %q, want the active key %q", again, key)
	}
	conn := dial(t, base, "/ws/"+key)
	// Another account's events never reach this stream.
	other := newClient(t, base, "acct2-key", "acct2-secret", nil)

	wantStatus(t, other.signed(http.MethodPost, "/api/v3/order", form("symbol", "BTCUSDT", "side", "BUY", "type", "MARKET", "quantity", "0.01")), http.StatusOK)

	a := c.signed(http.MethodPost, "/api/v3/order", form("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.7", "price", "59000", "newClientOrderId", "s-1"))
	wantStatus(t, a, http.StatusOK)

	ev := nextReport(t, conn)
	if ev.Exec != "NEW" || ev.Status != "NEW" || ev.Client != "s-1" || ev.Symbol != "BTCUSDT" || ev.Side != "BUY" ||
		ev.Type != "LIMIT" || ev.TIF != "GTC" || ev.Qty != "0.70000000" || ev.Price != "59000.00000000" || ev.TradeID != -1 || ev.CommAsset != nil {
		t.Fatalf("NEW: got %+v", ev)
	}
	pos := readEvent(t, conn)
	if pos.E != "outboundAccountPosition" || len(pos.Balances) != 2 {
		t.Fatalf("after NEW: got %+v", pos)
	}

	x.SetPrice("BTC-USDT", decimal.RequireFromString("58000")) // fills 0.5 (max per tick)
	ev = nextReport(t, conn)
	if ev.Exec != "TRADE" || ev.Status != "PARTIALLY_FILLED" || ev.LastQty != "0.50000000" || ev.CumQty != "0.50000000" ||
		ev.LastPrice != "59000.00000000" || !ev.Maker || ev.TradeID <= 0 || ev.CommAsset == nil || ev.OrderID == 0 {
		t.Fatalf("first TRADE: got %+v", ev)
	}
	x.Step() // still crossed: the rest fills
	ev = nextReport(t, conn)
	if ev.Exec != "TRADE" || ev.Status != "FILLED" || ev.LastQty != "0.20000000" || ev.CumQty != "0.70000000" || ev.CumQuote != "41300.00000000" {
		t.Fatalf("second TRADE: got %+v", ev)
	}

	// A cancel names the cancel in c and the order in C.
	wantStatus(t, c.signed(http.MethodPost, "/api/v3/order", form("symbol", "BTCUSDT", "side", "SELL", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.1", "price", "70000", "newClientOrderId", "s-2")), http.StatusOK)
	if ev = nextReport(t, conn); ev.Exec != "NEW" || ev.Client != "s-2" {
		t.Fatalf("NEW s-2: got %+v", ev)
	}
	wantStatus(t, c.signed(http.MethodDelete, "/api/v3/order", form("symbol", "BTCUSDT", "origClientOrderId", "s-2", "newClientOrderId", "x-2")), http.StatusOK)
	if ev = nextReport(t, conn); ev.Exec != "CANCELED" || ev.Status != "CANCELED" || ev.Client != "x-2" || ev.OrigCl != "s-2" {
		t.Fatalf("CANCELED: got %+v", ev)
	}

	// A market order: NEW, then one TRADE per fill, the last FILLED.
	wantStatus(t, c.signed(http.MethodPost, "/api/v3/order", form("symbol", "BTCUSDT", "side", "SELL", "type", "MARKET",
		"quantity", "0.6", "newClientOrderId", "s-3")), http.StatusOK)
	for _, want := range []string{"NEW/NEW", "TRADE/PARTIALLY_FILLED", "TRADE/FILLED"} {
		ev = nextReport(t, conn)
		if got := ev.Exec + "/" + ev.Status; got != want || ev.Client != "s-3" {
			t.Fatalf("market: got %s %+v, want %s", got, ev, want)
		}
	}

	t.Run("keepalive and close", func(t *testing.T) {
		wantStatus(t, c.public(http.MethodPut, "/api/v3/userDataStream", form("listenKey", key)), http.StatusOK)
		wantErr(t, other.public(http.MethodPut, "/api/v3/userDataStream", form("listenKey", key)), http.StatusBadRequest, -1125, "This listenKey does not exist.")
		wantStatus(t, c.public(http.MethodDelete, "/api/v3/userDataStream", form("listenKey", key)), http.StatusOK)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
					t.Fatalf("after DELETE: got %v, want a normal close", err)
				}
				break
			}
		}
		wantErr(t, c.public(http.MethodPut, "/api/v3/userDataStream", form("listenKey", key)), http.StatusBadRequest, -1125, "")
	})
}

func TestCombinedStream(t *testing.T) {
	srv, base := start(t, binancesim.DefaultConfig())
	c := newClient(t, base, "acct1-key", "acct1-secret", nil)
	key := listenKey(t, c)
	conn := dial(t, base, "/stream?streams="+key)
	_ = srv
	wantStatus(t, c.signed(http.MethodPost, "/api/v3/order", form("symbol", "ETHUSDT", "side", "BUY", "type", "MARKET", "quantity", "0.01")), http.StatusOK)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Stream string
		Data   event
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Stream != key || m.Data.E != "executionReport" {
		t.Fatalf("got %s (%v)", b, err)
	}
}

func TestStreamUnknownKey(t *testing.T) {
	_, base := start(t, binancesim.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/nope", nil)
	if err == nil {
		t.Fatal("dial with an unknown listenKey: got nil error")
	}
	if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got %v", resp)
	}
}

func TestWebSocketAPISubscription(t *testing.T) {
	srv, base := start(t, binancesim.DefaultConfig())
	_ = srv
	conn := dial(t, base, "/ws-api/v3")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	send := func(v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	type answer struct {
		ID     string
		Status int
		Result struct {
			SubscriptionID *int `json:"subscriptionId"`
		}
		Error          *apiErr
		SubscriptionID *int            `json:"subscriptionId"`
		Event          json.RawMessage `json:"event"`
	}
	read := func() answer {
		t.Helper()
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var a answer
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		return a
	}
	subscribe := func(id, secret string) {
		ts := time.Now().UnixMilli()
		payload := "apiKey=acct1-key&recvWindow=5000&timestamp=" + itoa(ts)
		send(map[string]any{"id": id, "method": "userDataStream.subscribe.signature", "params": map[string]any{
			"apiKey": "acct1-key", "recvWindow": 5000, "timestamp": ts, "signature": sign(secret, payload),
		}})
	}

	subscribe("bad", "wrong-secret")
	if a := read(); a.ID != "bad" || a.Status != http.StatusBadRequest || a.Error == nil || a.Error.Code != -1022 {
		t.Fatalf("bad signature: got %+v", a)
	}
	subscribe("good", "acct1-secret")
	if a := read(); a.ID != "good" || a.Status != http.StatusOK || a.Result.SubscriptionID == nil || *a.Result.SubscriptionID != 0 {
		t.Fatalf("subscribe: got %+v", a)
	}
	c := newClient(t, base, "acct1-key", "acct1-secret", nil)
	wantStatus(t, c.signed(http.MethodPost, "/api/v3/order", form("symbol", "BTCUSDT", "side", "BUY", "type", "MARKET",
		"quantity", "0.01", "newClientOrderId", "ws-1")), http.StatusOK)
	a := read()
	if a.SubscriptionID == nil || *a.SubscriptionID != 0 {
		t.Fatalf("event: got %+v", a)
	}
	var ev event
	if err := json.Unmarshal(a.Event, &ev); err != nil || ev.E != "executionReport" || ev.Client != "ws-1" || ev.Exec != "NEW" {
		t.Fatalf("event: got %s (%v)", a.Event, err)
	}
	send(map[string]any{"id": "u", "method": "userDataStream.unsubscribe"})
	for {
		if a := read(); a.ID == "u" {
			if a.Status != http.StatusOK {
				t.Fatalf("unsubscribe: got %+v", a)
			}
			break
		}
	}
}
