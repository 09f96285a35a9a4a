package executors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// intake takes a message from exec.<key>.>: a new order or a cancel.
func (t *term) intake(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		t.log.Error().Err(err).Str("subject", m.Subject()).Msg("exec message without metadata dropped")
		_ = m.Term()
		return
	}
	t.takeIn(context.Background(), m.Subject(), m.Data(), meta.Sequence.Stream, meta.NumDelivered, m)
}

// takeIn handles one exec message, delivered (m set) or read directly at a
// takeover (m nil: its redelivery is acked when it comes).
func (t *term) takeIn(ctx context.Context, subject string, data []byte, seq, delivered uint64, m jetstream.Msg) {
	var msg message
	if m != nil {
		msg = m
	}
	es, ok := messages.ParseExecSubject(subject)
	if !ok || es.Key != t.opts.Key {
		t.log.Error().Str("subject", subject).Msg("message on an unexpected exec subject dropped")
		terminate(msg)
		return
	}
	if es.Kind == "cancel" {
		t.takeCancel(ctx, es, seq, msg)
		return
	}
	eo, err := messages.DecodeExecOrder(data)
	if err != nil || eo.Intent.ClientOrderID != es.ClientOrderID || eo.Intent.Strategy != es.Strategy {
		t.log.Error().Err(err).Str("subject", subject).Msg("undecodable exec order dropped")
		terminate(msg)
		return
	}
	o := newOrder(t.opts.Key, &eo, seq)
	o.msg = msg
	t.admit(ctx, o, delivered > 1 || m == nil, delivered >= uint64(t.opts.MaxDeliver))
}

func terminate(m message) {
	if m != nil {
		_ = m.Term()
	}
}

func ack(m message) {
	if m != nil {
		_ = m.Ack()
	}
}

