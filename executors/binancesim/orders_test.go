package binancesim_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/shopspring/decimal"
)

type fill struct {
	Price, Qty, Commission, CommissionAsset string
	TradeID                                 int64 `json:"tradeId"`
}

type orderResp struct {
	Symbol              string
	OrderID             int64 `json:"orderId"`
	OrderListID         int64 `json:"orderListId"`
	ClientOrderID       string
	OrigClientOrderID   string
	TransactTime        int64
	Price               string
	OrigQty             string
	ExecutedQty         string
	CummulativeQuoteQty string
	Status              string
	TimeInForce         string
	Type                string
	Side                string
	Fills               []fill
}

type balance struct{ Asset, Free, Locked string }

func accountBalances(t *testing.T, c *client) map[string]balance {
	t.Helper()
	a := c.signed(http.MethodGet, "/api/v3/account", nil)
	wantStatus(t, a, http.StatusOK)
	var acct struct {
		AccountType string
		Balances    []balance
	}
	a.decode(t, &acct)
	if acct.AccountType != "SPOT" {
		t.Fatalf("accountType: got %q", acct.AccountType)
	}
	out := map[string]balance{}
	for _, b := range acct.Balances {
		out[b.Asset] = b
	}
	return out
}

func TestOrders(t *testing.T) {
	clk := newClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cfg := binancesim.DefaultConfig()
	cfg.Now = clk.Now
	srv, base := start(t, cfg)
	srv.Exchange().SetPrice("BTC-USDT", decimal.RequireFromString("60000"))
	c := newClient(t, base, "acct1-key", "acct1-secret", clk.Now)
	c.body = true
	order := func(kv ...string) answer {
		t.Helper()
		return c.signed(http.MethodPost, "/api/v3/order", form(append([]string{"symbol", "BTCUSDT"}, kv...)...))
	}
	var o orderResp

	t.Run("limit GTC rests", func(t *testing.T) {
		a := order("side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "quantity", "0.01", "price", "59000", "newClientOrderId", "rest-1")
		wantStatus(t, a, http.StatusOK)
		wantHeader(t, a, "X-MBX-ORDER-COUNT-10S", "1")
		wantHeader(t, a, "X-MBX-ORDER-COUNT-1D", "1")
		wantHeader(t, a, "X-MBX-USED-WEIGHT-1M", "1")
		a.decode(t, &o)
		if o.Status != "NEW" || o.ClientOrderID != "rest-1" || o.ExecutedQty != "0.00000000" || o.OrderListID != -1 ||
			o.TransactTime != clk.Now().UnixMilli() || len(o.Fills) != 0 || o.Fills == nil {
			t.Fatalf("got %+v", o)
		}
	})
	t.Run("query", func(t *testing.T) {
		a := c.signed(http.MethodGet, "/api/v3/order", form("symbol", "BTCUSDT", "origClientOrderId", "rest-1"))
		wantStatus(t, a, http.StatusOK)
		wantHeader(t, a, "X-MBX-USED-WEIGHT-1M", "5")
		var q orderResp
		a.decode(t, &q)
		if q.Status != "NEW" || q.OrderID != o.OrderID || q.Price != "59000.00000000" {
			t.Fatalf("got %+v", q)
		}
		a = c.signed(http.MethodGet, "/api/v3/order", form("symbol", "BTCUSDT", "orderId", "99999"))
		wantErr(t, a, http.StatusBadRequest, -2013, "Order does not exist.")
	})
	t.Run("open orders", func(t *testing.T) {
		a := c.signed(http.MethodGet, "/api/v3/openOrders", form("symbol", "BTCUSDT"))
		wantStatus(t, a, http.StatusOK)
		var list []orderResp
		a.decode(t, &list)
		if len(list) != 1 || list[0].ClientOrderID != "rest-1" {
			t.Fatalf("got %+v", list)
		}
	})
	t.Run("locked balance", func(t *testing.T) {
		b := accountBalances(t, c)["USDT"]
		if b.Locked != "590.00000000" || b.Free != "99999410.00000000" {
			t.Fatalf("USDT: got %+v", b)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		a := order("side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "quantity", "0.01", "price", "59000", "newClientOrderId", "rest-1")
		wantErr(t, a, http.StatusBadRequest, -2010, "Duplicate order sent.")
	})
	t.Run("fill by price move", func(t *testing.T) {
		srv.Exchange().SetPrice("BTC-USDT", decimal.RequireFromString("58000"))
		a := c.signed(http.MethodGet, "/api/v3/order", form("symbol", "BTCUSDT", "orderId", itoa(o.OrderID)))
		var q orderResp
		a.decode(t, &q)
		if q.Status != "FILLED" || q.ExecutedQty != "0.01000000" || q.CummulativeQuoteQty != "590.00000000" {
			t.Fatalf("got %+v", q)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		wantStatus(t, order("side", "SELL", "type", "LIMIT", "timeInForce", "GTC", "quantity", "0.01", "price", "70000", "newClientOrderId", "rest-2"), http.StatusOK)
		a := c.signed(http.MethodDelete, "/api/v3/order", form("symbol", "BTCUSDT", "origClientOrderId", "rest-2", "newClientOrderId", "cxl-2"))
		wantStatus(t, a, http.StatusOK)
		var x orderResp
		a.decode(t, &x)
		if x.Status != "CANCELED" || x.OrigClientOrderID != "rest-2" || x.ClientOrderID != "cxl-2" {
			t.Fatalf("got %+v", x)
		}
		a = c.signed(http.MethodDelete, "/api/v3/order", form("symbol", "BTCUSDT", "origClientOrderId", "rest-2"))
		wantErr(t, a, http.StatusBadRequest, -2011, "Unknown order sent.")
		a = c.signed(http.MethodDelete, "/api/v3/order", form("symbol", "BTCUSDT", "origClientOrderId", "never"))
		wantErr(t, a, http.StatusBadRequest, -2011, "Unknown order sent.")
		a = c.signed(http.MethodDelete, "/api/v3/order", form("symbol", "BTCUSDT"))
		wantErr(t, a, http.StatusBadRequest, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
	})
	t.Run("market FULL", func(t *testing.T) {
		a := order("side", "BUY", "type", "MARKET", "quantity", "1.2", "newClientOrderId", "mkt-1")
		wantStatus(t, a, http.StatusOK)
		var m orderResp
		a.decode(t, &m)
		// The default symbols fill at most 0.5 per fill.
		if m.Status != "FILLED" || m.ExecutedQty != "1.20000000" || len(m.Fills) != 3 ||
			m.Fills[0].Price != "58000.00000000" || m.Fills[2].Qty != "0.20000000" || m.Type != "MARKET" {
			t.Fatalf("got %+v", m)
		}
	})
	t.Run("my trades", func(t *testing.T) {
		a := c.signed(http.MethodGet, "/api/v3/myTrades", form("symbol", "BTCUSDT", "orderId", "3"))
		wantStatus(t, a, http.StatusOK)
		var trades []struct {
			ID, OrderID                 int64
			Price, Qty, QuoteQty        string
			IsBuyer, IsMaker            bool
			Commission, CommissionAsset string
		}
		a.decode(t, &trades)
		if len(trades) != 3 || trades[0].OrderID != 3 || !trades[0].IsBuyer || trades[0].IsMaker ||
			trades[0].Qty != "0.50000000" || trades[2].QuoteQty != "11600.00000000" || trades[1].ID <= trades[0].ID {
			t.Fatalf("got %+v", trades)
		}
		a = c.signed(http.MethodGet, "/api/v3/myTrades", form("symbol", "BTCUSDT", "fromId", itoa(trades[2].ID)))
		a.decode(t, &trades)
		if len(trades) != 1 {
			t.Fatalf("fromId: got %+v", trades)
		}
	})
	t.Run("IOC partial", func(t *testing.T) {
		a := order("side", "BUY", "type", "LIMIT", "timeInForce", "IOC", "quantity", "1", "price", "58000", "newOrderRespType", "RESULT")
		wantStatus(t, a, http.StatusOK)
		var m orderResp
		a.decode(t, &m)
		if m.Status != "EXPIRED" || m.ExecutedQty != "0.50000000" || m.Fills != nil {
			t.Fatalf("got %+v", m)
		}
	})
	t.Run("FOK", func(t *testing.T) {
		a := order("side", "BUY", "type", "LIMIT", "timeInForce", "FOK", "quantity", "1", "price", "58000", "newOrderRespType", "ACK")
		wantStatus(t, a, http.StatusOK)
		var m orderResp
		a.decode(t, &m)
		if m.Status != "" || m.OrderID == 0 {
			t.Fatalf("ACK: got %+v", m)
		}
		q := c.signed(http.MethodGet, "/api/v3/order", form("symbol", "BTCUSDT", "orderId", itoa(m.OrderID)))
		q.decode(t, &m)
		if m.Status != "EXPIRED" || m.ExecutedQty != "0.00000000" {
			t.Fatalf("got %+v", m)
		}
	})
	t.Run("LIMIT_MAKER that would take", func(t *testing.T) {
		a := order("side", "BUY", "type", "LIMIT_MAKER", "quantity", "0.01", "price", "58000")
		wantErr(t, a, http.StatusBadRequest, -2010, "Order would immediately match and take.")
	})
	t.Run("all orders", func(t *testing.T) {
		a := c.signed(http.MethodGet, "/api/v3/allOrders", form("symbol", "BTCUSDT"))
		wantStatus(t, a, http.StatusOK)
		var list []orderResp
		a.decode(t, &list)
		if len(list) != 5 || list[0].ClientOrderID != "rest-1" {
			t.Fatalf("got %d orders: %+v", len(list), list)
		}
		a = c.signed(http.MethodGet, "/api/v3/allOrders", form("symbol", "BTCUSDT", "limit", "2"))
		a.decode(t, &list)
		if len(list) != 2 || list[1].OrderID <= list[0].OrderID {
			t.Fatalf("limit 2: got %+v", list)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			kv   []string
			code int
			msg  string
		}{
			{"tick", []string{"side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "quantity", "0.01", "price", "50000.001"}, -1013, "Filter failure: PRICE_FILTER"},
			{"step", []string{"side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "quantity", "0.000015", "price", "50000"}, -1013, "Filter failure: LOT_SIZE"},
			{"notional", []string{"side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "quantity", "0.00001", "price", "50000"}, -1013, "Filter failure: NOTIONAL"},
			{"market notional", []string{"side", "BUY", "type", "MARKET", "quantity", "0.00001"}, -1013, "Filter failure: NOTIONAL"},
			{"balance", []string{"side", "SELL", "type", "LIMIT", "timeInForce", "GTC", "quantity", "5000", "price", "70000"}, -2010, "Account has insufficient balance for requested action."},
			{"no timeInForce", []string{"side", "BUY", "type", "LIMIT", "quantity", "0.01", "price", "50000"}, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."},
			{"market with price", []string{"side", "BUY", "type", "MARKET", "quantity", "0.01", "price", "50000"}, -1106, "Parameter 'price' sent when not required."},
			{"bad side", []string{"side", "UP", "type", "MARKET", "quantity", "0.01"}, -1117, "Invalid side."},
			{"bad type", []string{"side", "BUY", "type", "STOP", "quantity", "0.01"}, -1116, "Invalid orderType."},
			{"bad tif", []string{"side", "BUY", "type", "LIMIT", "timeInForce", "GTX", "quantity", "0.01", "price", "50000"}, -1115, "Invalid timeInForce."},
			{"bad quantity", []string{"side", "BUY", "type", "MARKET", "quantity", "-1"}, -1100, ""},
			{"bad client ID", []string{"side", "BUY", "type", "MARKET", "quantity", "0.01", "newClientOrderId", "a b"}, -1100, ""},
			{"no quantity", []string{"side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "price", "50000"}, -1102, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, order(tc.kv...), http.StatusBadRequest, tc.code, tc.msg)
			})
		}
		a := c.signed(http.MethodPost, "/api/v3/order", form("symbol", "XYZUSDT", "side", "BUY", "type", "MARKET", "quantity", "1"))
		wantErr(t, a, http.StatusBadRequest, -1121, "Invalid symbol.")
	})
	t.Run("stats", func(t *testing.T) {
		st := srv.Stats()
		if st.OrdersPlaced["acct1"] != 5 {
			t.Fatalf("OrdersPlaced: got %v, want 5", st.OrdersPlaced)
		}
	})
}

func TestPublicEndpoints(t *testing.T) {
	clk := newClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cfg := binancesim.DefaultConfig()
	cfg.Now = clk.Now
	_, base := start(t, cfg)
	c := newClient(t, base, "", "", nil)

	a := c.public(http.MethodGet, "/api/v3/ping", nil)
	wantStatus(t, a, http.StatusOK)
	if string(a.body) != "{}" {
		t.Fatalf("ping: got %s", a.body)
	}
	var tm struct{ ServerTime int64 }
	c.public(http.MethodGet, "/api/v3/time", nil).decode(t, &tm)
	if tm.ServerTime != clk.Now().UnixMilli() {
		t.Fatalf("time: got %d", tm.ServerTime)
	}
	var info struct {
		RateLimits []struct {
			RateLimitType, Interval string
			IntervalNum             int
			Limit                   int64
		}
		Symbols []struct {
			Symbol, Status, BaseAsset, QuoteAsset string
			Filters                               []map[string]any
		}
	}
	a = c.public(http.MethodGet, "/api/v3/exchangeInfo", nil)
	wantHeader(t, a, "X-MBX-USED-WEIGHT-1M", "22")
	a.decode(t, &info)
	if len(info.RateLimits) != 4 || info.RateLimits[0].RateLimitType != "REQUEST_WEIGHT" || info.RateLimits[0].Limit != 6000 ||
		info.RateLimits[1].Interval != "SECOND" || info.RateLimits[1].IntervalNum != 10 || info.RateLimits[3].RateLimitType != "RAW_REQUESTS" {
		t.Fatalf("rateLimits: got %+v", info.RateLimits)
	}
	if len(info.Symbols) != 2 || info.Symbols[0].Symbol != "BTCUSDT" || info.Symbols[0].BaseAsset != "BTC" || info.Symbols[0].Status != "TRADING" {
		t.Fatalf("symbols: got %+v", info.Symbols)
	}
	want := map[string]map[string]any{
		"PRICE_FILTER":    {"tickSize": "0.01000000"},
		"LOT_SIZE":        {"stepSize": "0.00001000", "minQty": "0.00001000"},
		"MARKET_LOT_SIZE": {"stepSize": "0.00001000"},
		"NOTIONAL":        {"minNotional": "5.00000000"},
	}
	for _, f := range info.Symbols[0].Filters {
		typ, _ := f["filterType"].(string)
		for k, v := range want[typ] {
			if f[k] != v {
				t.Errorf("%s.%s: got %v, want %v", typ, k, f[k], v)
			}
		}
		delete(want, typ)
	}
	if len(want) != 0 {
		t.Fatalf("filters missing: %v", want)
	}
	a = c.public(http.MethodGet, "/api/v3/exchangeInfo", url.Values{"symbol": {"NOPE"}})
	wantErr(t, a, http.StatusBadRequest, -1121, "Invalid symbol.")
	a = c.public(http.MethodGet, "/api/v3/exchangeInfo", url.Values{"symbols": {`["ETHUSDT"]`}})
	a.decode(t, &info)
	if len(info.Symbols) != 1 || info.Symbols[0].Symbol != "ETHUSDT" {
		t.Fatalf("symbols=[ETHUSDT]: got %+v", info.Symbols)
	}
}

func itoa(n int64) string { return decimal.NewFromInt(n).String() }
