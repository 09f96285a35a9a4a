package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Budget is the rate budget of a key, as the worker uses it
// (*budget.Budget implements it).
type Budget interface {
	Earliest(now time.Time, op budget.Op) (time.Time, bool)
	TryTake(now time.Time, op budget.Op) (bool, time.Duration)
	Observe(now time.Time, limit string, used int64)
	Status(now time.Time) []budget.LimitState
	// Clone returns a private copy to plan on.
	Clone() *budget.Budget
}

var _ Budget = (*budget.Budget)(nil)

// Options configure a Worker; zero values take the defaults.
type Options struct {
	// Key is the key ID this worker serves; VenueName the venue's ID in
	// the config (reported in reports and status).
	Key       string
	VenueName string
	// QueueSize bounds the new orders waiting for budget (default 1024);
	// an order arriving at a full queue is rejected with rate_limited.
	// Cancels have a queue of the same size.
	QueueSize int
	// AckWait is how long JetStream waits for an ack before redelivering
	// (default 10s); waiting orders are kept in progress meanwhile.
	AckWait time.Duration
	// StatusEvery is the KeyStatus heartbeat period (default 1s).
	StatusEvery time.Duration
	// WorkerID names this worker in KeyStatus (default key@pid-ish).
	WorkerID string
	Now      func() time.Time
	Logger   zerolog.Logger
	// Metrics receives what only the worker can count (nil: NopMetrics).
	Metrics Metrics
}

// Worker executes one key's orders. Create with NewWorker, start with Run.
type Worker struct {
	opts   Options
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	ctl    jetstream.KeyValue // halts; nil: none
	venue  Venue
	budget Budget
	log    zerolog.Logger
	now    func() time.Time

	mu       sync.Mutex
	newQ     queue
	cancelQ  queue
	orders   map[string]*order // by OrderKey, orders not yet terminal
	byClient map[string]*order // by venue client ID
	state    messages.KeyState
	until    time.Time
	stateMsg string
	// shadow is a private copy of the budget with every queued request
	// planned in it, shadowTail the instant of the last; nil when it must
	// be rebuilt. See project.
	shadow     *budget.Budget
	shadowTail time.Time

	wake    chan struct{} // cap 1: the dispatcher has something to look at
	changed chan struct{} // cap 1: state changed, publish status now
	post    sync.WaitGroup
	postSem chan struct{}
}

// NewWorker returns a worker for opts.Key over venue with budget b. The
// streams and buckets must exist (router.Provision): kv is the order-state
// bucket, control the bucket of halts (nil: the key is never halted).
func NewWorker(nc *nats.Conn, js jetstream.JetStream, kv, control jetstream.KeyValue, venue Venue, b Budget, opts Options) *Worker {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 10 * time.Second
	}
	if opts.StatusEvery <= 0 {
		opts.StatusEvery = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = NopMetrics{}
	}
	if opts.WorkerID == "" {
		opts.WorkerID = opts.Key + "@" + nats.NewInbox()[7:15]
	}
	return &Worker{
		opts: opts, nc: nc, js: js, kv: kv, ctl: control, venue: venue, budget: b, now: opts.Now,
		log:    opts.Logger.With().Str("role", "executor").Str("key", opts.Key).Logger(),
		orders: map[string]*order{}, byClient: map[string]*order{},
		state: messages.KeyActive,
		wake:  make(chan struct{}, 1), changed: make(chan struct{}, 1),
		postSem: make(chan struct{}, 256),
	}
}

// Consumer names of a key's partition.
func consumerNames(key string) (newName, cancelName string) {
	return "exec-" + key + "-new", "exec-" + key + "-cancel"
}

