package binancesim

import (
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// symbol reads the mandatory symbol parameter.
func (s *Server) symbol(p *params) (filters, *apiError) {
	sym := p.get("symbol")
	if sym == "" {
		return filters{}, errMandatory("symbol")
	}
	f, ok := s.symbols[sym]
	if !ok {
		return filters{}, errBadSymbol()
	}
	return f, nil
}

var (
	clientIDRe = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,36}$`)
	decimalRe  = regexp.MustCompile(`^([0-9]{1,20})(\.[0-9]{1,20})?$`)
)

// decimalParam reads a positive-looking decimal parameter; "" if absent.
func decimalParam(p *params, name string) (decimal.Decimal, bool, *apiError) {
	if !p.has(name) {
		return decimal.Zero, false, nil
	}
	v := p.get(name)
	if !decimalRe.MatchString(v) {
		return decimal.Zero, true, errIllegal(name, `^([0-9]{1,20})(\.[0-9]{1,20})?$`)
	}
	d, err := decimal.NewFromString(v)
	if err != nil {
		return decimal.Zero, true, errIllegal(name, `^([0-9]{1,20})(\.[0-9]{1,20})?$`)
	}
	if d.Exponent() < -8 && !d.Equal(d.Truncate(8)) {
		return decimal.Zero, true, errPrecision(name)
	}
	return d, true, nil
}

// orderRequest is a parsed POST /api/v3/order.
type orderRequest struct {
	f        filters
	order    executors.Order
	respType string
}

func (s *Server) parseOrder(c *call) (*orderRequest, *apiError) {
	p := c.p
	f, aerr := s.symbol(p)
	if aerr != nil {
		return nil, aerr
	}
	req := &orderRequest{f: f}
	o := &req.order
	o.Symbol = f.engine
	switch side := p.get("side"); side {
	case "":
		return nil, errMandatory("side")
	case "BUY":
		o.Side = messages.Buy
	case "SELL":
		o.Side = messages.Sell
	default:
		return nil, errBadSide()
	}
	typ := p.get("type")
	switch typ {
	case "":
		return nil, errMandatory("type")
	case "LIMIT", "LIMIT_MAKER":
		o.Type = messages.Limit
		o.PostOnly = typ == "LIMIT_MAKER"
	case "MARKET":
		o.Type = messages.Market
		o.TimeInForce = messages.IOC
	default:
		return nil, errBadType()
	}
	tif := p.get("timeInForce")
	switch {
	case typ == "LIMIT" && tif == "":
		return nil, errMandatory("timeInForce")
	case typ == "LIMIT":
		switch tif {
		case "GTC", "IOC", "FOK":
			o.TimeInForce = messages.TimeInForce(strings.ToLower(tif))
		default:
			return nil, errBadTIF()
		}
	case p.has("timeInForce"):
		return nil, errNotRequired("timeInForce")
	case typ == "LIMIT_MAKER":
		o.TimeInForce = messages.GTC
	}
	price, hasPrice, aerr := decimalParam(p, "price")
	if aerr != nil {
		return nil, aerr
	}
	switch {
	case o.Type == messages.Limit && !hasPrice:
		return nil, errMandatory("price")
	case o.Type == messages.Market && hasPrice:
		return nil, errNotRequired("price")
	}
	o.Price = price
	qty, hasQty, aerr := decimalParam(p, "quantity")
	if aerr != nil {
		return nil, aerr
	}
	quoteQty, hasQuote, aerr := decimalParam(p, "quoteOrderQty")
	if aerr != nil {
		return nil, aerr
	}
	switch {
	case hasQty && hasQuote:
		return nil, newErr(http.StatusBadRequest, -1128, "Combination of optional parameters invalid.")
	case hasQuote && o.Type != messages.Market:
		return nil, errNotRequired("quoteOrderQty")
	case hasQuote:
		// A quote-quantity market order buys or sells what the quote
		// amount is worth at the reference price, rounded down to the step.
		ref := s.x.Price(f.engine)
		qty = quoteQty.Div(ref).Sub(f.minQty).Div(f.step).Floor().Mul(f.step).Add(f.minQty)
	case !hasQty && o.Type == messages.Market:
		return nil, errEitherParam("quantity", "quoteOrderQty")
	case !hasQty:
		return nil, errMandatory("quantity")
	}
	o.Quantity = qty
	o.ClientID = p.get("newClientOrderId")
	if p.has("newClientOrderId") && !clientIDRe.MatchString(o.ClientID) {
		return nil, errIllegal("newClientOrderId", `^[a-zA-Z0-9-_]{1,36}$`)
	}
	if o.ClientID == "" {
		o.ClientID = newClientID()
	}
	req.respType = p.get("newOrderRespType")
	switch req.respType {
	case "":
		req.respType = "FULL"
	case "ACK", "RESULT", "FULL":
	default:
		return nil, errIllegal("newOrderRespType", "ACK, RESULT, FULL")
	}
	if aerr := f.check(o.Type == messages.Market, o.Price, o.Quantity, s.x.Price(f.engine)); aerr != nil {
		return nil, aerr
	}
	return req, nil
}

func (s *Server) newOrder(c *call) (any, *apiError) {
	req, aerr := s.parseOrder(c)
	if aerr != nil {
		return nil, aerr
	}
	u, err := s.x.Place(c.acct, req.order)
	if err != nil {
		aerr := placeErr(err)
		s.noteRefused(c.acct, req.order.ClientID, aerr)
		return nil, aerr
	}
	s.stats.Count(func(st *Stats) { st.OrdersPlaced[c.acct]++ })
	// By venue ID: once this order is closed its client ID may already
	// name a newer one.
	info, err := s.x.InfoByVenueID(c.acct, req.order.Symbol, u.VenueOrderID)
	if err != nil {
		return nil, errUnknown()
	}
	return newOrderResponse(info, req.respType, info.Created), nil
}

func (s *Server) testOrder(c *call) (any, *apiError) {
	if _, aerr := s.parseOrder(c); aerr != nil {
		return nil, aerr
	}
	return struct{}{}, nil
}

// placeErr turns an engine refusal into Binance's error.
func placeErr(err error) *apiError {
	var ve *executors.VenueError
	if !errors.As(err, &ve) {
		return errUnknown()
	}
	switch ve.Code {
	case paper.CodeDuplicateClientID:
		return errNewOrderRejected(msgDuplicate)
	case paper.CodeInsufficientBalance:
		return errNewOrderRejected(msgInsufficient)
	case paper.CodeWouldCross:
		return errNewOrderRejected(msgWouldTake)
	case paper.CodeUnknownSymbol:
		return errBadSymbol()
	case paper.CodeUnknownAccount:
		return errRejectedKey()
	case paper.CodeFilter:
		name, _, _ := strings.Cut(ve.Message, ":")
		if name == "MIN_NOTIONAL" {
			name = "NOTIONAL"
		}
		return errFilter(name)
	}
	return errNewOrderRejected(msgCombination)
}

// target finds the order named by orderId and/or origClientOrderId; both
// given must name the same order. A client ID alone names the newest order
// with it (at most one of them is open). miss is the error for no such
// order.
func (s *Server) target(c *call, f filters, miss func() *apiError) (paper.OrderInfo, *apiError) {
	p := c.p
	orig := p.get("origClientOrderId")
	idStr := p.get("orderId")
	if idStr == "" && orig == "" {
		return paper.OrderInfo{}, errEitherParam("origClientOrderId", "orderId")
	}
	if idStr == "" {
		info, err := s.x.Info(c.acct, f.engine, orig)
		if err != nil {
			return paper.OrderInfo{}, miss()
		}
		return info, nil
	}
	if _, err := strconv.ParseInt(idStr, 10, 64); err != nil {
		return paper.OrderInfo{}, errIllegal("orderId", "^[0-9]{1,20}$")
	}
	info, err := s.x.InfoByVenueID(c.acct, f.engine, idStr)
	if err != nil || (orig != "" && orig != info.Order.ClientID) {
		return paper.OrderInfo{}, miss()
	}
	return info, nil
}

func (s *Server) cancelOrder(c *call) (any, *apiError) {
	f, aerr := s.symbol(c.p)
	if aerr != nil {
		return nil, aerr
	}
	unknown := func() *apiError { return errCancelRejected(msgUnknownOrder) }
	target, aerr := s.target(c, f, unknown)
	if aerr != nil {
		return nil, aerr
	}
	cancelID := c.p.get("newClientOrderId")
	if c.p.has("newClientOrderId") && !clientIDRe.MatchString(cancelID) {
		return nil, errIllegal("newClientOrderId", `^[a-zA-Z0-9-_]{1,36}$`)
	}
	if cancelID == "" {
		cancelID = newClientID()
	}
	// The stream's CANCELED report names the cancel by this ID. It is
	// stored first because the report may be made before Cancel returns.
	ck := cancelKey(c.acct, target.VenueOrderID)
	s.cancelIDs.LoadOrStore(ck, cancelID)
	if _, err := s.x.CancelByVenueID(c.acct, f.engine, target.VenueOrderID); err != nil {
		s.cancelIDs.CompareAndDelete(ck, cancelID)
		// Binance answers the same for an order it never had and for one
		// already filled, canceled or expired.
		return nil, unknown()
	}
	info, err := s.x.InfoByVenueID(c.acct, f.engine, target.VenueOrderID)
	if err != nil {
		return nil, errUnknown()
	}
	return cancelResponse(info, cancelID), nil
}

// cancelKey indexes Server.cancelIDs.
func cancelKey(acct, venueOrderID string) string { return acct + "\x00" + venueOrderID }

func (s *Server) queryOrder(c *call) (any, *apiError) {
	f, aerr := s.symbol(c.p)
	if aerr != nil {
		return nil, aerr
	}
	info, aerr := s.target(c, f, errNoSuchOrder)
	if aerr != nil {
		return nil, aerr
	}
	return queryResponse(info), nil
}

func (s *Server) openOrders(c *call) (any, *apiError) {
	sym := ""
	if c.p.get("symbol") != "" {
		f, aerr := s.symbol(c.p)
		if aerr != nil {
			return nil, aerr
		}
		sym = f.engine
	}
	infos := s.x.Orders(c.acct, sym, true)
	out := make([]orderJSON, 0, len(infos))
	for _, o := range infos {
		out = append(out, queryResponse(o))
	}
	return out, nil
}

func intParam(p *params, name string) (int64, bool, *apiError) {
	if !p.has(name) {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(p.get(name), 10, 64)
	if err != nil || n < 0 {
		return 0, true, errIllegal(name, "^[0-9]{1,20}$")
	}
	return n, true, nil
}

func (s *Server) allOrders(c *call) (any, *apiError) {
	f, aerr := s.symbol(c.p)
	if aerr != nil {
		return nil, aerr
	}
	fromID, hasFrom, aerr := intParam(c.p, "orderId")
	if aerr != nil {
		return nil, aerr
	}
	start, hasStart, aerr := intParam(c.p, "startTime")
	if aerr != nil {
		return nil, aerr
	}
	end, hasEnd, aerr := intParam(c.p, "endTime")
	if aerr != nil {
		return nil, aerr
	}
	limit, hasLimit, aerr := intParam(c.p, "limit")
	if aerr != nil {
		return nil, aerr
	}
	if !hasLimit {
		limit = 500
	}
	limit = min(max(limit, 1), 1000)
	var sel []paper.OrderInfo
	for _, o := range s.x.Orders(c.acct, f.engine, false) {
		if hasFrom && orderID(o.VenueOrderID) < fromID {
			continue
		}
		if hasStart && ms(o.Created) < start || hasEnd && ms(o.Created) > end {
			continue
		}
		sel = append(sel, o)
	}
	// From an orderId or a startTime, the oldest; otherwise the newest.
	if int64(len(sel)) > limit {
		if hasFrom || hasStart {
			sel = sel[:limit]
		} else {
			sel = sel[int64(len(sel))-limit:]
		}
	}
	out := make([]orderJSON, 0, len(sel))
	for _, o := range sel {
		out = append(out, queryResponse(o))
	}
	return out, nil
}

type tradeJSON struct {
	Symbol          string `json:"symbol"`
	ID              int64  `json:"id"`
	OrderID         int64  `json:"orderId"`
	OrderListID     int64  `json:"orderListId"`
	Price           string `json:"price"`
	Qty             string `json:"qty"`
	QuoteQty        string `json:"quoteQty"`
	Commission      string `json:"commission"`
	CommissionAsset string `json:"commissionAsset"`
	Time            int64  `json:"time"`
	IsBuyer         bool   `json:"isBuyer"`
	IsMaker         bool   `json:"isMaker"`
	IsBestMatch     bool   `json:"isBestMatch"`
}

// myTrades lists the account's fills of a symbol, by trade ID. The engine
// keeps no time per fill: a trade's time is its order's last update.
func (s *Server) myTrades(c *call) (any, *apiError) {
	f, aerr := s.symbol(c.p)
	if aerr != nil {
		return nil, aerr
	}
	var nums [5]int64
	var has [5]bool
	for i, name := range []string{"orderId", "fromId", "startTime", "endTime", "limit"} {
		if nums[i], has[i], aerr = intParam(c.p, name); aerr != nil {
			return nil, aerr
		}
	}
	oid, from, start, end, limit := nums[0], nums[1], nums[2], nums[3], nums[4]
	if !has[4] {
		limit = 500
	}
	limit = min(max(limit, 1), 1000)
	out := []tradeJSON{}
	for _, o := range s.x.Orders(c.acct, f.engine, false) {
		id := orderID(o.VenueOrderID)
		if has[0] && id != oid {
			continue
		}
		for _, fl := range o.Fills {
			t := tradeJSON{
				Symbol: f.wire, ID: tradeID(fl.TradeID), OrderID: id, OrderListID: -1,
				Price: dec8(fl.Price), Qty: dec8(fl.Quantity), QuoteQty: dec8(fl.Price.Mul(fl.Quantity)),
				Commission: dec8(fl.Fee), CommissionAsset: fl.FeeAsset, Time: ms(o.Updated),
				IsBuyer: o.Order.Side == messages.Buy, IsMaker: fl.Liquidity == messages.Maker, IsBestMatch: true,
			}
			if has[1] && t.ID < from || has[2] && t.Time < start || has[3] && t.Time > end {
				continue
			}
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if int64(len(out)) > limit {
		if has[1] || has[2] {
			out = out[:limit]
		} else {
			out = out[int64(len(out))-limit:]
		}
	}
	return out, nil
}
