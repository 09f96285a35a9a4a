package okxsim

import (
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// rec is what the simulator knows of an order beyond the engine: its
// OKX names and how it was asked for.
type rec struct {
	engineID string // the engine's client ID; "" for an order that never reached it
	clOrdID  string
	ordID    string
	instID   string
	apiKey   string
	side     string
	ordType  string // market, limit, post_only, ioc, fok
	tgtCcy   string
	sz, px   string          // as sent
	qty      decimal.Decimal // the engine's quantity, in the base currency
	created  time.Time
	// cancelSource of an order canceled without the engine ("31": a
	// post-only order that would have taken liquidity).
	cancelSource string
	canceled     time.Time // when a sim-only order was canceled
}

var (
	clOrdIDRe = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)
	decRe     = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// orderReq is the body of POST /api/v5/trade/order.
type orderReq struct {
	InstID     string          `json:"instId"`
	TdMode     string          `json:"tdMode"`
	ClOrdID    string          `json:"clOrdId"`
	Tag        string          `json:"tag"`
	Side       string          `json:"side"`
	OrdType    string          `json:"ordType"`
	Sz         string          `json:"sz"`
	Px         string          `json:"px"`
	TgtCcy     string          `json:"tgtCcy"`
	ReduceOnly json.RawMessage `json:"reduceOnly"`
}

// placeOrder is POST /api/v5/trade/order.
func (s *Server) placeOrder(c *call) result {
	var req orderReq
	if err := json.Unmarshal([]byte(c.body), &req); err != nil {
		return errJSON()
	}
	if req.InstID == "" {
		return errEmptyParam("instId")
	}
	spec, known := s.symbols[req.InstID]
	if !known {
		return errNoInstrument()
	}
	op := opResult{ClOrdID: req.ClOrdID, Tag: req.Tag, TS: ms(c.now)}
	// The place limit per instrument, then the sub-account's (new and
	// amended orders): a request refused by one counts against neither.
	s.mu.Lock()
	accMax := c.acct.accRateLimit
	s.mu.Unlock()
	l := s.cfg.Limits
	switch s.lim.take(c.now,
		[]string{"place\x00" + c.acct.id + "\x00" + req.InstID, "subaccount\x00" + c.acct.id},
		[]Limit{l.Place, {Max: accMax, Window: l.SubAccountWindow}}) {
	case 0:
		s.stats.Count(func(st *Stats) { st.Throttled50011["place"]++ })
		return errRateLimit()
	case 1:
		s.stats.Count(func(st *Stats) { st.SubAccount50061++ })
		return opFail(op, sSubAccount, msgSubAccount)
	}
	if exp := c.r.Header.Get("expTime"); exp != "" {
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			return errParam("expTime")
		}
		if c.now.UnixMilli() > n {
			return opFail(op, sExpired, msgOrderExpire)
		}
	}
	o, res := s.parseOrder(req, spec, op)
	if res != nil {
		return *res
	}

	s.mu.Lock()
	a := c.acct
	if prev := a.byClOrd[req.ClOrdID]; req.ClOrdID != "" && prev != nil && s.liveLocked(a, prev) {
		s.mu.Unlock()
		return opFail(op, sDuplicate, msgDuplicate)
	}
	s.seq++
	r := &rec{
		engineID: "c" + strconv.FormatUint(s.seq, 10), clOrdID: req.ClOrdID, instID: req.InstID,
		apiKey: c.key.apiKey, side: req.Side, ordType: req.OrdType, tgtCcy: req.TgtCcy,
		sz: req.Sz, px: req.Px, created: c.now,
	}
	o.ClientID, r.qty = r.engineID, o.Quantity
	// Known before the engine publishes the order's first event.
	a.recs[r.engineID] = r
	u, err := s.x.Place(a.id, o)
	book := true
	if err != nil {
		delete(a.recs, r.engineID)
		var ve *executors.VenueError
		if !errors.As(err, &ve) || ve.Code != paper.CodeWouldCross {
			s.mu.Unlock()
			return placeRefusal(op, ve, spec)
		}
		// OKX takes a post-only order that would take liquidity and
		// cancels it at once (cancelSource 31): it never reaches the book.
		book = false
		r.engineID = ""
		r.cancelSource = "31"
		r.canceled = c.now
		r.ordID = strconv.FormatUint(1<<53+s.seq, 10)
	} else {
		r.ordID = u.VenueOrderID
	}
	a.byOrdID[r.ordID] = r
	if r.clOrdID != "" {
		a.byClOrd[r.clOrdID] = r
	}
	s.log = append(s.log, Placement{At: c.now, Account: a.id, APIKey: c.key.apiKey, ClOrdID: r.clOrdID, OrdID: r.ordID,
		InstID: r.instID, Side: r.side, OrdType: r.ordType, Sz: r.sz, Px: r.px, Book: book})
	s.mu.Unlock()
	s.stats.Count(func(st *Stats) { st.OrdersPlaced[a.id]++ })
	if !book {
		a.hub.injectCanceled(r)
	}
	op.OrdID, op.SCode, op.SMsg = r.ordID, "0", "Order placed"
	return ok([]opResult{op})
}

