package budget

import (
	"math"
	"math/big"
	"strconv"
	"sync"
	"time"
)

// Enforcer is a reference model of how a venue enforces one limit: the
// simulated venues use it to refuse requests (and count 429s), and the tests
// check every Budget against it. Enforcers are written independently of
// Budget and for obviousness, not speed: fixed counts its current window
// ([Window]), sliding scans a log of accepted requests, bucket and decay
// keep their level as an exact rational.
//
// Common semantics: Allow(now, cost) accepts the request iff the limit's
// usage at now plus cost is at most Max, and then records it. A refused
// request consumes nothing. Margin is ignored (the venue knows none). Like a
// venue's clock, an enforcer's clock never goes backwards: an earlier now is
// taken as the latest seen. Allow with cost 0 is always accepted. Enforcers
// are safe for concurrent use.
type Enforcer interface {
	// Allow reports whether the venue accepts a request costing cost at now,
	// and if so counts it.
	Allow(now time.Time, cost int64) bool
	// Used is the usage at now as the venue would report it (bucket and
	// decay: rounded up).
	Used(now time.Time) int64
}

// NewEnforcer returns the reference enforcer of l's shape. Only Name, Shape,
// Max, Window and Rate matter.
//
//   - fixed: usage at t is the cost accepted in the clock-aligned window
//     [k*Window, (k+1)*Window) holding t, k = floor(t.UnixNano()/Window).
//   - sliding: usage at t is the cost accepted at instants in (t-Window, t].
//   - bucket: a bucket of Max tokens, full at the start, refilled
//     continuously at Rate per second (or Max per Window) up to Max; a
//     request needs cost tokens and takes them.
//   - decay: a counter starting at 0, decreased continuously at Rate per
//     second (or Max per Window) down to 0; a request is accepted iff
//     counter+cost <= Max, and adds cost.
func NewEnforcer(l Limit) (Enforcer, error) {
	l.Margin = 0
	s, err := compile(l, true)
	if err != nil {
		return nil, err
	}
	switch s.shape {
	case Fixed:
		return &Window{max: s.max, size: s.window, idx: math.MinInt64}, nil
	case Sliding:
		return &logEnforcer{max: s.max, window: s.window}, nil
	}
	// Units per ns as an exact rational, from the decimal Rate or Max/Window.
	rate := new(big.Rat)
	if l.Rate != 0 {
		rate.SetString(strconv.FormatFloat(l.Rate, 'f', -1, 64))
		rate.Quo(rate, big.NewRat(int64(time.Second), 1))
	} else {
		rate.SetFrac64(l.Max, int64(l.Window))
	}
	e := &levelEnforcer{decay: s.shape == Decay, max: big.NewRat(s.max, 1), rate: rate, level: new(big.Rat)}
	if !e.decay {
		e.level.Set(e.max) // a bucket starts full
	}
	return e, nil
}

// NewWindow returns the reference enforcer of a fixed limit (l.Shape must
// be Fixed), with the methods a simulated venue needs besides Allow and
// Used. The simulated venues count with it.
func NewWindow(l Limit) (*Window, error) {
	if l.Shape != Fixed {
		return nil, invalid(l.Name, "Shape", "a Window is a fixed limit, got %q", l.Shape)
	}
	e, err := NewEnforcer(l)
	if err != nil {
		return nil, err
	}
	return e.(*Window), nil
}

// Window enforces a fixed limit: usage at t is the cost counted in the
// clock-aligned window [k*size, (k+1)*size) holding t, and it starts
// again from zero in the next one. Safe for concurrent use.
type Window struct {
	mu        sync.Mutex
	max, size int64
	idx, used int64 // the window counted in, and its count
	last      int64 // latest instant seen
}

// roll brings the window to now (never backwards) and returns now; w.mu
// is held.
func (w *Window) roll(now time.Time) int64 {
	ns := max(now.UnixNano(), w.last)
	w.last = ns
	if k := floorDiv(ns, w.size); k != w.idx {
		w.idx, w.used = k, 0
	}
	return ns
}

