package executors

import (
	"context"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

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
	// MaxDeliver bounds the deliveries of one exec message (default 50):
	// one that still fails is answered for good on its last delivery.
	MaxDeliver int
	// StatusEvery is how often the key's status is looked at (default
	// 1s): it is published when it changed, and at least every
	// StatusHeartbeat (default messages.KeyStatusHeartbeat) when it did
	// not; a change of state is published at once.
	StatusEvery, StatusHeartbeat time.Duration
	// Ticker, if set, looks at the key instead of a ticker of the
	// worker's own (with StatusEvery): one goroutine and one timer for
	// every worker of the process. Its period replaces StatusEvery.
	Ticker *StatusTicker
	// RequestValidity bounds how long after it was sent a Place can
	// still take effect at the venue (its request window, e.g. Binance's
	// recvWindow, or the request timeout); a worker taking over a key
	// asks the venue about an order its predecessor was sending only
	// after that (default 10s).
	RequestValidity time.Duration
	Clock           bus.Clock
	Logger          zerolog.Logger
	// Metrics receives what only the worker can count (nil: NopMetrics).
	Metrics Metrics
	// Shares, if the budget's group limits are leased from it, wakes the
	// worker when it grants units.
	Shares *Shares
	// Halts, if set (and started), tells the worker of its key's halts:
	// one watch for every worker of the process. Without it each term
	// watches CONTROL itself.
	Halts *Halts
}

// Worker executes one key's orders: any number of workers of one key may
// run in any processes; the one holding the key's lease is active, the
// others wait to take over. Create with NewWorker, start with Run.
type Worker struct {
	opts   Options
	nc     *nats.Conn
	js     jetstream.JetStream
	b      bus.Buckets
	leases *bus.Leases
	venue  Venue
	budget Budget
	log    zerolog.Logger
	clock  bus.Clock
	id     string // KeyStatus.worker
	rp     reporter

	mu   sync.Mutex
	term *term // the active term; nil while standing by
}

// NewWorker returns a worker for opts.Key over venue with budget b. The
// streams and buckets must exist (bus.Provision); leases is this
// process's lease view (started).
func NewWorker(nc *nats.Conn, js jetstream.JetStream, b bus.Buckets, leases *bus.Leases, venue Venue, bud Budget, opts Options) *Worker {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 10 * time.Second
	}
	if opts.MaxDeliver <= 0 {
		opts.MaxDeliver = 50
	}
	if opts.StatusEvery <= 0 {
		opts.StatusEvery = time.Second
	}
	if opts.StatusHeartbeat <= 0 {
		opts.StatusHeartbeat = messages.KeyStatusHeartbeat
	}
	if opts.RequestValidity <= 0 {
		opts.RequestValidity = 10 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = bus.RealClock
	}
	if opts.Metrics == nil {
		opts.Metrics = NopMetrics{}
	}
	return &Worker{
		opts: opts, nc: nc, js: js, b: b, leases: leases, venue: venue, budget: bud, clock: opts.Clock,
		log: opts.Logger.With().Str("role", "executor").Str("key", opts.Key).Logger(),
		id:  opts.Key + "@" + leases.Instance(),
		rp:  reporter{key: opts.Key, venue: opts.VenueName},
	}
}

// ConsumerName is the durable consumer of key's partition of EXEC.
func ConsumerName(key string) string { return "exec-" + key }

// Run serves the key until ctx is done: it stands by until it holds the
// key's lease, then executes (a term) until ctx ends or the lease is
// lost, and stands by again. On return the lease is released and every
// order in hand is finished or handed back to JetStream for the next
// active worker.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info().Str("worker", w.id).Msg("executor standing by for the key's lease")
	return w.leases.Hold(ctx, w.b.Orders, messages.LeaseKey(w.opts.Key), "*.=lease", w.serve)
}

// serve runs one term with lease; ctx ends when the lease is lost or the
// process stops.
func (w *Worker) serve(ctx context.Context, lease *bus.Lease) error {
	t := newTerm(w, lease)
	// A venue request under way finishes on a clean stop (its outcome is
	// then known and reported), but not once the lease is lost: the next
	// active worker asks the venue about the order, and must not wait for
	// this one to give up first.
	vctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer lease.AfterLost(cancel)()
	t.vctx = vctx
	w.mu.Lock()
	w.term = t
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.term = nil
		w.mu.Unlock()
	}()
	return t.run(ctx)
}

// Active reports whether this worker holds the key's lease now.
func (w *Worker) Active() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.term != nil
}

// ID names the worker in KeyStatus: <key>@<instance>.
func (w *Worker) ID() string { return w.id }

func (w *Worker) current() *term {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.term
}

// State returns the key's state as this worker sees it ("" while it
// stands by).
func (w *Worker) State() messages.KeyState {
	if t := w.current(); t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.c.state
	}
	return ""
}

// Status returns the key's KeyStatus now (state down while this worker
// stands by).
func (w *Worker) Status() messages.KeyStatus {
	if t := w.current(); t != nil {
		return t.status()
	}
	return messages.KeyStatus{Key: w.opts.Key, Venue: w.opts.VenueName, State: messages.KeyDown, Limits: []messages.LimitStatus{},
		Worker: w.id, Message: "standing by", TS: w.clock.Now().UTC()}
}

// BudgetWaits counts the times this worker's next request had to wait for
// budget in its current term (a key whose queue never backs up has none).
func (w *Worker) BudgetWaits() uint64 {
	if t := w.current(); t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.c.budgetWaits
	}
	return 0
}

// signal wakes a loop without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// readRecord reads the order-state record at stateKey from the stream's
// leader; found false if there is none (or it expired).
func (w *Worker) readRecord(ctx context.Context, stateKey string) (rec messages.OrderRecord, found bool, err error) {
	m, found, err := bus.ReadLast(ctx, w.js, "KV_"+messages.BucketOrders, messages.OrderStateSubject(stateKey))
	if err != nil || !found {
		return rec, false, err
	}
	if rec, err = messages.DecodeOrderRecord(m.Data()); err != nil {
		return rec, false, err
	}
	return rec, true, nil
}
