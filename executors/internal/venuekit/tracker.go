package venuekit

import (
	"context"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

// Capacity of a Tracker's Updates, and how long a delivery waits for room
// there before the update is left to the poller.
const (
	UpdatesCap = 1024
	SendWait   = 50 * time.Millisecond
)

// Tracked is an order a venue adapter placed or looked up and has not
// seen close, so its poller can follow it while the stream is down.
type Tracked struct {
	// Symbol is the order's symbol as the adapter polls it (Binance's
	// native BTCUSDT, OKX's instId).
	Symbol string
	// OrderID is the venue's order ID, once known.
	OrderID string
	Cum     decimal.Decimal
	Status  string
	// Dirty: an update of it was dropped (Updates full); the poller sends
	// its state again.
	Dirty bool
}

// Tracker holds the orders a venue adapter follows and delivers their
// updates on the adapter's Updates channel; its methods are safe for
// concurrent use.
type Tracker struct {
	name    string // the venue's, in log lines
	log     zerolog.Logger
	updates chan<- executors.OrderUpdate
	kick    chan struct{} // wakes the poller

	mu     sync.Mutex // guards orders
	orders map[string]*Tracked
}

// NewTracker returns a Tracker of venue name that delivers on updates
// (of capacity UpdatesCap, say) and logs to log.
func NewTracker(name string, updates chan<- executors.OrderUpdate, log zerolog.Logger) *Tracker {
	return &Tracker{name: name, log: log, updates: updates, kick: make(chan struct{}, 1), orders: map[string]*Tracked{}}
}

// Track records an order's latest state (symbol as the adapter polls it);
// a closed order is forgotten unless an update of it still has to be
// delivered.
func (t *Tracker) Track(u executors.OrderUpdate, symbol string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.orders[u.ClientID]
	if u.Status.Terminal() {
		if ok && !o.Dirty {
			delete(t.orders, u.ClientID)
		}
		if ok {
			o.Status, o.Cum = string(u.Status), u.CumQuantity
		}
		return
	}
	if !ok {
		o = &Tracked{Symbol: symbol}
		t.orders[u.ClientID] = o
	}
	if u.VenueOrderID != "" {
		o.OrderID = u.VenueOrderID
	}
	o.Status, o.Cum = string(u.Status), u.CumQuantity
}

// Deliver tracks u and sends it on Updates, waiting at most SendWait. If
// Updates stays full the update is dropped and the order marked dirty:
// the poller sends its full state (every fill so far) when there is room
// again.
func (t *Tracker) Deliver(ctx context.Context, u executors.OrderUpdate, symbol string) {
	t.Track(u, symbol)
	select {
	case t.updates <- u:
		return
	default:
	}
	timer := time.NewTimer(SendWait)
	defer timer.Stop()
	select {
	case t.updates <- u:
		return
	case <-timer.C:
	case <-ctx.Done():
	}
	t.mu.Lock()
	o, ok := t.orders[u.ClientID]
	if !ok {
		o = &Tracked{Symbol: symbol, OrderID: u.VenueOrderID, Status: string(u.Status), Cum: u.CumQuantity}
		t.orders[u.ClientID] = o
	}
	o.Dirty = true
	t.mu.Unlock()
	t.log.Warn().Str("client_order_id", u.ClientID).Msg(t.name + " updates channel full; order left to the poller")
	t.Kick()
}

// Resend offers a polled state to Updates; on success the order is no
// longer dirty (and forgotten if closed).
func (t *Tracker) Resend(ctx context.Context, u executors.OrderUpdate) {
	timer := time.NewTimer(SendWait)
	defer timer.Stop()
	select {
	case t.updates <- u:
	case <-timer.C:
		t.mu.Lock()
		if o, ok := t.orders[u.ClientID]; ok {
			o.Dirty = true
		}
		t.mu.Unlock()
		return
	case <-ctx.Done():
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if o, ok := t.orders[u.ClientID]; ok {
		o.Dirty = false
		if u.Status.Terminal() {
			delete(t.orders, u.ClientID)
		}
	}
}

// Untrack forgets an order.
func (t *Tracker) Untrack(clientID string) {
	t.mu.Lock()
	delete(t.orders, clientID)
	t.mu.Unlock()
}

// Ours reports whether a client ID belongs to this adapter: one it
// tracks, or one executors.VenueClientID made (every keyrouter order, so
// orders placed before a restart are followed too).
func (t *Tracker) Ours(clientID string) bool {
	if len(clientID) == 32 && clientID[:2] == "kr" {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.orders[clientID]
	return ok
}

// Orders returns a copy of the tracked orders by client ID.
func (t *Tracker) Orders() map[string]Tracked {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]Tracked, len(t.orders))
	for id, o := range t.orders {
		out[id] = *o
	}
	return out
}

// Dirty reports whether an order waits for the poller to send its state.
func (t *Tracker) Dirty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, o := range t.orders {
		if o.Dirty {
			return true
		}
	}
	return false
}

// Kick wakes the poller for one pass.
func (t *Tracker) Kick() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Poll runs poll (one pass over the tracked orders) every interval while
// the stream is down (streamUp false) or an order is dirty, and at once
// on each Kick, until ctx ends.
func (t *Tracker) Poll(ctx context.Context, interval time.Duration, streamUp func() bool, poll func(context.Context)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !streamUp() || t.Dirty() {
				poll(ctx)
			}
		case <-t.kick:
			poll(ctx)
		}
	}
}
