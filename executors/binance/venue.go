package binance

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/rs/zerolog"
)

var _ executors.Venue = (*Venue)(nil)
var _ executors.Checker = (*Venue)(nil)

// Background refresh periods.
const (
	clockRefresh = 10 * time.Minute
	infoRefresh  = time.Hour
	// infoMinAge keeps an unknown symbol from reloading exchangeInfo
	// (weight 20) more than once a minute.
	infoMinAge = time.Minute
)

// Venue is one Binance spot API key. Place, Cancel and Query are meant for
// one worker goroutine; Check, RateLimits and Updates are safe to call from
// any goroutine.
type Venue struct {
	cfg    Config
	signer signer
	log    zerolog.Logger

	offset atomic.Int64 // venue clock minus local clock, nanoseconds

	mu         sync.RWMutex // guards the fields below
	byContract map[string]*symbolInfo
	byNative   map[string]*symbolInfo
	rateLimits []RateLimitInfo
	infoAt     time.Time
	lastUsage  []executors.Usage

	// orders are the orders this Venue follows; Updates is theirs. When
	// it is full the stream reader waits at most venuekit.SendWait, then
	// drops the update and marks the order for the poller, which sends
	// its full state (all fills) once there is room.
	orders  *venuekit.Tracker
	updates chan executors.OrderUpdate

	streamUp atomic.Bool
	infoKick chan struct{}

	loops venuekit.Loops // the stream, the poller and the refreshers
}

// New connects a key: it checks the config, fetches the venue's time and
// exchangeInfo, and starts the user data stream, the poller and the
// refreshers. Close stops them.
func New(ctx context.Context, cfg Config) (*Venue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s, err := newSigner(cfg.KeyType, cfg.Secret)
	if err != nil {
		return nil, err
	}
	v := &Venue{
		cfg:      cfg,
		signer:   s,
		log:      cfg.Logger,
		updates:  make(chan executors.OrderUpdate, venuekit.UpdatesCap),
		infoKick: make(chan struct{}, 1),
	}
	v.orders = venuekit.NewTracker("binance", v.updates, v.log)
	if err := v.syncClock(ctx); err != nil {
		return nil, fmt.Errorf("binance: fetching server time: %w", err)
	}
	if err := v.loadExchangeInfo(ctx); err != nil {
		return nil, fmt.Errorf("binance: fetching exchangeInfo: %w", err)
	}
	v.loops.Start(ctx, v.refreshLoop, v.streamLoop, v.pollLoop)
	return v, nil
}

// Name is "binance".
func (v *Venue) Name() string { return "binance" }

// Updates delivers stream and poll events of this Venue's orders. See
// Venue.orders for what happens when it is full. It is closed by Close.
func (v *Venue) Updates() <-chan executors.OrderUpdate { return v.updates }

// Close stops the stream, the poller and the refreshers, waits for them,
// and closes Updates. Safe to call more than once.
func (v *Venue) Close() error {
	v.loops.Stop(func() { close(v.updates) })
	return nil
}

// Usage returns the last rate-limit usage the venue reported.
func (v *Venue) Usage() []executors.Usage {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return append([]executors.Usage(nil), v.lastUsage...)
}

func (v *Venue) noteUsage(u []executors.Usage) {
	if len(u) == 0 {
		return
	}
	v.mu.Lock()
	v.lastUsage = u
	v.mu.Unlock()
}

// refreshLoop keeps the clock offset and exchangeInfo fresh.
func (v *Venue) refreshLoop(ctx context.Context) {
	clock := time.NewTicker(clockRefresh)
	defer clock.Stop()
	info := time.NewTicker(infoRefresh)
	defer info.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-clock.C:
			if err := v.syncClock(ctx); err != nil {
				v.log.Warn().Err(err).Msg("binance clock sync failed")
			}
		case <-info.C:
			v.reloadInfo(ctx)
		case <-v.infoKick:
			v.refreshInfoIfStale(ctx)
		}
	}
}

func (v *Venue) reloadInfo(ctx context.Context) {
	if err := v.loadExchangeInfo(ctx); err != nil {
		v.log.Warn().Err(err).Msg("binance exchangeInfo refresh failed")
	}
}

// refreshInfoIfStale reloads exchangeInfo now unless it is fresh.
func (v *Venue) refreshInfoIfStale(ctx context.Context) {
	v.mu.RLock()
	stale := v.cfg.Now().Sub(v.infoAt) >= infoMinAge
	v.mu.RUnlock()
	if stale {
		v.reloadInfo(ctx)
	}
}

// resync re-reads the clock offset after a -1021.
func (v *Venue) resync(ctx context.Context) {
	if err := v.syncClock(ctx); err != nil {
		v.log.Warn().Err(err).Msg("binance clock resync failed")
	}
}
