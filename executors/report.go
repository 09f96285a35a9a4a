package executors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

// snapshot is what an order's reports have said so far: kept before new
// reports are made so that, if they cannot be stored, the order goes back
// to it and the work is redone (every report has a message ID derived from
// its seq, so one stored twice is stored once).
type snapshot struct {
	phase, venueOrderID string
	status              messages.Status
	cum, notional       decimal.Decimal
	seq                 uint64
	trades              int
}

func (o *order) snap() snapshot {
	return snapshot{o.phase, o.venueOrderID, o.status, o.cum, o.notional, o.seq, len(o.tradeList)}
}

func (o *order) rollback(s snapshot) {
	o.phase, o.venueOrderID, o.status, o.cum, o.notional, o.seq = s.phase, s.venueOrderID, s.status, s.cum, s.notional, s.seq
	for _, id := range o.tradeList[s.trades:] {
		delete(o.trades, id)
	}
	o.tradeList = o.tradeList[:s.trades]
}

// reportID is the Nats-Msg-Id of an order's report with seq.
func reportID(strategy, clientOrderID string, seq uint64) string {
	return strategy + "." + clientOrderID + "." + strconv.FormatUint(seq, 10)
}

// emit stores reps of o, numbering them, and o's record. o.mu held. A
// successor continues from what it finds, so the order of the two writes
// matters:
//   - local (a decision the venue does not hold: the order refused,
//     expired or canceled before it was sent, or rejected by the venue):
//     the record first, carrying the reports, then the reports. A
//     successor, or this worker, that finds the record publishes its
//     reports again (their message IDs make that a no-op if they were
//     stored), and never sends the order: what was reported stands.
//   - otherwise the reports first, then the record, which never runs
//     ahead of them: a record stored with its reports lost would leave
//     them unreported for good. A successor reads the record as what was
//     reported and redoes the rest (it asks the venue) under the same
//     message IDs.
//
// committed says the first write was stored (so the work must not be
// redone as if nothing had been), err what failed.
func (t *term) emit(ctx context.Context, o *order, reps []messages.ExecutionReport, local bool, cancelSeq uint64) (committed bool, err error) {
	now := t.clock.Now().UTC()
	msgs := make([]*nats.Msg, len(reps))
	for i := range reps {
		o.seq++
		reps[i].Seq, reps[i].TS = o.seq, now
		reps[i].Clip()
		msgs[i] = reportMsg(&reps[i])
	}
	rec := o.record(t.opts.Key, t.opts.VenueName, now)
	if local {
		rec.Reports, rec.CancelSeq = reps, cancelSeq
	}
	store := func() error { return t.putRecord(ctx, o, &rec) }
	publish := func() error { return t.publishReports(ctx, msgs) }
	first, second := publish, store
	if local {
		first, second = store, publish
	}
	if err := first(); err != nil {
		return false, err
	}
	return true, second()
}

// reportMsg is the message of report r (numbered), with its message ID.
func reportMsg(r *messages.ExecutionReport) *nats.Msg {
	m := nats.NewMsg(messages.ReportSubject(r.Strategy, r.Kind))
	m.Data = r.AppendJSON(nil)
	m.Header.Set(nats.MsgIdHdr, reportID(r.Strategy, r.ClientOrderID, r.Seq))
	return m
}

// publishReports publishes msgs and waits until all are stored.
func (t *term) publishReports(ctx context.Context, msgs []*nats.Msg) error {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := t.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publishing report: %w", err)
		}
		futures = append(futures, f)
	}
	if err := bus.AwaitAll(ctx, futures); err != nil {
		return fmt.Errorf("storing reports: %w", err)
	}
	return nil
}

// republish publishes again the reports a record carries (a decision made
// without the venue; see emit).
func (t *term) republish(ctx context.Context, rec *messages.OrderRecord) error {
	msgs := make([]*nats.Msg, len(rec.Reports))
	for i := range rec.Reports {
		msgs[i] = reportMsg(&rec.Reports[i])
	}
	return t.publishReports(ctx, msgs)
}

// writeRecord stores o's record, fenced by the lease; a closed order's
// record expires after bus.RecordTTL. o.mu held. A conflict means the
// lease is gone (ErrLeaseLost), unless re-reading it says it is still
// ours: then the write is tried once more (see fencedPut).
func (t *term) writeRecord(ctx context.Context, o *order, now time.Time) error {
	rec := o.record(t.opts.Key, t.opts.VenueName, now)
	return t.putRecord(ctx, o, &rec)
}

