package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// term is one active spell of a worker: from taking the key's lease to
// losing it or stopping. Its state starts fresh from the bus: the key's
// order-state records, the messages its predecessor held, the halts.
type term struct {
	*Worker
	lease  *bus.Lease
	stream jetstream.Stream // EXEC
	vctx   context.Context  // venue requests: ends when the lease is lost

	// Fenced writes go out together until the stream refuses one
	// because another is in flight (a replicated stream does): from then
	// on, serial, they go one at a time under fenceMu (see fencedPut).
	fenceMu     sync.Mutex
	fenceSerial atomic.Bool
	lastPlace   time.Duration // how long the last Place took; the dispatcher's

	mu sync.Mutex // guards c, the Worker.mu-marked fields of orders, and below
	c  *core
	// cancels handled this term, by EXEC sequence: a redelivered cancel
	// read directly at the takeover is not sent twice.
	handledCancels map[uint64]*cancelReq
	// redoing are the orders (by OrderKey) whose exec message was given
	// back to be redone after their reports could not be stored: a cancel
	// of one waits for it to come back.
	redoing     map[string]bool
	venueDown   string // why the venue is unreachable; "" if it is fine
	halted      bool
	savedSpends uint64 // core.spends when the budget state was last written

	statusMu   sync.Mutex         // held while a status is taken and published: they go out in order
	lastStatus messages.KeyStatus // the last published; statusMu

	// The status ticker's (see tick): when the queued orders are next
	// kept in progress, and whether a budget write is under way.
	nextInProgress time.Time
	saving         atomic.Bool
	bg             context.Context // budget writes; ends after the drain
	saves          sync.WaitGroup

	wake    chan struct{} // cap 1: the dispatcher has something to look at
	post    sync.WaitGroup
	postSem chan struct{} // bounds reporting goroutines; full: the dispatcher waits
}

func newTerm(w *Worker, lease *bus.Lease) *term {
	return &term{
		Worker: w, lease: lease,
		c:              newCore(w.opts.Key, w.opts.QueueSize, w.budget),
		lastPlace:      fastPlace, // no batch before a Place was seen to be fast
		handledCancels: map[uint64]*cancelReq{}, redoing: map[string]bool{},
		wake:    make(chan struct{}, 1),
		postSem: make(chan struct{}, 256),
	}
}

