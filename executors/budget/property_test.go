package budget

import (
	"math/rand"
	"testing"
	"time"
)

// shapeCases are single-limit sets of every shape, with awkward numbers.
func shapeCases() map[string][]Limit {
	mixed := map[Class]int64{ClassNew: 1, ClassCancel: 2, ClassAmend: 1, ClassQuery: 3}
	return map[string][]Limit{
		"fixed":          {{Name: "F", Shape: Fixed, Max: 50, Window: time.Second, Costs: mixed}},
		"fixed-odd":      {{Name: "F", Shape: Fixed, Max: 1000, Window: 1234567 * time.Microsecond, Costs: mixed}},
		"sliding":        {{Name: "S", Shape: Sliding, Max: 20, Window: 2 * time.Second, Costs: mixed}},
		"sliding-1":      {{Name: "S", Shape: Sliding, Max: 1, Window: 333 * time.Millisecond, Costs: map[Class]int64{ClassNew: 1}}},
		"bucket":         {{Name: "B", Shape: Bucket, Max: 30, Rate: 15, Costs: mixed}},
		"bucket-frac":    {{Name: "B", Shape: Bucket, Max: 7, Rate: 0.33, Costs: mixed}},
		"bucket-window":  {{Name: "B", Shape: Bucket, Max: 7, Window: 3 * time.Second, Costs: mixed}},
		"decay":          {{Name: "D", Shape: Decay, Max: 15, Rate: 0.33, Costs: mixed}},
		"decay-margin":   {{Name: "D", Shape: Decay, Max: 125, Rate: 2.34, Costs: mixed, Margin: 0.01}},
		"fixed-margin":   {{Name: "F", Shape: Fixed, Max: 1000, Window: time.Second, Costs: mixed, Margin: 0.015}},
		"sliding-symbol": {{Name: "S", Shape: Sliding, Max: 60, Window: 2 * time.Second, Costs: mixed, Scope: ScopeSymbol}},
		"kraken-trade": {{Name: "T", Shape: Decay, Max: 60, Rate: 1, Scope: ScopeSymbol,
			Costs: map[Class]int64{ClassNew: 1, ClassAmend: 1},
			AgeCost: []AgeStep{
				{Under: 5 * time.Second, Cost: 8}, {Under: 10 * time.Second, Cost: 6}, {Under: 15 * time.Second, Cost: 5},
				{Under: 45 * time.Second, Cost: 4}, {Under: 90 * time.Second, Cost: 2}, {Under: 300 * time.Second, Cost: 1},
				{Class: ClassAmend, Under: 5 * time.Second, Cost: 3},
			}}},
	}
}

var classes = []Class{ClassNew, ClassCancel, ClassAmend, ClassQuery}

func randomOp(r *rand.Rand) Op {
	return Op{
		Class:    classes[r.Intn(len(classes))],
		Symbol:   []string{"BTC-USDT", "ETH-USDT"}[r.Intn(2)],
		OrderAge: time.Duration(r.Int63n(int64(400 * time.Second))),
	}
}

// randomGap mixes bursts, near-limit pacing and idle spells.
func randomGap(r *rand.Rand, scale time.Duration) time.Duration {
	switch r.Intn(10) {
	case 0, 1, 2:
		return 0
	case 3:
		return time.Duration(r.Int63n(int64(scale) * 20))
	default:
		return time.Duration(r.Int63n(int64(scale) * 2))
	}
}

// runRandom sends random demand through TryTake; the venue must accept all
// the budget lets through. external, if set, lets another client of the
// venue consume too, reported to the budget at once through Observe.
func runRandom(t *testing.T, keys [][]Limit, steps int, scale time.Duration, external bool) {
	if testing.Short() {
		steps /= 5
	}
	r, seed := newRand(t)
	g := NewGroups()
	budgets := make([]*Budget, len(keys))
	for i, ls := range keys {
		budgets[i] = mustNew(t, ls, g)
	}
	v := newVenueSim(t, seed, keys)
	now := t0.Add(time.Duration(r.Int63n(int64(time.Hour))))
	took := 0
	for i := 0; i < steps; i++ {
		now = now.Add(randomGap(r, scale))
		k := r.Intn(len(keys))
		op := randomOp(r)
		if external && r.Intn(8) == 0 {
			l := keys[k][r.Intn(len(keys[k]))]
			if l.Scope != ScopeSymbol {
				_, e := v.enforcer(k, l, op)
				e.Allow(now, 1+r.Int63n(3))
				budgets[k].Observe(now, l.Name, e.Used(now))
			}
			continue
		}
		ok, wait := budgets[k].TryTake(now, op)
		if ok {
			took++
			v.send(k, now, op)
			continue
		}
		if wait <= 0 {
			t.Fatalf("seed %d: refused with wait %v", seed, wait)
		}
	}
	t.Logf("seed %d: %d of %d requests taken", seed, took, steps)
}

