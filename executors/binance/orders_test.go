package binance

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

func TestNewReadsTimeExchangeInfoAndRateLimits(t *testing.T) {
	f := newFake(t)
	f.offset = 3 * time.Second
	v, _ := newTestVenue(t, f, nil)
	if off := time.Duration(v.offset.Load()); off < 2900*time.Millisecond || off > 3100*time.Millisecond {
		t.Fatalf("clock offset: got %s, want about 3s", off)
	}
	if got := v.nativeOf("BTC-USDT"); got != "BTCUSDT" {
		t.Fatalf("BTC-USDT maps to %s", got)
	}
	if got := v.contractOf("ETHBTC"); got != "ETH-BTC" {
		t.Fatalf("ETHBTC maps back to %s", got)
	}
	var names []string
	for _, r := range v.RateLimits() {
		names = append(names, r.Name())
	}
	if got, want := strings.Join(names, ","), "REQUEST_WEIGHT_1M,ORDERS_10S,ORDERS_1D,RAW_REQUESTS_5M"; got != want {
		t.Fatalf("rate limits: got %s, want %s", got, want)
	}
	if rl := v.RateLimits()[1]; rl.Limit != 100 || rl.Window() != 10*time.Second {
		t.Fatalf("ORDERS_10S: got %+v window %s", rl, rl.Window())
	}
}

func TestCheckFilters(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	mkt := func(sym, qty string) executors.Order {
		return executors.Order{ClientID: "kr1", Symbol: sym, Side: messages.Buy, Type: messages.Market, TimeInForce: messages.IOC, Quantity: d(qty)}
	}
	eth := limitOrder("kr1", "buy", "1", "0.05")
	eth.Symbol = "ETH-BTC"
	tests := []struct {
		name string
		o    executors.Order
		code string // "" = passes
		want string // part of the message
	}{
		{"ok limit", limitOrder("kr1", "buy", "0.001", "20000.01"), "", ""},
		{"ok market", mkt("BTC-USDT", "0.5"), "", ""},
		{"tick", limitOrder("kr1", "buy", "0.001", "20000.001"), "FILTER", "PRICE_FILTER"},
		{"min price", limitOrder("kr1", "buy", "1", "0.001"), "FILTER", "PRICE_FILTER"},
		{"max price", limitOrder("kr1", "buy", "0.001", "2000000"), "FILTER", "PRICE_FILTER"},
		{"step", limitOrder("kr1", "buy", "0.000015", "20000"), "FILTER", "LOT_SIZE"},
		{"min qty", limitOrder("kr1", "buy", "0.000001", "20000"), "FILTER", "LOT_SIZE"},
		{"max qty", limitOrder("kr1", "buy", "9001", "20000"), "FILTER", "LOT_SIZE"},
		{"notional", limitOrder("kr1", "buy", "0.0001", "20000"), "FILTER", "NOTIONAL: notional 2 below minNotional 5"},
		{"max notional", limitOrder("kr1", "buy", "9000", "20000"), "FILTER", "NOTIONAL"},
		{"market lot", mkt("BTC-USDT", "101"), "FILTER", "MARKET_LOT_SIZE"},
		{"min notional", func() executors.Order { o := eth; o.Quantity = d("0.01"); return o }(), "FILTER", "MIN_NOTIONAL"},
		{"ok eth", eth, "", ""},
		{"unknown symbol", limitOrder("kr1", "buy", "1", "1"), "SYMBOL", "not listed"},
		{"halted symbol", func() executors.Order { o := limitOrder("kr1", "buy", "1", "1"); o.Symbol = "OLD-USDT"; return o }(), "SYMBOL_STATUS", "BREAK"},
		{"reduce only", func() executors.Order { o := limitOrder("kr1", "buy", "1", "20000"); o.ReduceOnly = true; return o }(), "UNSUPPORTED", "reduce_only"},
	}
	tests[13].o.Symbol = "DOGE-XYZ"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Check(tc.o)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			ve := venueErr(t, err)
			if ve.Kind != executors.Rejected || ve.Code != tc.code || !strings.Contains(ve.Message, tc.want) {
				t.Fatalf("got %v (kind %s, code %s), want %s naming %q", ve, ve.Kind, ve.Code, tc.code, tc.want)
			}
			if tc.code == "FILTER" && ve.Reason != messages.ReasonInvalid {
				t.Fatalf("reason: got %s, want invalid", ve.Reason)
			}
		})
	}
	// Place refuses the same way without sending anything.
	before := f.count("POST /api/v3/order")
	if _, err := v.Place(context.Background(), limitOrder("kr1", "buy", "0.001", "20000.001")); venueErr(t, err).Code != "FILTER" {
		t.Fatalf("Place: got %v, want FILTER", err)
	}
	if got := f.count("POST /api/v3/order"); got != before {
		t.Fatalf("a filtered order was sent (%d POSTs)", got-before)
	}
}

