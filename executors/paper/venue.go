package paper

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// VenueName is the Name of every paper Venue.
const VenueName = "paper"

// VenueOptions configures a Venue. The zero value is a Venue with no
// latency and no limits.
type VenueOptions struct {
	// Latency is the simulated round trip of a request: half before the
	// Exchange sees it, half after. A context ending in the first half
	// returns an Unavailable error (nothing happened), in the second an
	// Unknown one (it happened; query before acting).
	Latency time.Duration
	// Limits are the venue's own rate limits on this key.
	Limits []RateLimit
	// UpdateBuffer is the capacity of the Updates channel; 64 if zero
	// (behind it, the Exchange's subscription holds
	// Config.SubscriberBuffer more).
	UpdateBuffer int
	// AllAccountOrders makes Updates deliver every order of the account,
	// not only those placed or queried (while open) through this Venue.
	AllAccountOrders bool
}

// Validate reports whether the options are usable.
func (o VenueOptions) Validate() error {
	if o.Latency < 0 || o.UpdateBuffer < 0 {
		return errors.New("paper: negative latency or update buffer")
	}
	_, err := newLimiter(o.Limits)
	return err
}

// Venue is an executors.Venue for one API key, trading as an account of an
// Exchange in process. It is safe for concurrent use.
type Venue struct {
	x       *Exchange
	account string
	latency time.Duration
	limits  *limiter
	all     bool

	rejections atomic.Int64
	closed     atomic.Bool

	mu  sync.Mutex
	own map[string]struct{} // client IDs whose updates Updates delivers

	updates     chan executors.OrderUpdate
	unsubscribe func()
	stop        chan struct{}
	closeOnce   sync.Once

	// Updates that found Updates full wait in q (at most qmax, the
	// Exchange's SubscriberBuffer) for a goroutine that runs only while
	// they do: an idle Venue holds neither a goroutine nor a buffer
	// beyond Updates'.
	qmu        sync.Mutex
	q          []executors.OrderUpdate
	qmax       int
	forwarding bool // the goroutine runs: new updates queue behind q
	shut       bool // Close began: nothing more goes into Updates
	fwd        sync.WaitGroup
}

var _ executors.Venue = (*Venue)(nil)

// NewVenue returns a Venue trading as account on x; Close ends it. It
// panics if opts do not Validate, so check configuration with Validate
// first.
func NewVenue(x *Exchange, account string, opts VenueOptions) *Venue {
	if opts.Latency < 0 || opts.UpdateBuffer < 0 {
		panic("paper: negative latency or update buffer")
	}
	l, err := newLimiter(opts.Limits)
	if err != nil {
		panic(err)
	}
	if opts.UpdateBuffer == 0 {
		opts.UpdateBuffer = 64
	}
	v := &Venue{
		x: x, account: account, latency: opts.Latency, limits: l, all: opts.AllAccountOrders,
		own:     make(map[string]struct{}),
		updates: make(chan executors.OrderUpdate, opts.UpdateBuffer),
		stop:    make(chan struct{}),
		qmax:    x.subBuf,
	}
	v.unsubscribe = x.subscribeFunc(account, v.offer)
	return v
}

// Name returns "paper".
func (v *Venue) Name() string { return VenueName }

// Rejections429 returns how many requests this Venue refused for a rate
// limit.
func (v *Venue) Rejections429() int64 { return v.rejections.Load() }

// Place sends o to the Exchange; see executors.Venue.
func (v *Venue) Place(ctx context.Context, o executors.Order) (executors.OrderUpdate, error) {
	usage, err := v.request(ctx, ClassNew)
	if err != nil {
		return executors.OrderUpdate{}, err
	}
	added := v.adopt(o.ClientID)
	u, err := v.x.Place(v.account, o)
	if err != nil && added {
		v.mu.Lock()
		delete(v.own, o.ClientID)
		v.mu.Unlock()
	}
	return v.answer(ctx, u, err, usage)
}

// Cancel cancels the order clientID of symbol; see executors.Venue.
func (v *Venue) Cancel(ctx context.Context, symbol, clientID string) (executors.OrderUpdate, error) {
	usage, err := v.request(ctx, ClassCancel)
	if err != nil {
		return executors.OrderUpdate{}, err
	}
	u, err := v.x.Cancel(v.account, symbol, clientID)
	return v.answer(ctx, u, err, usage)
}

// Query returns the order clientID of symbol; see executors.Venue.
func (v *Venue) Query(ctx context.Context, symbol, clientID string) (executors.OrderUpdate, error) {
	usage, err := v.request(ctx, ClassQuery)
	if err != nil {
		return executors.OrderUpdate{}, err
	}
	u, err := v.x.Query(v.account, symbol, clientID)
	if err == nil && !u.Status.Terminal() {
		v.adopt(clientID)
	}
	return v.answer(ctx, u, err, usage)
}

