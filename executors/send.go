package executors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
)

// maxAttempts bounds the tries of a request the venue could not take
// (unreachable) before the order is rejected with venue_error.
const maxAttempts = 5

// backoff is the wait before try n+1 of a request that failed n times.
func backoff(n int) time.Duration { return 50 * time.Millisecond << min(n, 6) }

// New orders the budget lets go at the same instant go together (see
// sendNews), at most sendBatch, and only while the venue answers a Place
// within fastPlace: every order of a batch had its budget taken when
// the batch was formed, so one placed later than batchSlack after the
// write-aheads were stored is not placed but goes back to the queue (its
// budget spent: the venue must never count more than the budget
// allowed).
const (
	sendBatch  = 32
	fastPlace  = 200 * time.Microsecond
	batchSlack = 2 * time.Millisecond
)

// dispatch is the key's sending loop: it asks the core what to do next
// and does it, until ctx ends.
func (t *term) dispatch(ctx context.Context) {
	for ctx.Err() == nil {
		now := t.clock.Now()
		t.mu.Lock()
		a := t.c.next(now)
		if !placing(a) {
			t.mu.Unlock()
			t.do(ctx, a, now)
			continue
		}
		// New orders the budget lets go now go together, so that their
		// write-aheads are in flight together; what the core says after
		// them is done next.
		batch := []*item{a.it}
		var after *action // what the core said after the batch, if it was asked
		for len(batch) < sendBatch && t.lastPlace < fastPlace {
			b := t.c.next(now)
			if !placing(b) {
				after = &b
				break
			}
			batch = append(batch, b.it)
		}
		t.mu.Unlock()
		if ctx.Err() != nil {
			// The lease is gone: nothing more goes out from here.
			for i := len(batch) - 1; i >= 0; i-- {
				t.requeue(batch[i], now)
			}
		} else {
			t.sendNews(ctx, batch)
		}
		// Decided before the batch went out, and asked of the core
		// afresh if it took nothing out of the queue (a wait).
		if after != nil && after.kind != actIdle && after.kind != actWait {
			t.do(ctx, *after, now)
		}
	}
}

// placing says a is the sending of a new order (not a look-up).
func placing(a action) bool {
	return a.kind == actSend && a.it.cancel == nil && !a.it.inDoubt
}

// do does what the core decided at now.
func (t *term) do(ctx context.Context, a action, now time.Time) {
	switch a.kind {
	case actIdle, actWait:
		var tc <-chan time.Time
		if a.kind == actWait {
			tc = t.clock.After(a.at.Sub(now))
		}
		select {
		case <-ctx.Done():
		case <-t.wake:
		case <-tc:
		}
	case actResumed:
		t.log.Info().Msg("key active again")
		t.publishStatus()
	case actSend:
		if ctx.Err() != nil {
			// The lease is gone: nothing more goes out from here.
			t.requeue(a.it, now)
			return
		}
		if a.it.cancel != nil {
			t.sendCancel(ctx, a.it)
		} else {
			t.sendNew(ctx, a.it)
		}
	case actExpire:
		t.expire(ctx, a.it, now, a.at)
	case actRefuse:
		t.refuse(ctx, a.it, a.reason, a.msg)
	case actCancelQueued:
		t.cancelQueued(a.it.cancel, a.queued)
	}
}

// requeue puts it back in its queue, to be tried no sooner than at.
func (t *term) requeue(it *item, at time.Time) {
	t.mu.Lock()
	t.c.requeue(it, at)
	t.mu.Unlock()
	signal(t.wake)
}

// observe feeds the venue's own usage counts to the budget.
func (t *term) observe(usage []Usage) {
	if len(usage) == 0 {
		return
	}
	now := t.clock.Now()
	t.mu.Lock()
	t.c.observe(now, usage)
	t.mu.Unlock()
}

// sendNew places an order (asking the venue first if it may be there).
func (t *term) sendNew(ctx context.Context, it *item) {
	if it.inDoubt {
		it.order.mu.Lock()
		t.query(ctx, it)
		return
	}
	t.sendNews(ctx, []*item{it})
}

