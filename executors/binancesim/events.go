package binancesim

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// streamOrder is what the hub remembers of an order between events.
type streamOrder struct {
	order    executors.Order
	id       int64
	vid      string // id as the engine writes it
	created  time.Time
	newSent  bool
	cum      decimal.Decimal
	cumQuote decimal.Decimal
	trades   map[string]bool
}

// translate makes the executionReports of one engine update (NEW first if
// not yet sent, one TRADE per new fill, then CANCELED or EXPIRED) and an
// outboundAccountPosition for the symbol's assets.
func (h *hub) translate(u executors.OrderUpdate) [][]byte {
	s := h.st.s
	o := h.orders[u.VenueOrderID]
	if o == nil {
		info, err := s.x.InfoByVenueID(h.acct, u.Symbol, u.VenueOrderID)
		if err != nil {
			return nil
		}
		o = &streamOrder{order: info.Order, id: orderID(info.VenueOrderID), vid: info.VenueOrderID,
			created: info.Created, trades: map[string]bool{}}
		h.orders[u.VenueOrderID] = o
	}
	now := s.now()
	var msgs [][]byte
	add := func(r executionReport) {
		b, _ := json.Marshal(r)
		msgs = append(msgs, b)
	}
	if !o.newSent {
		o.newSent = true
		add(h.report(o, "NEW", "NEW", nil, now))
	}
	for i := range u.Fills {
		f := &u.Fills[i]
		if o.trades[f.TradeID] {
			continue
		}
		o.trades[f.TradeID] = true
		o.cum = o.cum.Add(f.Quantity)
		o.cumQuote = o.cumQuote.Add(f.Quantity.Mul(f.Price))
		status := "PARTIALLY_FILLED"
		if o.cum.GreaterThanOrEqual(o.order.Quantity) {
			status = "FILLED"
		}
		add(h.report(o, "TRADE", status, &f.Fill, now))
	}
	switch u.Status {
	case messages.StatusCanceled, messages.StatusExpired, messages.StatusRejected:
		x := wireStatus(u.Status)
		add(h.report(o, x, x, nil, now))
	}
	if u.Status.Terminal() {
		delete(h.orders, u.VenueOrderID)
	}
	f := s.symbols[wireSymbol(o.order.Symbol)]
	var bals []map[string]string
	for _, hd := range s.x.Holdings(h.acct) {
		if hd.Asset == f.base || hd.Asset == f.quote {
			bals = append(bals, map[string]string{"a": hd.Asset, "f": dec8(hd.Free), "l": dec8(hd.Locked)})
		}
	}
	b, _ := json.Marshal(map[string]any{"e": "outboundAccountPosition", "E": ms(now), "u": ms(now), "B": bals})
	return append(msgs, b)
}

// executionReport is the user data stream's order event.
type executionReport struct {
	Event         string  `json:"e"`
	EventTime     int64   `json:"E"`
	Symbol        string  `json:"s"`
	ClientOrderID string  `json:"c"`
	Side          string  `json:"S"`
	Type          string  `json:"o"`
	TimeInForce   string  `json:"f"`
	Quantity      string  `json:"q"`
	Price         string  `json:"p"`
	StopPrice     string  `json:"P"`
	IcebergQty    string  `json:"F"`
	OrderListID   int64   `json:"g"`
	OrigClientID  string  `json:"C"`
	ExecType      string  `json:"x"`
	Status        string  `json:"X"`
	RejectReason  string  `json:"r"`
	OrderID       int64   `json:"i"`
	LastQty       string  `json:"l"`
	CumQty        string  `json:"z"`
	LastPrice     string  `json:"L"`
	Commission    string  `json:"n"`
	CommAsset     *string `json:"N"`
	TransactTime  int64   `json:"T"`
	TradeID       int64   `json:"t"`
	Ignore1       int64   `json:"I"`
	OnBook        bool    `json:"w"`
	Maker         bool    `json:"m"`
	Ignore2       bool    `json:"M"`
	Created       int64   `json:"O"`
	CumQuote      string  `json:"Z"`
	LastQuote     string  `json:"Y"`
	QuoteOrderQty string  `json:"Q"`
	WorkingTime   int64   `json:"W"`
	STPMode       string  `json:"V"`
}

func (h *hub) report(o *streamOrder, exec, status string, f *messages.Fill, now time.Time) executionReport {
	info := o.order
	typ, tif := "LIMIT", strings.ToUpper(string(info.TimeInForce))
	switch {
	case info.Type == messages.Market:
		typ, tif = "MARKET", "GTC"
	case info.PostOnly:
		typ, tif = "LIMIT_MAKER", "GTC"
	}
	r := executionReport{
		Event: "executionReport", EventTime: ms(now), Symbol: wireSymbol(info.Symbol),
		ClientOrderID: info.ClientID, Side: wireSide(info.Side), Type: typ, TimeInForce: tif,
		Quantity: dec8(info.Quantity), Price: dec8(info.Price), StopPrice: dec8(decimal.Zero),
		IcebergQty: dec8(decimal.Zero), OrderListID: -1, ExecType: exec, Status: status,
		RejectReason: "NONE", OrderID: o.id, LastQty: dec8(decimal.Zero), CumQty: dec8(o.cum),
		LastPrice: dec8(decimal.Zero), Commission: "0", TransactTime: ms(now), TradeID: -1,
		Ignore1: o.id, Created: ms(o.created), CumQuote: dec8(o.cumQuote),
		LastQuote: dec8(decimal.Zero), QuoteOrderQty: dec8(decimal.Zero),
		WorkingTime: ms(o.created), STPMode: "NONE",
	}
	r.OnBook = info.Type == messages.Limit && info.TimeInForce == messages.GTC &&
		(status == "NEW" || status == "PARTIALLY_FILLED")
	if exec == "CANCELED" {
		// Binance names the cancel request in c and the order in C.
		r.OrigClientID = info.ClientID
		if v, ok := h.st.s.cancelIDs.LoadAndDelete(cancelKey(h.acct, o.vid)); ok {
			r.ClientOrderID = v.(string)
		}
	}
	if f != nil {
		asset := f.FeeAsset
		r.LastQty, r.LastPrice = dec8(f.Quantity), dec8(f.Price)
		r.Commission, r.CommAsset = dec8(f.Fee), &asset
		r.TradeID = tradeID(f.TradeID)
		r.Maker = f.Liquidity == messages.Maker
		r.LastQuote = dec8(f.Quantity.Mul(f.Price))
	}
	return r
}