// putRecord stores rec, o's record, as writeRecord does. o.mu held.
func (t *term) putRecord(ctx context.Context, o *order, rec *messages.OrderRecord) error {
	data := rec.AppendJSON(make([]byte, 0, 1024))
	var ttl time.Duration
	if o.phase == messages.PhaseDone || o.phase == messages.PhaseHandedBack {
		ttl = bus.RecordTTL
	}
	return t.fencedPut(ctx, o.stateKey, data, ttl)
}

// fencedPut writes data at key of the order-state bucket, fenced by the
// lease (expiring after ttl if not 0); see writeRecord.
//
// The fenced writes of a key's orders are in flight together (each
// order's own writes are one at a time: o.mu is held across each), which
// a single server allows. A replicated stream refuses a write checked
// against a subject (the lease) while another such write is in flight,
// a refusal that looks like a lost lease: if re-reading the lease says it
// is still held, the key's fenced writes go one at a time from then on
// (fenceSerial) and the write is tried again.
func (t *term) fencedPut(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	var opts []jetstream.PublishOpt
	if ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(ttl))
	}
	serial := t.fenceSerial.Load()
	if serial {
		t.fenceMu.Lock()
		defer t.fenceMu.Unlock()
	}
	for range 2 {
		m := nats.NewMsg(messages.OrderStateSubject(key))
		m.Data = data
		t.lease.Fence(m)
		f, err := t.js.PublishMsgAsync(m, opts...)
		if err != nil {
			return fmt.Errorf("writing order state: %w", err)
		}
		_, err = bus.Await(ctx, f)
		if err == nil {
			return nil
		}
		if !bus.IsConflict(err) {
			return fmt.Errorf("writing order state: %w", err)
		}
		if !t.lease.Confirm(ctx) {
			return fmt.Errorf("%w: %v", bus.ErrLeaseLost, err)
		}
		if !serial {
			serial = true
			if !t.fenceSerial.Swap(true) {
				t.log.Info().Msg("the order-state stream refuses fenced writes in flight together (it is replicated): this key's go one at a time")
			}
			t.fenceMu.Lock()
			defer t.fenceMu.Unlock()
		}
	}
	return errors.New("order state: the write conflicts with a lease this worker holds")
}

// writeAhead stores o's record before a Place, fenced by the lease: if
// the lease is gone, nothing is sent. o.mu held.
func (t *term) writeAhead(ctx context.Context, o *order) error {
	return t.writeRecord(ctx, o, t.clock.Now())
}

// finish emits reps of o (o.mu held, released here); once they are
// stored it acks the cancels answered and, if sendDone, the order's exec
// message. local: a decision the venue does not hold (see emit). If
// nothing could be stored, o goes back to snap and the work is redone: an
// order that may be at the venue is asked about again; the messages of
// others are redelivered. If only the first of the two writes was stored
// (committed), it stands: the venue is asked about a sent order, whose
// reports and record the answer completes; the messages of a local
// decision are redelivered, and whoever takes them finds its record and
// publishes its reports.
func (t *term) finish(ctx context.Context, o *order, snap snapshot, reps []messages.ExecutionReport, sendDone, local bool, cancels ...*cancelReq) {
	var cancelSeq uint64
	if local && len(cancels) == 1 {
		cancelSeq = cancels[0].seq
	}
	committed, err := t.emit(ctx, o, reps, local, cancelSeq)
	if err != nil && !committed {
		o.rollback(snap)
	}
	terminal := o.status.Terminal() || o.phase == messages.PhaseDone
	sent := o.sent()
	o.mu.Unlock()
	if err != nil {
		t.log.Error().Err(err).Str("strategy", o.intent.Strategy).Str("client_order_id", o.intent.ClientOrderID).
			Bool("half_stored", committed).Msg("reports not stored; the work will be redone")
		var msgs []message
		t.mu.Lock()
		redo := !errors.Is(err, bus.ErrLeaseLost) && ((committed && !local) || (!committed && sent))
		if redo {
			t.c.hold(o)
			t.c.requeue(&item{order: o, inDoubt: true}, t.clock.Now().Add(time.Second))
		} else {
			// Given back, order first: it comes back before its cancels,
			// and a cancel that comes first waits for it (redoing).
			if sendDone && o.msg != nil {
				msgs = append(msgs, o.msg)
				o.msg = nil
				t.redoing[o.kvKey] = true
			}
			t.c.forget(o)
		}
		for _, cr := range cancels {
			if cr.msg != nil {
				msgs = append(msgs, cr.msg)
			}
			delete(t.handledCancels, cr.seq)
		}
		t.mu.Unlock()
		for _, m := range msgs {
			_ = m.NakWithDelay(time.Second)
		}
		signal(t.wake)
		return
	}
	var msgs []message
	t.mu.Lock()
	if sendDone {
		o.sendDone = true
		if o.msg != nil {
			msgs = append(msgs, o.msg)
			o.msg = nil
		}
	}
	for _, cr := range cancels {
		cr.done = true
		if cr.msg != nil {
			msgs = append(msgs, cr.msg)
			cr.msg = nil
		}
	}
	if terminal {
		t.c.forget(o)
	}
	t.mu.Unlock()
	for _, m := range msgs {
		_ = m.Ack()
	}
}

