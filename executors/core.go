package executors

import (
	"fmt"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
)

// core is a key's queues, orders in hand and state. Every decision the
// worker makes is a method of core that takes the instant and does no I/O
// and reads no clock: the worker calls it under its mutex and does what
// it says after unlocking. The queue rules:
//   - cancels go before new orders, FIFO within each class;
//   - a cancel of an order still queued here needs no venue request;
//   - a cancel of an order that may or may not be at the venue (its
//     placement's outcome not known yet) waits, parked, until it is known:
//     sent earlier, the venue could answer "unknown order" and then take
//     the order;
//   - an order whose expires_at the budget cannot meet, counting the
//     requests queued ahead of it, is expired at once;
//   - while the key is throttled or banned nothing is sent, and queued
//     orders that cannot wait that long are expired;
//   - halted: new orders are refused, cancels and look-ups still go out.
type core struct {
	key       string
	queueSize int
	budget    Budget
	newQ      queue
	cancelQ   queue
	// parked are cancels waiting for their order's outcome (see
	// order.unconfirmed), in arrival order.
	parked   []*item
	orders   map[string]*order // by OrderKey: orders in hand
	byClient map[string]*order // by venue client ID
	state    messages.KeyState
	until    time.Time
	stateMsg string
	// shadow is a private copy of the budget with every queued request
	// planned in it, shadowTail the instant of the last; nil when it must
	// be rebuilt. See project.
	shadow     Budget
	shadowTail time.Time
	// budgetWaits counts the times the head of the queue had to wait for
	// budget: the measure of a key's queue backing up.
	budgetWaits uint64
	// spends counts what changed the budget's usage (takes, venue usage),
	// so its state is saved only when it changed.
	spends uint64
}

func newCore(key string, queueSize int, b Budget) *core {
	return &core{key: key, queueSize: queueSize, budget: b, state: messages.KeyActive,
		orders: map[string]*order{}, byClient: map[string]*order{}}
}

// item is one request waiting in a key's queue.
type item struct {
	order  *order     // a new order (its exec message is order.msg)
	cancel *cancelReq // a cancel
	// inDoubt: the order may already be at the venue (a redelivery, or an
	// answer that left the outcome unknown); ask the venue before sending.
	inDoubt   bool
	attempts  int
	notBefore time.Time // backoff after a failed attempt
}

// cancelReq is a cancel from exec.<key>.cancel.<strategy>.<id>.
type cancelReq struct {
	strategy, clientOrderID string
	seq                     uint64 // EXEC sequence of the cancel's message
	// msg is the cancel's message (nil if read directly at a takeover
	// until its redelivery comes); done once the cancel is answered.
	// Guarded by Worker.mu.
	msg  message
	done bool
}

func (c *cancelReq) orderKey() string { return messages.OrderKey(c.strategy, c.clientOrderID) }

// admission is what becomes of a new order arriving at the key.
type admission int

const (
	admitQueued   admission = iota // queued
	admitHeld                      // already in hand: a redelivery
	admitExpire                    // the budget cannot send it before expires_at
	admitFull                      // the queue is full: rate_limited
	admitHandBack                  // the key is unusable: back to the router for another key
	admitHalted                    // the key is halted and the order cannot move: halted
)

// admitNew decides what happens to a new order arriving at now; queued,
// it is in hand, and refused or expired it is in hand until that is
// stored (decide). at is, for admitExpire, the earliest instant the budget
// could send it (zero: never).
func (c *core) admitNew(now time.Time, it *item, movable bool) (a admission, at time.Time) {
	o := it.order
	if c.orders[o.kvKey] != nil {
		return admitHeld, time.Time{}
	}
	if !c.state.Usable() && !it.inDoubt {
		switch {
		case movable:
			return admitHandBack, time.Time{}
		case c.state == messages.KeyHalted:
			c.decide(o)
			return admitHalted, time.Time{}
		}
		// Throttled, banned or down with nowhere to go: it waits here.
	}
	// One that may be at the venue is asked about whatever the queue and
	// its deadline: refused or expired here, it could be live there.
	if c.newQ.len() >= c.queueSize && !it.inDoubt {
		c.decide(o)
		return admitFull, time.Time{}
	}
	op := opFor(it)
	if exp := o.intent.ExpiresAt; exp != nil && !it.inDoubt {
		at, ok := c.project(now, op)
		if !ok || !at.Before(*exp) || !now.Before(*exp) {
			if !ok {
				at = time.Time{}
			}
			c.decide(o)
			return admitExpire, at
		}
		c.commit(at, op)
	} else {
		c.plan(now, op)
	}
	c.newQ.push(it)
	c.hold(o)
	return admitQueued, time.Time{}
}

// hold puts o in hand.
func (c *core) hold(o *order) {
	c.orders[o.kvKey], c.byClient[o.clientID] = o, o
}