// sendNews places new orders taken from the queue together, in their
// order. Each is first written ahead, fenced by the lease: from then on
// it may be at the venue, and if the lease is gone it is not sent. The
// write-aheads are in flight together; then each order whose write-ahead
// was stored is placed in turn.
func (t *term) sendNews(ctx context.Context, its []*item) {
	now := t.clock.Now()
	prevs := make([]snapshot, len(its))
	errs := make([]error, len(its))
	written := make([]bool, len(its))
	var wg sync.WaitGroup
	for i, it := range its {
		o := it.order
		o.mu.Lock()
		if exp := o.intent.ExpiresAt; exp != nil && !now.Before(*exp) {
			o.mu.Unlock()
			t.mu.Lock()
			t.c.decide(o)
			t.mu.Unlock()
			t.expire(ctx, it, now, time.Time{})
			continue
		}
		prevs[i] = o.snap()
		o.phase, o.sendingAt = messages.PhaseSending, now
		written[i] = true
		wg.Go(func() { errs[i] = t.writeAhead(ctx, o) })
	}
	wg.Wait()
	ready := t.clock.Now()
	// Those not written go back to the head of the queue, last first so
	// that they keep their order.
	for i := len(its) - 1; i >= 0; i-- {
		if !written[i] || errs[i] == nil {
			continue
		}
		it, o := its[i], its[i].order
		o.rollback(prevs[i])
		o.mu.Unlock()
		if errors.Is(errs[i], bus.ErrLeaseLost) {
			t.requeue(it, now)
			continue
		}
		t.log.Warn().Err(errs[i]).Str("client_order_id", o.intent.ClientOrderID).Msg("write-ahead failed; will retry")
		it.attempts++
		t.requeue(it, now.Add(backoff(it.attempts)))
	}
	t.mu.Lock()
	state := t.c.state // a key down still tries: its next Place may work
	t.mu.Unlock()
	first := true
	for i, it := range its {
		if !written[i] || errs[i] != nil {
			continue
		}
		t.mu.Lock()
		changed := t.c.state != state
		t.mu.Unlock()
		if !first && (changed || ctx.Err() != nil || t.clock.Now().Sub(ready) > batchSlack) {
			// The venue throttled the key, or it was halted or its lease
			// lost, while the batch went out, or the venue was slow: the
			// rest go back.
			t.unsend(its[i:], written[i:], errs[i:], prevs[i:], now)
			return
		}
		first = false
		t.place(ctx, it, prevs[i], now)
	}
}

// unsend puts back in the queue, in their order, the orders of a batch
// written ahead but not sent (o.mu held, released), and hands out of the
// queue what cannot wait in it.
func (t *term) unsend(its []*item, written []bool, errs []error, prevs []snapshot, now time.Time) {
	t.mu.Lock()
	for i := len(its) - 1; i >= 0; i-- {
		if !written[i] || errs[i] != nil {
			continue
		}
		its[i].order.rollback(prevs[i])
		its[i].order.mu.Unlock()
		t.c.requeue(its[i], now)
	}
	moved, refused := t.c.clearOut()
	t.mu.Unlock()
	signal(t.wake)
	t.handOut(moved, refused)
}

// place sends an order written ahead at now (o.mu held, released);
// prev is what it was before.
func (t *term) place(ctx context.Context, it *item, prev snapshot, now time.Time) {
	o := it.order
	t.mu.Lock()
	o.placedAt = now
	t.c.unconfirm(o)
	t.mu.Unlock()
	// What its reports roll back to if they cannot be stored: sent (its
	// record says so), so the order stays in hand to be asked about. Back
	// to unsent, it was given back and forgotten while its cancel, sent
	// at once, closed it at the venue (chaos short run, seed 1: placed
	// twice).
	sending := o.snap()
	start := t.clock.Now()
	u, err := t.venue.Place(t.vctx, o.venueOrder())
	end := t.clock.Now()
	t.lastPlace = end.Sub(start)
	t.opts.Metrics.VenueRequest(OpPlace, end.Sub(now), err)
	if err == nil {
		t.observe(u.Usage)
		t.placed(it, sending, u)
		return
	}
	var ve *VenueError
	if errors.As(err, &ve) && ve.Kind == Rejected {
		t.observe(ve.Usage)
		if ve.Code == "DUPLICATE_CLIENT_ID" {
			// At the venue from an earlier attempt: ask it.
			it.inDoubt = true
			o.mu.Unlock()
			t.requeue(it, now)
			return
		}
		reason := ve.Reason
		if reason == "" {
			reason = messages.ReasonVenueRejected
		}
		r := t.rp.refusal(o, messages.KindRejected, reason, ve.Error())
		t.mu.Lock()
		t.c.forget(o)
		t.mu.Unlock()
		t.decideAsync(o, prev, []messages.ExecutionReport{r})
		return
	}
	if errors.As(err, &ve) && (ve.Kind == Throttled || ve.Kind == Banned || ve.Kind == Unavailable || ve.Kind == KeyInvalid) {
		// Nothing was placed.
		o.phase = prev.phase
		o.mu.Unlock()
		t.onVenueError(ctx, it, err)
		t.mu.Lock()
		t.c.confirm(o)
		t.mu.Unlock()
		return
	}
	// The outcome is unknown: ask the venue before anything else, once
	// the request can no longer take effect (a "not there" earlier could
	// be followed by the order arriving). Meanwhile the key's other
	// orders go on.
	at := now.Add(t.opts.RequestValidity)
	if errors.As(err, &ve) && !ve.RetryAfter.IsZero() {
		at = ve.RetryAfter
	}
	t.log.Warn().Err(err).Str("client_order_id", o.intent.ClientOrderID).Time("query_at", at).Msg("order outcome unknown; the venue will be asked")
	it.inDoubt = true
	it.attempts++
	o.mu.Unlock()
	t.requeue(it, at)
}

