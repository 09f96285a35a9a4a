package router

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// keys returns a pool of usable keys with unknown load.
func keys(names ...string) []Candidate {
	pool := make([]Candidate, len(names))
	for i, k := range names {
		pool[i] = Candidate{Key: k, Usable: true, Headroom: 1}
	}
	return pool
}

// down returns pool with the named keys unusable.
func down(pool []Candidate, names ...string) []Candidate {
	pool = slices.Clone(pool)
	for i := range pool {
		if slices.Contains(names, pool[i].Key) {
			pool[i].Usable = false
		}
	}
	return pool
}

func checkRank(t *testing.T, p Policy, pool []Candidate, symbol string, want []string) {
	t.Helper()
	got := Rank(p, pool, symbol)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("Rank(%q, %s) = %v, want %v", p, symbol, got, want)
	}
}

func subKeys(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("sub-%02d", i)
	}
	return names
}

func symbols(n int) []string {
	syms := make([]string, n)
	for i := range syms {
		syms[i] = fmt.Sprintf("SYM%d-USDT", i)
	}
	return syms
}

func TestRankPinned(t *testing.T) {
	abc := keys("a", "b", "c")
	for _, tc := range []struct {
		name string
		pool []Candidate
		want []string
	}{
		{"first usable", abc, []string{"a"}},
		{"first unusable, others never tried", down(abc, "a"), nil},
		{"others unusable", down(abc, "b", "c"), []string{"a"}},
		{"empty pool", nil, nil},
		{"single key", keys("solo"), []string{"solo"}},
		{"empty key", keys("", "b"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRank(t, PolicyPinned, tc.pool, "BTC-USDT", tc.want)
		})
	}
}

func TestRankFailover(t *testing.T) {
	abcd := keys("a", "b", "c", "d")
	for _, tc := range []struct {
		name string
		p    Policy
		pool []Candidate
		want []string
	}{
		{"all usable", PolicyFailover, abcd, []string{"a", "b", "c", "d"}},
		{"first down", PolicyFailover, down(abcd, "a"), []string{"b", "c", "d"}},
		{"first two down", PolicyFailover, down(abcd, "a", "b"), []string{"c", "d"}},
		{"middle down", PolicyFailover, down(abcd, "b"), []string{"a", "c", "d"}},
		{"none usable", PolicyFailover, down(abcd, "a", "b", "c", "d"), nil},
		{"load ignored", PolicyFailover, []Candidate{
			{Key: "a", Usable: true, Headroom: 0.01, Capacity: 10, InFlight: 50},
			{Key: "b", Usable: true, Headroom: 1, Capacity: 1000},
		}, []string{"a", "b"}},
		{"duplicate listing counts once", PolicyFailover, keys("a", "b", "a", "c"), []string{"a", "b", "c"}},
		{"first listing decides", PolicyFailover, append(down(keys("a", "b"), "a"), keys("a")...), []string{"b"}},
		{"empty policy is failover", "", down(abcd, "a"), []string{"b", "c", "d"}},
		{"unknown policy is failover", "bogus", down(abcd, "c"), []string{"a", "b", "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRank(t, tc.p, tc.pool, "ETH-USDT", tc.want)
		})
	}
}

