package okx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

var (
	_ executors.Venue   = (*Venue)(nil)
	_ executors.Checker = (*Venue)(nil)
	_ executors.Pricer  = (*Venue)(nil)
)

// Background refresh periods.
const (
	clockRefresh = 10 * time.Minute
	infoRefresh  = time.Hour
	// infoMinAge keeps an unknown instrument from reloading the instrument
	// list more than once a minute.
	infoMinAge = time.Minute
	// rateLimitRetry is how soon a failed account-rate-limit read is tried
	// again.
	rateLimitRetry = time.Minute
)

// Venue is one OKX API key (of one sub-account), trading SPOT in cash
// mode. Place, Cancel and Query are meant for one worker goroutine;
// Check, Prices, AccountRateLimit and Updates are safe to call from any
// goroutine.
type Venue struct {
	cfg Config
	log zerolog.Logger

	offset atomic.Int64 // OKX's clock minus the local clock, nanoseconds

	mu           sync.RWMutex // guards the fields below
	instruments  map[string]*instrument
	infoAt       time.Time
	prices       map[string]decimal.Decimal
	accRateLimit int64 // 0 until read
	accRateAt    time.Time

	// orders are the orders this Venue follows, delivered on updates.
	// When it is full the stream reader waits at most venuekit.SendWait,
	// then drops the update and marks the order for the poller, which
	// sends its full state (all fills) once there is room.
	orders *venuekit.Tracker

	pmu    sync.Mutex // guards placed
	placed placedSet

	usage *usage

	updates  chan executors.OrderUpdate
	stream   *stream
	infoKick chan struct{}

	loops venuekit.Loops // the stream, the poller and the refreshers
}

// New connects a key: it checks the config, reads OKX's time, the SPOT
// instruments, the prices and the sub-account's rate limit, and starts the
// private WebSocket, the poller and the refreshers. Close stops them. An
// unreadable account-rate-limit (a key without the read permission, or
// one OKX refuses) is logged, not fatal: the key's first order reports
// what is wrong.
func New(ctx context.Context, cfg Config) (*Venue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &Venue{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("venue", "okx").Logger(),
		usage:    newUsage(),
		updates:  make(chan executors.OrderUpdate, venuekit.UpdatesCap),
		infoKick: make(chan struct{}, 1),
		prices:   map[string]decimal.Decimal{},
	}
	v.orders = venuekit.NewTracker("okx", v.updates, v.log)
	if err := v.syncClock(ctx); err != nil {
		return nil, fmt.Errorf("okx: fetching server time: %w", err)
	}
	if err := v.loadInstruments(ctx); err != nil {
		return nil, fmt.Errorf("okx: fetching instruments: %w", err)
	}
	if err := v.loadPrices(ctx); err != nil {
		v.log.Warn().Err(err).Msg("okx tickers not read; prices follow")
	}
	if cfg.AccRateLimit > 0 {
		v.accRateLimit, v.accRateAt = cfg.AccRateLimit, cfg.Now()
	} else if err := v.readAccountRateLimit(ctx); err != nil {
		v.log.Warn().Err(err).Msg("okx account-rate-limit not read; the sub-account limit stays at the preset's until it is")
	}
	v.stream = newStream(v)
	v.loops.Start(ctx, v.refreshLoop, v.stream.loop, v.pollLoop)
	return v, nil
}

// Name is "okx".
func (v *Venue) Name() string { return "okx" }

// Updates delivers orders-channel and poll events of this Venue's orders.
// See Venue.orders for what happens when it is full. It is closed by Close.
func (v *Venue) Updates() <-chan executors.OrderUpdate { return v.updates }

// Close stops the stream, the poller and the refreshers, waits for them,
// and closes Updates. Safe to call more than once.
func (v *Venue) Close() error {
	v.loops.Stop(func() { close(v.updates) })
	return nil
}

// AccountRateLimit returns the sub-account's limit of new and amended
// orders per 2 s, as GET /api/v5/trade/account-rate-limit last said
// (accRateLimit), and when it was read; 0 before the first read.
func (v *Venue) AccountRateLimit() (int64, time.Time) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.accRateLimit, v.accRateAt
}

// StreamUp reports whether the private WebSocket is logged in and
// subscribed to the orders channel.
func (v *Venue) StreamUp() bool { return v.stream.up.Load() }

// readAccountRateLimit is loadAccountRateLimit, tried again while OKX
// throttles it: the endpoint allows 1 request per second per user ID, so
// the keys of one sub-account starting together take turns.
func (v *Venue) readAccountRateLimit(ctx context.Context) error {
	var err error
	for range 4 {
		if err = v.loadAccountRateLimit(ctx); err == nil || !venuekit.IsKind(err, executors.Throttled) {
			return err
		}
		if !venuekit.Sleep(ctx, accountRateLimitSpacing) {
			return err
		}
	}
	return err
}

