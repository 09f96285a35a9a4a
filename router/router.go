package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Consumer names on ORDERS. Each strategy has its own line: a consumer for
// its new orders and one for its cancels (so a burst of new orders never
// delays a cancel, and one strategy's burst never delays another's).
const (
	ConsumerReroute = "router-reroute"
	ConsumerStray   = "router-stray"
)

// ConsumerNew and ConsumerCancel name strategy's consumers.
func ConsumerNew(strategy string) string    { return "router-new-" + strategy }
func ConsumerCancel(strategy string) string { return "router-cancel-" + strategy }

// LeaseKey is the router lease's key in the CONTROL bucket: the active
// router holds it.
const LeaseKey = "lease.router"

// Options tune a Router; zero values take the defaults.
type Options struct {
	// Workers bounds the intents of one strategy handled at once (default
	// 64). The strategy's consumer pulls no more than that ahead, so a
	// slow bus backs up into ORDERS, never into memory.
	Workers int
	// AckWait is how long JetStream waits before redelivering an intent
	// the router took but did not finish (default 30s); MaxDeliver bounds
	// its deliveries (default 20): a message still failing on its last
	// is dropped with a log.
	AckWait    time.Duration
	MaxDeliver int
	// HeartbeatTimeout: a key silent this long is down (default 3s).
	HeartbeatTimeout time.Duration
	Clock            bus.Clock
	Logger           zerolog.Logger
	// Reload, if set, reads the config again for a reload request.
	Reload func() (*configs.Config, error)
	// Metrics receives what only the router can count (nil: NopMetrics).
	Metrics Metrics
	// ControlAccount, if set, is the only NATS account whose requests the
	// control service answers, as the server names it in Nats-Request-Info
	// (see caller.go); empty answers anyone who may publish on keyrouter.>.
	ControlAccount string
}

// Router routes intents to key partitions. Any number may run; the one
// holding the router lease routes, the others follow the keys' health,
// the halts and the reloads, ready to take over. Create with New, start
// with Run.
type Router struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	b      bus.Buckets
	leases *bus.Leases
	cfg    atomic.Pointer[configs.Config]
	health *Health
	book   *Book
	halts  *Halts
	opts   Options
	log    zerolog.Logger
	clock  bus.Clock

	mu     sync.Mutex
	active *term // nil while standing by
}

// New returns a Router over the provisioned streams and buckets (see
// bus.Provision); leases is this process's lease view (started).
func New(nc *nats.Conn, js jetstream.JetStream, b bus.Buckets, leases *bus.Leases, cfg *configs.Config, opts Options) *Router {
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.MaxDeliver <= 0 {
		opts.MaxDeliver = 20
	}
	if opts.Clock == nil {
		opts.Clock = bus.RealClock
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = cfg.Router.HeartbeatTimeout
	}
	if opts.Metrics == nil {
		opts.Metrics = NopMetrics{}
	}
	r := &Router{nc: nc, js: js, b: b, leases: leases, opts: opts, clock: opts.Clock,
		log:    opts.Logger.With().Str("role", "router").Logger(),
		health: NewHealth(opts.HeartbeatTimeout), book: NewBook(), halts: NewHalts()}
	r.health.SetAlive(func(worker string) bool {
		_, instance, ok := strings.Cut(worker, "@")
		return ok && leases.Alive(instance)
	})
	r.cfg.Store(cfg)
	return r
}

// Health returns the router's view of the keys.
func (r *Router) Health() *Health { return r.health }

// Active reports whether this router holds the router lease now.
func (r *Router) Active() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active != nil
}

// Reload replaces the config used for intents that arrive from now on.
func (r *Router) Reload(cfg *configs.Config) {
	r.cfg.Store(cfg)
	r.mu.Lock()
	t := r.active
	r.mu.Unlock()
	if t != nil {
		t.reloaded()
	}
}

// view is what ChooseKey sees: health and load, the book, the halts.
type view struct {
	*Health
	*Book
	*Halts
}

// Run serves until ctx is done: it follows the keys' health, the halts
// and reload requests from the start (a hot standby), and routes while it
// holds the router lease. On return the intents in hand are finished or
// left for redelivery, and the lease is released.
func (r *Router) Run(ctx context.Context) error {
	sub, err := r.nc.Subscribe(messages.KeysPrefix+"*.status", func(m *nats.Msg) {
		var st messages.KeyStatus
		// Only the subject says whose status it is: with the generated
		// permissions only key K's executor may publish keys.K.status, so a
		// payload naming another key is a forgery.
		if err := json.Unmarshal(m.Data, &st); err == nil && st.Key != "" && m.Subject == messages.KeyStatusSubject(st.Key) {
			r.health.Observe(st, r.clock.Now())
		}
	})
	if err != nil {
		return fmt.Errorf("router: subscribing to key status: %w", err)
	}
	defer sub.Unsubscribe()
	if err := r.halts.Watch(ctx, r.b.Control); err != nil {
		return fmt.Errorf("router: watching halts: %w", err)
	}
	if err := r.watchReloads(ctx); err != nil {
		return fmt.Errorf("router: watching reloads: %w", err)
	}
	svc, err := r.serveControl()
	if err != nil {
		return fmt.Errorf("router: control service: %w", err)
	}
	defer func() { _ = svc.Stop() }()
	r.log.Info().Str("instance", r.leases.Instance()).Msg("router standing by for the router lease")
	return r.leases.Hold(ctx, r.b.Control, LeaseKey, "lease.*", r.serve)
}