func TestRankLeastLoaded(t *testing.T) {
	for _, tc := range []struct {
		name string
		pool []Candidate
		want []string
	}{
		{"most free orders first", []Candidate{
			{Key: "a", Usable: true, Headroom: 0.5, Capacity: 100}, // 50
			{Key: "b", Usable: true, Headroom: 0.9, Capacity: 100}, // 90
			{Key: "c", Usable: true, Headroom: 1, Capacity: 40},    // 40
		}, []string{"b", "a", "c"}},
		{"orders, not fractions, when capacity is known", []Candidate{
			{Key: "a", Usable: true, Headroom: 1, Capacity: 10},   // 10
			{Key: "b", Usable: true, Headroom: 0.5, Capacity: 50}, // 25
		}, []string{"b", "a"}},
		{"in flight counts", []Candidate{
			{Key: "a", Usable: true, Headroom: 0.5, Capacity: 100},               // 50
			{Key: "b", Usable: true, Headroom: 0.9, Capacity: 100, InFlight: 45}, // 45
			{Key: "c", Usable: true, Headroom: 1, Capacity: 40},                  // 40
		}, []string{"a", "b", "c"}},
		{"queue depth counts", []Candidate{
			{Key: "a", Usable: true, Headroom: 0.5, Capacity: 100},                 // 50
			{Key: "b", Usable: true, Headroom: 0.9, Capacity: 100, QueueDepth: 60}, // 30
			{Key: "c", Usable: true, Headroom: 1, Capacity: 40},                    // 40
		}, []string{"a", "c", "b"}},
		{"over-committed keys still ranked", []Candidate{
			{Key: "a", Usable: true, Headroom: 0, Capacity: 10, InFlight: 5},   // -5
			{Key: "b", Usable: true, Headroom: 0, Capacity: 10, QueueDepth: 2}, // -2
		}, []string{"b", "a"}},
		{"ties by pool order", []Candidate{
			{Key: "c", Usable: true, Headroom: 0.5, Capacity: 20},
			{Key: "a", Usable: true, Headroom: 1, Capacity: 10},
			{Key: "b", Usable: true, Headroom: 0.25, Capacity: 40},
		}, []string{"c", "a", "b"}},
		{"unhealthy skipped", []Candidate{
			{Key: "a", Usable: true, Headroom: 0.1, Capacity: 100},
			{Key: "b", Usable: false, Headroom: 1, Capacity: 100},
			{Key: "c", Usable: true, Headroom: 0.2, Capacity: 100},
		}, []string{"c", "a"}},
		{"none usable", []Candidate{
			{Key: "a", Headroom: 1, Capacity: 100},
			{Key: "b", Headroom: 1, Capacity: 100},
		}, nil},
		{"unknown capacity: by headroom", []Candidate{
			{Key: "a", Usable: true, Headroom: 0.3, InFlight: 0},
			{Key: "b", Usable: true, Headroom: 1, InFlight: 7},
			{Key: "c", Usable: true, Headroom: 0.7},
		}, []string{"b", "c", "a"}},
		{"unknown capacity: in flight, then queue break ties", []Candidate{
			{Key: "a", Usable: true, Headroom: 1, InFlight: 2},
			{Key: "b", Usable: true, Headroom: 1, InFlight: 1, QueueDepth: 3},
			{Key: "c", Usable: true, Headroom: 1, InFlight: 1},
			{Key: "d", Usable: true, Headroom: 1, InFlight: 1},
		}, []string{"c", "d", "b", "a"}},
		{"unknown headroom and capacity: pool order", keys("x", "y", "z"), []string{"x", "y", "z"}},
		{"unknown capacity takes the smallest known", []Candidate{
			{Key: "a", Usable: true, Headroom: 0.5, Capacity: 100}, // 50
			{Key: "b", Usable: true, Headroom: 1, InFlight: 60},    // 1*40 - 60 = -20
			{Key: "c", Usable: true, Headroom: 1, Capacity: 40},    // 40
		}, []string{"a", "c", "b"}},
		{"unknown capacity, fresh key", []Candidate{
			{Key: "a", Usable: true, Headroom: 0.5, Capacity: 100}, // 50
			{Key: "b", Usable: true, Headroom: 1},                  // 1*100
		}, []string{"b", "a"}},
		{"an unusable key's capacity is not borrowed", []Candidate{
			{Key: "a", Usable: true, Headroom: 0.5, Capacity: 100}, // 50
			{Key: "b", Usable: false, Headroom: 1, Capacity: 1},
			{Key: "c", Usable: true, Headroom: 1, InFlight: 20}, // 100 - 20
		}, []string{"c", "a"}},
		{"bad numbers rank last", []Candidate{
			{Key: "nan", Usable: true, Headroom: math.NaN(), Capacity: 100},
			{Key: "neg", Usable: true, Headroom: -3, Capacity: 100},
			{Key: "ok", Usable: true, Headroom: 0.1, Capacity: 100},
			{Key: "big", Usable: true, Headroom: 7, Capacity: 100}, // taken as 1
		}, []string{"big", "ok", "nan", "neg"}},
		{"infinite capacity is unknown", []Candidate{
			{Key: "inf", Usable: true, Headroom: 0.5, Capacity: math.Inf(1)},
			{Key: "ok", Usable: true, Headroom: 0.6, Capacity: 10},
		}, []string{"ok", "inf"}},
		{"negative in flight ignored", []Candidate{
			{Key: "a", Usable: true, Headroom: 1, Capacity: 10, InFlight: -100},
			{Key: "b", Usable: true, Headroom: 1, Capacity: 11},
		}, []string{"b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRank(t, PolicyLeastLoaded, tc.pool, "BTC-USDT", tc.want)
		})
	}
}