// request is the outbound half: the first half of the latency, then the
// rate limits.
func (v *Venue) request(ctx context.Context, class string) ([]executors.Usage, error) {
	if v.closed.Load() {
		return nil, &executors.VenueError{Kind: executors.Unavailable, Reason: messages.ReasonVenueError,
			Message: "venue closed"}
	}
	if err := v.wait(ctx, v.latency/2); err != nil {
		return nil, &executors.VenueError{Kind: executors.Unavailable, Reason: messages.ReasonVenueError,
			Message: "request not sent", Err: err}
	}
	usage, err := v.limits.admit(class, v.x.clock())
	if err != nil {
		v.rejections.Add(1)
	}
	return usage, err
}

// answer is the return half: the rest of the latency, then the answer
// with the usage.
func (v *Venue) answer(ctx context.Context, u executors.OrderUpdate, err error, usage []executors.Usage) (executors.OrderUpdate, error) {
	if werr := v.wait(ctx, v.latency-v.latency/2); werr != nil {
		return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
			Message: "no answer", Err: werr}
	}
	if err != nil {
		var ve *executors.VenueError
		if errors.As(err, &ve) {
			ve.Usage = usage
		}
		u.Usage = usage
		return u, err
	}
	u.Usage = usage
	return u, nil
}

func (v *Venue) wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// adopt makes Updates deliver clientID's updates; it reports whether the
// ID was new.
func (v *Venue) adopt(clientID string) bool {
	if v.all {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.own[clientID]; ok {
		return false
	}
	v.own[clientID] = struct{}{}
	return true
}

// owns reports whether u is for Updates, and forgets a closed order.
func (v *Venue) owns(u executors.OrderUpdate) bool {
	if v.all {
		return true
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.own[u.ClientID]
	if ok && u.Status.Terminal() {
		delete(v.own, u.ClientID)
	}
	return ok
}

// Updates delivers the updates of this Venue's orders: those placed or
// queried (while open) through it, or every order of the
// account with AllAccountOrders. Each carries the fills of its event. The
// channel holds UpdateBuffer updates; when it is full the forwarding waits,
// the Exchange's subscription fills up and the Exchange drops (and counts)
// further updates, so a reader that falls behind recovers with Query. It is
// closed by Close.
func (v *Venue) Updates() <-chan executors.OrderUpdate { return v.updates }

// offer takes an update from the Exchange (x.mu held: it never waits):
// into Updates if it has room and nothing waits before it, else behind
// the updates waiting, for the forwarding goroutine; false if they are
// already as many as the Exchange's SubscriberBuffer.
func (v *Venue) offer(u executors.OrderUpdate) bool {
	if !v.owns(u) {
		return true
	}
	v.qmu.Lock()
	defer v.qmu.Unlock()
	if v.shut {
		return true
	}
	if !v.forwarding {
		select {
		case v.updates <- u:
			return true
		default:
		}
	}
	if len(v.q) >= v.qmax {
		return false
	}
	v.q = append(v.q, u)
	if !v.forwarding {
		v.forwarding = true
		v.fwd.Add(1)
		go v.forward()
	}
	return true
}

// forward moves the waiting updates into Updates, in order, and ends
// when none waits (or at Close).
func (v *Venue) forward() {
	defer v.fwd.Done()
	for {
		v.qmu.Lock()
		if len(v.q) == 0 || v.shut {
			v.forwarding, v.q = false, nil // its array is given back
			v.qmu.Unlock()
			return
		}
		// u stays in q until it is in Updates, so that it counts
		// against qmax while this goroutine holds it.
		u := v.q[0]
		v.qmu.Unlock()
		select {
		case v.updates <- u:
		case <-v.stop:
			return
		}
		v.qmu.Lock()
		if len(v.q) > 0 {
			v.q[0] = executors.OrderUpdate{}
			v.q = v.q[1:]
		}
		v.qmu.Unlock()
	}
}

// Close ends the subscription, waits for the forwarding goroutine (if
// one runs) and closes Updates. Requests after Close fail as Unavailable.
func (v *Venue) Close() error {
	v.closeOnce.Do(func() {
		v.closed.Store(true)
		v.qmu.Lock()
		v.shut = true
		v.qmu.Unlock()
		close(v.stop)
		v.unsubscribe()
		v.fwd.Wait()
		close(v.updates)
	})
	return nil
}

// Prices returns the exchange's reference price of every symbol.
func (v *Venue) Prices() map[string]decimal.Decimal {
	specs := v.x.Symbols()
	out := make(map[string]decimal.Decimal, len(specs))
	for _, s := range specs {
		out[s.Symbol] = v.x.Price(s.Symbol)
	}
	return out
}

var _ executors.Pricer = (*Venue)(nil)
