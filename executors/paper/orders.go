package paper

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// order is one accepted order. Its fills are only ever appended, so a
// slice of them handed out with its capacity cut (fills[:n:n]) stays valid
// without a copy.
type order struct {
	acct    *account
	book    *book
	req     executors.Order // as placed, TimeInForce defaulted
	id      uint64
	idStr   string
	status  messages.Status
	cum     decimal.Decimal
	fills   []messages.Fill
	lockPer decimal.Decimal // locked per unit of base: quote for buys, 1 for sells
	locked  decimal.Decimal // still locked by this order
	reason  messages.Reason
	message string
	created time.Time
	updated time.Time
}

func (o *order) leaves() decimal.Decimal { return o.req.Quantity.Sub(o.cum) }

// update is the order's state with every fill so far.
func (o *order) update() executors.OrderUpdate {
	return o.updateFrom(0)
}

// updateFrom is the order's state with the fills from index from on.
func (o *order) updateFrom(from int) executors.OrderUpdate {
	var fills []executors.Fill
	for _, f := range o.fills[min(from, len(o.fills)):] {
		fills = append(fills, executors.Fill{Fill: f, VenueOrderID: o.idStr})
	}
	return executors.OrderUpdate{
		ClientID:     o.req.ClientID,
		VenueOrderID: o.idStr,
		Symbol:       o.req.Symbol,
		Status:       o.status,
		CumQuantity:  o.cum,
		Fills:        fills,
		Reason:       o.reason,
		Message:      o.message,
	}
}

var one = decimal.NewFromInt(1)

// Place accepts, fills, rests or refuses an order of account; see the
// package documentation for the model. The answer has every fill so far. A
// refusal returns an update with status rejected and a
// *executors.VenueError.
func (x *Exchange) Place(account string, o executors.Order) (executors.OrderUpdate, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	a, err := x.account(account)
	if err != nil {
		return rejected(o, err.Error(), err)
	}
	b, ok := x.bySymbol[o.Symbol]
	if !ok {
		return reject(o, CodeUnknownSymbol, "unknown symbol "+o.Symbol, ErrUnknownSymbol)
	}
	if code, msg := x.check(b, &o); code != "" {
		return reject(o, code, msg, nil)
	}
	if prev, dup := a.orders[o.ClientID]; dup {
		switch {
		case !x.reuseIDs:
			return reject(o, CodeDuplicateClientID, "client order ID "+o.ClientID+" was already used", nil)
		case !prev.status.Terminal():
			return reject(o, CodeDuplicateClientID, "client order ID "+o.ClientID+" is used by an open order", nil)
		}
	}

	buy := o.Side == messages.Buy
	ref := b.price
	marketable := o.Type == messages.Market ||
		buy && o.Price.GreaterThanOrEqual(ref) ||
		!buy && o.Price.LessThanOrEqual(ref)
	if o.PostOnly && marketable {
		return reject(o, CodeWouldCross, "post-only order would immediately match and take", nil)
	}

	// Lock what the whole order may cost. An unlimited account locks
	// nothing: its balances only keep score.
	spec := &b.spec
	lockAsset, lockPer, need := spec.Base, one, decimal.Zero
	if !a.unlimited {
		if buy {
			lockAsset = spec.Quote
			p := o.Price
			if o.Type == messages.Market {
				p = ref
			}
			lockPer = p.Mul(x.lockFee)
		}
		need = o.Quantity.Mul(lockPer)
		if bal := a.balance(lockAsset); bal.free.LessThan(need) {
			return reject(o, CodeInsufficientBalance,
				fmt.Sprintf("account has insufficient balance: %s %s free, %s needed", bal.free, lockAsset, need), nil)
		}
	}

	now := x.clock()
	x.nextOrderID++
	ord := &order{
		acct: a, book: b, req: o, id: x.nextOrderID,
		idStr:   strconv.FormatUint(x.nextOrderID, 10),
		status:  messages.StatusNew,
		lockPer: lockPer, locked: need,
		created: now, updated: now,
	}
	if !a.unlimited {
		bal := a.balance(lockAsset)
		bal.free = bal.free.Sub(need)
		bal.locked = bal.locked.Add(need)
	}
	a.orders[o.ClientID] = ord
	a.byID[ord.id] = ord
	a.all = append(a.all, ord)

	// The immediate part, at the reference price as taker.
	take := o.Quantity
	if o.Type == messages.Limit && spec.MaxFillQty.IsPositive() && spec.MaxFillQty.LessThan(take) {
		take = spec.MaxFillQty // a limit order takes the top of the book only
	}
	switch {
	case !marketable:
		take = decimal.Zero
	case o.TimeInForce == messages.FOK && take.LessThan(o.Quantity):
		take = decimal.Zero
	}
	if take.IsPositive() {
		for left := take; left.IsPositive(); {
			q := left
			if spec.MaxFillQty.IsPositive() && spec.MaxFillQty.LessThan(q) {
				q = spec.MaxFillQty
			}
			x.fill(ord, q, ref, messages.Taker)
			left = left.Sub(q)
		}
	}

	switch {
	case ord.status == messages.StatusFilled:
		x.close(ord, messages.StatusFilled, now)
	case o.TimeInForce != messages.GTC:
		ord.reason = messages.ReasonExpired
		ord.message = string(o.TimeInForce) + ": unfilled quantity expired"
		x.close(ord, messages.StatusExpired, now)
	default:
		a.open[ord] = struct{}{}
		b.resting = append(b.resting, ord)
	}
	x.publish(ord, 0)
	return ord.update(), nil
}