// finishAsync runs finish on the bounded pool so the dispatcher goes on.
func (t *term) finishAsync(o *order, snap snapshot, reps []messages.ExecutionReport, sendDone bool, cancels ...*cancelReq) {
	t.async(func() { t.finish(context.Background(), o, snap, reps, sendDone, false, cancels...) })
}

// decideAsync is finishAsync for a decision the venue does not hold (see
// emit): the order refused, expired or canceled before it was sent, or
// rejected by the venue.
func (t *term) decideAsync(o *order, snap snapshot, reps []messages.ExecutionReport, cancels ...*cancelReq) {
	t.async(func() { t.finish(context.Background(), o, snap, reps, true, true, cancels...) })
}

// refuse ends an item unsent: a new order rejected with reason, a cancel
// cancel_rejected.
func (t *term) refuse(ctx context.Context, it *item, reason messages.Reason, msg string) {
	if it.cancel != nil {
		t.cancelRejected(ctx, it.cancel, reason, msg)
		return
	}
	o := it.order
	o.mu.Lock()
	snap := o.snap()
	r := t.rp.refusal(o, messages.KindRejected, reason, msg)
	t.decideAsync(o, snap, []messages.ExecutionReport{r})
}

// expire reports an order expired because the budget cannot send it by
// its expires_at (at: the earliest it could go; zero: never).
func (t *term) expire(ctx context.Context, it *item, now, at time.Time) {
	o := it.order
	exp := o.intent.ExpiresAt
	var msg string
	switch {
	case !now.Before(*exp):
		msg = "expires_at " + exp.Format(time.RFC3339Nano) + " passed before it could be sent"
	case at.IsZero():
		msg = "the order costs more than the key's budget allows at all"
	default:
		msg = fmt.Sprintf("key %s's budget cannot send it before expires_at %s (earliest %s)",
			t.opts.Key, exp.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
	}
	o.mu.Lock()
	snap := o.snap()
	r := t.rp.refusal(o, messages.KindExpired, messages.ReasonExpired, msg)
	t.decideAsync(o, snap, []messages.ExecutionReport{r})
}

// cancelRejected reports a refused cancel. It concerns the cancel, not the
// order's own sequence, so its seq is 0.
func (t *term) cancelRejected(ctx context.Context, cr *cancelReq, reason messages.Reason, msg string) {
	r := messages.ExecutionReport{
		Kind: messages.KindCancelRejected, ClientOrderID: cr.clientOrderID, Strategy: cr.strategy,
		Key: t.opts.Key, Venue: t.opts.VenueName, Reason: reason, Message: msg, TS: t.clock.Now().UTC(),
	}
	r.Clip()
	m := nats.NewMsg(messages.ReportSubject(cr.strategy, r.Kind))
	m.Data = r.AppendJSON(nil)
	m.Header.Set(nats.MsgIdHdr, "cancel."+t.opts.Key+"."+strconv.FormatUint(cr.seq, 10))
	t.answerCancel(ctx, cr, m)
}

// answerCancel publishes the message that answers cr (a report, or the
// cancel forwarded to another key) and acks cr once it is stored.
func (t *term) answerCancel(ctx context.Context, cr *cancelReq, m *nats.Msg) {
	f, err := t.js.PublishMsgAsync(m)
	if err == nil {
		_, err = bus.Await(ctx, f)
	}
	t.mu.Lock()
	msg := cr.msg
	if err != nil {
		delete(t.handledCancels, cr.seq)
	} else {
		cr.done, cr.msg = true, nil
	}
	t.mu.Unlock()
	if msg == nil {
		return
	}
	if err != nil {
		t.log.Warn().Err(err).Msg("cancel answer not stored; it will be redelivered")
		_ = msg.NakWithDelay(time.Second)
		return
	}
	_ = msg.Ack()
}
