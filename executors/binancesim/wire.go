package binancesim

import (
	"crypto/rand"
	"strconv"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// Binance writes every decimal with 8 places.
func dec8(d decimal.Decimal) string { return d.StringFixed(8) }

func ms(t time.Time) int64 { return t.UnixMilli() }

// wireSymbol turns BTC-USDT into BTCUSDT.
func wireSymbol(engine string) string { return strings.ReplaceAll(engine, "-", "") }

func wireStatus(s messages.Status) string {
	switch s {
	case messages.StatusNew:
		return "NEW"
	case messages.StatusPartiallyFilled:
		return "PARTIALLY_FILLED"
	case messages.StatusFilled:
		return "FILLED"
	case messages.StatusCanceled:
		return "CANCELED"
	case messages.StatusExpired:
		return "EXPIRED"
	case messages.StatusRejected:
		return "REJECTED"
	}
	return strings.ToUpper(string(s))
}

func wireSide(s messages.Side) string { return strings.ToUpper(string(s)) }

func wireType(o paper.OrderInfo) string {
	switch {
	case o.Order.Type == messages.Market:
		return "MARKET"
	case o.Order.PostOnly:
		return "LIMIT_MAKER"
	}
	return "LIMIT"
}

// wireTIF is the order's timeInForce as Binance shows it: GTC for MARKET
// and LIMIT_MAKER orders.
func wireTIF(o paper.OrderInfo) string {
	if o.Order.Type == messages.Market || o.Order.PostOnly {
		return "GTC"
	}
	return strings.ToUpper(string(o.Order.TimeInForce))
}

func orderID(venueID string) int64 {
	n, _ := strconv.ParseInt(venueID, 10, 64)
	return n
}

func tradeID(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// quoteQty is the quote amount of fills (cummulativeQuoteQty).
func quoteQty(fills []executors.Fill) decimal.Decimal {
	q := decimal.Zero
	for _, f := range fills {
		q = q.Add(f.Price.Mul(f.Quantity))
	}
	return q
}

// newClientID makes a Binance-style random client order ID.
func newClientID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 22)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// newListenKey makes a 60-character listen key.
func newListenKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 60)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// orderAck is newOrderRespType=ACK.
type orderAck struct {
	Symbol        string `json:"symbol"`
	OrderID       int64  `json:"orderId"`
	OrderListID   int64  `json:"orderListId"`
	ClientOrderID string `json:"clientOrderId"`
	TransactTime  int64  `json:"transactTime"`
}

// orderResult is newOrderRespType=RESULT.
type orderResult struct {
	orderAck
	Price                   string `json:"price"`
	OrigQty                 string `json:"origQty"`
	ExecutedQty             string `json:"executedQty"`
	OrigQuoteOrderQty       string `json:"origQuoteOrderQty"`
	CummulativeQuoteQty     string `json:"cummulativeQuoteQty"`
	Status                  string `json:"status"`
	TimeInForce             string `json:"timeInForce"`
	Type                    string `json:"type"`
	Side                    string `json:"side"`
	WorkingTime             int64  `json:"workingTime"`
	SelfTradePreventionMode string `json:"selfTradePreventionMode"`
}

// orderFull is newOrderRespType=FULL.
type orderFull struct {
	orderResult
	Fills []fillJSON `json:"fills"`
}

type fillJSON struct {
	Price           string `json:"price"`
	Qty             string `json:"qty"`
	Commission      string `json:"commission"`
	CommissionAsset string `json:"commissionAsset"`
	TradeID         int64  `json:"tradeId"`
}

func newOrderResponse(o paper.OrderInfo, respType string, transact time.Time) any {
	ack := orderAck{
		Symbol: wireSymbol(o.Order.Symbol), OrderID: orderID(o.VenueOrderID), OrderListID: -1,
		ClientOrderID: o.Order.ClientID, TransactTime: ms(transact),
	}
	if respType == "ACK" {
		return ack
	}
	res := orderResult{
		orderAck: ack, Price: dec8(o.Order.Price), OrigQty: dec8(o.Order.Quantity),
		ExecutedQty: dec8(o.CumQuantity), OrigQuoteOrderQty: dec8(decimal.Zero),
		CummulativeQuoteQty: dec8(quoteQty(o.Fills)), Status: wireStatus(o.Status),
		TimeInForce: wireTIF(o), Type: wireType(o), Side: wireSide(o.Order.Side),
		WorkingTime: ms(o.Created), SelfTradePreventionMode: "NONE",
	}
	if respType == "RESULT" {
		return res
	}
	full := orderFull{orderResult: res, Fills: make([]fillJSON, 0, len(o.Fills))}
	for _, f := range o.Fills {
		full.Fills = append(full.Fills, fillJSON{
			Price: dec8(f.Price), Qty: dec8(f.Quantity), Commission: dec8(f.Fee),
			CommissionAsset: f.FeeAsset, TradeID: tradeID(f.TradeID),
		})
	}
	return full
}