// check defaults o's time in force and applies the symbol's filters. It
// returns a refusal code and message, or "" if o passes.
func (x *Exchange) check(b *book, o *executors.Order) (code, msg string) {
	spec := &b.spec
	if o.ClientID == "" {
		return CodeInvalid, "empty client order ID"
	}
	if o.Side != messages.Buy && o.Side != messages.Sell {
		return CodeInvalid, "invalid side " + string(o.Side)
	}
	switch o.Type {
	case messages.Market:
		if o.TimeInForce == "" {
			o.TimeInForce = messages.IOC
		}
	case messages.Limit:
		if o.TimeInForce == "" {
			o.TimeInForce = messages.GTC
		}
		if !o.Price.IsPositive() {
			return CodeInvalid, "limit order without a positive price"
		}
		if !o.Price.Mod(spec.TickSize).IsZero() {
			return CodeFilter, fmt.Sprintf("PRICE_FILTER: price %s is not a multiple of tick size %s", o.Price, spec.TickSize)
		}
	default:
		return CodeInvalid, "invalid order type " + string(o.Type)
	}
	switch o.TimeInForce {
	case messages.GTC, messages.IOC, messages.FOK:
	default:
		return CodeInvalid, "invalid time in force " + string(o.TimeInForce)
	}
	if !o.Quantity.IsPositive() {
		return CodeInvalid, "quantity must be > 0"
	}
	if !o.Quantity.Mod(spec.StepSize).IsZero() {
		return CodeFilter, fmt.Sprintf("LOT_SIZE: quantity %s is not a multiple of step size %s", o.Quantity, spec.StepSize)
	}
	if o.Quantity.LessThan(spec.MinQty) {
		return CodeFilter, fmt.Sprintf("LOT_SIZE: quantity %s is below the minimum %s", o.Quantity, spec.MinQty)
	}
	if spec.MaxQty.IsPositive() && o.Quantity.GreaterThan(spec.MaxQty) {
		return CodeFilter, fmt.Sprintf("LOT_SIZE: quantity %s is above the maximum %s", o.Quantity, spec.MaxQty)
	}
	p := o.Price
	if o.Type == messages.Market {
		p = b.price
	}
	if n := p.Mul(o.Quantity); n.LessThan(spec.MinNotional) {
		return CodeFilter, fmt.Sprintf("MIN_NOTIONAL: notional %s is below the minimum %s", n, spec.MinNotional)
	}
	return "", ""
}

func reject(o executors.Order, code, msg string, err error) (executors.OrderUpdate, error) {
	reason := messages.ReasonVenueRejected
	if code == CodeFilter {
		// Per the contract a filter the order cannot meet is invalid.
		reason = messages.ReasonInvalid
	}
	return rejected(o, msg, &executors.VenueError{
		Kind: executors.Rejected, Reason: reason, Code: code, Message: msg, Err: err,
	})
}

func rejected(o executors.Order, msg string, err error) (executors.OrderUpdate, error) {
	return executors.OrderUpdate{
		ClientID: o.ClientID,
		Symbol:   o.Symbol,
		Status:   messages.StatusRejected,
		Reason:   messages.ReasonVenueRejected,
		Message:  msg,
	}, err
}

// balance returns a's balance of asset, creating it at zero.
func (a *account) balance(asset string) *balance {
	b, ok := a.balances[asset]
	if !ok {
		b = &balance{}
		a.balances[asset] = b
	}
	return b
}