// run executes the key until ctx ends (the lease is lost or the process
// stops), then drains: the consumer stops, messages already delivered are
// taken in, the work in hand is finished, queued messages go back to
// JetStream for the next active worker.
func (t *term) run(ctx context.Context) error {
	var err error
	if t.stream, err = t.js.Stream(ctx, messages.StreamExec); err != nil {
		return fmt.Errorf("executor %s: %w", t.opts.Key, err)
	}
	// The key has an active worker again: say so before the recovery,
	// which may take a while, so the routers do not take the key for
	// down (a key silent for their heartbeat_timeout is) during a takeover.
	t.publishStatus()
	name := ConsumerName(t.opts.Key)
	cons, err := t.js.CreateOrUpdateConsumer(ctx, messages.StreamExec, jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: messages.ExecKeySubjects(t.opts.Key),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.opts.AckWait,
		MaxDeliver:    t.opts.MaxDeliver,
		// Room for both full queues and the orders being reported, so
		// a cancel never waits behind new orders here.
		MaxAckPending:  2*t.opts.QueueSize + 512,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{bus.PriorityGroup},
		PinnedTTL:      bus.PinnedTTL(t.leases.TTL()),
	})
	if err != nil {
		return fmt.Errorf("executor %s: consumer %s: %w", t.opts.Key, name, err)
	}
	// Our predecessor may still be pinned: the pin is ours now.
	if err := bus.Unpin(ctx, t.stream, name); err != nil {
		t.log.Warn().Err(err).Str("consumer", name).Msg("predecessor not unpinned: deliveries wait for its pin to expire")
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	halts := t.opts.Halts
	if halts == nil {
		halts = NewHalts(t.b.Control) // a watch of this term's own
		if err := halts.Start(bg); err != nil {
			return fmt.Errorf("executor %s: watching halts: %w", t.opts.Key, err)
		}
	}
	unfollow := halts.Follow(t.opts.Key, t.seeHalted)
	defer unfollow()
	if err := t.recover(ctx, cons); err != nil {
		return err
	}
	t.checkVenue()
	cc, err := cons.Consume(t.intake, jetstream.PullMaxMessages(min(t.opts.QueueSize, 256)),
		jetstream.PullPriorityGroup(bus.PriorityGroup), jetstream.PullExpiry(bus.PullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				t.log.Warn().Err(err).Str("consumer", name).Msg("consume error")
			}
		}))
	if err != nil {
		return fmt.Errorf("executor %s: consuming %s: %w", t.opts.Key, name, err)
	}
	if t.opts.Shares != nil {
		defer t.opts.Shares.OnGrant(func() { signal(t.wake) })()
	}
	t.log.Info().Str("venue", t.opts.VenueName).Uint64("lease", t.lease.Rev()).Str("taken", t.lease.Taken()).Msg("executor active")
	t.opts.Metrics.Serving(true)
	defer t.opts.Metrics.Serving(false)
	if t.lease.TakenOver() {
		t.opts.Metrics.Takeover()
	}

	var loops sync.WaitGroup
	loops.Go(func() { t.updatesLoop(bg) })
	t.bg = bg
	t.nextInProgress = t.clock.Now().Add(t.opts.AckWait / 3)
	ticker := t.opts.Ticker
	if ticker == nil {
		ticker = NewStatusTicker(t.clock, t.opts.StatusEvery) // a goroutine of this term's own
	}
	t.publishStatus()
	untick := ticker.add(t)

	t.dispatch(ctx)

	// Drain: take in what was delivered, finish what is in hand, give
	// the queued messages back for the next active worker.
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(bus.Timeout): // a bound on the bus, on the wall clock
	}
	t.post.Wait()
	t.giveBack()
	untick()
	t.saves.Wait()
	stopBG()
	unfollow()
	loops.Wait()
	if t.lease.Held() {
		t.saveBudget(context.Background())
		// Stopping, not displaced: say so, so routers move on at once.
		t.mu.Lock()
		t.c.state, t.c.stateMsg = messages.KeyDown, "executor stopped"
		t.mu.Unlock()
		t.publishStatus()
	}
	t.log.Info().Msg("executor term ended")
	return nil
}

// giveBack naks every queued message so the next active worker takes it
// without waiting for AckWait.
func (t *term) giveBack() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, it := range t.c.takeWaiting() {
		if m := it.msgOf(); m != nil {
			_ = m.Nak()
		}
	}
}

// msgOf is the message an item answers. Worker.mu (term.mu) held.
func (it *item) msgOf() message {
	if it.cancel != nil {
		return it.cancel.msg
	}
	return it.order.msg
}

// seeHalted takes in whether the key is halted now.
func (t *term) seeHalted(halted bool) {
	t.mu.Lock()
	t.halted = halted
	t.mu.Unlock()
	t.reconcileState()
}

// venueUnreachable starts the message of a key that is down because its
// venue cannot be reached (it comes back by itself, unlike a revoked key).
const venueUnreachable = "venue unreachable: "

// reconcileState sets the key's state from the halts and the venue's
// health: halted wins, then down while the venue is unreachable; when
// neither holds any more the key is active again (a throttle or ban ends
// by itself, in next).
func (t *term) reconcileState() {
	t.mu.Lock()
	cur, curMsg := t.c.state, t.c.stateMsg
	halted, venueDown := t.halted, t.venueDown
	t.mu.Unlock()
	switch {
	case halted:
		if cur != messages.KeyHalted {
			t.setState(messages.KeyHalted, time.Time{}, "halted by the control service")
		}
	case venueDown != "":
		if cur != messages.KeyDown || curMsg != venueDown {
			t.setState(messages.KeyDown, time.Time{}, venueDown)
		}
	case cur == messages.KeyHalted || (cur == messages.KeyDown && strings.HasPrefix(curMsg, venueUnreachable)):
		t.setState(messages.KeyActive, time.Time{}, "")
	}
}