// Allow counts cost at now if the window's usage stays within its max.
func (w *Window) Allow(now time.Time, cost int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	if cost == 0 {
		return true
	}
	if w.used+cost > w.max {
		return false
	}
	w.used += cost
	return true
}

// Charge counts cost at now whatever the usage (a venue that counts the
// requests it refuses, as Binance counts request weight) and returns the
// usage with it, which may be above the max.
func (w *Window) Charge(now time.Time, cost int64) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	w.used += cost
	return w.used
}

// Used is the usage of the window holding now.
func (w *Window) Used(now time.Time) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	return w.used
}

// ResetAt is when the window holding now ends.
func (w *Window) ResetAt(now time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	return time.Unix(0, (w.idx+1)*w.size)
}

type event struct{ t, cost int64 }

// logEnforcer keeps every accepted request of a sliding limit and sums
// the ones that count.
type logEnforcer struct {
	mu     sync.Mutex
	max    int64
	window int64
	log    []event
	last   int64
}

func (e *logEnforcer) counts(t, now int64) bool {
	return t > now-e.window && t <= now
}

func (e *logEnforcer) usedAt(now int64) int64 {
	var sum int64
	// The log is in time order; scan back until entries no longer count.
	for i := len(e.log) - 1; i >= 0 && e.counts(e.log[i].t, now); i-- {
		sum += e.log[i].cost
	}
	return sum
}

func (e *logEnforcer) clamp(now time.Time) int64 {
	ns := now.UnixNano()
	if ns < e.last {
		ns = e.last
	}
	e.last = ns
	return ns
}

func (e *logEnforcer) Allow(now time.Time, cost int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ns := e.clamp(now)
	if cost == 0 {
		return true
	}
	if e.usedAt(ns)+cost > e.max {
		return false
	}
	e.log = append(e.log, event{ns, cost})
	// Forget what can never count again, to bound memory on long runs.
	if len(e.log) > 4096 {
		i := 0
		for i < len(e.log) && !e.counts(e.log[i].t, ns) {
			i++
		}
		if i > len(e.log)/2 {
			e.log = append(e.log[:0], e.log[i:]...)
		}
	}
	return true
}

func (e *logEnforcer) Used(now time.Time) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.usedAt(e.clamp(now))
}

// levelEnforcer is a bucket's token level or a decay counter, in exact
// rationals, brought forward to each request's instant.
type levelEnforcer struct {
	mu    sync.Mutex
	decay bool
	max   *big.Rat
	rate  *big.Rat // units per ns
	level *big.Rat // bucket: tokens left; decay: the counter
	last  int64
	began bool
}

func (e *levelEnforcer) bring(now time.Time) {
	ns := now.UnixNano()
	if !e.began {
		e.began, e.last = true, ns
	}
	if ns <= e.last {
		return
	}
	d := new(big.Rat).Mul(e.rate, new(big.Rat).SetInt64(ns-e.last))
	e.last = ns
	if e.decay {
		e.level.Sub(e.level, d)
		if e.level.Sign() < 0 {
			e.level.SetInt64(0)
		}
		return
	}
	e.level.Add(e.level, d)
	if e.level.Cmp(e.max) > 0 {
		e.level.Set(e.max)
	}
}

func (e *levelEnforcer) Allow(now time.Time, cost int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bring(now)
	if cost == 0 {
		return true
	}
	c := new(big.Rat).SetInt64(cost)
	if e.decay {
		if new(big.Rat).Add(e.level, c).Cmp(e.max) > 0 {
			return false
		}
		e.level.Add(e.level, c)
		return true
	}
	if e.level.Cmp(c) < 0 {
		return false
	}
	e.level.Sub(e.level, c)
	return true
}

func (e *levelEnforcer) Used(now time.Time) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bring(now)
	u := new(big.Rat).Set(e.level)
	if !e.decay {
		u.Sub(e.max, e.level)
	}
	// Round up.
	q, r := new(big.Int).QuoRem(u.Num(), u.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}