// fill executes q of o at price p and moves the balances. x.mu is held.
func (x *Exchange) fill(o *order, q, p decimal.Decimal, liq messages.Liquidity) {
	rate := x.takerFee
	if liq == messages.Maker {
		rate = x.makerFee
	}
	notional := q.Mul(p)
	fee := notional.Mul(rate).RoundDown(8)
	x.nextTradeID++
	spec := &o.book.spec
	o.fills = append(o.fills, messages.Fill{
		Quantity: q, Price: p, Fee: fee, FeeAsset: spec.Quote,
		TradeID: strconv.FormatUint(x.nextTradeID, 10), Liquidity: liq,
	})
	o.cum = o.cum.Add(q)
	done := o.cum.Equal(o.req.Quantity)
	if done {
		o.status = messages.StatusFilled
	} else {
		o.status = messages.StatusPartiallyFilled
	}

	a := o.acct
	base, quote := a.balance(spec.Base), a.balance(spec.Quote)
	if a.unlimited {
		if o.req.Side == messages.Buy {
			quote.free = quote.free.Sub(notional.Add(fee))
			base.free = base.free.Add(q)
		} else {
			base.free = base.free.Sub(q)
			quote.free = quote.free.Add(notional.Sub(fee))
		}
		return
	}
	release := o.locked
	if !done {
		release = q.Mul(o.lockPer)
	}
	o.locked = o.locked.Sub(release)
	if o.req.Side == messages.Buy {
		quote.locked = quote.locked.Sub(release)
		quote.free = quote.free.Add(release.Sub(notional).Sub(fee))
		base.free = base.free.Add(q)
	} else {
		base.locked = base.locked.Sub(release)
		quote.free = quote.free.Add(notional.Sub(fee))
	}
}

// close ends o with status, releases what it still locks and takes it off
// the book. x.mu is held.
func (x *Exchange) close(o *order, status messages.Status, now time.Time) {
	o.status = status
	o.updated = now
	x.release(o)
	a := o.acct
	if _, ok := a.open[o]; !ok {
		return
	}
	delete(a.open, o)
	r := o.book.resting
	for i, e := range r {
		if e == o {
			copy(r[i:], r[i+1:])
			r[len(r)-1] = nil
			o.book.resting = r[:len(r)-1]
			return
		}
	}
}

// release gives back what o still locks. x.mu is held.
func (x *Exchange) release(o *order) {
	if o.locked.IsZero() {
		return
	}
	asset := o.book.spec.Base
	if o.req.Side == messages.Buy {
		asset = o.book.spec.Quote
	}
	b := o.acct.balance(asset)
	b.locked = b.locked.Sub(o.locked)
	b.free = b.free.Add(o.locked)
	o.locked = decimal.Zero
}

// lookup finds account's order clientID of symbol. x.mu is held.
func (x *Exchange) lookup(account, symbol, clientID string) (*order, error) {
	a, ok := x.accounts[account]
	if !ok && !x.open {
		_, err := x.account(account)
		return nil, err
	}
	var o *order
	if ok {
		o = a.orders[clientID]
	}
	if o == nil || o.req.Symbol != symbol {
		return nil, &executors.VenueError{
			Kind: executors.Rejected, Reason: messages.ReasonUnknownOrder,
			Code: CodeUnknownOrder, Message: "order " + clientID + " does not exist",
			Err: executors.ErrUnknownOrder,
		}
	}
	return o, nil
}

// lookupVenue finds account's order of symbol with the venue order ID
// venueOrderID. x.mu is held.
func (x *Exchange) lookupVenue(account, symbol, venueOrderID string) (*order, error) {
	a, ok := x.accounts[account]
	if !ok && !x.open {
		_, err := x.account(account)
		return nil, err
	}
	var o *order
	if id, err := strconv.ParseUint(venueOrderID, 10, 64); err == nil && ok {
		o = a.byID[id]
	}
	if o == nil || o.req.Symbol != symbol {
		return nil, &executors.VenueError{
			Kind: executors.Rejected, Reason: messages.ReasonUnknownOrder,
			Code: CodeUnknownOrder, Message: "order " + venueOrderID + " does not exist",
			Err: executors.ErrUnknownOrder,
		}
	}
	return o, nil
}

// Cancel cancels account's open order clientID of symbol. An unknown order
// is an error wrapping executors.ErrUnknownOrder; a closed one returns its
// last state and an error wrapping executors.ErrTooLateToCancel.
func (x *Exchange) Cancel(account, symbol, clientID string) (executors.OrderUpdate, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o, err := x.lookup(account, symbol, clientID)
	if err != nil {
		return executors.OrderUpdate{}, err
	}
	return x.cancel(o)
}