// setState changes the key's state and publishes it at once. When the key
// turns unusable, the new orders waiting in its queue go back to the
// router for another key of their pool (or are refused, if it is halted
// and they cannot move).
func (t *term) setState(s messages.KeyState, until time.Time, msg string) {
	t.mu.Lock()
	changed, moved, refused := t.c.setState(s, until, msg)
	t.mu.Unlock()
	if !changed {
		return
	}
	t.log.Warn().Str("state", string(s)).Time("until", until).Str("why", msg).Msg("key state")
	t.publishStatus() // at once, not at the next tick
	signal(t.wake)
	t.handOut(moved, refused)
}

// handOut hands back the orders moved out of the queue and refuses those
// refused (see core.clearOut).
func (t *term) handOut(moved, refused []*item) {
	// Finishing work in hand outlives the term's context; every wait on
	// the bus is bounded.
	for _, it := range moved {
		t.async(func() { t.handBack(context.Background(), it) })
	}
	for _, it := range refused {
		t.refuse(context.Background(), it, messages.ReasonHalted, fmt.Sprintf("key %s is halted", t.opts.Key))
	}
}

// async runs f on the bounded pool of reporting goroutines.
func (t *term) async(f func()) {
	t.postSem <- struct{}{}
	t.post.Add(1)
	go func() {
		defer func() { <-t.postSem; t.post.Done() }()
		f()
	}()
}

// tick is the status ticker's look at the key, every StatusEvery: it
// publishes the status when anything in it changed or the last one is
// StatusHeartbeat old (an idle key is heard from every StatusHeartbeat,
// not every second; a change of state went out at once, in setState),
// saves the budget if it was spent, and keeps the queued orders in
// progress. It waits for no I/O but publishes: the budget is written on a
// goroutine of its own, one write at a time.
func (t *term) tick() {
	t.checkVenue()
	t.saveBudgetAsync()
	if now := t.clock.Now(); !now.Before(t.nextInProgress) {
		t.keepQueuedInProgress()
		t.nextInProgress = now.Add(t.opts.AckWait / 3)
	}
	t.statusMu.Lock()
	defer t.statusMu.Unlock()
	if st := t.status(); statusDue(&st, &t.lastStatus, false, t.opts.StatusHeartbeat) {
		t.publishLocked(st)
	}
}

// saveBudgetAsync starts saveBudget on a goroutine unless one is under
// way or nothing was spent since the last write.
func (t *term) saveBudgetAsync() {
	t.mu.Lock()
	same := t.c.spends == t.savedSpends
	t.mu.Unlock()
	if same || !t.saving.CompareAndSwap(false, true) {
		return
	}
	t.saves.Go(func() {
		defer t.saving.Store(false)
		t.saveBudget(t.bg)
	})
}

// statusDue says whether status st is to be published, last being the
// last one published: forced (a change of state), changed, or as old as
// the heartbeat.
func statusDue(st, last *messages.KeyStatus, forced bool, heartbeat time.Duration) bool {
	return forced || !st.SameAs(last) || st.TS.Sub(last.TS) >= heartbeat
}

// checkVenue follows the venue's health, for venues that connect in the
// background: the key is down while the venue is unreachable.
func (t *term) checkVenue() {
	h, ok := t.venue.(interface{ Health() error })
	if !ok {
		return
	}
	why := ""
	if err := h.Health(); err != nil {
		why = venueUnreachable + err.Error()
	}
	t.mu.Lock()
	changed := why != t.venueDown
	t.venueDown = why
	t.mu.Unlock()
	if changed {
		t.reconcileState()
	}
}

