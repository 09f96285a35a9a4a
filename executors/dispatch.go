package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

// maxAttempts bounds the tries of a request the venue could not take
// (unreachable) before the order is rejected with venue_error.
const maxAttempts = 5

// dispatch is the key's sending loop: it takes the head of the queues
// (cancels first), waits until the budget and the key's state allow it,
// and sends it. It returns when ctx is done.
func (w *Worker) dispatch(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		wait := w.step(ctx)
		if wait == 0 {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		var tc <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-w.wake:
		case <-tc:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// step does one thing and says how long to wait before the next: 0 to go
// on at once, a negative duration to wait for a wake-up.
func (w *Worker) step(ctx context.Context) time.Duration {
	now := w.now()
	w.mu.Lock()
	if (w.state == messages.KeyThrottled || w.state == messages.KeyBanned) && !now.Before(w.until) {
		w.state, w.until, w.stateMsg = messages.KeyActive, time.Time{}, ""
		signal(w.changed)
	}
	if w.state == messages.KeyThrottled || w.state == messages.KeyBanned {
		// Orders that cannot make their deadline are expired now, not later.
		until := w.until
		late := w.newQ.removeIf(func(it *item) bool {
			exp := it.order.intent.ExpiresAt
			return exp != nil && !until.Before(*exp)
		})
		for _, it := range late {
			w.dropLocked(it.order)
		}
		w.mu.Unlock()
		for _, it := range late {
			w.expire(ctx, it, now, until)
		}
		return until.Sub(now)
	}
	q := &w.cancelQ
	it := q.peek()
	if it == nil {
		q = &w.newQ
		it = q.peek()
	}
	if it == nil {
		w.mu.Unlock()
		return -1
	}
	if w.state == messages.KeyHalted && it.order != nil && !it.inDoubt {
		// Halted: cancels and look-ups still go out, new orders do not.
		q.pop()
		w.dropLocked(it.order)
		w.mu.Unlock()
		w.refuse(ctx, it, messages.ReasonHalted, fmt.Sprintf("key %s is halted", w.opts.Key))
		return 0
	}
	if it.cancel != nil {
		// A cancel of an order still queued here needs no venue request,
		// so no budget: it is done at once.
		if o := w.orders[messages.OrderKey(it.cancel.Strategy, it.cancel.ClientOrderID)]; o != nil && w.newQ.has(o) {
			q.pop()
			w.mu.Unlock()
			w.sendCancel(ctx, it)
			return 0
		}
	}
	var exp *time.Time
	if it.order != nil {
		exp = it.order.intent.ExpiresAt
	}
	if exp != nil && !now.Before(*exp) {
		q.pop()
		w.dropLocked(it.order)
		w.mu.Unlock()
		w.expire(ctx, it, now, now)
		return 0
	}
	if it.notBefore.After(now) {
		// Backing off after a failed attempt.
		if exp != nil && !it.notBefore.Before(*exp) {
			q.pop()
			w.dropLocked(it.order)
			w.mu.Unlock()
			w.expire(ctx, it, now, it.notBefore)
			return 0
		}
		w.mu.Unlock()
		return it.notBefore.Sub(now)
	}
	// One budget decision: take it if the request fits now, else learn
	// when it will (Never: it cannot, at any time).
	taken, wait := w.budget.TryTake(now, w.opAt(it, now))
	if !taken {
		var at time.Time // zero: never
		if wait != budget.Never {
			at = now.Add(wait)
		}
		switch {
		case exp != nil && (at.IsZero() || !at.Before(*exp)):
			q.pop()
			w.dropLocked(it.order)
			w.mu.Unlock()
			w.expire(ctx, it, now, at)
			return 0
		case at.IsZero():
			q.pop()
			w.mu.Unlock()
			w.refuse(ctx, it, messages.ReasonRateLimited, "the request costs more than the key's budget allows at all")
			return 0
		}
		w.mu.Unlock()
		return max(wait, time.Microsecond)
	}
	q.pop()
	w.mu.Unlock()
	if it.cancel != nil {
		w.sendCancel(ctx, it)
	} else {
		w.sendNew(ctx, it)
	}
	return 0
}

// dropLocked forgets an order that leaves the queue unsent.
// Worker.mu must be held.
func (w *Worker) dropLocked(o *order) {
	delete(w.orders, o.kvKey)
	delete(w.byClient, o.clientID)
	w.replan()
}

// backoff is the wait before try n+1 of a request that failed n times.
func backoff(n int) time.Duration { return 50 * time.Millisecond << min(n, 6) }

// requeue puts it back at the head of its queue, to be tried again no
// sooner than after wait. Callers count failed attempts themselves.
func (w *Worker) requeue(it *item, wait time.Duration) {
	it.notBefore = w.now().Add(wait)
	w.mu.Lock()
	w.replan()
	if it.cancel != nil {
		w.cancelQ.pushFront(it)
	} else {
		w.newQ.pushFront(it)
	}
	w.mu.Unlock()
	signal(w.wake)
}

// refuse ends an item with a rejection (or cancel_rejected).
func (w *Worker) refuse(ctx context.Context, it *item, reason messages.Reason, msg string) {
	if it.cancel != nil {
		w.cancelRejected(ctx, it.msg, it.cancel, reason, msg)
		return
	}
	o := it.order
	w.mu.Lock()
	w.dropLocked(o)
	w.mu.Unlock()
	o.mu.Lock()
	o.status = messages.StatusRejected
	r := w.report(o, messages.KindRejected)
	r.Reason, r.Message = reason, msg
	w.finishAsync(ctx, o, []messages.ExecutionReport{r}, it.msg)
}

// observe feeds the venue's own usage counts to the budget.
func (w *Worker) observe(usage []Usage) {
	if len(usage) == 0 {
		return
	}
	now := w.now()
	for _, u := range usage {
		w.budget.Observe(now, u.Limit, u.Used)
	}
	w.mu.Lock()
	w.replan()
	w.mu.Unlock()
}

// onVenueError handles what every request's failure has in common and
// reports whether the item was dealt with (requeued or refused).
func (w *Worker) onVenueError(ctx context.Context, it *item, err error) bool {
	var ve *VenueError
	if !errors.As(err, &ve) {
		return false
	}
	w.observe(ve.Usage)
	switch ve.Kind {
	case Throttled, Banned:
		state := messages.KeyThrottled
		if ve.Kind == Banned {
			state = messages.KeyBanned
		}
		until := ve.RetryAfter
		if until.IsZero() {
			until = w.now().Add(time.Second)
		}
		// Back in the queue first, so the state change hands it to
		// another key with the rest.
		w.requeue(it, 0)
		w.setState(state, until, ve.Error())
		return true
	case KeyInvalid:
		if it.order != nil && !it.inDoubt {
			w.requeue(it, 0)
			w.setState(messages.KeyDown, time.Time{}, ve.Error())
			w.mu.Lock()
			stuck := w.newQ.remove(it.order) // not handed back: pinned or moved once already
			if stuck != nil {
				w.dropLocked(it.order)
			}
			w.mu.Unlock()
			if stuck == nil {
				return true
			}
		} else {
			w.setState(messages.KeyDown, time.Time{}, ve.Error())
		}
		w.refuse(ctx, it, messages.ReasonKeyUnavailable, fmt.Sprintf("key %s is down: %s", w.opts.Key, ve.Error()))
		return true
	case Unavailable:
		it.attempts++
		if it.attempts >= maxAttempts {
			w.refuse(ctx, it, messages.ReasonVenueError, ve.Error())
			return true
		}
		w.requeue(it, backoff(it.attempts))
		return true
	}
	return false
}

// sendNew places an order (asking the venue first if it may be there).
func (w *Worker) sendNew(ctx context.Context, it *item) {
	o := it.order
	o.mu.Lock()
	if exp := o.intent.ExpiresAt; exp != nil && !w.now().Before(*exp) {
		o.mu.Unlock()
		w.mu.Lock()
		w.dropLocked(o)
		w.mu.Unlock()
		w.expire(ctx, it, w.now(), time.Time{})
		return
	}
	if it.inDoubt {
		start := time.Now()
		u, err := w.venue.Query(ctx, o.intent.Symbol, o.clientID)
		w.opts.Metrics.VenueRequest(OpQuery, time.Since(start), err) // metrics call site 2 of 4
		switch {
		case err == nil:
			w.observe(u.Usage)
			w.placed(ctx, it, u)
			return
		case errors.Is(err, ErrUnknownOrder):
			// Not at the venue: send it, with the budget of a new order.
			it.inDoubt = false
			o.mu.Unlock()
			w.requeue(it, 0)
			return
		default:
			o.mu.Unlock()
			if !w.onVenueError(ctx, it, err) {
				it.attempts++
				w.requeue(it, backoff(it.attempts))
			}
			return
		}
	}
	o.sent = true
	o.placedAt.Store(w.now().UnixNano())
	start := time.Now()
	u, err := w.venue.Place(ctx, o.venueOrder())
	w.opts.Metrics.VenueRequest(OpPlace, time.Since(start), err) // metrics call site 3 of 4
	if err == nil {
		w.observe(u.Usage)
		w.placed(ctx, it, u)
		return
	}
	var ve *VenueError
	if errors.As(err, &ve) && ve.Kind == Rejected {
		w.observe(ve.Usage)
		if ve.Code == "DUPLICATE_CLIENT_ID" {
			// Already at the venue from an earlier attempt: ask it.
			it.inDoubt = true
			o.mu.Unlock()
			w.requeue(it, 0)
			return
		}
		o.status = messages.StatusRejected
		r := w.report(o, messages.KindRejected)
		r.Reason = ve.Reason
		if r.Reason == "" {
			r.Reason = messages.ReasonVenueRejected
		}
		r.Message = ve.Error()
		w.mu.Lock()
		w.dropLocked(o)
		w.mu.Unlock()
		w.finishAsync(ctx, o, []messages.ExecutionReport{r}, it.msg)
		return
	}
	if errors.As(err, &ve) && (ve.Kind == Throttled || ve.Kind == Banned || ve.Kind == Unavailable || ve.Kind == KeyInvalid) {
		// Nothing was placed.
		o.sent = false
		o.mu.Unlock()
		w.onVenueError(ctx, it, err)
		return
	}
	// The outcome is unknown: ask the venue before anything else.
	w.log.Warn().Err(err).Str("client_order_id", o.intent.ClientOrderID).Msg("order outcome unknown; querying the venue")
	it.inDoubt = true
	it.attempts++
	o.mu.Unlock()
	w.requeue(it, backoff(it.attempts))
}

// placed reports the venue's answer to a placed order: accepted, then its
// fills and close. o.mu is held and is released by the reporting.
func (w *Worker) placed(ctx context.Context, it *item, u OrderUpdate) {
	o := it.order
	o.sent = true
	var reps []messages.ExecutionReport
	if u.Status == messages.StatusRejected {
		o.status = messages.StatusRejected
		r := w.report(o, messages.KindRejected)
		r.Reason, r.Message = messages.ReasonVenueRejected, u.Message
		reps = append(reps, r)
	} else {
		if o.seq == 0 {
			o.venueOrderID = u.VenueOrderID
			o.status = messages.StatusNew
			reps = append(reps, w.report(o, messages.KindAccepted))
		}
		reps = append(reps, w.apply(o, u, true)...)
	}
	if len(reps) == 0 {
		// Redelivered after everything was reported: just settle it.
		o.mu.Unlock()
		_ = it.msg.Ack()
		if o.status.Terminal() {
			w.forget(o)
		}
		return
	}
	w.finishAsync(ctx, o, reps, it.msg)
}

// sendCancel cancels an order: one still queued here is taken out without
// troubling the venue; one at the venue is canceled there.
func (w *Worker) sendCancel(ctx context.Context, it *item) {
	ec := it.cancel
	kvKey := messages.OrderKey(ec.Strategy, ec.ClientOrderID)
	w.mu.Lock()
	o := w.orders[kvKey]
	var queued *item
	if o != nil {
		queued = w.newQ.remove(o)
		if queued != nil {
			w.dropLocked(o)
		}
	}
	w.mu.Unlock()
	if queued != nil {
		o.mu.Lock()
		o.status = messages.StatusNew
		acc := w.report(o, messages.KindAccepted)
		acc.Message = "accepted, and canceled before it was sent to the venue"
		o.status = messages.StatusCanceled
		w.finishAsync(ctx, o, []messages.ExecutionReport{acc, w.report(o, messages.KindCanceled)}, queued.msg, it.msg)
		return
	}
	var symbol, clientID string
	if o != nil {
		symbol, clientID = o.intent.Symbol, o.clientID
	} else {
		rec, err := w.record(ctx, kvKey)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			w.cancelRejected(ctx, it.msg, ec, messages.ReasonUnknownOrder, fmt.Sprintf("no order %q", ec.ClientOrderID))
			return
		case err != nil:
			w.requeue(it, time.Second)
			return
		case rec.Status.Terminal():
			w.cancelRejected(ctx, it.msg, ec, messages.ReasonTooLateToCancel, fmt.Sprintf("order %q is already %s", ec.ClientOrderID, rec.Status))
			return
		case rec.Key != "" && rec.Key != w.opts.Key:
			// The order was moved to another key: the cancel follows it.
			w.forwardCancel(ctx, it, rec.Key)
			return
		case rec.Intent == nil || rec.Status == "":
			// Routed here but not yet taken in: try again shortly.
			it.attempts++
			if it.attempts >= maxAttempts*4 {
				w.cancelRejected(ctx, it.msg, ec, messages.ReasonUnknownOrder, fmt.Sprintf("order %q is not held by key %s", ec.ClientOrderID, w.opts.Key))
				return
			}
			w.requeue(it, 250*time.Millisecond)
			return
		}
		o = orderFromRecord(&rec)
		symbol, clientID = o.intent.Symbol, o.clientID
	}
	start := time.Now()
	u, err := w.venue.Cancel(ctx, symbol, clientID)
	w.opts.Metrics.VenueRequest(OpCancel, time.Since(start), err) // metrics call site 4 of 4
	switch {
	case err == nil:
		w.observe(u.Usage)
		o.mu.Lock()
		u.Status = messages.StatusCanceled
		w.finishAsync(ctx, o, w.apply(o, u, false), it.msg)
	case errors.Is(err, ErrTooLateToCancel):
		w.cancelRejected(ctx, it.msg, ec, messages.ReasonTooLateToCancel, fmt.Sprintf("order %q is already closed at the venue", ec.ClientOrderID))
	case errors.Is(err, ErrUnknownOrder):
		w.cancelRejected(ctx, it.msg, ec, messages.ReasonUnknownOrder, fmt.Sprintf("the venue does not know order %q", ec.ClientOrderID))
	default:
		if !w.onVenueError(ctx, it, err) {
			it.attempts++
			if it.attempts >= maxAttempts {
				w.cancelRejected(ctx, it.msg, ec, messages.ReasonVenueError, err.Error())
				return
			}
			w.requeue(it, backoff(it.attempts))
		}
	}
}

func (w *Worker) record(ctx context.Context, kvKey string) (messages.OrderRecord, error) {
	var rec messages.OrderRecord
	e, err := w.kv.Get(ctx, kvKey)
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(e.Value(), &rec)
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