// serve is one term of this router holding the router lease (bus.Term).
func (r *Router) serve(ctx context.Context, lease *bus.Lease) error {
	t := &term{Router: r, lines: map[string]*line{}, starts: map[string]uint64{}}
	if lease.TakenOver() {
		r.opts.Metrics.Takeover()
	}
	r.mu.Lock()
	r.active = t
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.active = nil
		r.mu.Unlock()
	}()
	return t.run(ctx)
}

// term is one spell of this router holding the lease.
type term struct {
	*Router
	orders jetstream.Stream // ORDERS
	exec   jetstream.Stream // EXEC
	ctx    context.Context  // the term's; ends when the lease is lost

	mu      sync.Mutex
	lines   map[string]*line  // by consumer name
	stray   []string          // subjects of unconfigured strategies, served by the stray line
	starts  map[string]uint64 // subject → first ORDERS sequence its line takes, if not the first
	follow  jetstream.ConsumeContext
	handled sync.WaitGroup
}

// line is one consumer of ORDERS with its own bound on intents in hand
// and its own order of effects.
type line struct {
	name   string
	cc     jetstream.ConsumeContext
	sem    chan struct{}
	seq    *sequencer
	handle func(context.Context, jetstream.Msg, *turn)
}

func (t *term) run(ctx context.Context) error {
	t.ctx = ctx
	var err error
	if t.orders, err = t.js.Stream(ctx, messages.StreamOrders); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	if t.exec, err = t.js.Stream(ctx, messages.StreamExec); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	if err := t.rebuildBook(ctx); err != nil {
		return fmt.Errorf("router: open orders: %w", err)
	}
	if err := t.followIfNeeded(); err != nil {
		return fmt.Errorf("router: following reports: %w", err)
	}
	if err := t.openLine(ConsumerReroute, messages.OrdersReroutePrefix+"*", t.handleReroute); err != nil {
		return err
	}
	if err := t.ensureLines(); err != nil {
		return err
	}
	t.log.Info().Msg("router active")
	t.opts.Metrics.Serving(true)
	defer t.opts.Metrics.Serving(false)
	for {
		select {
		case <-ctx.Done():
			t.stop()
			t.log.Info().Msg("router term ended")
			return nil
		case <-t.clock.After(time.Second):
			// Intents of strategies the config does not know are answered
			// by the stray line; find their subjects.
			if err := t.findStrays(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn().Err(err).Msg("looking for unconfigured strategies")
			}
		}
	}
}

// stop drains every line (no more pulls; what was delivered is handled)
// and waits for the intents in hand.
func (t *term) stop() {
	t.mu.Lock()
	lines := make([]*line, 0, len(t.lines))
	for _, l := range t.lines {
		lines = append(lines, l)
	}
	if t.follow != nil {
		t.follow.Stop()
	}
	t.mu.Unlock()
	for _, l := range lines {
		l.cc.Drain()
	}
	deadline := time.After(bus.Timeout) // one bound for all: a router that lost its lease steps aside quickly
	for _, l := range lines {
		select {
		case <-l.cc.Closed():
		case <-deadline:
		}
	}
	t.handled.Wait()
}

// reloaded opens the lines of strategies a reload added.
func (t *term) reloaded() {
	if err := t.ensureLines(); err != nil {
		t.log.Error().Err(err).Msg("opening the lines of new strategies")
	}
	if err := t.followIfNeeded(); err != nil {
		t.log.Error().Err(err).Msg("following reports for max_open_notional")
	}
}

// ensureLines opens a line for each configured strategy that has none.
func (t *term) ensureLines() error {
	for s := range t.cfg.Load().Strategies {
		if err := t.openLine(ConsumerNew(s), messages.OrdersNewSubject(s), t.handleNew); err != nil {
			return err
		}
		if err := t.openLine(ConsumerCancel(s), messages.OrdersCancelSubject(s), t.handleCancel); err != nil {
			return err
		}
	}
	return nil
}

