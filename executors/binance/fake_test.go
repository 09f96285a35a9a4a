package binance

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/shopspring/decimal"
)

// The key of Binance's own documentation examples.
const (
	docAPIKey = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
	docSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
)

// exchangeInfoJSON is shaped like the documented GET /api/v3/exchangeInfo
// answer, trimmed to what the adapter reads plus a few neighbours.
const exchangeInfoJSON = `{
  "timezone": "UTC",
  "serverTime": 1565246363776,
  "rateLimits": [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000}
  ],
  "exchangeFilters": [],
  "symbols": [
    {
      "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "baseAssetPrecision": 8,
      "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
      "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
      "icebergAllowed": true, "ocoAllowed": true, "isSpotTradingAllowed": true,
      "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000", "stepSize": "0.00000000"},
        {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true, "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5},
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200}
      ],
      "permissionSets": [["SPOT"]]
    },
    {
      "symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC",
      "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
      "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.00000100", "maxPrice": "100000.00000000", "tickSize": "0.00000100"},
        {"filterType": "LOT_SIZE", "minQty": "0.00010000", "maxQty": "100000.00000000", "stepSize": "0.00010000"},
        {"filterType": "MIN_NOTIONAL", "minNotional": "0.00100000", "applyToMarket": true, "avgPriceMins": 5}
      ]
    },
    {
      "symbol": "OLDUSDT", "status": "BREAK", "baseAsset": "OLD", "quoteAsset": "USDT",
      "orderTypes": ["LIMIT", "MARKET"], "filters": []
    }
  ]
}`

// fakeOrder is one order on the fake venue.
type fakeOrder struct {
	orderJSON
	trades []tradeJSON
}

// fakeBinance is a Binance-shaped spot venue over real HTTP and WebSocket.
// The market is flat at price 30000: a buy at or above, a sell at or below,
// or a market order fills at once (taker); other limits rest.
type fakeBinance struct {
	t      *testing.T
	srv    *httptest.Server
	apiKey string
	verify func(payload, sig string) bool

	mu      sync.Mutex
	orders  map[string]*fakeOrder // by client ID
	nextID  int64
	nextTID int64
	log     []string // "METHOD /path"
	weight  int64
	orders1 int64
	// hook may answer a request itself (faults); it sees the parsed
	// params and returns true if it answered.
	hook func(w http.ResponseWriter, r *http.Request, p url.Values) bool

	offset time.Duration // server clock minus real clock

	wsDown atomic.Bool
	wsMu   sync.Mutex
	ws     *websocket.Conn
	wrap   bool // WS API envelope
	wsN    atomic.Int64
	lkN    atomic.Int64
}

func newFake(t *testing.T) *fakeBinance {
	t.Helper()
	f := &fakeBinance{t: t, apiKey: docAPIKey, orders: map[string]*fakeOrder{}, nextID: 1000, nextTID: 5000}
	f.verify = func(payload, sig string) bool {
		m := hmac.New(sha256.New, []byte(docSecret))
		m.Write([]byte(payload))
		return hex.EncodeToString(m.Sum(nil)) == sig
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.wsMu.Lock()
		if f.ws != nil {
			f.ws.CloseNow()
		}
		f.wsMu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *fakeBinance) useEd25519(pub ed25519.PublicKey) {
	f.verify = func(payload, sig string) bool {
		b, err := base64.StdEncoding.DecodeString(sig)
		return err == nil && ed25519.Verify(pub, []byte(payload), b)
	}
}

func (f *fakeBinance) wsURL() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") }

func (f *fakeBinance) count(what string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.log {
		if l == what {
			n++
		}
	}
	return n
}

func (f *fakeBinance) setHook(h func(w http.ResponseWriter, r *http.Request, p url.Values) bool) {
	f.mu.Lock()
	f.hook = h
	f.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, apiError{Code: code, Msg: msg})
}