// choose simulates the router: pick Rank's first key, then count the
// order in flight on it, as the glue does until the key reports it.
func choose(t *testing.T, pool []Candidate, n int) []string {
	t.Helper()
	var picks []string
	for range n {
		r := Rank(PolicyLeastLoaded, pool, "BTC-USDT")
		if len(r) == 0 {
			t.Fatalf("Rank = empty after %v", picks)
		}
		picks = append(picks, r[0])
		for i := range pool {
			if pool[i].Key == r[0] {
				pool[i].InFlight++
			}
		}
	}
	return picks
}

func tally(picks []string) map[string]int {
	m := map[string]int{}
	for _, k := range picks {
		m[k]++
	}
	return m
}

func TestLeastLoadedInFlightSpreads(t *testing.T) {
	t.Run("equal keys take turns", func(t *testing.T) {
		pool := []Candidate{
			{Key: "a", Usable: true, Headroom: 1, Capacity: 10},
			{Key: "b", Usable: true, Headroom: 1, Capacity: 10},
			{Key: "c", Usable: true, Headroom: 1, Capacity: 10},
			{Key: "d", Usable: true, Headroom: 1, Capacity: 10},
		}
		got := choose(t, pool, 8)
		want := []string{"a", "b", "c", "d", "a", "b", "c", "d"}
		if !slices.Equal(got, want) {
			t.Errorf("picks = %v, want %v", got, want)
		}
	})
	t.Run("unknown capacity takes turns", func(t *testing.T) {
		got := choose(t, keys("a", "b", "c"), 6)
		want := []string{"a", "b", "c", "a", "b", "c"}
		if !slices.Equal(got, want) {
			t.Errorf("picks = %v, want %v", got, want)
		}
	})
	t.Run("the emptier key takes more until they even out", func(t *testing.T) {
		pool := []Candidate{
			{Key: "a", Usable: true, Headroom: 0.25, Capacity: 40}, // 10 free
			{Key: "b", Usable: true, Headroom: 1, Capacity: 20},    // 20 free
		}
		got := choose(t, pool, 30)
		for i := range 10 {
			if got[i] != "b" {
				t.Fatalf("pick %d = %s, want b (the emptier) for the first 10: %v", i, got[i], got)
			}
		}
		for i := 10; i+1 < len(got); i++ {
			if got[i] == got[i+1] {
				t.Fatalf("picks %d and %d both %s once free capacity is even: %v", i, i+1, got[i], got)
			}
		}
		if c := tally(got); c["a"] != 10 || c["b"] != 20 {
			t.Errorf("tally = %v, want a:10 b:20", c)
		}
	})
}

