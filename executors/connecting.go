package executors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// ConnectingVenue is a Venue that connects in the background: until the
// connection succeeds every request fails with an Unavailable VenueError
// and Health says why, so the key is down and every other key trades;
// it retries with jittered exponential backoff (1 s doubling to 1 min).
// Create with Connecting.
type ConnectingVenue struct {
	name    string
	updates chan OrderUpdate
	stop    context.CancelFunc
	done    chan struct{}

	mu    sync.Mutex
	inner Venue
	err   error // the last connection failure; nil once connected
}

var (
	_ Venue   = (*ConnectingVenue)(nil)
	_ Checker = (*ConnectingVenue)(nil)
	_ Pricer  = (*ConnectingVenue)(nil)
)

// ErrNotConnected is wrapped by the errors of a venue not connected yet.
var ErrNotConnected = errors.New("executors: venue not connected")

// Connecting returns a venue named name that connects with connect, at
// once and then in the background until it succeeds. ready, if not nil,
// is called once with the connected venue.
func Connecting(name string, connect func(ctx context.Context) (Venue, error), ready func(Venue)) *ConnectingVenue {
	ctx, cancel := context.WithCancel(context.Background())
	v := &ConnectingVenue{name: name, updates: make(chan OrderUpdate, 1024), stop: cancel, done: make(chan struct{}),
		err: fmt.Errorf("%w: connecting", ErrNotConnected)}
	go v.run(ctx, connect, ready)
	return v
}

func (v *ConnectingVenue) run(ctx context.Context, connect func(ctx context.Context) (Venue, error), ready func(Venue)) {
	defer close(v.done)
	wait := time.Second
	for {
		inner, err := connect(ctx)
		if err == nil {
			v.mu.Lock()
			v.inner, v.err = inner, nil
			v.mu.Unlock()
			if ready != nil {
				ready(inner)
			}
			v.forward(ctx, inner.Updates())
			return
		}
		v.mu.Lock()
		v.err = fmt.Errorf("%w: %v", ErrNotConnected, err)
		v.mu.Unlock()
		jitter := time.Duration(rand.Int64N(int64(wait) / 4))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait + jitter):
		}
		wait = min(2*wait, time.Minute)
	}
}

func (v *ConnectingVenue) forward(ctx context.Context, in <-chan OrderUpdate) {
	defer close(v.updates)
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-in:
			if !ok {
				return
			}
			select {
			case v.updates <- u:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (v *ConnectingVenue) get() (Venue, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inner == nil {
		return nil, &VenueError{Kind: Unavailable, Message: v.err.Error(), Err: v.err}
	}
	return v.inner, nil
}

// Name is the venue's ID.
func (v *ConnectingVenue) Name() string { return v.name }

// Health is nil once connected, else why not.
func (v *ConnectingVenue) Health() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inner == nil {
		return v.err
	}
	if h, ok := v.inner.(interface{ Health() error }); ok {
		return h.Health()
	}
	return nil
}

// Place places o once connected.
func (v *ConnectingVenue) Place(ctx context.Context, o Order) (OrderUpdate, error) {
	in, err := v.get()
	if err != nil {
		return OrderUpdate{}, err
	}
	return in.Place(ctx, o)
}

// Cancel cancels once connected.
func (v *ConnectingVenue) Cancel(ctx context.Context, symbol, clientID string) (OrderUpdate, error) {
	in, err := v.get()
	if err != nil {
		return OrderUpdate{}, err
	}
	return in.Cancel(ctx, symbol, clientID)
}

// Query queries once connected.
func (v *ConnectingVenue) Query(ctx context.Context, symbol, clientID string) (OrderUpdate, error) {
	in, err := v.get()
	if err != nil {
		return OrderUpdate{}, err
	}
	return in.Query(ctx, symbol, clientID)
}

// Check is the connected venue's Check (nil before: the venue will say).
func (v *ConnectingVenue) Check(o Order) error {
	in, err := v.get()
	if err != nil {
		return nil
	}
	if c, ok := in.(Checker); ok {
		return c.Check(o)
	}
	return nil
}

// Prices are the connected venue's reference prices.
func (v *ConnectingVenue) Prices() map[string]decimal.Decimal {
	in, err := v.get()
	if err != nil {
		return nil
	}
	if p, ok := in.(Pricer); ok {
		return p.Prices()
	}
	return nil
}

// Updates delivers the connected venue's updates.
func (v *ConnectingVenue) Updates() <-chan OrderUpdate { return v.updates }

// Close stops connecting and closes the connected venue.
func (v *ConnectingVenue) Close() error {
	v.stop()
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.inner != nil {
		return v.inner.Close()
	}
	return nil
}
