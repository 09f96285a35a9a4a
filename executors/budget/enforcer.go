package budget

import (
	"math/big"
	"strconv"
	"sync"
	"time"
)

// Enforcer is a reference model of how a venue enforces one limit: the
// simulated venues use it to refuse requests (and count 429s), and the tests
// check every Budget against it. Enforcers are written independently of
// Budget and for obviousness, not speed: fixed and sliding scan a log of
// accepted requests, bucket and decay keep their level as an exact rational.
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
	case Fixed, Sliding:
		return &logEnforcer{sliding: s.shape == Sliding, max: s.max, window: s.window}, nil
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

type event struct{ t, cost int64 }

// logEnforcer keeps every accepted request and sums the ones that count.
type logEnforcer struct {
	mu      sync.Mutex
	sliding bool
	max     int64
	window  int64
	log     []event
	last    int64
}

func (e *logEnforcer) counts(t, now int64) bool {
	if e.sliding {
		return t > now-e.window && t <= now
	}
	return floorDiv(t, e.window) == floorDiv(now, e.window)
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