// parseOrder checks a new order's fields and the instrument's rules and
// makes the engine's order of it.
func (s *Server) parseOrder(req orderReq, spec paper.SymbolSpec, op opResult) (executors.Order, *result) {
	bad := func(code, format string, args ...any) (executors.Order, *result) {
		r := opFail(op, code, format, args...)
		return executors.Order{}, &r
	}
	param := func(p string) (executors.Order, *result) { return bad(sParam, "Parameter %s error", p) }
	if req.TdMode == "" {
		r := errEmptyParam("tdMode")
		return executors.Order{}, &r
	}
	if req.TdMode != "cash" {
		return bad("51010", "Request unsupported under current account mode")
	}
	if req.ClOrdID != "" && !clOrdIDRe.MatchString(req.ClOrdID) {
		return param("clOrdId")
	}
	o := executors.Order{Symbol: req.InstID}
	switch req.Side {
	case "buy":
		o.Side = messages.Buy
	case "sell":
		o.Side = messages.Sell
	case "":
		r := errEmptyParam("side")
		return executors.Order{}, &r
	default:
		return param("side")
	}
	switch req.OrdType {
	case "market":
		o.Type, o.TimeInForce = messages.Market, messages.IOC
	case "limit":
		o.Type, o.TimeInForce = messages.Limit, messages.GTC
	case "post_only":
		o.Type, o.TimeInForce, o.PostOnly = messages.Limit, messages.GTC, true
	case "ioc":
		o.Type, o.TimeInForce = messages.Limit, messages.IOC
	case "fok":
		o.Type, o.TimeInForce = messages.Limit, messages.FOK
	case "":
		r := errEmptyParam("ordType")
		return executors.Order{}, &r
	default:
		return param("ordType")
	}
	if ro := strings.Trim(string(req.ReduceOnly), `"`); ro == "true" {
		return bad(sReduceOnly, msgReduceOnly)
	}
	if req.Sz == "" {
		r := errEmptyParam("sz")
		return executors.Order{}, &r
	}
	sz, err := decimal.NewFromString(req.Sz)
	if !decRe.MatchString(req.Sz) || err != nil || !sz.IsPositive() {
		return param("sz")
	}
	ref := s.x.Price(req.InstID)
	if o.Type == messages.Market {
		tgt := req.TgtCcy
		if tgt == "" {
			tgt = "base_ccy"
			if o.Side == messages.Buy {
				tgt = "quote_ccy" // OKX's default for a market buy
			}
		}
		switch tgt {
		case "base_ccy":
			o.Quantity = sz
		case "quote_ccy":
			// What the quote amount buys at the reference price, down to
			// the lot size.
			o.Quantity = sz.Div(ref).Div(spec.StepSize).Floor().Mul(spec.StepSize)
			if !o.Quantity.IsPositive() {
				return bad(sMinAmount, msgMinAmount)
			}
		default:
			return param("tgtCcy")
		}
	} else {
		if req.Px == "" {
			r := errEmptyParam("px")
			return executors.Order{}, &r
		}
		px, err := decimal.NewFromString(req.Px)
		if !decRe.MatchString(req.Px) || err != nil || !px.IsPositive() || !px.Mod(spec.TickSize).IsZero() {
			return param("px")
		}
		o.Price = px
		o.Quantity = sz
		if req.TgtCcy != "" {
			return param("tgtCcy")
		}
	}
	q := o.Quantity
	switch {
	case !q.Mod(spec.StepSize).IsZero():
		return bad(sLotSize, msgLotSize)
	case q.LessThan(spec.MinQty):
		return bad(sMinAmount, msgMinAmount)
	case spec.MaxQty.IsPositive() && q.GreaterThan(spec.MaxQty):
		return bad(sMaxAmount, "Order amount exceeds the limit %s.", spec.MaxQty)
	}
	p := o.Price
	if o.Type == messages.Market {
		p = ref
	}
	if p.Mul(q).LessThan(spec.MinNotional) {
		return bad(sMinAmount, msgMinAmount)
	}
	return o, nil
}

