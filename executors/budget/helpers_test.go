package budget

import (
	"flag"
	"fmt"
	"math/rand"
	"testing"
	"time"
)

var seedFlag = flag.Int64("budget.seed", 0, "seed for the property tests (0: from the clock)")

// t0 is the start of every simulated run: a Binance day and minute boundary.
var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func newRand(t testing.TB) (*rand.Rand, int64) {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	return rand.New(rand.NewSource(seed)), seed
}

func mustNew(t testing.TB, limits []Limit, g *Groups) *Budget {
	t.Helper()
	b, err := New(limits, g)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// refCost is the cost of op in l, computed independently of spec.cost.
func refCost(l Limit, op Op) int64 {
	c := l.Costs[op.Class]
	if op.Endpoint != "" {
		if w, ok := l.Endpoints[op.Endpoint]; ok {
			c = w
		}
	}
	best, extra := time.Duration(-1), int64(0)
	for _, st := range l.AgeCost {
		cl := st.Class
		if cl == "" {
			cl = ClassCancel
		}
		if cl == op.Class && op.OrderAge < st.Under && (best < 0 || st.Under < best) {
			best, extra = st.Under, st.Cost
		}
	}
	return c + extra
}

// venueSim holds the reference enforcers of a set of keys, one per counter
// the venue keeps (per key, per symbol, or per shared group).
type venueSim struct {
	t        testing.TB
	seed     int64
	keys     [][]Limit
	enf      map[string]Enforcer
	limitOf  map[string]Limit
	consumed map[string]int64
}

func newVenueSim(t testing.TB, seed int64, keys [][]Limit) *venueSim {
	return &venueSim{t: t, seed: seed, keys: keys, enf: map[string]Enforcer{}, limitOf: map[string]Limit{}, consumed: map[string]int64{}}
}

func counterKey(key int, l Limit, op Op) string {
	switch l.Scope {
	case "", ScopeKey:
		return fmt.Sprintf("key%d/%s", key, l.Name)
	case ScopeSymbol:
		return fmt.Sprintf("key%d/%s/%s", key, l.Name, op.Symbol)
	}
	return l.Scope + "/" + l.Name
}

func (v *venueSim) enforcer(key int, l Limit, op Op) (string, Enforcer) {
	k := counterKey(key, l, op)
	e, ok := v.enf[k]
	if !ok {
		var err error
		e, err = NewEnforcer(l)
		if err != nil {
			v.t.Fatalf("NewEnforcer(%s): %v", l.Name, err)
		}
		v.enf[k], v.limitOf[k] = e, l
	}
	return k, e
}

// send delivers an op the budget let through; the venue must accept it.
func (v *venueSim) send(key int, now time.Time, op Op) {
	v.t.Helper()
	for _, l := range v.keys[key] {
		c := refCost(l, op)
		if c == 0 {
			continue
		}
		k, e := v.enforcer(key, l, op)
		if !e.Allow(now, c) {
			v.t.Fatalf("seed %d: venue refused key %d op %+v at %v (+%v): limit %s cost %d, venue used %d of %d",
				v.seed, key, op, now, now.Sub(t0), k, c, e.Used(now), l.Max)
		}
		v.consumed[k] += c
	}
}

// capacity is the most a venue counter lets through over [t0, end).
func capacity(l Limit, end time.Time) float64 {
	d := end.Sub(t0)
	switch l.Shape {
	case Fixed:
		w := int64(l.Window)
		n := floorDiv(end.UnixNano()-1, w) - floorDiv(t0.UnixNano(), w) + 1
		return float64(n * l.Max)
	case Sliding:
		n := (int64(d) + int64(l.Window) - 1) / int64(l.Window)
		return float64(n * l.Max)
	}
	rate := l.Rate
	if rate == 0 {
		rate = float64(l.Max) / l.Window.Seconds()
	}
	return float64(l.Max) + rate*d.Seconds()
}

// utilisation returns the best utilisation over the venue's counters (the
// tightest limit is the one demand saturates) and logs them all.
func (v *venueSim) utilisation(end time.Time) float64 {
	v.t.Helper()
	best := 0.0
	for k, used := range v.consumed {
		u := float64(used) / capacity(v.limitOf[k], end)
		v.t.Logf("  %-40s used %8d  utilisation %.4f", k, used, u)
		if u > best {
			best = u
		}
	}
	return best
}