// accountRateLimitSpacing spaces reads of account-rate-limit (1 per
// second per user ID).
const accountRateLimitSpacing = 1100 * time.Millisecond

// loadAccountRateLimit reads GET /api/v5/trade/account-rate-limit.
func (v *Venue) loadAccountRateLimit(ctx context.Context) error {
	r, err := v.do(ctx, request{method: http.MethodGet, path: "/api/v5/trade/account-rate-limit", private: true})
	if err != nil {
		return err
	}
	var d []struct {
		AccRateLimit     string `json:"accRateLimit"`
		NextAccRateLimit string `json:"nextAccRateLimit"`
		FillRatio        string `json:"fillRatio"`
	}
	if err := json.Unmarshal(r.data, &d); err != nil || len(d) == 0 {
		return errors.New("okx: unreadable account-rate-limit answer")
	}
	n, err := strconv.ParseInt(d[0].AccRateLimit, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("okx: account-rate-limit: accRateLimit %q", d[0].AccRateLimit)
	}
	v.mu.Lock()
	old := v.accRateLimit
	v.accRateLimit, v.accRateAt = n, v.cfg.Now()
	v.mu.Unlock()
	if old != n {
		ev := v.log.Info()
		if old != 0 {
			// The budget took its maximum at start: a change needs a
			// restart (or reload) of the key to apply.
			ev = v.log.Warn()
		}
		ev.Int64("acc_rate_limit", n).Int64("was", old).Str("next_acc_rate_limit", d[0].NextAccRateLimit).
			Str("fill_ratio", d[0].FillRatio).Msg("okx sub-account rate limit (new and amended orders per 2s)")
	}
	return nil
}

// refreshLoop keeps the clock offset, instruments, prices and the
// sub-account rate limit fresh.
func (v *Venue) refreshLoop(ctx context.Context) {
	clock := time.NewTicker(clockRefresh)
	defer clock.Stop()
	info := time.NewTicker(infoRefresh)
	defer info.Stop()
	prices := time.NewTicker(v.cfg.PriceRefresh)
	defer prices.Stop()
	jitter := func(d time.Duration) time.Duration { return d + rand.N(d/10+1) }
	next := jitter(v.cfg.RateLimitRefresh)
	if n, _ := v.AccountRateLimit(); n == 0 {
		next = min(next, rateLimitRetry)
	}
	rl := time.NewTimer(next)
	defer rl.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-clock.C:
			v.resync(ctx)
		case <-info.C:
			v.reloadInfo(ctx)
		case <-prices.C:
			if err := v.loadPrices(ctx); err != nil {
				v.log.Debug().Err(err).Msg("okx tickers refresh failed")
			}
		case <-rl.C:
			next := jitter(v.cfg.RateLimitRefresh)
			if err := v.readAccountRateLimit(ctx); err != nil {
				v.log.Warn().Err(err).Msg("okx account-rate-limit refresh failed")
				next = min(next, rateLimitRetry)
			}
			rl.Reset(next)
		case <-v.infoKick:
			v.refreshInfoIfStale(ctx)
		}
	}
}

func (v *Venue) reloadInfo(ctx context.Context) {
	if err := v.loadInstruments(ctx); err != nil {
		v.log.Warn().Err(err).Msg("okx instruments refresh failed")
	}
}

// resync re-reads the clock offset (also after a 50102).
func (v *Venue) resync(ctx context.Context) {
	if err := v.syncClock(ctx); err != nil {
		v.log.Warn().Err(err).Msg("okx clock sync failed")
	}
}

// usage is this key's own count of its requests in OKX's windows: OKX
// reports no usage, so the adapter reports what it sent itself.
type usage struct {
	mu    sync.Mutex
	place map[string][]time.Time // by instrument
	all   []time.Time            // every new order
}

func newUsage() *usage { return &usage{place: map[string][]time.Time{}} }

func prune(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-budget.OKXWindow)) {
		i++
	}
	return ts[i:]
}

// placed counts a new order of instrument at now and returns the counts:
// PLACE_2S:<instrument> and SUBACCOUNT_ORDERS_2S, this key's own.
func (u *usage) placed(instrument string, now time.Time) []executors.Usage {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := append(prune(u.place[instrument], now), now)
	u.place[instrument] = p
	u.all = append(prune(u.all, now), now)
	for k, ts := range u.place {
		if k != instrument && len(prune(ts, now)) == 0 {
			delete(u.place, k)
		}
	}
	return []executors.Usage{
		{Limit: budget.OKXPlace + ":" + instrument, Used: int64(len(p))},
		{Limit: budget.OKXSubAccount, Used: int64(len(u.all))},
	}
}