// Run serves the key until ctx is done. On return every order in hand has
// been finished or nak'ed back to JetStream.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.recover(ctx); err != nil {
		return err
	}
	newName, cancelName := consumerNames(w.opts.Key)
	var ccs []jetstream.ConsumeContext
	defer func() {
		for _, cc := range ccs {
			cc.Stop()
		}
	}()
	for _, c := range []struct {
		name, subject string
		max           int
		intake        func(jetstream.Msg)
	}{
		{newName, messages.ExecNewSubject(w.opts.Key), w.opts.QueueSize, w.intakeNew},
		{cancelName, messages.ExecCancelSubject(w.opts.Key), w.opts.QueueSize, w.intakeCancel},
	} {
		cons, err := w.js.CreateOrUpdateConsumer(ctx, messages.StreamExec, jetstream.ConsumerConfig{
			Durable:       c.name,
			FilterSubject: c.subject,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       w.opts.AckWait,
			// Room for a full queue plus the orders being reported, and a
			// few more so an overflow is seen (and rejected) at once.
			MaxAckPending: c.max + 512,
		})
		if err != nil {
			return fmt.Errorf("executor %s: consumer %s: %w", w.opts.Key, c.name, err)
		}
		cc, err := cons.Consume(c.intake, jetstream.PullMaxMessages(min(c.max, 256)),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				if !errors.Is(err, jetstream.ErrNoHeartbeat) {
					w.log.Warn().Err(err).Str("consumer", c.name).Msg("consume error")
				}
			}))
		if err != nil {
			return fmt.Errorf("executor %s: consuming %s: %w", w.opts.Key, c.name, err)
		}
		ccs = append(ccs, cc)
	}
	w.log.Info().Str("venue", w.opts.VenueName).Msg("executor started")
	w.opts.Metrics.Serving(true) // metrics call site 1 of 4 (and the defer below)
	defer w.opts.Metrics.Serving(false)

	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	if w.ctl != nil {
		if err := w.watchHalts(bgCtx); err != nil {
			return fmt.Errorf("executor %s: watching halts: %w", w.opts.Key, err)
		}
	}
	bg.Add(2)
	go func() { defer bg.Done(); w.statusLoop(bgCtx) }()
	go func() { defer bg.Done(); w.updatesLoop(bgCtx) }()

	w.dispatch(ctx)

	for _, cc := range ccs {
		cc.Stop()
	}
	ccs = nil
	w.post.Wait()
	w.handBack()
	stopBG()
	bg.Wait()
	w.publishStatus()
	w.log.Info().Msg("executor stopped")
	return nil
}

// handBack naks every queued message so another worker (or this one after
// a restart) takes it without waiting for AckWait.
func (w *Worker) handBack() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, q := range []*queue{&w.cancelQ, &w.newQ} {
		for it := q.pop(); it != nil; it = q.pop() {
			_ = it.msg.Nak()
		}
	}
}

// signal wakes the dispatcher without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// setState changes the key's state and publishes it at once. When the key
// turns unusable, the new orders waiting in its queue are handed back to
// the router to go to another key of their pool (see handBackQueued).
func (w *Worker) setState(s messages.KeyState, until time.Time, msg string) {
	w.mu.Lock()
	changed := w.state != s || !w.until.Equal(until)
	w.state, w.until, w.stateMsg = s, until, msg
	w.mu.Unlock()
	if changed {
		w.log.Warn().Str("state", string(s)).Time("until", until).Str("why", msg).Msg("key state")
		signal(w.changed)
		signal(w.wake)
		if !s.Usable() {
			w.handBackQueued(context.Background())
		}
	}
}

// State returns the key's state.
func (w *Worker) State() messages.KeyState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

func (w *Worker) statusLoop(ctx context.Context) {
	t := time.NewTicker(w.opts.StatusEvery)
	defer t.Stop()
	inProgress := time.NewTicker(w.opts.AckWait / 3)
	defer inProgress.Stop()
	w.publishStatus()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.changed:
		case <-inProgress.C:
			w.keepQueuedInProgress()
			continue
		}
		w.publishStatus()
	}
}

// keepQueuedInProgress stops JetStream from redelivering orders that are
// waiting in the queue for budget.
func (w *Worker) keepQueuedInProgress() {
	w.mu.Lock()
	var msgs []jetstream.Msg
	for _, q := range []*queue{&w.cancelQ, &w.newQ} {
		q.each(func(it *item) { msgs = append(msgs, it.msg) })
	}
	w.mu.Unlock()
	for _, m := range msgs {
		_ = m.InProgress()
	}
}

// Status returns the key's KeyStatus now.
func (w *Worker) Status() messages.KeyStatus {
	now := w.now()
	w.mu.Lock()
	st := messages.KeyStatus{
		Key: w.opts.Key, Venue: w.opts.VenueName, State: w.state, Limits: []messages.LimitStatus{},
		QueueDepth: w.newQ.len() + w.cancelQ.len(), QueueCancel: w.cancelQ.len(), Worker: w.opts.WorkerID,
		OpenOrders: len(w.orders) - w.newQ.len(),
		Message:    w.stateMsg, TS: now.UTC(),
	}
	if !w.until.IsZero() {
		u := w.until.UTC()
		st.Until = &u
	}
	w.mu.Unlock()
	if p, ok := w.venue.(Pricer); ok {
		st.Prices = p.Prices()
	}
	for _, l := range w.budget.Status(now) {
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

func (w *Worker) publishStatus() {
	data, err := json.Marshal(w.Status())
	if err != nil {
		return
	}
	_ = w.nc.Publish(messages.KeyStatusSubject(w.opts.Key), data)
}