// orderJSON is GET /api/v3/order, openOrders and allOrders.
type orderJSON struct {
	Symbol                  string `json:"symbol"`
	OrderID                 int64  `json:"orderId"`
	OrderListID             int64  `json:"orderListId"`
	ClientOrderID           string `json:"clientOrderId"`
	Price                   string `json:"price"`
	OrigQty                 string `json:"origQty"`
	ExecutedQty             string `json:"executedQty"`
	CummulativeQuoteQty     string `json:"cummulativeQuoteQty"`
	Status                  string `json:"status"`
	TimeInForce             string `json:"timeInForce"`
	Type                    string `json:"type"`
	Side                    string `json:"side"`
	StopPrice               string `json:"stopPrice"`
	IcebergQty              string `json:"icebergQty"`
	Time                    int64  `json:"time"`
	UpdateTime              int64  `json:"updateTime"`
	IsWorking               bool   `json:"isWorking"`
	WorkingTime             int64  `json:"workingTime"`
	OrigQuoteOrderQty       string `json:"origQuoteOrderQty"`
	SelfTradePreventionMode string `json:"selfTradePreventionMode"`
}

func queryResponse(o paper.OrderInfo) orderJSON {
	return orderJSON{
		Symbol: wireSymbol(o.Order.Symbol), OrderID: orderID(o.VenueOrderID), OrderListID: -1,
		ClientOrderID: o.Order.ClientID, Price: dec8(o.Order.Price), OrigQty: dec8(o.Order.Quantity),
		ExecutedQty: dec8(o.CumQuantity), CummulativeQuoteQty: dec8(quoteQty(o.Fills)),
		Status: wireStatus(o.Status), TimeInForce: wireTIF(o), Type: wireType(o),
		Side: wireSide(o.Order.Side), StopPrice: dec8(decimal.Zero), IcebergQty: dec8(decimal.Zero),
		Time: ms(o.Created), UpdateTime: ms(o.Updated), IsWorking: o.Order.Type == messages.Limit,
		WorkingTime: ms(o.Created), OrigQuoteOrderQty: dec8(decimal.Zero), SelfTradePreventionMode: "NONE",
	}
}

// cancelJSON is DELETE /api/v3/order.
type cancelJSON struct {
	Symbol                  string `json:"symbol"`
	OrigClientOrderID       string `json:"origClientOrderId"`
	OrderID                 int64  `json:"orderId"`
	OrderListID             int64  `json:"orderListId"`
	ClientOrderID           string `json:"clientOrderId"`
	TransactTime            int64  `json:"transactTime"`
	Price                   string `json:"price"`
	OrigQty                 string `json:"origQty"`
	ExecutedQty             string `json:"executedQty"`
	OrigQuoteOrderQty       string `json:"origQuoteOrderQty"`
	CummulativeQuoteQty     string `json:"cummulativeQuoteQty"`
	Status                  string `json:"status"`
	TimeInForce             string `json:"timeInForce"`
	Type                    string `json:"type"`
	Side                    string `json:"side"`
	SelfTradePreventionMode string `json:"selfTradePreventionMode"`
}

func cancelResponse(o paper.OrderInfo, cancelID string) cancelJSON {
	return cancelJSON{
		Symbol: wireSymbol(o.Order.Symbol), OrigClientOrderID: o.Order.ClientID,
		OrderID: orderID(o.VenueOrderID), OrderListID: -1, ClientOrderID: cancelID,
		TransactTime: ms(o.Updated), Price: dec8(o.Order.Price), OrigQty: dec8(o.Order.Quantity),
		ExecutedQty: dec8(o.CumQuantity), OrigQuoteOrderQty: dec8(decimal.Zero),
		CummulativeQuoteQty: dec8(quoteQty(o.Fills)), Status: wireStatus(o.Status),
		TimeInForce: wireTIF(o), Type: wireType(o), Side: wireSide(o.Order.Side),
		SelfTradePreventionMode: "NONE",
	}
}

// filters are the Binance filters of one symbol, derived from its spec.
type filters struct {
	minPrice, maxPrice, tick  decimal.Decimal
	minQty, maxQty, step      decimal.Decimal
	minNotional, maxNotional  decimal.Decimal
	base, quote, wire, engine string
}

func symbolFilters(sp paper.SymbolSpec) filters {
	f := filters{
		minPrice: sp.TickSize, tick: sp.TickSize, maxPrice: sp.TickSize.Shift(9),
		minQty: sp.MinQty, maxQty: sp.MaxQty, step: sp.StepSize,
		minNotional: sp.MinNotional, maxNotional: decimal.New(9, 9),
		base: sp.Base, quote: sp.Quote, wire: wireSymbol(sp.Symbol), engine: sp.Symbol,
	}
	if !f.minQty.IsPositive() {
		f.minQty = f.step
	}
	if !f.maxQty.IsPositive() {
		f.maxQty = f.step.Shift(12)
	}
	return f
}

