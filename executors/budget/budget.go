package budget

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Groups holds the counters of shared scopes ("account:<id>", "ip:<id>"), so
// that the budgets of keys on one account or IP consume one counter. It is
// safe for concurrent use. Every budget with a shared limit decides under
// the Groups' single mutex, which makes a decision spanning key and shared
// counters atomic without a lock order (one lock per decision, never two).
type Groups struct {
	mu sync.Mutex
	// counters: scope + "\x00" + limit name, and for a PerSymbol limit
	// scope + "\x00" + limit name + "\x00" + symbol.
	counters map[string]*counter
	// specs: the spec each group limit (scope + "\x00" + name) was first
	// registered with, so budgets that disagree are refused.
	specs map[string]*spec
	// grantor, if set, makes the counters leases of a shared store (see
	// NewLeasedGroups).
	grantor Grantor
}

// NewGroups returns an empty set of shared counters.
func NewGroups() *Groups {
	return &Groups{counters: make(map[string]*counter), specs: make(map[string]*spec)}
}

// Budget is the rate budget of one venue key: a set of limits and their
// usage. Its methods are safe for concurrent use.
//
// Every method takes the current instant; a Budget never reads the clock.
// Time never goes backwards for a counter: an instant earlier than the
// latest one a counter has seen is treated as that latest one.
type Budget struct {
	mu     *sync.Mutex
	own    sync.Mutex
	limits []*slotLimit
	// Scratch of TryTake, guarded by mu: each limit's cost and counter.
	cost []int64
	ctr  []*counter
}

type slotLimit struct {
	s        *spec
	c        *counter            // key or group scope
	bySymbol map[string]*counter // symbol scope; for a group, the symbols this budget used
	// shared and gkey are set for a PerSymbol group limit: its counters
	// live in shared.counters under gkey + "\x00" + symbol.
	shared *Groups
	gkey   string
	groups *Groups // for a group limit: its Groups
}

// New validates limits and returns their budget. Limits with a group scope
// take their counter from shared (created on first use); shared may be nil
// when no limit has a group scope. Two budgets naming the same group and
// limit Name must agree on its shape, effective max, window and rate.
func New(limits []Limit, shared *Groups) (*Budget, error) {
	b := &Budget{}
	b.mu = &b.own
	seen := make(map[string]bool, len(limits))
	specs := make([]*spec, 0, len(limits))
	needGroups := false
	for _, l := range limits {
		s, err := compile(l, false)
		if err != nil {
			return nil, err
		}
		if seen[s.name] {
			return nil, invalid(s.name, "Name", "used by two limits of one budget")
		}
		seen[s.name] = true
		specs = append(specs, s)
		needGroups = needGroups || s.group
	}
	if needGroups {
		if shared == nil {
			return nil, fmt.Errorf("%w: a limit has a group scope but Groups is nil", ErrInvalidLimit)
		}
		b.mu = &shared.mu
		shared.mu.Lock()
		defer shared.mu.Unlock()
		// Check every group limit before registering any.
		for _, s := range specs {
			if !s.group {
				continue
			}
			if o, ok := shared.specs[s.scope+"\x00"+s.name]; ok && (!o.sameCounter(s) || o.perSymbol != s.perSymbol) {
				return nil, invalid(s.name, "Scope", "group %s already has %s with another shape, max, window, rate or per-symbol setting", s.scope, s.name)
			}
		}
		for _, s := range specs {
			if k := s.scope + "\x00" + s.name; s.group && shared.specs[k] == nil {
				shared.specs[k] = s
			}
		}
	}
	for _, s := range specs {
		sl := &slotLimit{s: s}
		if s.group {
			sl.groups = shared
		}
		switch {
		case s.perSymbol && s.group:
			sl.bySymbol = make(map[string]*counter)
			sl.shared, sl.gkey = shared, s.scope+"\x00"+s.name
		case s.perSymbol:
			sl.bySymbol = make(map[string]*counter)
		case s.group:
			k := s.scope + "\x00" + s.name
			c, ok := shared.counters[k]
			if !ok {
				c = shared.newGroupCounter(s, GrantKey{Scope: s.scope, Limit: s.name})
				shared.counters[k] = c
			}
			sl.c = c
		default:
			sl.c = newCounter(s)
		}
		b.limits = append(b.limits, sl)
	}
	b.cost = make([]int64, len(b.limits))
	b.ctr = make([]*counter, len(b.limits))
	return b, nil
}