// keepQueuedInProgress stops JetStream from redelivering orders that are
// waiting in the queue for budget.
func (t *term) keepQueuedInProgress() {
	t.mu.Lock()
	var msgs []message
	t.c.eachWaiting(func(it *item) {
		if m := it.msgOf(); m != nil {
			msgs = append(msgs, m)
		}
	})
	t.mu.Unlock()
	for _, m := range msgs {
		_ = m.InProgress()
	}
}

// status returns the key's KeyStatus now.
func (t *term) status() messages.KeyStatus {
	now := t.clock.Now()
	t.mu.Lock()
	nq, cq := t.c.depth()
	open := 0
	for _, o := range t.c.orders {
		if !o.placedAt.IsZero() || o.sendDone {
			open++ // sent (both guarded by t.mu; o.phase is o.mu's)
		}
	}
	st := messages.KeyStatus{
		Key: t.opts.Key, Venue: t.opts.VenueName, State: t.c.state, Limits: []messages.LimitStatus{},
		QueueDepth: nq + cq, QueueCancel: cq, Worker: t.id, OpenOrders: open,
		Message: t.c.stateMsg, TS: now.UTC(),
	}
	if t.c.state.Usable() {
		st.Capacity = t.c.capacity(now)
	}
	if !t.c.until.IsZero() {
		u := t.c.until.UTC()
		st.Until = &u
	}
	t.mu.Unlock()
	if p, ok := t.venue.(Pricer); ok {
		st.Prices = p.Prices()
	}
	for _, l := range t.budget.Status(now) {
		name := l.Name
		if l.Symbol != "" {
			name += ":" + l.Symbol // a symbol-scoped limit, one entry per symbol
		}
		st.Limits = append(st.Limits, messages.LimitStatus{
			Name: name, Used: float64(l.Used), Max: float64(l.Max),
			Window: l.Window.Seconds(), ResetsIn: l.ResetsIn.Seconds(),
		})
	}
	return st
}

// publishStatus publishes the key's status now.
func (t *term) publishStatus() {
	t.statusMu.Lock()
	defer t.statusMu.Unlock()
	t.publishLocked(t.status())
}

// publishLocked publishes st and remembers it as the last one published.
// statusMu held, and st taken under it: statuses go out in the order they
// were taken.
func (t *term) publishLocked(st messages.KeyStatus) {
	data, err := json.Marshal(st)
	if err != nil {
		return
	}
	t.lastStatus = st
	_ = t.nc.Publish(messages.KeyStatusSubject(t.opts.Key), data)
}

// updatesLoop applies the venue's asynchronous updates (fills of resting
// orders, closes the venue did itself).
func (t *term) updatesLoop(ctx context.Context) {
	ch := t.venue.Updates()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-ch:
			if !ok {
				return
			}
			t.mu.Lock()
			o := t.c.byClient[u.ClientID]
			t.mu.Unlock()
			if o == nil {
				continue
			}
			o.mu.Lock()
			if !o.sent() {
				o.mu.Unlock()
				continue
			}
			snap := o.snap()
			reps := t.heard(o, u)
			if len(reps) == 0 {
				o.mu.Unlock()
				continue
			}
			t.finish(ctx, o, snap, reps, false, false)
		}
	}
}

// apply is reporter.apply with the anomalies logged loudly.
func (t *term) apply(o *order, u OrderUpdate) []messages.ExecutionReport {
	reps, bad := t.rp.apply(o, u)
	for _, b := range bad {
		t.log.Error().Str("strategy", o.intent.Strategy).Str("client_order_id", o.intent.ClientOrderID).
			Str("venue_order_id", o.venueOrderID).Str("anomaly", b).Msg("venue update not reported: it does not fit the order")
	}
	return reps
}
