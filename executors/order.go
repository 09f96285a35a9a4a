package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

// order is the worker's state of one order. mu serializes everything that
// publishes reports of the order, so its seq is gapless and in order; it
// may be locked by the dispatcher and unlocked by the goroutine that
// finishes the reporting. Lock order: order.mu before Worker.mu.
type order struct {
	mu        sync.Mutex
	kvKey     string
	clientID  string
	intent    messages.OrderIntent
	intentSeq uint64

	// Fields below are guarded by mu.
	sent         bool // handed to the venue (or possibly so)
	venueOrderID string
	status       messages.Status // "" until the venue answered
	cum          decimal.Decimal
	notional     decimal.Decimal // sum of fill quantity times price
	seq          uint64
	trades       map[string]struct{}
	// reportedCum is the cum_quantity already reported before a restart:
	// fills of a complete fill list up to it were reported then.
	reportedCum decimal.Decimal
	// placedAt is when the order was sent (UnixNano; 0 before), read
	// without mu to price a cancel by the order's age.
	placedAt atomic.Int64
}

func newOrder(eo *messages.ExecOrder) *order {
	in := eo.Intent
	return &order{
		kvKey:     messages.OrderKey(in.Strategy, in.ClientOrderID),
		clientID:  VenueClientID(in.Strategy, in.ClientOrderID),
		intent:    in,
		intentSeq: eo.IntentSeq,
		trades:    map[string]struct{}{},
	}
}