// CancelByVenueID is Cancel of the order with the venue order ID
// venueOrderID.
func (x *Exchange) CancelByVenueID(account, symbol, venueOrderID string) (executors.OrderUpdate, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o, err := x.lookupVenue(account, symbol, venueOrderID)
	if err != nil {
		return executors.OrderUpdate{}, err
	}
	return x.cancel(o)
}

// cancel closes o as canceled unless it is closed already. x.mu is held.
func (x *Exchange) cancel(o *order) (executors.OrderUpdate, error) {
	if o.status.Terminal() {
		return o.update(), &executors.VenueError{
			Kind: executors.Rejected, Reason: messages.ReasonTooLateToCancel,
			Code: CodeOrderClosed, Message: "order " + o.req.ClientID + " is already " + string(o.status),
			Err: executors.ErrTooLateToCancel,
		}
	}
	x.close(o, messages.StatusCanceled, x.clock())
	x.publish(o, len(o.fills))
	return o.update(), nil
}

// Query returns account's order clientID of symbol with all its fills, or
// an error wrapping executors.ErrUnknownOrder.
func (x *Exchange) Query(account, symbol, clientID string) (executors.OrderUpdate, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o, err := x.lookup(account, symbol, clientID)
	if err != nil {
		return executors.OrderUpdate{}, err
	}
	return o.update(), nil
}

// OrderInfo is everything the Exchange knows of one order, for wrappers
// that show more than an OrderUpdate (side, price, original quantity,
// times).
type OrderInfo struct {
	executors.OrderUpdate
	Order   executors.Order // as placed, with its time in force defaulted
	Created time.Time
	Updated time.Time // of the last state change
}

func (o *order) info() OrderInfo {
	return OrderInfo{OrderUpdate: o.update(), Order: o.req, Created: o.created, Updated: o.updated}
}

// Info returns account's order clientID of symbol in full, or an error
// wrapping executors.ErrUnknownOrder.
func (x *Exchange) Info(account, symbol, clientID string) (OrderInfo, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o, err := x.lookup(account, symbol, clientID)
	if err != nil {
		return OrderInfo{}, err
	}
	return o.info(), nil
}

// InfoByVenueID is Info of the order with the venue order ID venueOrderID.
func (x *Exchange) InfoByVenueID(account, symbol, venueOrderID string) (OrderInfo, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o, err := x.lookupVenue(account, symbol, venueOrderID)
	if err != nil {
		return OrderInfo{}, err
	}
	return o.info(), nil
}

// LookupVenueID returns the client ID of account's order of symbol with
// the venue order ID venueOrderID.
func (x *Exchange) LookupVenueID(account, symbol, venueOrderID string) (clientID string, ok bool) {
	id, err := strconv.ParseUint(venueOrderID, 10, 64)
	if err != nil {
		return "", false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	a, ok := x.accounts[account]
	if !ok {
		return "", false
	}
	o, ok := a.byID[id]
	if !ok || o.req.Symbol != symbol {
		return "", false
	}
	return o.req.ClientID, true
}

// OpenOrders returns account's open orders of symbol ("" for every
// symbol), oldest first, each with all its fills.
func (x *Exchange) OpenOrders(account, symbol string) []executors.OrderUpdate {
	return updates(x.Orders(account, symbol, true))
}

// AllOrders returns every order account placed of symbol ("" for every
// symbol), open or closed, oldest first, each with all its fills. Refused
// orders are not kept.
func (x *Exchange) AllOrders(account, symbol string) []executors.OrderUpdate {
	return updates(x.Orders(account, symbol, false))
}

func updates(infos []OrderInfo) []executors.OrderUpdate {
	out := make([]executors.OrderUpdate, len(infos))
	for i := range infos {
		out[i] = infos[i].OrderUpdate
	}
	return out
}

// Orders returns account's orders of symbol ("" for every symbol), only
// the open ones if openOnly, oldest first.
func (x *Exchange) Orders(account, symbol string, openOnly bool) []OrderInfo {
	x.mu.Lock()
	defer x.mu.Unlock()
	a, ok := x.accounts[account]
	if !ok {
		return nil
	}
	var out []OrderInfo
	if openOnly {
		open := make([]*order, 0, len(a.open))
		for o := range a.open {
			if symbol == "" || o.req.Symbol == symbol {
				open = append(open, o)
			}
		}
		sort.Slice(open, func(i, j int) bool { return open[i].id < open[j].id })
		out = make([]OrderInfo, len(open))
		for i, o := range open {
			out[i] = o.info()
		}
		return out
	}
	for _, o := range a.all {
		if symbol == "" || o.req.Symbol == symbol {
			out = append(out, o.info())
		}
	}
	return out
}