// admitCancel queues a cancel; false if the cancel queue is full.
func (c *core) admitCancel(now time.Time, it *item) bool {
	if c.cancelQ.len() >= c.queueSize {
		return false
	}
	c.cancelQ.push(it)
	c.plan(now, opFor(it))
	return true
}

// actKind is what the dispatcher must do next.
type actKind int

const (
	actIdle         actKind = iota // nothing queued: wait for a wake-up
	actWait                        // wait until at, or a wake-up
	actSend                        // send it now (its budget is taken)
	actExpire                      // expire it: at is the earliest it could have gone (zero: never)
	actRefuse                      // refuse it with reason and msg
	actCancelQueued                // cancel it.cancel's order, still queued (queued), without the venue
	actResumed                     // the throttle or ban ended: the key is active again
)

// action is one decision of next.
type action struct {
	kind   actKind
	it     *item
	queued *item // actCancelQueued: the order's own item
	at     time.Time
	reason messages.Reason
	msg    string
}

// next decides the dispatcher's next step at now and takes the item it
// concerns out of its queue (and the budget it spends).
func (c *core) next(now time.Time) action {
	if (c.state == messages.KeyThrottled || c.state == messages.KeyBanned) && !now.Before(c.until) {
		c.state, c.until, c.stateMsg = messages.KeyActive, time.Time{}, ""
		return action{kind: actResumed}
	}
	if c.state == messages.KeyThrottled || c.state == messages.KeyBanned {
		// Nothing is sent until then; an order that cannot wait so long
		// is expired now, not later.
		until := c.until
		if late := c.newQ.removeFirst(func(it *item) bool {
			exp := it.order.intent.ExpiresAt
			return exp != nil && !until.Before(*exp) && !it.inDoubt
		}); late != nil {
			c.decide(late.order)
			return action{kind: actExpire, it: late, at: until}
		}
		return action{kind: actWait, at: until}
	}
	q := &c.cancelQ
	it := q.peek()
	for it != nil {
		if o := c.orders[it.cancel.orderKey()]; o == nil || !o.unconfirmed {
			break
		}
		q.take(it)
		c.parked = append(c.parked, it)
		c.replan()
		it = q.peek()
	}
	var parked time.Time // earliest instant a look-up skipped below may go
	if it == nil {
		q = &c.newQ
		it, parked = c.newQ.firstReady(now)
	}
	if it == nil {
		if !parked.IsZero() {
			return action{kind: actWait, at: parked}
		}
		return action{kind: actIdle}
	}
	if c.state == messages.KeyHalted && it.order != nil && !it.inDoubt {
		// Halted: cancels and look-ups still go out, new orders do not.
		q.take(it)
		c.decide(it.order)
		return action{kind: actRefuse, it: it, reason: messages.ReasonHalted, msg: fmt.Sprintf("key %s is halted", c.key)}
	}
	if it.cancel != nil {
		// A cancel of an order still queued here, never sent, needs no
		// venue request, so no budget. (One queued to be asked about may
		// be at the venue: the cancel goes there.)
		if o := c.orders[it.cancel.orderKey()]; o != nil {
			if queued := c.newQ.removeFirst(func(it *item) bool { return it.order == o && !it.inDoubt }); queued != nil {
				q.take(it)
				c.decide(o)
				return action{kind: actCancelQueued, it: it, queued: queued}
			}
		}
	}
	// An order's deadline stops its sending, not the look-up of one that
	// may be at the venue already: only the venue's answer says whether it
	// is there (if not, it is expired then, never sent).
	var exp *time.Time
	if it.order != nil && !it.inDoubt {
		exp = it.order.intent.ExpiresAt
	}
	if exp != nil && !now.Before(*exp) {
		q.take(it)
		c.decide(it.order)
		return action{kind: actExpire, it: it, at: now}
	}
	if it.notBefore.After(now) {
		// Backing off after a failed attempt.
		if exp != nil && !it.notBefore.Before(*exp) {
			q.take(it)
			c.decide(it.order)
			return action{kind: actExpire, it: it, at: it.notBefore}
		}
		return action{kind: actWait, at: it.notBefore}
	}
	// One budget decision: take it if the request fits now, else learn
	// when it will (Never: it cannot, at any time).
	taken, wait := c.budget.TryTake(now, c.opAt(it, now))
	if !taken {
		var at time.Time // zero: never
		if wait != budget.Never {
			at = now.Add(wait)
		}
		switch {
		case exp != nil && (at.IsZero() || !at.Before(*exp)):
			q.take(it)
			c.decide(it.order)
			return action{kind: actExpire, it: it, at: at}
		case at.IsZero():
			q.take(it)
			if it.order != nil {
				c.decide(it.order)
			}
			return action{kind: actRefuse, it: it, reason: messages.ReasonRateLimited,
				msg: "the request costs more than the key's budget allows at all"}
		}
		c.budgetWaits++
		return action{kind: actWait, at: now.Add(max(wait, time.Microsecond))}
	}
	q.take(it)
	c.spends++
	return action{kind: actSend, it: it}
}

