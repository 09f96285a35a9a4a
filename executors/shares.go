package executors

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Shares grants the budgets of this process units of the rate limits they
// share with keys served by other processes (account and IP scopes),
// from the BUDGETS bucket, where every process's grants are counted: each
// grant is a compare-and-set of the limit's stored counter (see
// budget.Share), so two processes never get the same units, and together
// they never exceed the limit. Budgets built over Groups() spend only
// what was granted; a wake-up tells the workers that more was.
//
// Create with NewShares, run with Run. Safe for concurrent use.
type Shares struct {
	kv      jetstream.KeyValue
	clock   bus.Clock
	log     zerolog.Logger
	metrics Metrics
	groups  *budget.Groups
	// Hold is how long units of a sliding, bucket or decay limit stay
	// spendable; Factor how many times an operation's cost one grant asks
	// for (more: fewer round trips, more units lost when demand stops).
	hold   time.Duration
	factor int64

	mu       sync.Mutex
	pending  map[budget.GrantKey]want // what was wanted since the last grant
	wants    uint64                   // Wants so far: the generation of the next one
	inflight map[budget.GrantKey]bool
	wakers   map[int]func()
	nextID   int
	kick     chan struct{} // cap 1
}

var _ budget.Grantor = (*Shares)(nil)

// want is the largest cost wanted of a counter, and the generation of the
// last Want of it.
type want struct {
	cost int64
	gen  uint64
}

// NewShares returns the grantor of this process over the BUDGETS bucket
// kv; its budgets are built over Groups().
func NewShares(kv jetstream.KeyValue, clock bus.Clock, log zerolog.Logger, m Metrics) *Shares {
	if clock == nil {
		clock = bus.RealClock
	}
	if m == nil {
		m = NopMetrics{}
	}
	s := &Shares{kv: kv, clock: clock, log: log.With().Str("role", "shares").Logger(), metrics: m,
		hold: 50 * time.Millisecond, factor: 4,
		pending: map[budget.GrantKey]want{}, inflight: map[budget.GrantKey]bool{},
		wakers: map[int]func(){}, kick: make(chan struct{}, 1)}
	s.groups = budget.NewLeasedGroups(s)
	return s
}

// Groups are the leased groups the process's budgets share.
func (s *Shares) Groups() *budget.Groups { return s.groups }

// Want asks for units of k (budget.Grantor). It does not block.
func (s *Shares) Want(k budget.GrantKey, cost int64) {
	s.mu.Lock()
	s.pending[k] = want{cost: max(s.pending[k].cost, cost), gen: s.wants}
	s.wants++
	s.mu.Unlock()
	signal(s.kick)
}

// OnGrant registers f to run after every grant (a worker's wake-up); the
// returned func unregisters it.
func (s *Shares) OnGrant(f func()) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	s.nextID++
	s.wakers[id] = f
	return func() {
		s.mu.Lock()
		delete(s.wakers, id)
		s.mu.Unlock()
	}
}

// Run serves the wants until ctx ends, one grant in flight per counter.
func (s *Shares) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		}
		s.mu.Lock()
		for k, w := range s.pending {
			if s.inflight[k] {
				continue
			}
			delete(s.pending, k)
			s.inflight[k] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				answered, cutoff := s.grant(ctx, k, w.cost)
				s.mu.Lock()
				delete(s.inflight, k)
				if p, ok := s.pending[k]; ok && answered && p.gen < cutoff {
					// Wanted before the grant was applied: it answered
					// those wants; a budget still short after it wants
					// again. (Granting for them too would take units no
					// one spends, lost to the other processes.)
					delete(s.pending, k)
				}
				_, again := s.pending[k]
				s.mu.Unlock()
				if again {
					signal(s.kick)
				}
			}()
		}
		s.mu.Unlock()
	}
}

// storeKey is k's key in BUDGETS: <scope kind>.<scope id>.<limit>[.<symbol>].
func storeKey(k budget.GrantKey) string {
	kind, id, _ := strings.Cut(k.Scope, ":")
	key := kind + "." + safeToken(id) + "." + safeToken(k.Limit)
	if k.PerSymbol {
		sym := k.Symbol
		if sym == "" {
			sym = "_" // an operation without a symbol
		}
		key += "." + safeToken(sym)
	}
	return key
}

// safeToken maps s to the characters of a KV key token.
func safeToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/' || c == '=') {
			b[i] = '_'
		}
	}
	return string(b)
}

// grant takes up to factor*cost units of k from the store by
// compare-and-set, retrying on conflicts, and hands them to the budgets.
// It reports whether the store answered (units granted, or none left).
// cutoff is the generation of the first Want after the answer was
// applied to the budgets.
func (s *Shares) grant(ctx context.Context, k budget.GrantKey, cost int64) (answered bool, cutoff uint64) {
	sh, ok := s.groups.Share(k)
	if !ok {
		return true, s.generation()
	}
	key := storeKey(k)
	start := s.clock.Now()
	for attempt := 0; attempt < 8 && ctx.Err() == nil; attempt++ {
		var state []byte
		var rev uint64
		gctx, cancel := bus.Bounded(ctx)
		e, err := s.kv.Get(gctx, key)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			s.log.Warn().Err(err).Str("limit", key).Msg("shared budget not readable")
			return false, 0
		default:
			state, rev = e.Value(), e.Revision()
		}
		next, got, until, _, err := sh.Grant(state, s.clock.Now(), cost*s.factor, s.hold)
		if err != nil {
			s.log.Error().Err(err).Str("limit", key).Msg("shared budget unreadable")
			return false, 0
		}
		if got == 0 {
			// Full as far as the store says: let the budgets know, so
			// their estimates wait for the right moment.
			_, _ = s.groups.Grant(k, 0, time.Time{}, state)
			return true, s.generation()
		}
		gctx, cancel = bus.Bounded(ctx)
		if rev == 0 {
			_, err = s.kv.Create(gctx, key, next)
		} else {
			_, err = s.kv.Update(gctx, key, next, rev)
		}
		cancel()
		if bus.IsConflict(err) {
			continue // another process took some: read again
		}
		if err != nil {
			s.log.Warn().Err(err).Str("limit", key).Msg("shared budget not stored")
			return false, 0
		}
		if _, err := s.groups.Grant(k, got, until, next); err != nil {
			s.log.Error().Err(err).Str("limit", key).Msg("grant not applied")
			return false, 0
		}
		s.metrics.BudgetLease(k.Limit, got, s.clock.Now().Sub(start))
		s.mu.Lock()
		cutoff = s.wants
		wake := make([]func(), 0, len(s.wakers))
		for _, f := range s.wakers {
			wake = append(wake, f)
		}
		s.mu.Unlock()
		for _, f := range wake {
			f()
		}
		return true, cutoff
	}
	return false, 0
}

// generation is the generation of the next Want.
func (s *Shares) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wants
}