// grantor is the grantor of the limit's leased counters, if any.
func (sl *slotLimit) grantor() Grantor {
	if sl.groups != nil {
		return sl.groups.grantor
	}
	return nil
}

// counterFor returns the counter op uses in this limit, creating a symbol's.
func (sl *slotLimit) counterFor(op Op) *counter {
	if sl.bySymbol == nil {
		return sl.c
	}
	c, ok := sl.bySymbol[op.Symbol]
	if ok {
		return c
	}
	if sl.shared != nil {
		k := sl.gkey + "\x00" + op.Symbol
		if c, ok = sl.shared.counters[k]; !ok {
			c = sl.shared.newGroupCounter(sl.s, GrantKey{Scope: sl.s.scope, Limit: sl.s.name, Symbol: op.Symbol, PerSymbol: true})
			sl.shared.counters[k] = c
		}
	} else {
		c = newCounter(sl.s)
	}
	sl.bySymbol[op.Symbol] = c
	return c
}

// Check returns an error wrapping ErrNeverFits, naming the limit, if op
// costs more than some limit's effective max: it could never be sent.
func (b *Budget) Check(op Op) error {
	for _, sl := range b.limits {
		if cost := sl.s.cost(op); cost > sl.s.max {
			return fmt.Errorf("%w: limit %q: cost %d > max %d", ErrNeverFits, sl.s.name, cost, sl.s.max)
		}
	}
	return nil
}

// earliest returns the first instant >= now (ns) when op fits all limits,
// or ok false if it never can. Called with b.mu held.
func (b *Budget) earliest(now int64, op Op) (int64, bool) {
	at := now
	for _, sl := range b.limits {
		cost := sl.s.cost(op)
		if cost == 0 {
			continue
		}
		if cost > sl.s.max {
			return 0, false
		}
		c := sl.counterFor(op)
		if t := c.earliest(c.advance(now), cost); t > at {
			at = t
		}
	}
	return at, true
}

// Earliest returns the earliest instant >= now at which op fits every
// limit it uses, given the usage so far (now itself if it fits now). If op
// can never fit (its cost exceeds a limit's effective max) it returns the
// zero Time and false; Check says which limit.
func (b *Budget) Earliest(now time.Time, op Op) (time.Time, bool) {
	ns := now.UnixNano()
	b.mu.Lock()
	at, ok := b.earliest(ns, op)
	b.mu.Unlock()
	if !ok {
		return time.Time{}, false
	}
	return now.Add(time.Duration(at - ns)), true
}

// TryTake consumes op's cost from every limit it uses if it fits all of
// them at now, atomically, and reports true. Otherwise it consumes nothing
// and returns false with the wait until Earliest, or Never if op can never
// fit.
func (b *Budget) TryTake(now time.Time, op Op) (ok bool, wait time.Duration) {
	ns := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, sl := range b.limits {
		cost := sl.s.cost(op)
		b.cost[i] = cost
		if cost == 0 {
			continue
		}
		if cost > sl.s.max {
			return false, Never
		}
		c := sl.counterFor(op)
		b.ctr[i] = c
		if !c.fits(c.advance(ns), cost) {
			b.want(op, ns)
			at, _ := b.earliest(ns, op)
			return false, time.Duration(at - ns)
		}
	}
	for i, cost := range b.cost {
		if cost > 0 {
			b.ctr[i].take(b.ctr[i].last, cost) // last: now, advanced above
		}
	}
	return true, 0
}