// query asks the venue about an order that may be there. o.mu held,
// released.
func (t *term) query(ctx context.Context, it *item) {
	o := it.order
	now := t.clock.Now()
	u, err := t.venue.Query(t.vctx, o.intent.Symbol, o.clientID)
	t.opts.Metrics.VenueRequest(OpQuery, t.clock.Now().Sub(now), err)
	switch {
	case err == nil:
		t.observe(u.Usage)
		t.placed(it, o.snap(), u)
	case errors.Is(err, ErrUnknownOrder):
		if o.phase == messages.PhaseOpen {
			// It was at the venue, which no longer knows it: nothing can
			// be reported of it any more.
			o.mu.Unlock()
			t.log.Error().Str("client_order_id", o.intent.ClientOrderID).Str("venue_order_id", o.venueOrderID).
				Msg("an open order is unknown to the venue; it is no longer followed")
			t.mu.Lock()
			t.c.forget(o)
			t.mu.Unlock()
			return
		}
		// Not at the venue: send it, with the budget of a new order (its
		// cancels, parked meanwhile, then find it queued).
		it.inDoubt = false
		o.mu.Unlock()
		t.mu.Lock()
		t.c.requeue(it, now)
		t.c.confirm(o)
		t.mu.Unlock()
		signal(t.wake)
	default:
		o.mu.Unlock()
		if !t.onVenueError(ctx, it, err) {
			it.attempts++
			t.requeue(it, now.Add(backoff(it.attempts)))
		}
	}
}

// placed reports the venue's answer to a placed (or queried) order:
// accepted, then its fills and close. o.mu held, released by the
// reporting; prev is the order's state before this send.
func (t *term) placed(it *item, prev snapshot, u OrderUpdate) {
	o := it.order
	if u.Status == messages.StatusRejected {
		t.decideAsync(o, prev, []messages.ExecutionReport{t.rp.refusal(o, messages.KindRejected, messages.ReasonVenueRejected, u.Message)})
		return
	}
	reps := t.heard(o, u)
	t.finishAsync(o, prev, reps, true)
}

// heard reports what the venue says of o in u, a sign that it has o: o
// accepted first if nothing was reported of it yet, then what u changed.
// o.mu held.
func (t *term) heard(o *order, u OrderUpdate) []messages.ExecutionReport {
	return append(t.accept(o, u), t.apply(o, u)...)
}

// accept reports the order accepted if nothing was reported of it yet:
// the venue has it (its answer, a look-up, or an update of its stream,
// which may come first). o.mu held.
func (t *term) accept(o *order, u OrderUpdate) []messages.ExecutionReport {
	if o.phase != messages.PhaseDone {
		o.phase = messages.PhaseOpen
	}
	t.mu.Lock()
	wasUnconfirmed := o.unconfirmed
	t.c.confirm(o) // its cancels may go now
	t.mu.Unlock()
	if wasUnconfirmed {
		signal(t.wake)
	}
	if o.seq != 0 {
		return nil
	}
	if u.VenueOrderID != "" {
		o.venueOrderID = u.VenueOrderID
	}
	o.status = messages.StatusNew
	return []messages.ExecutionReport{t.rp.report(o, messages.KindAccepted)}
}

// cancelQueued cancels an order that is still queued here: no venue
// request, so no budget; it was accepted and is canceled.
func (t *term) cancelQueued(cr *cancelReq, queued *item) {
	o := queued.order
	o.mu.Lock()
	snap := o.snap()
	o.status = messages.StatusNew
	acc := t.rp.report(o, messages.KindAccepted)
	acc.Message = "accepted, and canceled before it was sent to the venue"
	o.status, o.phase = messages.StatusCanceled, messages.PhaseDone
	t.decideAsync(o, snap, []messages.ExecutionReport{acc, t.rp.report(o, messages.KindCanceled)}, cr)
}