// placeRefusal turns an engine refusal into OKX's sCode.
func placeRefusal(op opResult, ve *executors.VenueError, spec paper.SymbolSpec) result {
	if ve == nil {
		return opFail(op, sParam, "Parameter error")
	}
	switch ve.Code {
	case paper.CodeInsufficientBalance:
		return opFail(op, sInsufficient, "Order failed. Insufficient %s balance in account", spec.Quote)
	case paper.CodeUnknownSymbol:
		return opFail(op, sNoInstrument, "Instrument ID, Instrument ID code or Spread ID doesn't exist.")
	case paper.CodeFilter:
		return opFail(op, sMinAmount, msgMinAmount)
	}
	return opFail(op, sParam, "Parameter error")
}

// liveLocked reports whether r is pending (live or partially filled).
// s.mu held.
func (s *Server) liveLocked(a *account, r *rec) bool {
	if r.engineID == "" {
		return false
	}
	in, err := s.x.Info(a.id, r.instID, r.engineID)
	return err == nil && !in.Status.Terminal()
}

// target finds the order named by ordId or clOrdId (ordId wins) of instId.
// s.mu held.
func (a *account) target(instID, ordID, clOrdID string) *rec {
	var r *rec
	if ordID != "" {
		r = a.byOrdID[ordID]
	} else {
		r = a.byClOrd[clOrdID]
	}
	if r == nil || r.instID != instID {
		return nil
	}
	return r
}

// cancelOrder is POST /api/v5/trade/cancel-order.
func (s *Server) cancelOrder(c *call) result {
	var req struct {
		InstID  string `json:"instId"`
		OrdID   string `json:"ordId"`
		ClOrdID string `json:"clOrdId"`
	}
	if err := json.Unmarshal([]byte(c.body), &req); err != nil {
		return errJSON()
	}
	if req.InstID == "" {
		return errEmptyParam("instId")
	}
	if req.OrdID == "" && req.ClOrdID == "" {
		return errEither("ordId", "clOrdId")
	}
	if res := s.limit(c, "cancel", c.acct.id+"\x00"+req.InstID, s.cfg.Limits.Cancel); res != nil {
		return *res
	}
	op := opResult{ClOrdID: req.ClOrdID, OrdID: req.OrdID, TS: ms(c.now)}
	s.mu.Lock()
	r := c.acct.target(req.InstID, req.OrdID, req.ClOrdID)
	if r == nil || r.engineID == "" {
		s.mu.Unlock()
		return opFail(op, sCancelFailed, msgCancelFail)
	}
	_, err := s.x.Cancel(c.acct.id, r.instID, r.engineID)
	s.mu.Unlock()
	if err != nil {
		return opFail(op, sCancelFailed, msgCancelFail)
	}
	op.ClOrdID, op.OrdID, op.SCode = r.clOrdID, r.ordID, "0"
	return ok([]opResult{op})
}

