package router

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"
)

// fuzzPool decodes a pool from fuzz bytes, five bytes a candidate: key
// (low 6 bits; 63 is the empty key) and usable (top bit), headroom, capacity, in flight, queue depth. Some byte values
// stand for numbers no heartbeat should carry.
func fuzzPool(data []byte) []Candidate {
	var pool []Candidate
	for ; len(data) >= 5 && len(pool) < 64; data = data[5:] {
		c := Candidate{Usable: data[0]&0x80 != 0}
		if id := data[0] & 0x3f; id != 63 {
			c.Key = fmt.Sprintf("k%d", id)
		}
		switch b := data[1]; b {
		case 251:
			c.Headroom = math.NaN()
		case 252:
			c.Headroom = -0.5
		case 253:
			c.Headroom = 2
		case 254:
			c.Headroom = math.Inf(1)
		default:
			c.Headroom = min(float64(b)/250, 1)
		}
		switch b := data[2]; b {
		case 1:
			c.Capacity = math.NaN()
		case 2:
			c.Capacity = math.Inf(1)
		case 3:
			c.Capacity = -5
		case 4:
			c.Capacity = 1e300
		default:
			c.Capacity = float64(b)
		}
		c.InFlight = int(int8(data[3]))
		c.QueueDepth = int(int8(data[4]))
		pool = append(pool, c)
	}
	return pool
}

// firstListings is pool without unusable, unnamed or repeated listings:
// what every policy but pinned must return, in pool order.
func firstListings(pool []Candidate) []Candidate {
	var out []Candidate
	seen := map[string]bool{}
	for _, c := range pool {
		if seen[c.Key] {
			continue
		}
		seen[c.Key] = true
		if c.Usable && c.Key != "" {
			out = append(out, c)
		}
	}
	return out
}

// leastLoadedOracle ranks like least_loaded, written independently: a
// stable sort of the first listings on estimated free capacity.
func leastLoadedOracle(usable []Candidate) []string {
	clean := func(c Candidate) (h, capa float64) {
		h = c.Headroom
		if math.IsNaN(h) || h < 0 {
			h = 0
		}
		if h > 1 {
			h = 1
		}
		if c.Capacity > 0 && !math.IsInf(c.Capacity, 0) {
			capa = c.Capacity
		}
		return h, capa
	}
	minCap := 0.0
	for _, c := range usable {
		if _, capa := clean(c); capa > 0 && (minCap == 0 || capa < minCap) {
			minCap = capa
		}
	}
	type row struct {
		key             string
		free            float64
		inFlight, queue int
	}
	rows := make([]row, len(usable))
	for i, c := range usable {
		h, capa := clean(c)
		inFlight, queue := max(c.InFlight, 0), max(c.QueueDepth, 0)
		if minCap == 0 {
			rows[i] = row{c.Key, h, inFlight, queue}
			continue
		}
		if capa == 0 {
			capa = minCap
		}
		rows[i] = row{key: c.Key, free: h*capa - float64(inFlight) - float64(queue)}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.free != b.free {
			return a.free > b.free
		}
		if a.inFlight != b.inFlight {
			return a.inFlight < b.inFlight
		}
		return a.queue < b.queue
	})
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.key
	}
	return out
}

func FuzzRank(f *testing.F) {
	f.Add([]byte{}, "BTC-USDT")
	f.Add([]byte{0x80, 250, 100, 0, 0, 0x81, 125, 100, 0, 0, 0x02, 250, 100, 0, 0}, "ETH-USDT")
	f.Add([]byte{0x81, 251, 1, 0xff, 0x80, 0x81, 253, 2, 5, 5, 0xbf, 0, 0, 0, 0, 0x81, 10, 4, 3, 3}, "")
	f.Add([]byte{0x83, 250, 0, 1, 0, 0x84, 250, 0, 2, 0, 0x03, 250, 50, 0, 0, 0x85, 200, 60, 0, 9}, "SOL-USDT")
	var big []byte // more usable keys than Rank sorts on the stack
	for i := range 40 {
		big = append(big, 0x80|byte(i), byte(i*37%250), byte(i*11%200), byte(i%5), byte(i%3))
	}
	f.Add(big, "BNB-USDT")
	f.Fuzz(func(t *testing.T, data []byte, symbol string) {
		pool := fuzzPool(data)
		usable := firstListings(pool)
		var usableKeys []string
		for _, c := range usable {
			usableKeys = append(usableKeys, c.Key)
		}
		for _, p := range []Policy{PolicyPinned, PolicySticky, PolicyLeastLoaded, PolicyFailover, ""} {
			got := Rank(p, pool, symbol)
			seen := map[string]bool{}
			for _, k := range got {
				if seen[k] {
					t.Fatalf("%q: %v repeats %s", p, got, k)
				}
				seen[k] = true
				if !slices.Contains(usableKeys, k) {
					t.Fatalf("%q: %v holds %q, not a usable key of %+v", p, got, k, pool)
				}
			}
			if again := Rank(p, pool, symbol); !slices.Equal(again, got) {
				t.Fatalf("%q: Rank not deterministic: %v then %v", p, got, again)
			}
			if dst := AppendRank([]string{"prefix"}, p, pool, symbol); dst[0] != "prefix" || !slices.Equal(dst[1:], got) {
				t.Fatalf("%q: AppendRank = %v, Rank = %v", p, dst, got)
			}
			// Repeated and unusable listings change nothing.
			if clean := Rank(p, usable, symbol); p != PolicyPinned && !slices.Equal(clean, got) {
				t.Fatalf("%q: Rank over %+v = %v, over first usable listings %v", p, pool, got, clean)
			}

			switch p {
			case PolicyPinned:
				want := len(pool) > 0 && pool[0].Usable && pool[0].Key != ""
				if (len(got) == 1) != want || len(got) > 1 || (want && got[0] != pool[0].Key) {
					t.Fatalf("pinned: %v from %+v, want only pool[0] when usable", got, pool)
				}
				continue
			case PolicyFailover, "":
				if !slices.Equal(got, usableKeys) {
					t.Fatalf("%q: %v, want usable keys in pool order %v", p, got, usableKeys)
				}
			case PolicySticky:
				rev := slices.Clone(usable)
				slices.Reverse(rev)
				if r := Rank(p, rev, symbol); !slices.Equal(r, got) {
					t.Fatalf("sticky depends on pool order: %v, reversed %v", got, r)
				}
			case PolicyLeastLoaded:
				if want := leastLoadedOracle(usable); !slices.Equal(got, want) {
					t.Fatalf("least_loaded: %v from %+v, want %v", got, usable, want)
				}
			}
			if len(got) != len(usableKeys) {
				t.Fatalf("%q: %v, want every usable key of %v", p, got, usableKeys)
			}
		}
	})
}