func TestPlaceQueryCancel(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	ctx := context.Background()
	id := executors.VenueClientID("alpha", "o-1")

	u, err := v.Place(ctx, limitOrder(id, "buy", "0.5", "20000"))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if u.ClientID != id || u.Status != messages.StatusNew || u.VenueOrderID == "" || u.Symbol != "BTC-USDT" || !u.CumQuantity.IsZero() {
		t.Fatalf("Place: got %+v", u)
	}
	q, err := v.Query(ctx, "BTC-USDT", id)
	if err != nil || q.Status != messages.StatusNew || q.VenueOrderID != u.VenueOrderID {
		t.Fatalf("Query: got %+v, %v", q, err)
	}
	c, err := v.Cancel(ctx, "BTC-USDT", id)
	if err != nil || c.Status != messages.StatusCanceled || c.ClientID != id {
		t.Fatalf("Cancel: got %+v, %v", c, err)
	}
	// Canceling again: too late, with the last state.
	c2, err := v.Cancel(ctx, "BTC-USDT", id)
	if !errors.Is(err, executors.ErrTooLateToCancel) || c2.Status != messages.StatusCanceled {
		t.Fatalf("second Cancel: got %+v, %v; want ErrTooLateToCancel with canceled state", c2, err)
	}
	if ve := venueErr(t, err); ve.Reason != messages.ReasonTooLateToCancel || ve.Code != "-2011" {
		t.Fatalf("second Cancel: reason %s code %s", ve.Reason, ve.Code)
	}
	// Unknown orders.
	if _, err := v.Cancel(ctx, "BTC-USDT", "kr-nope"); !errors.Is(err, executors.ErrUnknownOrder) {
		t.Fatalf("Cancel unknown: got %v, want ErrUnknownOrder", err)
	}
	if _, err := v.Query(ctx, "BTC-USDT", "kr-nope"); !errors.Is(err, executors.ErrUnknownOrder) {
		t.Fatalf("Query unknown: got %v, want ErrUnknownOrder", err)
	}
}

func TestPlaceImmediateFillsAndFees(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	ctx := context.Background()
	o := executors.Order{ClientID: "kr00000000000000000000000000000m", Symbol: "BTC-USDT", Side: messages.Buy,
		Type: messages.Market, TimeInForce: messages.IOC, Quantity: d("0.12345")}
	u, err := v.Place(ctx, o)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if u.Status != messages.StatusFilled || !u.CumQuantity.Equal(d("0.12345")) || len(u.Fills) != 1 {
		t.Fatalf("Place: got %+v", u)
	}
	fl := u.Fills[0]
	if !fl.Quantity.Equal(d("0.12345")) || !fl.Price.Equal(d("30000")) || !fl.Fee.Equal(d("0.00012345")) ||
		fl.FeeAsset != "BNB" || fl.TradeID == "" || fl.Liquidity != messages.Taker {
		t.Fatalf("fill: got %+v", fl)
	}
	// Query returns the same fills from myTrades.
	q, err := v.Query(ctx, "BTC-USDT", o.ClientID)
	if err != nil || len(q.Fills) != 1 || q.Fills[0].TradeID != fl.TradeID || !q.Fills[0].Fee.Equal(fl.Fee) {
		t.Fatalf("Query: got %+v, %v", q, err)
	}
	// An IOC that does not cross expires.
	ioc := limitOrder("kr00000000000000000000000000000i", "buy", "0.001", "20000")
	ioc.TimeInForce = messages.IOC
	if u, err := v.Place(ctx, ioc); err != nil || u.Status != messages.StatusExpired {
		t.Fatalf("IOC: got %+v, %v", u, err)
	}
	// A post-only that would take is refused by the venue.
	po := limitOrder("kr00000000000000000000000000000p", "buy", "0.001", "31000")
	po.PostOnly = true
	_, err = v.Place(ctx, po)
	if ve := venueErr(t, err); ve.Kind != executors.Rejected || ve.Reason != messages.ReasonVenueRejected || ve.Code != "-2010" {
		t.Fatalf("post-only: got %v", err)
	}
}