// orderJSON is an order as GET /api/v5/trade/order, orders-pending and the
// orders channel show it (the channel adds the fields of one fill).
type orderJSON struct {
	InstType     string `json:"instType"`
	InstID       string `json:"instId"`
	OrdID        string `json:"ordId"`
	ClOrdID      string `json:"clOrdId"`
	Tag          string `json:"tag"`
	Px           string `json:"px"`
	Sz           string `json:"sz"`
	OrdType      string `json:"ordType"`
	Side         string `json:"side"`
	PosSide      string `json:"posSide"`
	TdMode       string `json:"tdMode"`
	TgtCcy       string `json:"tgtCcy"`
	AccFillSz    string `json:"accFillSz"`
	FillPx       string `json:"fillPx"`
	FillSz       string `json:"fillSz"`
	TradeID      string `json:"tradeId"`
	FillTime     string `json:"fillTime"`
	AvgPx        string `json:"avgPx"`
	State        string `json:"state"`
	Fee          string `json:"fee"`
	FeeCcy       string `json:"feeCcy"`
	Rebate       string `json:"rebate"`
	RebateCcy    string `json:"rebateCcy"`
	CancelSource string `json:"cancelSource"`
	Category     string `json:"category"`
	CTime        string `json:"cTime"`
	UTime        string `json:"uTime"`
	// Orders channel only.
	ExecType   string `json:"execType,omitempty"`
	FillFee    string `json:"fillFee,omitempty"`
	FillFeeCcy string `json:"fillFeeCcy,omitempty"`
	Code       string `json:"code,omitempty"`
	Msg        string `json:"msg,omitempty"`
}

// state is OKX's state and cancelSource of an engine status.
func state(r *rec, st messages.Status) (string, string) {
	switch st {
	case messages.StatusNew:
		return "live", ""
	case messages.StatusPartiallyFilled:
		return "partially_filled", ""
	case messages.StatusFilled:
		return "filled", ""
	case messages.StatusCanceled:
		return "canceled", "1" // canceled by the user
	case messages.StatusExpired:
		if r.ordType == "fok" {
			return "canceled", "13" // FOK not filled in full
		}
		return "canceled", "14" // IOC (or market) remainder
	}
	return "canceled", "0"
}

// baseJSON is the order's fields that do not depend on its fills.
func (s *Server) baseJSON(r *rec, spec paper.SymbolSpec) orderJSON {
	return orderJSON{
		InstType: "SPOT", InstID: r.instID, OrdID: r.ordID, ClOrdID: r.clOrdID, Px: r.px, Sz: r.sz,
		OrdType: r.ordType, Side: r.side, TdMode: "cash", TgtCcy: r.tgtCcy, FeeCcy: spec.Quote,
		Rebate: "0", RebateCcy: spec.Base, Category: "normal", CTime: ms(r.created),
	}
}

// fullJSON is r's current state: engine info when it reached the engine.
func (s *Server) fullJSON(r *rec, in *paper.OrderInfo) orderJSON {
	spec := s.symbols[r.instID]
	j := s.baseJSON(r, spec)
	if in == nil {
		j.State, j.CancelSource = "canceled", r.cancelSource
		j.AccFillSz, j.AvgPx, j.Fee, j.UTime = "0", "", "0", ms(r.canceled)
		return j
	}
	j.State, j.CancelSource = state(r, in.Status)
	j.AccFillSz = in.CumQuantity.String()
	var notional, fee decimal.Decimal
	for _, f := range in.Fills {
		notional = notional.Add(f.Quantity.Mul(f.Price))
		fee = fee.Add(f.Fee)
	}
	j.Fee = fee.Neg().String()
	if n := len(in.Fills); n > 0 {
		last := in.Fills[n-1]
		j.FillPx, j.FillSz, j.TradeID, j.FillTime = last.Price.String(), last.Quantity.String(), last.TradeID, ms(in.Updated)
		j.AvgPx = notional.Div(in.CumQuantity).Round(int32(-spec.TickSize.Exponent()) + 4).String()
	}
	j.UTime = ms(in.Updated)
	return j
}