// openLine creates (or binds) the consumer name on filter and starts
// handling its messages, unless it is open already. A strategy line made
// for a subject the stray line served starts where the stray line got
// to: what came before was answered unknown_strategy there.
func (t *term) openLine(name, filter string, handle func(context.Context, jetstream.Msg, *turn)) error {
	t.mu.Lock()
	_, open := t.lines[name]
	wasStray := slices.Contains(t.stray, filter)
	t.mu.Unlock()
	if open {
		return nil
	}
	cfg := t.consumerConfig(name)
	cfg.FilterSubject = filter
	ctx, cancel := bus.Bounded(t.ctx)
	defer cancel()
	if c, err := t.js.Consumer(ctx, messages.StreamOrders, name); err == nil {
		// It exists: bind it as it is (its start cannot change).
		cfg.DeliverPolicy, cfg.OptStartSeq = c.CachedInfo().Config.DeliverPolicy, c.CachedInfo().Config.OptStartSeq
	} else if wasStray {
		stray, err := t.js.Consumer(ctx, messages.StreamOrders, ConsumerStray)
		if err != nil {
			return fmt.Errorf("router: stray consumer: %w", err)
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, stray.CachedInfo().Delivered.Stream+1
	}
	if cfg.DeliverPolicy == jetstream.DeliverByStartSequencePolicy {
		t.mu.Lock()
		t.starts[filter] = cfg.OptStartSeq
		t.mu.Unlock()
	}
	return t.startLine(cfg, handle)
}

// lineStart returns the ORDERS sequence from which subject's strategy line
// takes its messages, and false if it has no line.
func (t *term) lineStart(subject string) (uint64, bool) {
	s, ok := messages.StrategyFromSubject(subject)
	if !ok {
		return 0, false
	}
	if _, known := t.cfg.Load().Strategies[s]; !known {
		return 0, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.starts[subject], true
}

func (t *term) consumerConfig(name string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        name,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        t.opts.AckWait,
		MaxDeliver:     t.opts.MaxDeliver,
		MaxAckPending:  4 * t.opts.Workers,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{bus.PriorityGroup},
		PinnedTTL:      bus.PinnedTTL(t.leases.TTL()),
	}
}

func (t *term) startLine(cfg jetstream.ConsumerConfig, handle func(context.Context, jetstream.Msg, *turn)) error {
	cons, err := t.js.CreateOrUpdateConsumer(t.ctx, messages.StreamOrders, cfg)
	if err != nil {
		return fmt.Errorf("router: consumer %s: %w", cfg.Durable, err)
	}
	if err := bus.Unpin(t.ctx, t.orders, cfg.Durable); err != nil {
		t.log.Warn().Err(err).Str("consumer", cfg.Durable).Msg("predecessor not unpinned: deliveries wait for its pin to expire")
	}
	l := &line{name: cfg.Durable, sem: make(chan struct{}, t.opts.Workers), seq: newSequencer(), handle: handle}
	// Handlers run on their own context: the end of the term stops the
	// pulling, not the intents already taken (every wait is bounded).
	work := context.WithoutCancel(t.ctx)
	l.cc, err = cons.Consume(func(m jetstream.Msg) {
		l.sem <- struct{}{}
		t.handled.Add(1)
		tk := l.seq.ticket()
		go func() {
			defer func() { tk.release(); <-l.sem; t.handled.Done() }()
			l.handle(work, m, tk)
		}()
	}, jetstream.PullMaxMessages(t.opts.Workers), jetstream.PullPriorityGroup(bus.PriorityGroup), jetstream.PullExpiry(bus.PullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				t.log.Warn().Err(err).Str("consumer", cfg.Durable).Msg("consume error")
			}
		}))
	if err != nil {
		return fmt.Errorf("router: consuming %s: %w", cfg.Durable, err)
	}
	t.mu.Lock()
	t.lines[cfg.Durable] = l
	t.mu.Unlock()
	return nil
}

// lastDelivery reports whether m is on its last delivery: what fails now
// is dropped with a log.
func (t *term) lastDelivery(m jetstream.Msg) bool {
	meta, err := m.Metadata()
	return err != nil || meta.NumDelivered >= uint64(t.opts.MaxDeliver)
}

// retry gives m back for a later delivery after a failure, or on its last
// delivery drops it with a log: nothing is redelivered for ever.
func (t *term) retry(m jetstream.Msg, what string, err error) {
	if t.lastDelivery(m) {
		t.log.Error().Err(err).Str("subject", m.Subject()).Msg(what + " failed on the message's last delivery; dropped")
		_ = m.Term()
		return
	}
	t.log.Warn().Err(err).Str("subject", m.Subject()).Msg(what + " failed; will retry")
	_ = m.NakWithDelay(100 * time.Millisecond)
}