func TestPlaceSendsDocumentedParams(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	var got url.Values
	var apiKey string
	f.setHook(func(w http.ResponseWriter, r *http.Request, p url.Values) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v3/order" {
			got, apiKey = p, r.Header.Get("X-MBX-APIKEY")
		}
		return false
	})
	o := limitOrder("kr0000000000000000000000000000pp", "sell", "0.25", "40000.5")
	o.TimeInForce = messages.FOK
	if _, err := v.Place(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "FOK",
		"quantity": "0.25", "price": "40000.5", "newClientOrderId": o.ClientID, "newOrderRespType": "FULL", "recvWindow": "100"}
	for k, w := range want {
		if got.Get(k) != w {
			t.Errorf("%s: got %q, want %q", k, got.Get(k), w)
		}
	}
	if got.Get("timestamp") == "" || got.Get("signature") == "" || apiKey != docAPIKey {
		t.Errorf("timestamp %q, signature %q, X-MBX-APIKEY %q", got.Get("timestamp"), got.Get("signature"), apiKey)
	}
}

func TestMapStatus(t *testing.T) {
	tests := []struct {
		in   string
		cum  string
		want messages.Status
	}{
		{"NEW", "0", messages.StatusNew},
		{"PENDING_NEW", "0", messages.StatusNew},
		{"PARTIALLY_FILLED", "0.1", messages.StatusPartiallyFilled},
		{"FILLED", "1", messages.StatusFilled},
		{"CANCELED", "0.3", messages.StatusCanceled},
		{"PENDING_CANCEL", "0", messages.StatusNew},
		{"PENDING_CANCEL", "0.3", messages.StatusPartiallyFilled},
		{"REJECTED", "0", messages.StatusRejected},
		{"EXPIRED", "0", messages.StatusExpired},
		{"EXPIRED_IN_MATCH", "0", messages.StatusExpired},
	}
	for _, tc := range tests {
		if got := mapStatus(tc.in, d(tc.cum)); got != tc.want {
			t.Errorf("%s (cum %s): got %s, want %s", tc.in, tc.cum, got, tc.want)
		}
	}
}

// answer makes a hook that answers every POST /api/v3/order with status,
// body and headers.
func answer(status int, body string, hdr map[string]string) func(http.ResponseWriter, *http.Request, url.Values) bool {
	return func(w http.ResponseWriter, r *http.Request, _ url.Values) bool {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v3/order" {
			return false
		}
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return true
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		hdr    map[string]string
		kind   executors.ErrorKind
		reason messages.Reason
		code   string
		retry  time.Duration // 0: not checked
	}{
		{"429 retry-after", 429, `{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE."}`,
			map[string]string{"Retry-After": "7"}, executors.Throttled, messages.ReasonRateLimited, "-1003", 7 * time.Second},
		{"418 banned", 418, `{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000000000."}`,
			map[string]string{"Retry-After": "120"}, executors.Banned, messages.ReasonKeyUnavailable, "-1003", 120 * time.Second},
		{"-1015 orders", 429, `{"code":-1015,"msg":"Too many new orders; current limit is 100 orders per 10 SECOND."}`,
			map[string]string{"Retry-After": "3"}, executors.Throttled, messages.ReasonRateLimited, "-1015", 3 * time.Second},
		{"-1013 filter", 400, `{"code":-1013,"msg":"Filter failure: PRICE_FILTER"}`, nil, executors.Rejected, messages.ReasonInvalid, "-1013", 0},
		{"-1022 signature", 400, `{"code":-1022,"msg":"Signature for this request is not valid."}`, nil, executors.KeyInvalid, messages.ReasonKeyUnavailable, "-1022", 0},
		{"-2014 key format", 400, `{"code":-2014,"msg":"API-key format invalid."}`, nil, executors.KeyInvalid, messages.ReasonKeyUnavailable, "-2014", 0},
		{"-2015 permissions", 401, `{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}`, nil, executors.KeyInvalid, messages.ReasonKeyUnavailable, "-2015", 0},
		{"-2010 balance", 400, `{"code":-2010,"msg":"Account has insufficient balance for requested action."}`, nil, executors.Rejected, messages.ReasonVenueRejected, "-2010", 0},
		{"-1121 symbol", 400, `{"code":-1121,"msg":"Invalid symbol."}`, nil, executors.Rejected, messages.ReasonVenueRejected, "-1121", 0},
		{"403 waf", 403, `<html>forbidden</html>`, nil, executors.Rejected, messages.ReasonVenueRejected, "HTTP_403", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			v, logs := newTestVenue(t, f, nil)
			f.setHook(answer(tc.status, tc.body, tc.hdr))
			before := time.Now()
			_, err := v.Place(context.Background(), limitOrder("kr0000000000000000000000000000e1", "buy", "0.001", "20000"))
			after := time.Now()
			ve := venueErr(t, err)
			if ve.Kind != tc.kind || ve.Reason != tc.reason || ve.Code != tc.code {
				t.Fatalf("got kind %s reason %s code %s (%v), want %s %s %s", ve.Kind, ve.Reason, ve.Code, ve, tc.kind, tc.reason, tc.code)
			}
			if strings.HasPrefix(tc.body, "{") && !strings.Contains(tc.body, `"msg":"`+ve.Message+`"`) {
				t.Fatalf("message %q is not Binance's msg", ve.Message)
			}
			if tc.retry > 0 && (ve.RetryAfter.Before(before.Add(tc.retry)) || ve.RetryAfter.After(after.Add(tc.retry))) {
				t.Fatalf("RetryAfter %s is not now+%s", ve.RetryAfter, tc.retry)
			}
			if len(ve.Usage) == 0 {
				t.Fatal("no usage on the error")
			}
			if got := f.count("POST /api/v3/order"); got != 1 {
				t.Fatalf("%d POSTs, want 1 (no retry of a definite answer)", got)
			}
			if tc.kind == executors.KeyInvalid && !strings.Contains(logs.String(), "binance refused the API key") {
				t.Fatalf("no log line for an invalid key:\n%s", logs)
			}
		})
	}
}