// sendCancel cancels an order at the venue.
func (t *term) sendCancel(ctx context.Context, it *item) {
	cr := it.cancel
	t.mu.Lock()
	o := t.c.orders[cr.orderKey()]
	if o != nil && o.deciding {
		o = nil // never sent, and closing: answered as a closed order
	}
	t.mu.Unlock()
	if o == nil {
		// No longer in hand: closed, or handed back to another key while
		// the cancel waited (its record and claim say which).
		t.resolveAndQueue(ctx, cr)
		return
	}
	sent := t.clock.Now()
	u, err := t.venue.Cancel(t.vctx, o.intent.Symbol, o.clientID)
	t.opts.Metrics.VenueRequest(OpCancel, t.clock.Now().Sub(sent), err)
	switch {
	case err == nil:
		t.observe(u.Usage)
		o.mu.Lock()
		snap := o.snap()
		u.Status = messages.StatusCanceled
		// Accepted first if that was not reported yet (its reports could
		// not be stored, and it was not asked about since).
		t.finishAsync(o, snap, t.heard(o, u), false, cr)
	case errors.Is(err, ErrTooLateToCancel):
		t.cancelRejected(ctx, cr, messages.ReasonTooLateToCancel, fmt.Sprintf("order %q is already closed at the venue", cr.clientOrderID))
		t.refresh(o) // its last fills or close may not have been reported yet
	case errors.Is(err, ErrUnknownOrder):
		t.cancelRejected(ctx, cr, messages.ReasonUnknownOrder, fmt.Sprintf("the venue does not know order %q", cr.clientOrderID))
	default:
		if !t.onVenueError(ctx, it, err) {
			it.attempts++
			if it.attempts >= maxAttempts {
				t.cancelRejected(ctx, cr, messages.ReasonVenueError, err.Error())
				return
			}
			t.requeue(it, t.clock.Now().Add(backoff(it.attempts)))
		}
	}
}

// refresh queues a look-up of an order in hand, so what the venue did to it
// is reported.
func (t *term) refresh(o *order) {
	t.mu.Lock()
	if t.c.orders[o.kvKey] == o {
		t.c.requeue(&item{order: o, inDoubt: true}, t.clock.Now())
	}
	t.mu.Unlock()
	signal(t.wake)
}

// onVenueError handles what every request's failure has in common and
// reports whether the item was dealt with (requeued or refused).
func (t *term) onVenueError(ctx context.Context, it *item, err error) bool {
	var ve *VenueError
	if !errors.As(err, &ve) {
		return false
	}
	t.observe(ve.Usage)
	now := t.clock.Now()
	switch ve.Kind {
	case Throttled, Banned:
		state := messages.KeyThrottled
		if ve.Kind == Banned {
			state = messages.KeyBanned
		}
		until := ve.RetryAfter
		if until.IsZero() {
			until = now.Add(time.Second)
		}
		// Back in the queue first, so the state change hands it to
		// another key with the rest.
		t.requeue(it, now)
		t.setState(state, until, ve.Error())
		return true
	case KeyInvalid:
		if it.order != nil && !it.inDoubt {
			t.requeue(it, now)
			t.setState(messages.KeyDown, time.Time{}, ve.Error())
			t.mu.Lock()
			stuck := t.c.newQ.removeFirst(func(q *item) bool { return q == it }) // not handed back: pinned or moved once already
			if stuck != nil {
				t.c.decide(it.order)
			}
			t.mu.Unlock()
			if stuck == nil {
				return true
			}
		} else {
			t.setState(messages.KeyDown, time.Time{}, ve.Error())
		}
		t.refuse(ctx, it, messages.ReasonKeyUnavailable, fmt.Sprintf("key %s is down: %s", t.opts.Key, ve.Error()))
		return true
	case Unavailable:
		it.attempts++
		if it.attempts >= maxAttempts && !it.inDoubt {
			// Never sent: it can be refused. One that may be at the venue
			// is asked about until the venue answers.
			if it.order != nil {
				t.mu.Lock()
				t.c.forget(it.order)
				t.mu.Unlock()
			}
			t.refuse(ctx, it, messages.ReasonVenueError, ve.Error())
			return true
		}
		t.requeue(it, now.Add(backoff(it.attempts)))
		return true
	}
	return false
}
