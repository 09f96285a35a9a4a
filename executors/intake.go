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
)

// opAt is opFor with a cancel's order age filled in, for venues whose
// cancel cost depends on it (Kraken). Worker.mu must be held.
func (w *Worker) opAt(it *item, now time.Time) budget.Op {
	op := opFor(it)
	if it.cancel != nil {
		if o := w.orders[messages.OrderKey(it.cancel.Strategy, it.cancel.ClientOrderID)]; o != nil {
			if at := o.placedAt.Load(); at != 0 {
				op.OrderAge = now.Sub(time.Unix(0, at))
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

// intakeNew takes an order from exec.<key>.new: it is expired at once if
// the budget cannot send it before its expires_at, rejected if the queue is
// full, and queued otherwise.
func (w *Worker) intakeNew(m jetstream.Msg) {
	var eo messages.ExecOrder
	if err := json.Unmarshal(m.Data(), &eo); err != nil || eo.Intent.ClientOrderID == "" {
		w.log.Error().Err(err).Msg("undecodable exec message dropped")
		_ = m.Term()
		return
	}
	ctx := context.Background()
	now := w.now()
	o := newOrder(&eo)
	it := &item{msg: m, order: o, route: max(eo.Routed, 1)}
	if meta, err := m.Metadata(); err == nil && meta.NumDelivered > 1 {
		it.inDoubt = true
		if !w.restore(ctx, o) {
			// Its reports were all stored: the order is settled.
			_ = m.Ack()
			return
		}
	}

	if c, ok := w.venue.(Checker); ok && !it.inDoubt {
		if err := c.Check(o.venueOrder()); err != nil {
			// Refused before any budget is spent.
			reason, msg := messages.ReasonInvalid, err.Error()
			var ve *VenueError
			if errors.As(err, &ve) && ve.Reason != "" {
				reason = ve.Reason
			}
			w.refuse(ctx, it, reason, msg)
			return
		}
	}

	w.mu.Lock()
	if !w.state.Usable() && !it.inDoubt {
		// Routed here just before the key turned bad: hand it back, or
		// refuse it if it is halted here and cannot move.
		halted := w.state == messages.KeyHalted
		w.mu.Unlock()
		switch {
		case o.intent.Key == "" && it.route < maxRoutes:
			w.reroute(ctx, it)
			return
		case halted:
			w.refuse(ctx, it, messages.ReasonHalted, fmt.Sprintf("key %s is halted", w.opts.Key))
			return
		}
		w.mu.Lock()
	}
	if w.orders[o.kvKey] != nil {
		// A redelivery of a message this worker still holds: the
		// original's ack settles it.
		w.mu.Unlock()
		return
	}
	if w.newQ.len() >= w.opts.QueueSize {
		w.mu.Unlock()
		o.mu.Lock()
		r := w.report(o, messages.KindRejected)
		r.Status, r.Reason = messages.StatusRejected, messages.ReasonRateLimited
		r.Message = fmt.Sprintf("key %s: queue full (%d orders waiting for budget)", w.opts.Key, w.opts.QueueSize)
		o.status = messages.StatusRejected
		w.finishAsync(ctx, o, []messages.ExecutionReport{r}, m)
		return
	}
	op := opFor(it)
	if exp := o.intent.ExpiresAt; exp != nil {
		at, ok := w.project(now, op)
		if !ok || !at.Before(*exp) || !now.Before(*exp) {
			w.mu.Unlock()
			if !ok {
				at = time.Time{}
			}
			w.expire(ctx, it, now, at)
			return
		}
		w.commit(at, op)
	} else {
		w.plan(now, op)
	}
	w.newQ.push(it)
	w.orders[o.kvKey], w.byClient[o.clientID] = o, o
	w.mu.Unlock()
	signal(w.wake)
}

// restore loads what earlier deliveries of o's message reported, and
// reports whether there is still work to do.
func (w *Worker) restore(ctx context.Context, o *order) bool {
	e, err := w.kv.Get(ctx, o.kvKey)
	if err != nil {
		return true
	}
	var rec messages.OrderRecord
	if json.Unmarshal(e.Value(), &rec) != nil || rec.Key != w.opts.Key {
		return true
	}
	o.restoreFrom(&rec)
	return !rec.Status.Terminal()
}

// project returns when op could be sent if every request queued ahead of
// it goes first, each as early as the budget allows. It plans on a private
// copy of the budget (the shadow) that already holds the queued requests,
// built from the queue when missing, so an intake costs one budget
// decision, not one per queued request. Worker.mu must be held.
func (w *Worker) project(now time.Time, op budget.Op) (time.Time, bool) {
	if w.newQ.len()+w.cancelQ.len() == 0 {
		w.shadow = nil // nothing queued: the budget itself is the plan
	}
	if w.shadow == nil {
		w.shadow, w.shadowTail = w.budget.Clone(), now
		for _, q := range []*queue{&w.cancelQ, &w.newQ} {
			q.each(func(it *item) { w.plan(now, opFor(it)) })
		}
	}
	return w.shadow.Earliest(later(now, w.shadowTail), op)
}

// plan records op in the shadow at the earliest instant it could go after
// everything planned before it. Worker.mu must be held.
func (w *Worker) plan(now time.Time, op budget.Op) {
	if w.shadow == nil {
		return
	}
	if at, ok := w.shadow.Earliest(later(now, w.shadowTail), op); ok {
		w.commit(at, op)
	}
}

// commit takes op from the shadow at at, as project planned it.
// Worker.mu must be held.
func (w *Worker) commit(at time.Time, op budget.Op) {
	w.shadow.TryTake(at, op)
	w.shadowTail = at
}

// replan drops the shadow after the queue changed other than by sending
// its head (an order left it unsent, a request went back into it, the
// venue reported usage); project rebuilds it when next needed.
// Worker.mu must be held.
func (w *Worker) replan() { w.shadow = nil }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// expire reports an order expired because the budget cannot send it by
// its expires_at.
func (w *Worker) expire(ctx context.Context, it *item, now, at time.Time) {
	o := it.order
	o.mu.Lock()
	o.status = messages.StatusExpired
	r := w.report(o, messages.KindExpired)
	r.Reason = messages.ReasonExpired
	switch {
	case !now.Before(*o.intent.ExpiresAt):
		r.Message = "expires_at " + o.intent.ExpiresAt.Format(time.RFC3339Nano) + " passed before it could be sent"
	case at.IsZero():
		r.Message = "the order costs more than the key's budget allows at all"
	default:
		r.Message = fmt.Sprintf("key %s's budget cannot send it before expires_at %s (earliest %s)",
			w.opts.Key, o.intent.ExpiresAt.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
	}
	w.finishAsync(ctx, o, []messages.ExecutionReport{r}, it.msg)
}

// intakeCancel queues a cancel from exec.<key>.cancel; cancels are served
// before new orders.
func (w *Worker) intakeCancel(m jetstream.Msg) {
	var ec messages.ExecCancel
	if err := json.Unmarshal(m.Data(), &ec); err != nil || ec.ClientOrderID == "" {
		w.log.Error().Err(err).Msg("undecodable exec cancel dropped")
		_ = m.Term()
		return
	}
	w.mu.Lock()
	if w.cancelQ.len() >= w.opts.QueueSize {
		w.mu.Unlock()
		w.cancelRejected(context.Background(), m, &ec, messages.ReasonRateLimited,
			fmt.Sprintf("key %s: cancel queue full", w.opts.Key))
		return
	}
	it := &item{msg: m, cancel: &ec}
	w.cancelQ.push(it)
	w.plan(w.now(), opFor(it))
	w.mu.Unlock()
	signal(w.wake)
}

// cancelRejected reports a refused cancel. It concerns the cancel message,
// not the order's own sequence, so its seq is 0.
func (w *Worker) cancelRejected(ctx context.Context, m jetstream.Msg, ec *messages.ExecCancel, reason messages.Reason, msg string) {
	r := messages.ExecutionReport{
		Kind: messages.KindCancelRejected, ClientOrderID: ec.ClientOrderID, Strategy: ec.Strategy,
		Key: w.opts.Key, Venue: w.opts.VenueName, Reason: reason, Message: msg, TS: w.now().UTC(),
	}
	data := r.AppendJSON(nil)
	if _, err := w.js.Publish(ctx, messages.ReportSubject(ec.Strategy, r.Kind), data); err != nil {
		_ = m.NakWithDelay(time.Second)
		return
	}
	_ = m.Ack()
}