func TestPropertyRandomDemandNeverRefused(t *testing.T) {
	for name, ls := range shapeCases() {
		t.Run(name, func(t *testing.T) {
			scale := ls[0].Window / time.Duration(ls[0].Max)
			if scale == 0 {
				scale = 100 * time.Millisecond
			}
			runRandom(t, [][]Limit{ls}, 20000, scale, false)
		})
		t.Run(name+"/observe", func(t *testing.T) {
			scale := ls[0].Window / time.Duration(ls[0].Max)
			if scale == 0 {
				scale = 100 * time.Millisecond
			}
			runRandom(t, [][]Limit{ls}, 10000, scale, true)
		})
	}
}

func TestPropertyMultiLimitRandomDemand(t *testing.T) {
	t.Run("binance-two-keys-one-account", func(t *testing.T) {
		runRandom(t, [][]Limit{Binance("1", "A"), Binance("1", "A")}, 15000, 20*time.Millisecond, false)
	})
	t.Run("binance-two-accounts-one-ip", func(t *testing.T) {
		runRandom(t, [][]Limit{Binance("1", "A"), Binance("1", "B"), Binance("2", "B")}, 15000, 5*time.Millisecond, true)
	})
	t.Run("kraken-pro", func(t *testing.T) {
		ls, err := Preset("kraken", PresetOptions{Tier: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		runRandom(t, [][]Limit{ls}, 20000, 100*time.Millisecond, false)
	})
	t.Run("mixed-shapes", func(t *testing.T) {
		ls := []Limit{
			{Name: "F", Shape: Fixed, Max: 40, Window: time.Second, Costs: map[Class]int64{ClassNew: 1, ClassQuery: 2}},
			{Name: "S", Shape: Sliding, Max: 25, Window: 700 * time.Millisecond, Costs: map[Class]int64{ClassNew: 1, ClassCancel: 1}, Scope: "account:x"},
			{Name: "B", Shape: Bucket, Max: 10, Rate: 12.5, Costs: map[Class]int64{ClassNew: 1, ClassCancel: 1, ClassAmend: 2}},
			{Name: "D", Shape: Decay, Max: 20, Rate: 0.5, Costs: map[Class]int64{ClassQuery: 1}, Scope: ScopeSymbol},
		}
		runRandom(t, [][]Limit{ls, ls}, 30000, 20*time.Millisecond, true)
	})
}

// runSaturating has every key ask again the instant Earliest allows; it
// returns the best utilisation over the venue's counters.
func runSaturating(t *testing.T, keys [][]Limit, d time.Duration, pick func(*rand.Rand) Op) float64 {
	if testing.Short() {
		d /= 4
	}
	r, seed := newRand(t)
	g := NewGroups()
	budgets := make([]*Budget, len(keys))
	next := make([]Op, len(keys))
	for i, ls := range keys {
		budgets[i] = mustNew(t, ls, g)
		next[i] = pick(r)
	}
	v := newVenueSim(t, seed, keys)
	now, end := t0, t0.Add(d)
	for n := 0; ; n++ {
		if n > 50_000_000 {
			t.Fatalf("seed %d: no progress", seed)
		}
		k, at := -1, time.Time{}
		for i, b := range budgets {
			e, ok := b.Earliest(now, next[i])
			if !ok {
				t.Fatalf("seed %d: op %+v can never fit", seed, next[i])
			}
			if k < 0 || e.Before(at) {
				k, at = i, e
			}
		}
		if !at.Before(end) {
			break
		}
		now = at
		ok, wait := budgets[k].TryTake(now, next[k])
		if !ok {
			t.Fatalf("seed %d: TryTake at Earliest %v failed (wait %v)", seed, now, wait)
		}
		v.send(k, now, next[k])
		next[k] = pick(r)
	}
	u := v.utilisation(end)
	t.Logf("seed %d: utilisation of the tightest limit %.4f", seed, u)
	return u
}

func TestPropertySaturatingUtilisation(t *testing.T) {
	oneOf := func(cs ...Class) func(*rand.Rand) Op {
		return func(r *rand.Rand) Op { return Op{Class: cs[r.Intn(len(cs))], Symbol: "BTC-USDT"} }
	}
	cases := []struct {
		name string
		keys [][]Limit
		d    time.Duration
		pick func(*rand.Rand) Op
		min  float64
	}{
		{"fixed", [][]Limit{shapeCases()["fixed"]}, 10 * time.Minute, oneOf(ClassNew), 0.98},
		{"fixed-mixed-costs", [][]Limit{shapeCases()["fixed-odd"]}, 5 * time.Minute, oneOf(classes...), 0.98},
		// Sliding venues count requests (cost 1). With mixed costs a FIFO
		// demand idles a freed unit while the next op waits for a second
		// one, which no scheduler can avoid; so the mixed case has Max 60.
		{"sliding", [][]Limit{shapeCases()["sliding"]}, 10 * time.Minute, oneOf(ClassNew), 0.98},
		{"sliding-symbol", [][]Limit{shapeCases()["sliding-symbol"]}, 10 * time.Minute, oneOf(classes...), 0.98},
		{"bucket", [][]Limit{shapeCases()["bucket"]}, 10 * time.Minute, oneOf(classes...), 0.98},
		{"bucket-frac", [][]Limit{shapeCases()["bucket-frac"]}, time.Hour, oneOf(classes...), 0.98},
		{"bucket-window", [][]Limit{shapeCases()["bucket-window"]}, time.Hour, oneOf(ClassNew), 0.98},
		{"decay", [][]Limit{shapeCases()["decay"]}, time.Hour, oneOf(classes...), 0.98},
		{"decay-margin", [][]Limit{shapeCases()["decay-margin"]}, 10 * time.Minute, oneOf(classes...), 0.98},
		{"kraken-cancels", [][]Limit{shapeCases()["kraken-trade"]}, time.Hour, func(r *rand.Rand) Op {
			return Op{Class: classes[r.Intn(3)], Symbol: "XBT/USD", OrderAge: time.Duration(r.Int63n(int64(299 * time.Second)))}
		}, 0.98},
		{"binance-two-keys-one-account", [][]Limit{Binance("1", "A"), Binance("1", "A")}, 10 * time.Minute,
			oneOf(ClassNew, ClassCancel, ClassQuery), 0.98},
		{"binance-weight-bound", [][]Limit{Binance("1", "A"), Binance("1", "B")}, 10 * time.Minute,
			func(r *rand.Rand) Op {
				if r.Intn(4) == 0 {
					return Op{Class: ClassQuery, Endpoint: "GET /api/v3/exchangeInfo"}
				}
				return Op{Class: ClassQuery}
			}, 0.98},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if u := runSaturating(t, c.keys, c.d, c.pick); u < c.min {
				t.Fatalf("utilisation %.4f, want >= %.2f", u, c.min)
			}
		})
	}
}

