package executors

import (
	"fmt"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// message is what the worker needs of a JetStream message (jetstream.Msg
// has it); the decisions in core hold them without using them.
type message interface {
	Ack() error
	Nak() error
	NakWithDelay(delay time.Duration) error
	InProgress() error
	Term() error
}

// order is the worker's state of one order in hand.
type order struct {
	kvKey     string // OrderKey(strategy, id)
	stateKey  string // OrderStateKey(key, strategy, id)
	clientID  string
	intent    messages.OrderIntent
	intentSeq uint64
	route     int
	claimSeq  uint64    // EXEC sequence of the order's claim here
	received  time.Time // when the router took the intent

	// Guarded by Worker.mu.
	placedAt time.Time // when the last Place was sent (a cancel's cost may depend on the order's age)
	// msg is the order's exec message, acked once its sending is
	// reported; nil if it was read directly at a takeover (its
	// redelivery is acked when it comes, sendDone tells).
	msg      message
	sendDone bool
	// unconfirmed: a Place of it was sent (here or by a predecessor) and
	// the venue has not said yet whether it has it; its cancels wait.
	unconfirmed bool
	// deciding: it left the queue for a decision made without the venue
	// (refused, expired, canceled before it was sent) whose record is not
	// stored yet. It stays in hand meanwhile, so a redelivery of its
	// message waits for that decision instead of starting it afresh
	// (core.decide); a cancel of it is answered from its record.
	deciding bool

	// mu serializes everything that reports the order, so its seq is
	// gapless and in order; it may be locked by the dispatcher and
	// unlocked by the goroutine that finishes the reporting. Lock order:
	// order.mu before Worker.mu. Fields below are guarded by mu.
	mu           sync.Mutex
	phase        string // "" (never sent), or a messages.Phase*
	sendingAt    time.Time
	venueOrderID string
	status       messages.Status // "" until the venue answered
	cum          decimal.Decimal
	notional     decimal.Decimal // sum of fill quantity times price
	seq          uint64
	trades       map[string]struct{}
	tradeList    []string
}

func newOrder(key string, eo *messages.ExecOrder, claimSeq uint64) *order {
	in := eo.Intent
	return &order{
		kvKey:     messages.OrderKey(in.Strategy, in.ClientOrderID),
		stateKey:  messages.OrderStateKey(key, in.Strategy, in.ClientOrderID),
		clientID:  VenueClientID(in.Strategy, in.ClientOrderID),
		intent:    in,
		intentSeq: eo.IntentSeq,
		route:     max(eo.Routed, 1),
		claimSeq:  claimSeq,
		received:  eo.ReceivedAt,
		trades:    map[string]struct{}{},
	}
}

// orderFromRecord rebuilds an order from its record (rec.Intent set).
func orderFromRecord(rec *messages.OrderRecord) *order {
	o := newOrder(rec.Key, &messages.ExecOrder{Intent: *rec.Intent, IntentSeq: rec.IntentSeq, Routed: rec.Route}, 0)
	o.restoreFrom(rec)
	return o
}

// restoreFrom takes the state rec says was reported.
func (o *order) restoreFrom(rec *messages.OrderRecord) {
	o.phase, o.sendingAt = rec.Phase, rec.SendingAt
	o.seq, o.status, o.venueOrderID = rec.Seq, rec.Status, rec.VenueOrderID
	o.cum = rec.CumQuantity
	o.notional = rec.AvgPrice.Mul(rec.CumQuantity)
	for _, id := range rec.Trades {
		o.addTrade(id)
	}
}

func (o *order) addTrade(id string) {
	if _, ok := o.trades[id]; !ok {
		o.trades[id] = struct{}{}
		o.tradeList = append(o.tradeList, id)
	}
}

// movable reports whether the order may go to another key of its pool
// (not pinned to its key, not moved already).
func (o *order) movable() bool { return o.intent.Key == "" && o.route < maxRoutes }

// sent reports whether the order may be at the venue.
func (o *order) sent() bool { return o.phase == messages.PhaseSending || o.phase == messages.PhaseOpen }

// record is the order's state for the order-state bucket. o.mu held.
func (o *order) record(key, venue string, now time.Time) messages.OrderRecord {
	rec := messages.OrderRecord{
		Strategy: o.intent.Strategy, ClientOrderID: o.intent.ClientOrderID,
		Key: key, Venue: venue, IntentSeq: o.intentSeq, Route: o.route,
		Phase: o.phase, SendingAt: o.sendingAt, VenueOrderID: o.venueOrderID,
		Status: o.status, CumQuantity: o.cum, Seq: o.seq, Intent: &o.intent,
		Trades: o.tradeList, UpdatedAt: now.UTC(),
	}
	if o.cum.IsPositive() {
		rec.AvgPrice = o.notional.Div(o.cum)
	}
	return rec
}

// reporter builds a key's reports.
type reporter struct{ key, venue string }

// report starts a report of kind on o with its running totals. o.mu held.
func (rp reporter) report(o *order, kind messages.ReportKind) messages.ExecutionReport {
	r := messages.NewReport(&o.intent, kind, o.status)
	r.Key, r.Venue, r.VenueOrderID = rp.key, rp.venue, o.venueOrderID
	r.CumQuantity = o.cum
	r.LeavesQuantity = o.intent.Quantity.Sub(o.cum)
	if o.status.Terminal() {
		r.LeavesQuantity = decimal.Zero
	}
	if o.cum.IsPositive() {
		r.AvgPrice = o.notional.Div(o.cum)
	}
	return r
}

// refusal is a report that ends o unsent: rejected with reason, or expired.
func (rp reporter) refusal(o *order, kind messages.ReportKind, reason messages.Reason, msg string) messages.ExecutionReport {
	o.status = messages.StatusRejected
	if kind == messages.KindExpired {
		o.status = messages.StatusExpired
	}
	o.phase = messages.PhaseDone
	r := rp.report(o, kind)
	r.Reason, r.Message = reason, msg
	return r
}

// apply folds a venue update into o and returns the reports it makes: one
// per new fill, then canceled or expired if the order closed so. Whatever
// the venue says, a fill is reported only if it belongs to this order, is
// new (by trade ID) and keeps cum_quantity within quantity; anything else
// is returned in bad, to be logged loudly, and not reported. o.mu held.
func (rp reporter) apply(o *order, u OrderUpdate) (reps []messages.ExecutionReport, bad []string) {
	if u.ClientID != "" && u.ClientID != o.clientID {
		return nil, []string{fmt.Sprintf("update for client order ID %s, not this order's %s", u.ClientID, o.clientID)}
	}
	if u.VenueOrderID != "" {
		if o.venueOrderID != "" && u.VenueOrderID != o.venueOrderID {
			return nil, []string{fmt.Sprintf("update for venue order %s, this order is %s", u.VenueOrderID, o.venueOrderID)}
		}
		o.venueOrderID = u.VenueOrderID
	}
	for _, f := range u.Fills {
		switch {
		case f.TradeID == "":
			bad = append(bad, fmt.Sprintf("fill of %s at %s without a trade ID", f.Quantity, f.Price))
			continue
		case f.VenueOrderID != "" && f.VenueOrderID != o.venueOrderID:
			bad = append(bad, fmt.Sprintf("trade %s belongs to venue order %s, not %s", f.TradeID, f.VenueOrderID, o.venueOrderID))
			continue
		}
		if _, seen := o.trades[f.TradeID]; seen {
			continue // venues repeat fills; each is reported once
		}
		if !f.Quantity.IsPositive() || !f.Price.IsPositive() {
			bad = append(bad, fmt.Sprintf("trade %s has quantity %s price %s", f.TradeID, f.Quantity, f.Price))
			continue
		}
		if cum := o.cum.Add(f.Quantity); cum.GreaterThan(o.intent.Quantity) {
			bad = append(bad, fmt.Sprintf("trade %s of %s would make cum_quantity %s, above the order's quantity %s",
				f.TradeID, f.Quantity, cum, o.intent.Quantity))
			continue
		}
		o.addTrade(f.TradeID)
		o.cum = o.cum.Add(f.Quantity)
		o.notional = o.notional.Add(f.Quantity.Mul(f.Price))
		o.status = messages.StatusPartiallyFilled
		if o.cum.Equal(o.intent.Quantity) {
			o.status, o.phase = messages.StatusFilled, messages.PhaseDone
		}
		r := rp.report(o, messages.KindFill)
		fill := f.Fill
		r.Fill = &fill
		reps = append(reps, r)
	}
	switch u.Status {
	case messages.StatusCanceled, messages.StatusExpired:
		if !o.status.Terminal() {
			o.status, o.phase = u.Status, messages.PhaseDone
			r := rp.report(o, messages.KindCanceled)
			if u.Status == messages.StatusExpired {
				r.Kind, r.Reason = messages.KindExpired, messages.ReasonExpired
				r.Message = u.Message
				if r.Message == "" {
					r.Message = fmt.Sprintf("time_in_force %s: the unfilled rest expired at the venue", o.intent.TimeInForce)
				}
			}
			reps = append(reps, r)
		}
	case messages.StatusFilled:
		// Fills may lag the status; the fill reports set it.
	case messages.StatusNew, messages.StatusPartiallyFilled:
		if o.status == "" {
			o.status = messages.StatusNew
		}
	}
	return reps, bad
}

// venueOrder is o as sent to the venue.
func (o *order) venueOrder() Order {
	in := &o.intent
	price := decimal.Zero
	if in.Price != nil {
		price = *in.Price
	}
	return Order{
		ClientID: o.clientID, Symbol: in.Symbol, Side: in.Side, Type: in.Type,
		TimeInForce: in.TimeInForce, Quantity: in.Quantity, Price: price,
		PostOnly: in.PostOnly, ReduceOnly: in.ReduceOnly,
	}
}