func (f *fakeBinance) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ws-api/v3" {
		f.serveWSAPI(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/ws/") {
		f.serveListenKeyWS(w, r)
		return
	}
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		b, _ := io.ReadAll(r.Body)
		raw = string(b)
	}
	p, _ := url.ParseQuery(raw)

	f.mu.Lock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	f.weight++
	hook := f.hook
	w.Header().Set("X-MBX-USED-WEIGHT-1M", strconv.FormatInt(f.weight, 10))
	if r.Method == http.MethodPost && r.URL.Path == "/api/v3/order" {
		f.orders1++
		w.Header().Set("X-MBX-ORDER-COUNT-10S", strconv.FormatInt(f.orders1, 10))
		w.Header().Set("X-MBX-ORDER-COUNT-1D", strconv.FormatInt(f.orders1, 10))
	}
	f.mu.Unlock()

	if hook != nil && hook(w, r, p) {
		return
	}
	switch r.URL.Path {
	case "/api/v3/time":
		writeJSON(w, 200, map[string]int64{"serverTime": time.Now().Add(f.offset).UnixMilli()})
		return
	case "/api/v3/exchangeInfo":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(exchangeInfoJSON))
		return
	}
	// Everything else needs the key.
	if r.Header.Get("X-MBX-APIKEY") != f.apiKey {
		apiErr(w, 401, -2015, "Invalid API-key, IP, or permissions for action.")
		return
	}
	if r.URL.Path == "/api/v3/userDataStream" {
		switch r.Method {
		case http.MethodPost:
			writeJSON(w, 200, map[string]string{"listenKey": fmt.Sprintf("lk%d-pqia91ma19a5s61cv6a81va65sdf19v8a65a1", f.lkN.Add(1))})
		default:
			writeJSON(w, 200, map[string]string{})
		}
		return
	}
	i := strings.LastIndex(raw, "&signature=")
	if i < 0 {
		apiErr(w, 400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
		return
	}
	sig, _ := url.QueryUnescape(raw[i+len("&signature="):])
	if !f.verify(raw[:i], sig) {
		apiErr(w, 400, -1022, "Signature for this request is not valid.")
		return
	}
	if p.Get("timestamp") == "" || p.Get("recvWindow") == "" {
		apiErr(w, 400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "POST /api/v3/order":
		f.newOrder(w, p)
	case "GET /api/v3/order":
		f.mu.Lock()
		o, ok := f.orders[p.Get("origClientOrderId")]
		var oj orderJSON
		if ok {
			oj = o.orderJSON
			oj.Fills = nil
		}
		f.mu.Unlock()
		if !ok {
			apiErr(w, 400, -2013, "Order does not exist.")
			return
		}
		writeJSON(w, 200, oj)
	case "DELETE /api/v3/order":
		f.mu.Lock()
		o, ok := f.orders[p.Get("origClientOrderId")]
		if !ok || (o.Status != "NEW" && o.Status != "PARTIALLY_FILLED") {
			f.mu.Unlock()
			apiErr(w, 400, -2011, "Unknown order sent.")
			return
		}
		o.Status = "CANCELED"
		oj := o.orderJSON
		oj.Fills = nil
		oj.OrigClientOrderID = oj.ClientOrderID
		oj.ClientOrderID = "cancel" + strconv.FormatInt(oj.OrderID, 10)
		f.mu.Unlock()
		writeJSON(w, 200, oj)
	case "GET /api/v3/myTrades":
		id, _ := strconv.ParseInt(p.Get("orderId"), 10, 64)
		f.mu.Lock()
		out := []tradeJSON{}
		for _, o := range f.orders {
			if o.OrderID == id {
				out = append(out, o.trades...)
			}
		}
		f.mu.Unlock()
		writeJSON(w, 200, out)
	case "GET /api/v3/openOrders":
		f.mu.Lock()
		out := []orderJSON{}
		for _, o := range f.orders {
			if o.Symbol == p.Get("symbol") && (o.Status == "NEW" || o.Status == "PARTIALLY_FILLED") {
				oj := o.orderJSON
				oj.Fills = nil
				out = append(out, oj)
			}
		}
		f.mu.Unlock()
		writeJSON(w, 200, out)
	default:
		http.NotFound(w, r)
	}
}

// create books an order the way POST /api/v3/order would, and returns its
// FULL answer; ok is false for a duplicate client ID.
func (f *fakeBinance) create(p url.Values) (orderJSON, int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cid := p.Get("newClientOrderId")
	if o, ok := f.orders[cid]; ok && (o.Status == "NEW" || o.Status == "PARTIALLY_FILLED") {
		return orderJSON{}, -2010, "Duplicate order sent."
	}
	f.nextID++
	o := &fakeOrder{orderJSON: orderJSON{
		Symbol: p.Get("symbol"), OrderID: f.nextID, ClientOrderID: cid,
		Price: p.Get("price"), OrigQty: p.Get("quantity"), ExecutedQty: "0.00000000",
		Status: "NEW", Type: p.Get("type"), Side: p.Get("side"),
	}}
	if o.Price == "" {
		o.Price = "0.00000000"
	}
	mkt := decimal.NewFromInt(30000)
	price, _ := decimal.NewFromString(o.Price)
	crosses := o.Type == "MARKET" || (o.Side == "BUY" && price.GreaterThanOrEqual(mkt)) || (o.Side == "SELL" && price.LessThanOrEqual(mkt))
	switch {
	case crosses && o.Type == "LIMIT_MAKER":
		return orderJSON{}, -2010, "Order would immediately match and take."
	case crosses:
		f.fillLocked(o, o.OrigQty, "30000.00000000", false)
	case p.Get("timeInForce") == "IOC" || p.Get("timeInForce") == "FOK":
		o.Status = "EXPIRED"
	}
	f.orders[cid] = o
	return o.orderJSON, 0, ""
}

func (f *fakeBinance) newOrder(w http.ResponseWriter, p url.Values) {
	oj, code, msg := f.create(p)
	if code != 0 {
		apiErr(w, 400, code, msg)
		return
	}
	writeJSON(w, 200, oj)
}

// fillLocked executes qty of o at price; f.mu is held.
func (f *fakeBinance) fillLocked(o *fakeOrder, qty, price string, maker bool) tradeJSON {
	q := decimal.RequireFromString(qty)
	cum := decimal.RequireFromString(o.ExecutedQty).Add(q)
	o.ExecutedQty = cum.StringFixed(8)
	if cum.Equal(decimal.RequireFromString(o.OrigQty)) {
		o.Status = "FILLED"
	} else {
		o.Status = "PARTIALLY_FILLED"
	}
	f.nextTID++
	fee := q.Mul(decimal.RequireFromString("0.001")).StringFixed(8)
	tr := tradeJSON{ID: f.nextTID, OrderID: o.OrderID, Price: price, Qty: q.StringFixed(8), Commission: fee, CommissionAsset: "BNB", IsMaker: maker}
	o.trades = append(o.trades, tr)
	o.Fills = append(o.Fills, fillJSON{Price: price, Qty: tr.Qty, Commission: fee, CommissionAsset: "BNB", TradeID: tr.ID})
	return tr
}

// fill executes a resting order (maker) and pushes its executionReport.
func (f *fakeBinance) fill(clientID, qty, price string) {
	f.mu.Lock()
	o := f.orders[clientID]
	tr := f.fillLocked(o, qty, price, true)
	ev := map[string]any{
		"e": "executionReport", "E": time.Now().UnixMilli(), "s": o.Symbol, "c": clientID,
		"S": o.Side, "o": o.Type, "f": "GTC", "q": o.OrigQty, "p": o.Price, "P": "0.00000000",
		"F": "0.00000000", "g": -1, "C": "", "x": "TRADE", "X": o.Status, "r": "NONE",
		"i": o.OrderID, "l": tr.Qty, "z": o.ExecutedQty, "L": price, "n": tr.Commission, "N": "BNB",
		"T": time.Now().UnixMilli(), "t": tr.ID, "I": 8641984, "w": false, "m": true, "M": false,
		"O": time.Now().UnixMilli(), "Z": "0.00000000", "Y": "0.00000000", "Q": "0.00000000",
		"W": time.Now().UnixMilli(), "V": "NONE",
	}
	f.mu.Unlock()
	f.push(ev)
}

// push sends a user data event to the connected stream, if any.
func (f *fakeBinance) push(ev map[string]any) {
	f.wsMu.Lock()
	defer f.wsMu.Unlock()
	if f.ws == nil {
		return
	}
	var msg any = ev
	if f.wrap {
		msg = map[string]any{"subscriptionId": 0, "event": ev}
	}
	b, _ := json.Marshal(msg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = f.ws.Write(ctx, websocket.MessageText, b)
}

// dropWS closes the stream and refuses new ones until wsDown is cleared.
func (f *fakeBinance) dropWS() {
	f.wsDown.Store(true)
	f.wsMu.Lock()
	if f.ws != nil {
		f.ws.CloseNow()
		f.ws = nil
	}
	f.wsMu.Unlock()
}

func (f *fakeBinance) serveWSAPI(w http.ResponseWriter, r *http.Request) {
	if f.wsDown.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	_, data, err := c.Read(ctx)
	if err != nil {
		return
	}
	var req struct {
		ID     string         `json:"id"`
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	_ = dec.Decode(&req)
	payload := fmt.Sprintf("apiKey=%v&recvWindow=%v&timestamp=%v", req.Params["apiKey"], req.Params["recvWindow"], req.Params["timestamp"])
	sig, _ := req.Params["signature"].(string)
	if req.Method != "userDataStream.subscribe.signature" || req.Params["apiKey"] != f.apiKey || !f.verify(payload, sig) {
		b, _ := json.Marshal(map[string]any{"id": req.ID, "status": 400, "error": apiError{Code: -1022, Msg: "Signature for this request is not valid."}})
		_ = c.Write(ctx, websocket.MessageText, b)
		return
	}
	f.wsMu.Lock()
	f.ws, f.wrap = c, true
	b, _ := json.Marshal(map[string]any{"id": req.ID, "status": 200, "result": map[string]any{"subscriptionId": 0}})
	_ = c.Write(ctx, websocket.MessageText, b)
	f.wsMu.Unlock()
	f.wsN.Add(1)
	for {
		if _, _, err := c.Read(ctx); err != nil {
			break
		}
	}
	f.wsMu.Lock()
	if f.ws == c {
		f.ws = nil
	}
	f.wsMu.Unlock()
}

func (f *fakeBinance) serveListenKeyWS(w http.ResponseWriter, r *http.Request) {
	if f.wsDown.Load() || !strings.HasPrefix(strings.TrimPrefix(r.URL.Path, "/ws/"), "lk") {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	f.wsMu.Lock()
	f.ws, f.wrap = c, false
	f.wsMu.Unlock()
	f.wsN.Add(1)
	for {
		if _, _, err := c.Read(r.Context()); err != nil {
			break
		}
	}
	f.wsMu.Lock()
	if f.ws == c {
		f.ws = nil
	}
	f.wsMu.Unlock()
}