// TestPropertyEarliestConsistent: after random usage, TryTake at Earliest
// succeeds and one nanosecond before it fails.
func TestPropertyEarliestConsistent(t *testing.T) {
	for name, ls := range shapeCases() {
		t.Run(name, func(t *testing.T) {
			r, seed := newRand(t)
			b := mustNew(t, ls, NewGroups())
			now := t0.Add(time.Duration(r.Int63n(int64(time.Hour))))
			checked := 0
			for i := 0; i < 5000; i++ {
				now = now.Add(randomGap(r, 50*time.Millisecond))
				op := randomOp(r)
				at, ok := b.Earliest(now, op)
				if !ok {
					t.Fatalf("seed %d: %+v never fits", seed, op)
				}
				if at.Before(now) {
					t.Fatalf("seed %d: Earliest %v before now %v", seed, at, now)
				}
				if at.After(now) {
					checked++
					if ok, _ := b.TryTake(at.Add(-time.Nanosecond), op); ok {
						t.Fatalf("seed %d: %+v: TryTake 1ns before Earliest %v succeeded", seed, op, at)
					}
					if ok, wait := b.TryTake(now, op); ok || !now.Add(wait).Equal(at) {
						t.Fatalf("seed %d: TryTake(now) = %v, now+wait %v, want false, %v", seed, ok, now.Add(wait), at)
					}
				}
				if ok, wait := b.TryTake(at, op); !ok {
					t.Fatalf("seed %d: %+v: TryTake at Earliest %v failed, wait %v", seed, op, at, wait)
				}
				now = at
			}
			t.Logf("seed %d: %d waits checked", seed, checked)
		})
	}
}