// requeue puts it back at the head of its queue, to be tried again no
// sooner than notBefore.
func (c *core) requeue(it *item, notBefore time.Time) {
	it.notBefore = notBefore
	c.replan()
	if it.cancel != nil {
		c.cancelQ.pushFront(it)
	} else {
		c.newQ.pushFront(it)
	}
}

// drop forgets an order that leaves the queue unsent.
func (c *core) drop(o *order) {
	c.forget(o)
	c.replan()
}

// decide takes o, out of the queue or never queued, for a decision made
// without the venue: it stays in hand (held) until the decision's record
// is stored, and finish forgets it. Forgotten at once, a redelivery of its
// message in between (at a takeover the pending messages are both read
// directly and redelivered) would find neither the order in hand nor its
// record, and take it in as new: a canceled order would then be sent.
func (c *core) decide(o *order) {
	c.hold(o)
	o.deciding = true
	c.replan()
}

// forget drops o from the orders in hand; cancels parked for it go back
// to their queue, to be answered.
func (c *core) forget(o *order) {
	if c.orders[o.kvKey] == o {
		delete(c.orders, o.kvKey)
	}
	if c.byClient[o.clientID] == o {
		delete(c.byClient, o.clientID)
	}
	c.confirm(o)
}

// unconfirm marks o as possibly at the venue, its placement's outcome not
// known: cancels of o wait until confirm.
func (c *core) unconfirm(o *order) { o.unconfirmed = true }

// confirm records that o's placement has an outcome (the venue has it, or
// it does not and o is queued to be sent): the cancels parked for it go
// back to the head of their queue, in their order. Requeue o first if it
// must be sent, so a cancel finds it queued.
func (c *core) confirm(o *order) {
	o.unconfirmed = false
	if len(c.parked) == 0 {
		return
	}
	var back []*item
	kept := c.parked[:0]
	for _, it := range c.parked {
		if it.cancel.orderKey() == o.kvKey {
			back = append(back, it)
		} else {
			kept = append(kept, it)
		}
	}
	if len(back) == 0 {
		return
	}
	clear(c.parked[len(kept):])
	c.parked = kept
	for i := len(back) - 1; i >= 0; i-- {
		back[i].notBefore = time.Time{}
		c.cancelQ.pushFront(back[i])
	}
	c.replan()
}

// maxRoutes bounds how often one order is handed to a key: once by the
// router, once more after its first key turned bad.
const maxRoutes = 2

// setState changes the key's state and reports whether it changed. When
// the key turns unusable, the new orders waiting in its queue that may go
// to another key of their pool are taken out and returned (moved), and if
// it is halted, those that may not are returned to be refused (halted).
func (c *core) setState(s messages.KeyState, until time.Time, msg string) (changed bool, moved, refused []*item) {
	changed = c.state != s || !c.until.Equal(until)
	c.state, c.until, c.stateMsg = s, until, msg
	if !changed {
		return false, nil, nil
	}
	moved, refused = c.clearOut()
	return changed, moved, refused
}

// clearOut takes out of the queue, if the key is not usable, the new
// orders that cannot wait here: those another key may take (moved) and,
// halted, the others (refused).
func (c *core) clearOut() (moved, refused []*item) {
	if c.state.Usable() {
		return nil, nil
	}
	halted := c.state == messages.KeyHalted
	out := c.newQ.removeIf(func(it *item) bool {
		return !it.inDoubt && (halted || it.order.movable())
	})
	for _, it := range out {
		if it.order.movable() {
			c.drop(it.order)
			moved = append(moved, it)
		} else {
			c.decide(it.order)
			refused = append(refused, it)
		}
	}
	return moved, refused
}

// observe feeds the venue's own usage counts to the budget.
func (c *core) observe(now time.Time, usage []Usage) {
	if len(usage) == 0 {
		return
	}
	for _, u := range usage {
		c.budget.Observe(now, u.Limit, u.Used)
	}
	c.spends++
	c.replan()
}

// opAt is the budget operation of it at now; a cancel's order age is
// filled in, for venues whose cancel cost depends on it (Kraken).
func (c *core) opAt(it *item, now time.Time) budget.Op {
	op := opFor(it)
	if it.cancel != nil {
		if o := c.orders[it.cancel.orderKey()]; o != nil {
			// Venues that limit cancels per instrument (OKX) count it on
			// its order's symbol.
			op.Symbol = o.intent.Symbol
			if !o.placedAt.IsZero() {
				op.OrderAge = now.Sub(o.placedAt)
			}
		}
	}
	return op
}