// queryOrder is GET /api/v5/trade/order.
func (s *Server) queryOrder(c *call) result {
	q := c.r.URL.Query()
	inst, ordID, clOrdID := q.Get("instId"), q.Get("ordId"), q.Get("clOrdId")
	if inst == "" {
		return errEmptyParam("instId")
	}
	if ordID == "" && clOrdID == "" {
		return errEither("ordId", "clOrdId")
	}
	if res := s.limit(c, "order_query", c.acct.id+"\x00"+inst, s.cfg.Limits.OrderQuery); res != nil {
		return *res
	}
	s.mu.Lock()
	r := c.acct.target(inst, ordID, clOrdID)
	s.mu.Unlock()
	if r == nil {
		return errNoOrder()
	}
	return ok([]orderJSON{s.recJSON(c.acct, r)})
}

// recJSON is r's current state.
func (s *Server) recJSON(a *account, r *rec) orderJSON {
	if r.engineID == "" {
		return s.fullJSON(r, nil)
	}
	in, err := s.x.Info(a.id, r.instID, r.engineID)
	if err != nil {
		return s.fullJSON(r, nil)
	}
	return s.fullJSON(r, &in)
}

// pendingOrders is GET /api/v5/trade/orders-pending: live and partially
// filled orders, newest first.
func (s *Server) pendingOrders(c *call) result {
	q := c.r.URL.Query()
	if t := q.Get("instType"); t != "" && t != "SPOT" {
		return ok([]orderJSON{})
	}
	if res := s.limit(c, "pending", c.acct.id, s.cfg.Limits.Pending); res != nil {
		return *res
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errParam("limit")
		}
		limit = min(n, 100)
	}
	infos := s.x.Orders(c.acct.id, q.Get("instId"), true)
	s.mu.Lock()
	recs := make([]*rec, len(infos))
	for i, in := range infos {
		recs[i] = c.acct.recs[in.ClientID]
	}
	s.mu.Unlock()
	out := []orderJSON{}
	for i := len(infos) - 1; i >= 0 && len(out) < limit; i-- {
		if recs[i] != nil {
			out = append(out, s.fullJSON(recs[i], &infos[i]))
		}
	}
	return ok(out)
}

// fillJSON is one GET /api/v5/trade/fills entry.
type fillJSON struct {
	InstType string `json:"instType"`
	InstID   string `json:"instId"`
	TradeID  string `json:"tradeId"`
	OrdID    string `json:"ordId"`
	ClOrdID  string `json:"clOrdId"`
	BillID   string `json:"billId"`
	SubType  string `json:"subType"`
	Tag      string `json:"tag"`
	FillPx   string `json:"fillPx"`
	FillSz   string `json:"fillSz"`
	Side     string `json:"side"`
	PosSide  string `json:"posSide"`
	ExecType string `json:"execType"`
	FeeCcy   string `json:"feeCcy"`
	Fee      string `json:"fee"`
	TS       string `json:"ts"`
	FillTime string `json:"fillTime"`
}