// check applies the filters the way Binance does; ref is the price a
// market order's notional is taken at.
func (f filters) check(market bool, price, qty, ref decimal.Decimal) *apiError {
	if !market {
		if price.LessThan(f.minPrice) || price.GreaterThan(f.maxPrice) || !price.Sub(f.minPrice).Mod(f.tick).IsZero() {
			return errFilter("PRICE_FILTER")
		}
	}
	if qty.LessThan(f.minQty) || qty.GreaterThan(f.maxQty) || !qty.Sub(f.minQty).Mod(f.step).IsZero() {
		return errFilter("LOT_SIZE")
	}
	if market {
		if qty.LessThan(f.minQty) || qty.GreaterThan(f.maxQty) || !qty.Sub(f.minQty).Mod(f.step).IsZero() {
			return errFilter("MARKET_LOT_SIZE")
		}
		price = ref
	}
	n := price.Mul(qty)
	if n.LessThan(f.minNotional) || (!market && n.GreaterThan(f.maxNotional)) {
		return errFilter("NOTIONAL")
	}
	return nil
}

func (f filters) json() []map[string]any {
	return []map[string]any{
		{"filterType": "PRICE_FILTER", "minPrice": dec8(f.minPrice), "maxPrice": dec8(f.maxPrice), "tickSize": dec8(f.tick)},
		{"filterType": "LOT_SIZE", "minQty": dec8(f.minQty), "maxQty": dec8(f.maxQty), "stepSize": dec8(f.step)},
		{"filterType": "MARKET_LOT_SIZE", "minQty": dec8(f.minQty), "maxQty": dec8(f.maxQty), "stepSize": dec8(f.step)},
		{
			"filterType": "NOTIONAL", "minNotional": dec8(f.minNotional), "applyMinToMarket": true,
			"maxNotional": dec8(f.maxNotional), "applyMaxToMarket": false, "avgPriceMins": 5,
		},
	}
}

// symbolJSON is one symbol of exchangeInfo.
type symbolJSON struct {
	Symbol                          string           `json:"symbol"`
	Status                          string           `json:"status"`
	BaseAsset                       string           `json:"baseAsset"`
	BaseAssetPrecision              int              `json:"baseAssetPrecision"`
	QuoteAsset                      string           `json:"quoteAsset"`
	QuotePrecision                  int              `json:"quotePrecision"`
	QuoteAssetPrecision             int              `json:"quoteAssetPrecision"`
	BaseCommissionPrecision         int              `json:"baseCommissionPrecision"`
	QuoteCommissionPrecision        int              `json:"quoteCommissionPrecision"`
	OrderTypes                      []string         `json:"orderTypes"`
	IcebergAllowed                  bool             `json:"icebergAllowed"`
	OcoAllowed                      bool             `json:"ocoAllowed"`
	OtoAllowed                      bool             `json:"otoAllowed"`
	QuoteOrderQtyMarketAllowed      bool             `json:"quoteOrderQtyMarketAllowed"`
	AllowTrailingStop               bool             `json:"allowTrailingStop"`
	CancelReplaceAllowed            bool             `json:"cancelReplaceAllowed"`
	IsSpotTradingAllowed            bool             `json:"isSpotTradingAllowed"`
	IsMarginTradingAllowed          bool             `json:"isMarginTradingAllowed"`
	Filters                         []map[string]any `json:"filters"`
	Permissions                     []string         `json:"permissions"`
	PermissionSets                  [][]string       `json:"permissionSets"`
	DefaultSelfTradePreventionMode  string           `json:"defaultSelfTradePreventionMode"`
	AllowedSelfTradePreventionModes []string         `json:"allowedSelfTradePreventionModes"`
}

func (f filters) symbolJSON() symbolJSON {
	return symbolJSON{
		Symbol: f.wire, Status: "TRADING", BaseAsset: f.base, BaseAssetPrecision: 8,
		QuoteAsset: f.quote, QuotePrecision: 8, QuoteAssetPrecision: 8,
		BaseCommissionPrecision: 8, QuoteCommissionPrecision: 8,
		OrderTypes:                 []string{"LIMIT", "LIMIT_MAKER", "MARKET"},
		QuoteOrderQtyMarketAllowed: true, IsSpotTradingAllowed: true,
		Filters: f.json(), Permissions: []string{}, PermissionSets: [][]string{{"SPOT"}},
		DefaultSelfTradePreventionMode:  "NONE",
		AllowedSelfTradePreventionModes: []string{"NONE"},
	}
}