func TestUsageHeaders(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	u, err := v.Place(context.Background(), limitOrder("kr0000000000000000000000000000u1", "buy", "0.001", "20000"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, x := range u.Usage {
		got[x.Limit] = x.Used
	}
	if got["REQUEST_WEIGHT_1M"] < 3 || got["ORDERS_10S"] != 1 || got["ORDERS_1D"] != 1 {
		t.Fatalf("usage: got %v", u.Usage)
	}
	h := http.Header{}
	h.Set("X-MBX-USED-WEIGHT-1M", "55")
	h.Set("X-MBX-ORDER-COUNT-10S", "2")
	h.Set("X-MBX-ORDER-COUNT-1D", "9")
	h.Set("X-MBX-USED-WEIGHT", "55") // older unsuffixed form: ignored
	if got := parseUsage(h); len(got) != 3 || got[0] != (executors.Usage{Limit: "ORDERS_10S", Used: 2}) ||
		got[1] != (executors.Usage{Limit: "ORDERS_1D", Used: 9}) || got[2] != (executors.Usage{Limit: "REQUEST_WEIGHT_1M", Used: 55}) {
		t.Fatalf("parseUsage: got %v", got)
	}
}

// -1021: the clock is resynced and the order reported as not placed.
func TestTimestampOutsideRecvWindowResyncs(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	f.setHook(answer(400, `{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}`, nil))
	f.offset = 2 * time.Second
	_, err := v.Place(context.Background(), limitOrder("kr0000000000000000000000000000t1", "buy", "0.001", "20000"))
	ve := venueErr(t, err)
	if ve.Kind != executors.Rejected || ve.Reason != messages.ReasonVenueError || ve.Code != "-1021" {
		t.Fatalf("got %v kind %s reason %s", ve, ve.Kind, ve.Reason)
	}
	if got := f.count("GET /api/v3/time"); got != 2 {
		t.Fatalf("time fetched %d times, want 2 (New and the resync)", got)
	}
	if off := time.Duration(v.offset.Load()); off < 1900*time.Millisecond {
		t.Fatalf("offset after resync: %s", off)
	}
}

func TestDuplicateClientIDReturnsExistingOrder(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	ctx := context.Background()
	o := limitOrder("kr0000000000000000000000000000d1", "buy", "0.001", "20000")
	first, err := v.Place(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Place(ctx, o)
	if err != nil {
		t.Fatalf("second Place: %v", err)
	}
	if second.VenueOrderID != first.VenueOrderID || second.Status != messages.StatusNew {
		t.Fatalf("second Place: got %+v, want the first order's state %+v", second, first)
	}
	f.mu.Lock()
	n := len(f.orders)
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d orders on the venue, want 1", n)
	}
}

func TestDecimalsStayExact(t *testing.T) {
	o := orderJSON{Symbol: "BTCUSDT", OrderID: 1, ExecutedQty: "0.30000001", Status: "PARTIALLY_FILLED",
		Fills: []fillJSON{{Price: "29999.99999999", Qty: "0.10000000", Commission: "0.00000001", CommissionAsset: "BTC", TradeID: 9}, {Price: "30000.00000001", Qty: "0.20000001", Commission: "0", CommissionAsset: "BTC", TradeID: 10}}}
	v := &Venue{}
	u, err := v.update(o, "kr", nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := decimal.Zero
	for _, f := range u.Fills {
		sum = sum.Add(f.Quantity)
	}
	if !sum.Equal(u.CumQuantity) || u.CumQuantity.String() != "0.30000001" || u.Fills[0].Price.String() != "29999.99999999" {
		t.Fatalf("got cum %s, fills %+v", u.CumQuantity, u.Fills)
	}
}