// fills is GET /api/v5/trade/fills: the sub-account's fills, newest
// first, paged by billId (after: older than; before: newer than). The
// engine keeps no time per fill: a fill's time is its order's last
// update.
func (s *Server) fills(c *call) result {
	q := c.r.URL.Query()
	if t := q.Get("instType"); t != "" && t != "SPOT" {
		return ok([]fillJSON{})
	}
	if res := s.limit(c, "fills", c.acct.id, s.cfg.Limits.Fills); res != nil {
		return *res
	}
	num := func(name string) (int64, bool, *result) {
		v := q.Get(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			e := errParam(name)
			return 0, false, &e
		}
		return n, true, nil
	}
	after, hasAfter, e1 := num("after")
	before, hasBefore, e2 := num("before")
	limit, hasLimit, e3 := num("limit")
	for _, e := range []*result{e1, e2, e3} {
		if e != nil {
			return *e
		}
	}
	if !hasLimit || limit > 100 || limit < 1 {
		limit = 100
	}
	ordID := q.Get("ordId")
	infos := s.x.Orders(c.acct.id, q.Get("instId"), false)
	s.mu.Lock()
	recs := make([]*rec, len(infos))
	for i, in := range infos {
		recs[i] = c.acct.recs[in.ClientID]
	}
	s.mu.Unlock()
	type entry struct {
		bill int64
		j    fillJSON
	}
	var all []entry
	for i, in := range infos {
		r := recs[i]
		if r == nil || ordID != "" && r.ordID != ordID {
			continue
		}
		for _, f := range in.Fills {
			bill, _ := strconv.ParseInt(f.TradeID, 10, 64)
			if hasAfter && bill >= after || hasBefore && bill <= before {
				continue
			}
			sub, exec := "1", "T"
			if r.side == "sell" {
				sub = "2"
			}
			if f.Liquidity == messages.Maker {
				exec = "M"
			}
			all = append(all, entry{bill, fillJSON{
				InstType: "SPOT", InstID: r.instID, TradeID: f.TradeID, OrdID: r.ordID, ClOrdID: r.clOrdID,
				BillID: f.TradeID, SubType: sub, FillPx: f.Price.String(), FillSz: f.Quantity.String(),
				Side: r.side, ExecType: exec, FeeCcy: f.FeeAsset, Fee: f.Fee.Neg().String(),
				TS: ms(in.Updated), FillTime: ms(in.Updated),
			}})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].bill > all[j].bill })
	if hasBefore && !hasAfter && int64(len(all)) > limit {
		all = all[int64(len(all))-limit:] // the oldest newer than before
	}
	out := []fillJSON{}
	for _, e := range all {
		if int64(len(out)) == limit {
			break
		}
		out = append(out, e.j)
	}
	return ok(out)
}

// amendOrder is POST /api/v5/trade/amend-order: counted against the
// amend and sub-account limits like OKX, then refused, since the engine
// cannot amend.
func (s *Server) amendOrder(c *call) result {
	var req struct {
		InstID  string `json:"instId"`
		OrdID   string `json:"ordId"`
		ClOrdID string `json:"clOrdId"`
	}
	if err := json.Unmarshal([]byte(c.body), &req); err != nil {
		return errJSON()
	}
	if req.InstID == "" {
		return errEmptyParam("instId")
	}
	s.mu.Lock()
	accMax := c.acct.accRateLimit
	s.mu.Unlock()
	l := s.cfg.Limits
	op := opResult{ClOrdID: req.ClOrdID, OrdID: req.OrdID, TS: ms(c.now)}
	switch s.lim.take(c.now,
		[]string{"amend\x00" + c.acct.id + "\x00" + req.InstID, "subaccount\x00" + c.acct.id},
		[]Limit{l.Amend, {Max: accMax, Window: l.SubAccountWindow}}) {
	case 0:
		s.stats.Count(func(st *Stats) { st.Throttled50011["amend"]++ })
		return errRateLimit()
	case 1:
		s.stats.Count(func(st *Stats) { st.SubAccount50061++ })
		return opFail(op, sSubAccount, msgSubAccount)
	}
	return opFail(op, sParam, "Parameter error: this simulator does not amend orders")
}