func TestRankSticky(t *testing.T) {
	pool := keys(subKeys(4)...)
	first := Rank(PolicySticky, pool, "BTC-USDT")
	if len(first) != 4 {
		t.Fatalf("Rank = %v, want all 4 keys", first)
	}
	for _, tc := range []struct {
		name string
		pool []Candidate
		want []string
	}{
		{"all usable", pool, first},
		{"chosen down: the next in its order", down(pool, first[0]), first[1:]},
		{"others down", down(pool, first[1], first[2]), []string{first[0], first[3]}},
		{"none usable", down(pool, subKeys(4)...), nil},
		{"duplicates count once", append(slices.Clone(pool), pool...), first},
		{"load ignored", func() []Candidate {
			p := slices.Clone(pool)
			for i := range p {
				if p[i].Key == first[0] {
					p[i].Headroom, p[i].Capacity, p[i].InFlight = 0, 10, 100
				}
			}
			return p
		}(), first},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRank(t, PolicySticky, tc.pool, "BTC-USDT", tc.want)
		})
	}
}

// TestStickyHashFixed pins a few choices: the hash is shared by every
// router process, and changing it moves positions between sub-accounts.
func TestStickyHashFixed(t *testing.T) {
	pool := keys(subKeys(4)...)
	for sym, want := range map[string][]string{
		"BTC-USDT": {"sub-00", "sub-01", "sub-02", "sub-03"},
		"ETH-USDT": {"sub-00", "sub-03", "sub-02", "sub-01"},
		"SOL-USDT": {"sub-03", "sub-01", "sub-02", "sub-00"},
		"XRP-USDT": {"sub-02", "sub-01", "sub-03", "sub-00"},
		"ADA-USDT": {"sub-01", "sub-03", "sub-00", "sub-02"},
	} {
		checkRank(t, PolicySticky, pool, sym, want)
	}
}

func TestStickyStable(t *testing.T) {
	// 40 keys: more than Rank sorts on the stack.
	for _, n := range []int{7, 40} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			names := subKeys(n)
			pool := keys(names...)
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			for _, sym := range symbols(2000) {
				want := Rank(PolicySticky, pool, sym)
				if got := Rank(PolicySticky, pool, sym); !slices.Equal(got, want) {
					t.Fatalf("%s: second Rank = %v, first %v", sym, got, want)
				}
				shuffled := slices.Clone(pool)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if got := Rank(PolicySticky, shuffled, sym); !slices.Equal(got, want) {
					t.Fatalf("%s: Rank over %v = %v, over %v = %v", sym, shuffled, got, names, want)
				}
			}
		})
	}
}

func TestLeastLoadedBigPool(t *testing.T) {
	// 40 keys: more than Rank sorts on the stack. Free capacity is
	// i%4 orders, so the want is the keys with 3 free in pool order, then
	// those with 2, 1 and 0.
	names := subKeys(40)
	pool := keys(names...)
	var want []string
	for i := range pool {
		pool[i].Capacity = 10
		pool[i].Headroom = 0.1 * float64(i%4)
	}
	for free := 3; free >= 0; free-- {
		for i, k := range names {
			if i%4 == free {
				want = append(want, k)
			}
		}
	}
	checkRank(t, PolicyLeastLoaded, pool, "BTC-USDT", want)
}

func TestStickyUnusableKeyMovesOnlyItsSymbols(t *testing.T) {
	const n = 5
	names := subKeys(n)
	pool := keys(names...)
	sick := names[2]
	syms := symbols(10000)
	before := map[string][]string{}
	for _, s := range syms {
		before[s] = Rank(PolicySticky, pool, s)
	}

	moved := map[string]int{}
	for _, s := range syms {
		got := Rank(PolicySticky, down(pool, sick), s)[0]
		switch was := before[s]; {
		case was[0] != sick && got != was[0]:
			t.Fatalf("%s moved from healthy %s to %s when %s went down", s, was[0], got, sick)
		case was[0] == sick && got != was[1]:
			t.Fatalf("%s of %s went to %s, want %s (next in its order)", s, sick, got, was[1])
		case was[0] == sick:
			moved[got]++
		}
	}
	total := 0
	for _, c := range moved {
		total += c
	}
	// The sick key's symbols spread over the other n-1 keys.
	for _, k := range names {
		if k == sick {
			continue
		}
		want := float64(total) / (n - 1)
		if got := float64(moved[k]); got < 0.75*want || got > 1.25*want {
			t.Errorf("%s took %v of %s's %d symbols, want %.0f ± 25%%", k, got, sick, total, want)
		}
	}

	for _, s := range syms {
		if got := Rank(PolicySticky, pool, s); !slices.Equal(got, before[s]) {
			t.Fatalf("%s after %s recovered: %v, want %v", s, sick, got, before[s])
		}
	}
}