func opFor(it *item) budget.Op {
	if it.cancel != nil {
		return budget.Op{Class: budget.ClassCancel}
	}
	op := budget.Op{Class: budget.ClassNew, Symbol: it.order.intent.Symbol}
	if it.inDoubt {
		op.Class = budget.ClassQuery
	}
	return op
}

// project returns when op could be sent if every request queued ahead of
// it goes first, each as early as the budget allows. It plans on a private
// copy of the budget (the shadow) that already holds the queued requests,
// built from the queue when missing, so an intake costs one budget
// decision, not one per queued request.
func (c *core) project(now time.Time, op budget.Op) (time.Time, bool) {
	if c.newQ.len()+c.cancelQ.len() == 0 {
		c.shadow = nil // nothing queued: the budget itself is the plan
	}
	if c.shadow == nil {
		c.shadow, c.shadowTail = c.budget.Clone(), now
		for _, q := range []*queue{&c.cancelQ, &c.newQ} {
			q.each(func(it *item) { c.plan(now, opFor(it)) })
		}
	}
	return c.shadow.Earliest(later(now, c.shadowTail), op)
}

// plan records op in the shadow at the earliest instant it could go after
// everything planned before it.
func (c *core) plan(now time.Time, op budget.Op) {
	if c.shadow == nil {
		return
	}
	if at, ok := c.shadow.Earliest(later(now, c.shadowTail), op); ok {
		c.commit(at, op)
	}
}

// commit takes op from the shadow at at, as project planned it.
func (c *core) commit(at time.Time, op budget.Op) {
	c.shadow.TryTake(at, op)
	c.shadowTail = at
}

// replan drops the shadow after the queue changed other than by sending
// its head (an order left it unsent, a request went back into it, the
// venue reported usage); project rebuilds it when next needed.
func (c *core) replan() { c.shadow = nil }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// depth returns the queue depths: new orders and cancels (parked ones
// included).
func (c *core) depth() (newOrders, cancels int) {
	return c.newQ.len(), c.cancelQ.len() + len(c.parked)
}

// eachWaiting calls f for every item waiting: queued or parked.
func (c *core) eachWaiting(f func(*item)) {
	c.cancelQ.each(f)
	for _, it := range c.parked {
		f(it)
	}
	c.newQ.each(f)
}

// takeWaiting empties the queues and the parked cancels, returning what
// was in them.
func (c *core) takeWaiting() []*item {
	var out []*item
	for _, q := range []*queue{&c.cancelQ, &c.newQ} {
		for it := q.pop(); it != nil; it = q.pop() {
			out = append(out, it)
		}
	}
	out = append(out, c.parked...)
	c.parked = nil
	c.replan()
	return out
}

// The shape of KeyStatus.Capacity: how far ahead it looks, the least
// spacing of its steps, and the most new orders it plans.
const (
	capacityHorizon = 3 * time.Second
	capacityStep    = 50 * time.Millisecond
	capacityMax     = 2048
)

// capacity returns KeyStatus.Capacity at now: when more new orders could
// be sent after everything queued, planned on a copy of the shadow (see
// project), each as early as the budget allows; nil if a new order could
// go at once. A step is an instant at which one goes, its time rounded
// down to the millisecond, with the number planned before it; steps less
// than capacityStep after the last one kept are left out, so the
// instant a step gives an order is at most that much early. When the plan
// reaches past capacityHorizon, a last step at the horizon says the rest
// go later.
func (c *core) capacity(now time.Time) []messages.CapacityPoint {
	op := budget.Op{Class: budget.ClassNew}
	horizon := messages.CapacityPoint{InMS: capacityHorizon.Milliseconds()}
	if c.newQ.len()+c.cancelQ.len() == 0 {
		if at, ok := c.budget.Earliest(now, op); ok && !at.After(now) {
			return nil // the common idle case: no copy of the budget
		}
	}
	if _, ok := c.project(now, op); !ok { // project leaves the shadow built
		return []messages.CapacityPoint{horizon}
	}
	p, tail, end := c.shadow.Clone(), later(now, c.shadowTail), now.Add(capacityHorizon)
	var pts []messages.CapacityPoint
	for n := range capacityMax {
		at, ok := p.Earliest(tail, op)
		if !ok || at.After(end) {
			horizon.OrdersBefore = n
			pts = append(pts, horizon)
			break
		}
		p.TryTake(at, op)
		tail = at
		if in := at.Sub(now).Milliseconds(); len(pts) == 0 || time.Duration(in-pts[len(pts)-1].InMS)*time.Millisecond >= capacityStep {
			pts = append(pts, messages.CapacityPoint{InMS: in, OrdersBefore: n})
		}
	}
	return pts
}