// admit puts a new order in hand. A redelivered one (again true) may have
// been at work before, here or at a predecessor: its record says what
// happened, and without one it is new only if its claim is still this
// message (it was not handed back to another key meanwhile).
func (t *term) admit(ctx context.Context, o *order, again, last bool) {
	t.mu.Lock()
	redoing := t.redoing[o.kvKey]
	delete(t.redoing, o.kvKey)
	// retry gives the message back after a failed read of the bus. An
	// order being redone stays so until it is taken in: its cancels keep
	// waiting for it, not answered as if it had closed.
	retry := func(err error) {
		if redoing && !last {
			t.mu.Lock()
			t.redoing[o.kvKey] = true
			t.mu.Unlock()
		}
		t.retryLater(o.msg, last, err)
	}
	if held := t.c.orders[o.kvKey]; held != nil {
		// A redelivery of an order in hand: its ack waits for the work.
		if held.sendDone {
			t.mu.Unlock()
			ack(o.msg)
			return
		}
		if held.msg == nil {
			held.msg = o.msg
		}
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	inDoubt := false
	if again {
		rec, found, err := t.readRecord(ctx, o.stateKey)
		if err != nil {
			retry(err)
			return
		}
		switch {
		case found && rec.Route > o.route:
			ack(o.msg) // an older claim of an order that came back here
			return
		case found && rec.Route == o.route && rec.Phase == messages.PhaseDone:
			// Closed. Decided without the venue, its reports are in the
			// record: published again, in case they were lost.
			if err := t.republish(ctx, &rec); err != nil {
				retry(err)
				return
			}
			ack(o.msg)
			return
		case found && rec.Route == o.route && rec.Phase == messages.PhaseHandedBack:
			t.handedBackAgain(ctx, o, &rec, last)
			return
		case found && rec.Route == o.route && rec.Intent != nil:
			o.restoreFrom(&rec)
			inDoubt = true
			o.unconfirmed = rec.Phase == messages.PhaseSending // not shared yet
		default:
			// Never sent for this claim. Still the claim? It may have been
			// handed back and moved while its record expired.
			if moved, err := t.moved(ctx, o); err != nil || moved {
				if err != nil {
					retry(err)
				} else {
					ack(o.msg)
				}
				return
			}
		}
	}
	it := &item{order: o, inDoubt: inDoubt}
	if !inDoubt {
		if c, ok := t.venue.(Checker); ok {
			if err := c.Check(o.venueOrder()); err != nil {
				// Refused before any budget is spent.
				reason := messages.ReasonInvalid
				var ve *VenueError
				if errors.As(err, &ve) && ve.Reason != "" {
					reason = ve.Reason
				}
				t.mu.Lock()
				held := t.attachLocked(o)
				if !held {
					t.c.decide(o)
				}
				t.mu.Unlock()
				if !held {
					t.refuse(ctx, it, reason, err.Error())
				}
				return
			}
		}
	}
	if inDoubt && o.sendingAt.After(time.Time{}) {
		// Sent by a predecessor: ask the venue only once that send can no
		// longer take effect.
		it.notBefore = o.sendingAt.Add(t.opts.RequestValidity)
	}
	now := t.clock.Now()
	t.mu.Lock()
	a, at := t.c.admitNew(now, it, o.movable())
	if a == admitHeld {
		t.attachLocked(o)
	}
	t.mu.Unlock()
	switch a {
	case admitQueued:
		signal(t.wake)
	case admitExpire:
		t.expire(ctx, it, now, at)
	case admitFull:
		t.refuse(ctx, it, messages.ReasonRateLimited,
			fmt.Sprintf("key %s: queue full (%d orders waiting for budget)", t.opts.Key, t.opts.QueueSize))
	case admitHandBack:
		t.async(func() { t.handBack(context.Background(), it) })
	case admitHalted:
		t.refuse(ctx, it, messages.ReasonHalted, fmt.Sprintf("key %s is halted", t.opts.Key))
	}
}

// attachLocked gives o's message to the order in hand under o's key, if
// one was taken in meanwhile, and reports whether there was one: this
// delivery then waits for that work's ack. t.mu held.
func (t *term) attachLocked(o *order) bool {
	held := t.c.orders[o.kvKey]
	if held != nil && held.msg == nil {
		held.msg = o.msg
	}
	return held != nil
}

// moved reports whether o's claim is no longer the last one of its order
// (the router moved it to another key, or back here under a new claim).
func (t *term) moved(ctx context.Context, o *order) (bool, error) {
	claim, ok, err := bus.LastClaim(ctx, t.stream, messages.ExecClaimSubjects(o.intent.Strategy, o.intent.ClientOrderID))
	if err != nil {
		return false, err
	}
	if !ok || claim.Seq != o.claimSeq {
		t.log.Info().Str("strategy", o.intent.Strategy).Str("client_order_id", o.intent.ClientOrderID).
			Msg("redelivered order was moved to another key; dropped here")
		return true, nil
	}
	return false, nil
}

// handedBackAgain answers a redelivery of an order handed back from here:
// if the router has not moved it yet, the hand-back may not have reached
// it, so it is published again (the router moves an order once).
func (t *term) handedBackAgain(ctx context.Context, o *order, rec *messages.OrderRecord, last bool) {
	moved, err := t.moved(ctx, o)
	switch {
	case err != nil:
		t.retryLater(o.msg, last, err)
	case moved:
		ack(o.msg)
	default:
		o.restoreFrom(rec)
		t.publishReroute(ctx, o)
	}
}

// retryLater gives a message back after a failure to read the bus; on its
// last delivery it is dropped with a log instead (it stays in EXEC; a
// cancel or an operator can still find it).
func (t *term) retryLater(m message, last bool, err error) {
	if m == nil {
		return
	}
	if last {
		t.log.Error().Err(err).Msg("exec message dropped after its last delivery: the bus could not be read")
		_ = m.Term()
		return
	}
	t.log.Warn().Err(err).Msg("order state not readable; the message will be redelivered")
	_ = m.NakWithDelay(time.Second)
}

// takeCancel takes a cancel in: it is queued if its order is in hand
// (cancels go first); otherwise the order's record, or its claim, says
// whether it is closed, moved to another key, or not here at all.
func (t *term) takeCancel(ctx context.Context, es messages.ExecSubject, seq uint64, msg message) {
	t.mu.Lock()
	if cr := t.handledCancelLocked(seq); cr != nil {
		done := cr.done
		if !done && cr.msg == nil {
			cr.msg = msg
		}
		t.mu.Unlock()
		if done {
			ack(msg)
		}
		return
	}
	cr := &cancelReq{strategy: es.Strategy, clientOrderID: es.ClientOrderID, msg: msg, seq: seq}
	if t.redoing[cr.orderKey()] {
		// Its order was given back to be redone: this waits for it.
		t.mu.Unlock()
		if msg != nil {
			_ = msg.NakWithDelay(time.Second)
		}
		return
	}
	t.handledCancels[seq] = cr
	_, inHand := t.c.orders[cr.orderKey()]
	t.mu.Unlock()
	if !inHand {
		t.resolveAndQueue(ctx, cr)
		return
	}
	t.queueCancel(ctx, cr)
}

// resolveAndQueue answers or queues a cancel whose order is not in hand
// (see resolveCancel).
func (t *term) resolveAndQueue(ctx context.Context, cr *cancelReq) {
	o, done := t.resolveCancel(ctx, cr)
	if done {
		return
	}
	t.mu.Lock()
	if t.c.orders[o.kvKey] == nil {
		t.c.hold(o)
	}
	t.mu.Unlock()
	t.queueCancel(ctx, cr)
}

// queueCancel puts cr in the cancel queue, or refuses it if that is full.
func (t *term) queueCancel(ctx context.Context, cr *cancelReq) {
	t.mu.Lock()
	ok := t.c.admitCancel(t.clock.Now(), &item{cancel: cr})
	t.mu.Unlock()
	if !ok {
		t.cancelRejected(ctx, cr, messages.ReasonRateLimited, fmt.Sprintf("key %s: cancel queue full", t.opts.Key))
		return
	}
	signal(t.wake)
}

func (t *term) handledCancelLocked(seq uint64) *cancelReq {
	if len(t.handledCancels) > 4*t.opts.QueueSize {
		// Only recent cancels can be redelivered: forget the old ones.
		for s, cr := range t.handledCancels {
			if cr.done {
				delete(t.handledCancels, s)
			}
		}
	}
	return t.handledCancels[seq]
}

// resolveCancel finds the order of a cancel that is not in hand: from its
// record (at the venue: returned, to be canceled there), or it answers the
// cancel itself (done true): closed, moved (forwarded), or unknown.
func (t *term) resolveCancel(ctx context.Context, cr *cancelReq) (o *order, done bool) {
	stateKey := messages.OrderStateKey(t.opts.Key, cr.strategy, cr.clientOrderID)
	rec, found, err := t.readRecord(ctx, stateKey)
	if err != nil {
		t.cancelRetry(cr, err)
		return nil, true
	}
	if found && rec.Intent != nil {
		switch {
		case rec.Phase == messages.PhaseDone && rec.CancelSeq != 0 && rec.CancelSeq == cr.seq:
			// Canceled by this very cancel before it was sent: its answer
			// is the record's reports, published again in case they were
			// lost.
			if err := t.republish(ctx, &rec); err != nil {
				t.cancelRetry(cr, err)
				return nil, true
			}
			t.mu.Lock()
			m := cr.msg
			cr.done, cr.msg = true, nil
			t.mu.Unlock()
			ack(m)
			return nil, true
		case rec.Phase == messages.PhaseDone:
			t.cancelRejected(ctx, cr, messages.ReasonTooLateToCancel, fmt.Sprintf("order %q is already %s", cr.clientOrderID, rec.Status))
			return nil, true
		case rec.Phase == messages.PhaseSending || rec.Phase == messages.PhaseOpen:
			return orderFromRecord(&rec), false
		}
	}
	claim, ok, err := bus.LastClaim(ctx, t.stream, messages.ExecClaimSubjects(cr.strategy, cr.clientOrderID))
	switch {
	case err != nil:
		t.cancelRetry(cr, err)
	case !ok:
		t.cancelRejected(ctx, cr, messages.ReasonUnknownOrder, fmt.Sprintf("no order %q", cr.clientOrderID))
	case claim.Key == messages.RefusedKey:
		t.cancelRejected(ctx, cr, messages.ReasonTooLateToCancel, fmt.Sprintf("order %q was not accepted", cr.clientOrderID))
	case claim.Key != t.opts.Key:
		t.forwardCancel(ctx, cr, claim.Key)
	case found && rec.Phase == messages.PhaseHandedBack:
		// Handed back from here, and the router has not moved its claim
		// yet: the cancel comes back once it has, and follows the order.
		t.cancelRetry(cr, fmt.Errorf("order %q was handed back and is not yet at another key", cr.clientOrderID))
	default:
		// Routed here, delivered before this cancel (one consumer, in
		// stream order), not in hand and no record left: it closed a
		// while ago.
		t.cancelRejected(ctx, cr, messages.ReasonTooLateToCancel, fmt.Sprintf("order %q is already closed", cr.clientOrderID))
	}
	return nil, true
}

func (t *term) cancelRetry(cr *cancelReq, err error) {
	t.mu.Lock()
	delete(t.handledCancels, cr.seq)
	m := cr.msg
	t.mu.Unlock()
	t.log.Warn().Err(err).Str("client_order_id", cr.clientOrderID).Msg("cancel not answered yet; it will be redelivered")
	if m != nil {
		_ = m.NakWithDelay(time.Second)
	}
}

// recover loads what the key's previous active worker left: the orders
// that may be at the venue (their records), and the messages it was
// given and had not finished (read directly from EXEC, so they are not
// left waiting for AckWait).
func (t *term) recover(ctx context.Context, cons jetstream.Consumer) error {
	var recs []messages.OrderRecord
	err := bus.ScanLast(ctx, t.js, "KV_"+messages.BucketOrders, messages.OrderStateSubject(messages.OrderStateKeys(t.opts.Key)), func(m jetstream.Msg) error {
		rec, err := messages.DecodeOrderRecord(m.Data())
		if err == nil && rec.Intent != nil && rec.Key == t.opts.Key {
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("executor %s: reading its orders: %w", t.opts.Key, err)
	}
	t.restoreBudget(ctx, recs)
	now := t.clock.Now()
	t.mu.Lock()
	n := 0
	for i := range recs {
		rec := &recs[i]
		if rec.Phase != messages.PhaseSending && rec.Phase != messages.PhaseOpen {
			continue
		}
		o := orderFromRecord(rec)
		// Its exec message was acked once its sending was reported (open);
		// if a redelivery comes, it is acked at once.
		o.sendDone = rec.Phase == messages.PhaseOpen
		it := &item{order: o, inDoubt: true}
		if rec.Phase == messages.PhaseSending {
			it.notBefore = rec.SendingAt.Add(t.opts.RequestValidity)
			t.c.unconfirm(o)
		}
		t.c.hold(o)
		t.c.newQ.push(it)
		n++
	}
	t.c.replan()
	t.mu.Unlock()
	if n > 0 {
		t.log.Info().Int("orders", n).Msg("orders that may be at the venue: asking the venue about each")
		signal(t.wake)
	}

	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("executor %s: consumer info: %w", t.opts.Key, err)
	}
	taken := 0
	for seq := info.AckFloor.Stream + 1; seq <= info.Delivered.Stream; {
		gctx, cancel := bus.Bounded(ctx)
		raw, err := t.stream.GetMsg(gctx, seq, jetstream.WithGetMsgSubject(messages.ExecKeySubjects(t.opts.Key)))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("executor %s: reading pending messages: %w", t.opts.Key, err)
		}
		if raw.Sequence > info.Delivered.Stream {
			break
		}
		seq = raw.Sequence + 1
		t.takeIn(ctx, raw.Subject, raw.Data, raw.Sequence, 2, nil)
		taken++
	}
	if taken > 0 {
		t.log.Info().Int("messages", taken).Time("at", now).Msg("took in the messages the previous worker had not finished")
	}
	return nil
}