// report starts a report of kind on o with its running totals.
func (w *Worker) report(o *order, kind messages.ReportKind) messages.ExecutionReport {
	r := messages.NewReport(&o.intent, kind, o.status)
	r.Key, r.Venue, r.VenueOrderID = w.opts.Key, w.opts.VenueName, o.venueOrderID
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

// apply folds a venue update into o and returns the reports it makes:
// one per new fill, then canceled or expired if the order closed so. If
// complete, u.Fills holds every fill of the order so far; fills up to
// reportedCum were reported before a restart and are skipped.
func (w *Worker) apply(o *order, u OrderUpdate, complete bool) []messages.ExecutionReport {
	var reps []messages.ExecutionReport
	if u.VenueOrderID != "" {
		o.venueOrderID = u.VenueOrderID
	}
	running := decimal.Zero
	for _, f := range u.Fills {
		running = running.Add(f.Quantity)
		if _, seen := o.trades[f.TradeID]; seen {
			continue
		}
		o.trades[f.TradeID] = struct{}{}
		if complete && running.LessThanOrEqual(o.reportedCum) {
			continue
		}
		o.cum = o.cum.Add(f.Quantity)
		o.notional = o.notional.Add(f.Quantity.Mul(f.Price))
		o.status = messages.StatusPartiallyFilled
		if o.cum.GreaterThanOrEqual(o.intent.Quantity) {
			o.status = messages.StatusFilled
		}
		r := w.report(o, messages.KindFill)
		fill := f
		r.Fill = &fill
		reps = append(reps, r)
	}
	switch u.Status {
	case messages.StatusCanceled, messages.StatusExpired:
		if o.status != u.Status {
			o.status = u.Status
			kind := messages.KindCanceled
			r := w.report(o, kind)
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
	return reps
}

// emit publishes reps of o (with o.mu held), numbering them, writes the
// order's record, and waits until all are stored.
func (w *Worker) emit(ctx context.Context, o *order, reps []messages.ExecutionReport) error {
	if len(reps) == 0 {
		return nil
	}
	now := w.now().UTC()
	futures := make([]jetstream.PubAckFuture, 0, len(reps))
	for i := range reps {
		o.seq++
		reps[i].Seq, reps[i].TS = o.seq, now
		f, err := w.js.PublishAsync(messages.ReportSubject(o.intent.Strategy, reps[i].Kind), reps[i].AppendJSON(nil))
		if err != nil {
			return fmt.Errorf("publishing report: %w", err)
		}
		futures = append(futures, f)
	}
	rec := messages.OrderRecord{
		Strategy: o.intent.Strategy, ClientOrderID: o.intent.ClientOrderID,
		Key: w.opts.Key, Venue: w.opts.VenueName, IntentSeq: o.intentSeq,
		VenueOrderID: o.venueOrderID, Status: o.status, CumQuantity: o.cum,
		Seq: o.seq, Intent: &o.intent, UpdatedAt: now,
	}
	if last := reps[len(reps)-1]; last.Kind == messages.KindRejected {
		rec.Status, rec.Reason, rec.Message = messages.StatusRejected, last.Reason, last.Message
	}
	if o.cum.IsPositive() {
		rec.AvgPrice = o.notional.Div(o.cum)
	}
	data, _ := json.Marshal(rec)
	f, err := w.js.PublishAsync(messages.OrderStateSubject(o.kvKey), data)
	if err != nil {
		return fmt.Errorf("writing order state: %w", err)
	}
	futures = append(futures, f)
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("storing report: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// finish emits reps of o, then acks msgs; o.mu must be held and is
// released. If the reports cannot be stored the messages are nak'ed so the
// work is redone (the order is then in doubt, and the venue is asked first).
func (w *Worker) finish(ctx context.Context, o *order, reps []messages.ExecutionReport, msgs ...jetstream.Msg) {
	err := w.emit(ctx, o, reps)
	terminal := o.status.Terminal()
	o.mu.Unlock()
	if err != nil {
		w.log.Error().Err(err).Str("client_order_id", o.intent.ClientOrderID).Msg("reports not stored; message will be redelivered")
		for _, m := range msgs {
			_ = m.NakWithDelay(time.Second)
		}
		if terminal {
			w.forget(o)
		}
		return
	}
	for _, m := range msgs {
		_ = m.Ack()
	}
	if terminal {
		w.forget(o)
	}
}

// finishAsync runs finish on a bounded pool so the dispatcher can go on.
func (w *Worker) finishAsync(ctx context.Context, o *order, reps []messages.ExecutionReport, msgs ...jetstream.Msg) {
	w.postSem <- struct{}{}
	w.post.Add(1)
	go func() {
		defer func() { <-w.postSem; w.post.Done() }()
		w.finish(ctx, o, reps, msgs...)
	}()
}

// forget drops a closed order from memory; its record stays in the KV.
func (w *Worker) forget(o *order) {
	w.mu.Lock()
	if w.orders[o.kvKey] == o {
		delete(w.orders, o.kvKey)
	}
	if w.byClient[o.clientID] == o {
		delete(w.byClient, o.clientID)
	}
	w.mu.Unlock()
}

// updatesLoop applies the venue's asynchronous updates (fills of resting
// orders, closes the venue did itself).
func (w *Worker) updatesLoop(ctx context.Context) {
	ch := w.venue.Updates()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-ch:
			if !ok {
				return
			}
			w.mu.Lock()
			o := w.byClient[u.ClientID]
			w.mu.Unlock()
			if o == nil {
				continue
			}
			o.mu.Lock()
			if !o.sent {
				o.mu.Unlock()
				continue
			}
			reps := w.apply(o, u, false)
			if len(reps) == 0 {
				o.mu.Unlock()
				continue
			}
			w.finish(ctx, o, reps)
		}
	}
}

// recover loads the key's open orders from the order-state bucket after a
// restart and asks the venue what happened to them meanwhile.
func (w *Worker) recover(ctx context.Context) error {
	lister, err := w.kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil
		}
		return fmt.Errorf("executor %s: listing order state: %w", w.opts.Key, err)
	}
	var open []*order
	for k := range lister.Keys() {
		e, err := w.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var rec messages.OrderRecord
		if json.Unmarshal(e.Value(), &rec) != nil || rec.Key != w.opts.Key || rec.Intent == nil ||
			rec.Status == "" || rec.Status.Terminal() {
			continue
		}
		open = append(open, orderFromRecord(&rec))
	}
	w.mu.Lock()
	for _, o := range open {
		w.orders[o.kvKey], w.byClient[o.clientID] = o, o
	}
	w.mu.Unlock()
	for _, o := range open {
		u, err := w.venue.Query(ctx, o.intent.Symbol, o.clientID)
		if err != nil {
			w.log.Warn().Err(err).Str("client_order_id", o.intent.ClientOrderID).Msg("recovered order not queried")
			continue
		}
		o.mu.Lock()
		w.finish(ctx, o, w.apply(o, u, true))
	}
	if len(open) > 0 {
		w.log.Info().Int("orders", len(open)).Msg("recovered open orders")
	}
	return nil
}

// orderFromRecord rebuilds an order that reached the venue from its
// record (rec.Intent must be set).
func orderFromRecord(rec *messages.OrderRecord) *order {
	o := newOrder(&messages.ExecOrder{Intent: *rec.Intent, IntentSeq: rec.IntentSeq})
	o.sent = true
	o.restoreFrom(rec)
	return o
}

// restoreFrom takes the reported state of rec.
func (o *order) restoreFrom(rec *messages.OrderRecord) {
	o.seq, o.status, o.venueOrderID = rec.Seq, rec.Status, rec.VenueOrderID
	o.cum, o.reportedCum = rec.CumQuantity, rec.CumQuantity
	o.notional = rec.AvgPrice.Mul(rec.CumQuantity)
}