func TestStickyAddKeyMovesItsShare(t *testing.T) {
	syms := symbols(10000)
	for n := 2; n <= 10; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			names := subKeys(n + 1)
			small, big := keys(names[:n]...), keys(names...)
			added := names[n]
			moved := 0
			share := map[string]int{}
			for _, s := range syms {
				was, now := Rank(PolicySticky, small, s)[0], Rank(PolicySticky, big, s)[0]
				share[now]++
				if was == now {
					continue
				}
				if now != added {
					t.Fatalf("%s moved from %s to %s, not to the added %s", s, was, now, added)
				}
				moved++
			}
			want := float64(len(syms)) / float64(n+1)
			if got := float64(moved); got < 0.75*want || got > 1.25*want {
				t.Errorf("adding %s to %d keys moved %v symbols, want %.0f ± 25%%", added, n, got, want)
			}
			for _, k := range names {
				if got := float64(share[k]); got < 0.75*want || got > 1.25*want {
					t.Errorf("%s holds %v symbols of %d keys, want %.0f ± 25%%", k, got, n+1, want)
				}
			}
		})
	}
}

func TestAppendRankReusesBuffer(t *testing.T) {
	pool := keys(subKeys(8)...)
	buf := make([]string, 0, 8)
	for _, p := range []Policy{PolicyPinned, PolicySticky, PolicyLeastLoaded, PolicyFailover} {
		allocs := testing.AllocsPerRun(100, func() {
			buf = AppendRank(buf[:0], p, pool, "BTC-USDT")
		})
		if allocs != 0 {
			t.Errorf("AppendRank(%s) with room: %v allocs, want 0", p, allocs)
		}
		if got, want := buf, Rank(p, pool, "BTC-USDT"); !slices.Equal(got, want) {
			t.Errorf("AppendRank(%s) = %v, Rank = %v", p, got, want)
		}
	}
}

// benchPool is 8 keys with different loads, two of them unusable.
func benchPool() []Candidate {
	pool := make([]Candidate, 8)
	for i := range pool {
		pool[i] = Candidate{
			Key:        fmt.Sprintf("binance-sub-%02d", i),
			Usable:     i != 3 && i != 6,
			Headroom:   float64(i%5) / 4,
			Capacity:   1200,
			InFlight:   i * 3 % 7,
			QueueDepth: i % 3,
		}
	}
	return pool
}

func BenchmarkRank(b *testing.B) {
	pool := benchPool()
	syms := symbols(64)
	for _, p := range []Policy{PolicyPinned, PolicySticky, PolicyLeastLoaded, PolicyFailover} {
		b.Run(string(p), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				Rank(p, pool, syms[i%len(syms)])
				i++
			}
		})
	}
}

func BenchmarkAppendRank(b *testing.B) {
	pool := benchPool()
	syms := symbols(64)
	buf := make([]string, 0, len(pool))
	for _, p := range []Policy{PolicySticky, PolicyLeastLoaded} {
		b.Run(string(p), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				buf = AppendRank(buf[:0], p, pool, syms[i%len(syms)])
				i++
			}
		})
	}
}

func ExampleRank() {
	pool := []Candidate{
		{Key: "main", Usable: false}, // throttled
		{Key: "backup-1", Usable: true, Headroom: 0.5, Capacity: 100},
		{Key: "backup-2", Usable: true, Headroom: 0.8, Capacity: 100},
	}
	fmt.Println(Rank(PolicyFailover, pool, "BTC-USDT"))
	fmt.Println(Rank(PolicyLeastLoaded, pool, "BTC-USDT"))
	fmt.Println(Rank(PolicyPinned, pool, "BTC-USDT"))
	// Output:
	// [backup-1 backup-2]
	// [backup-2 backup-1]
	// []
}