// want tells the grantor of every leased counter op lacks units in. b.mu
// held.
func (b *Budget) want(op Op, now int64) {
	for _, sl := range b.limits {
		cost := sl.s.cost(op)
		if cost == 0 || cost > sl.s.max {
			continue
		}
		c := sl.counterFor(op)
		if c.lease != nil && !c.fits(c.advance(now), cost) && sl.grantor() != nil {
			sl.grantor().Want(c.lease.key, cost)
		}
	}
}

// Observe reconciles limit (by Name) with the usage the venue reported for
// its current window (e.g. X-MBX-USED-WEIGHT-1M): usage becomes the larger
// of the budget's own count and used. For a symbol-scoped limit it applies
// to the counter of symbol "" ; use ObserveSymbol. Unknown names are ignored.
func (b *Budget) Observe(now time.Time, limit string, used int64) {
	b.ObserveSymbol(now, limit, "", used)
}

// ObserveSymbol is Observe for the counter of one symbol of a
// symbol-scoped limit (for other scopes symbol is ignored).
func (b *Budget) ObserveSymbol(now time.Time, limit, symbol string, used int64) {
	ns := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sl := range b.limits {
		if sl.s.name == limit {
			c := sl.counterFor(Op{Symbol: symbol})
			c.observe(c.advance(ns), used)
			return
		}
	}
}

// LimitState is the usage of one limit (of one symbol, for symbol-scoped
// limits) for KeyStatus.
type LimitState struct {
	Name   string
	Shape  Shape
	Scope  string // "key", "symbol", "account:<id>", "ip:<id>"
	Symbol string // for symbol-scoped limits
	Used   int64  // units in use now (bucket/decay: rounded up)
	Max    int64  // effective max (after Margin)
	// Window is the limit's window; for bucket and decay, the time to earn
	// (or decay) Max units.
	Window time.Duration
	// ResetsIn is the time until usage is zero: for fixed windows, until the
	// current window ends.
	ResetsIn time.Duration
}

// Status returns the state of every limit at now, in the order of the
// limits given to New (symbol-scoped limits: one entry per symbol seen, in
// no particular order).
func (b *Budget) Status(now time.Time) []LimitState {
	ns := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]LimitState, 0, len(b.limits))
	add := func(s *spec, symbol string, c *counter) {
		t := c.advance(ns)
		out = append(out, LimitState{
			Name: s.name, Shape: s.shape, Scope: s.scope, Symbol: symbol,
			Used: c.usage(t), Max: s.max,
			Window:   time.Duration(c.span()),
			ResetsIn: time.Duration(c.resetsIn(t)),
		})
	}
	for _, sl := range b.limits {
		if sl.bySymbol == nil {
			add(sl.s, "", sl.c)
			continue
		}
		for sym, c := range sl.bySymbol {
			add(sl.s, sym, c)
		}
	}
	return out
}

// Clone returns a private copy of b with its current usage, shared
// counters included: a scratch budget for planning ("if the queued requests
// go first, when can this one go?"). Taking from the copy affects neither b
// nor the keys sharing its groups. The copy has its own mutex.
func (b *Budget) Clone() *Budget {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &Budget{limits: make([]*slotLimit, len(b.limits)), cost: make([]int64, len(b.cost)), ctr: make([]*counter, len(b.ctr))}
	c.mu = &c.own
	for i, sl := range b.limits {
		ns := &slotLimit{s: sl.s}
		if sl.c != nil {
			ns.c = sl.c.clone()
		}
		if sl.bySymbol != nil {
			ns.bySymbol = make(map[string]*counter, len(sl.bySymbol))
			for sym, ctr := range sl.bySymbol {
				ns.bySymbol[sym] = ctr.clone()
			}
		}
		if sl.shared != nil {
			// Symbols only other budgets of the group used count too.
			prefix := sl.gkey + "\x00"
			for k, ctr := range sl.shared.counters {
				if sym, ok := strings.CutPrefix(k, prefix); ok && ns.bySymbol[sym] == nil {
					ns.bySymbol[sym] = ctr.clone()
				}
			}
		}
		c.limits[i] = ns
	}
	return c
}
