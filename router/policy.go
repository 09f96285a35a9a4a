package router

import (
	"math"
	"slices"

	"github.com/keyrouter/keyrouter/configs"
)

// Policy names a key-selection policy of a strategy's pool. The names
// are the config's (configs.Policy): a strategy's policy is checked and
// defaulted when its config is loaded, so the router never parses one.
type Policy = configs.Policy

// Key-selection policies; Rank says what each does.
const (
	PolicyPinned      = configs.PolicyPinned
	PolicySticky      = configs.PolicySticky
	PolicyLeastLoaded = configs.PolicyLeastLoaded
	PolicyFailover    = configs.PolicyFailover
)

// Candidate is one key of a pool as the router sees it now.
type Candidate struct {
	Key string
	// Usable: state active and heartbeat fresh (the caller decides).
	Usable bool
	// Headroom is the free fraction (0..1) of the key's tightest limit
	// per its last KeyStatus, 1 if unknown.
	Headroom float64
	// Capacity is the tightest limit's max (orders per window), 0 if
	// unknown.
	Capacity float64
	// InFlight counts orders the router handed to the key and has not yet
	// seen reported.
	InFlight int
	// QueueDepth is the key's queue depth per its last KeyStatus.
	QueueDepth int
}

// Rank returns the pool's usable keys in the order policy p prefers them
// for an intent on symbol (first = chosen); empty if none is usable.
//
//   - pinned: only pool[0], if it is usable.
//   - sticky: rendezvous (highest-random-weight) order of a fixed 64-bit
//     hash of (symbol, key), so every router process agrees, the order
//     does not depend on the pool's order, adding a key moves only the
//     symbols it now wins, and an unusable key's symbols spread over the
//     others and come back when it recovers.
//   - least_loaded: estimated free capacity, most first. With Capacity
//     known that is Headroom*Capacity - InFlight - QueueDepth orders (a
//     key whose Capacity is unknown, in a pool where some are known, is
//     taken to have the smallest known one); with no Capacity known it is
//     Headroom, then fewer InFlight, then fewer QueueDepth. Ties go by
//     pool order.
//   - failover (and "" or any unknown policy): pool order.
//
// A key listed more than once counts once, as its first listing says; an
// empty Key is skipped. Rank is pure and safe for concurrent use.
func Rank(p Policy, pool []Candidate, symbol string) []string {
	n := 0
	for i := range pool {
		if pool[i].Usable {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if p == PolicyPinned {
		n = 1
	}
	return AppendRank(make([]string, 0, n), p, pool, symbol)
}

// AppendRank is Rank appending to dst, for callers that reuse a buffer.
// For pools of up to 16 keys it allocates nothing when dst has room.
func AppendRank(dst []string, p Policy, pool []Candidate, symbol string) []string {
	switch p {
	case PolicyPinned:
		if len(pool) > 0 && pool[0].Usable && pool[0].Key != "" {
			dst = append(dst, pool[0].Key)
		}
		return dst
	case PolicySticky, PolicyLeastLoaded:
	default:
		for i := range pool {
			if counts(pool, i) {
				dst = append(dst, pool[i].Key)
			}
		}
		return dst
	}

	var buf [16]ranked // scratch on the stack for the usual pool sizes
	rs := buf[:0]
	sticky := p == PolicySticky
	if sticky {
		h := fnvString(fnvOffset, symbol)
		h *= fnvPrime // a 0 byte between symbol and key: neither holds one
		for i := range pool {
			if counts(pool, i) {
				rs = append(rs, ranked{i: i, weight: mix64(fnvString(h, pool[i].Key))})
			}
		}
	} else {
		minCap := math.Inf(1)
		for i := range pool {
			if counts(pool, i) {
				c := capacity(pool[i])
				if c > 0 {
					minCap = min(minCap, c)
				}
				rs = append(rs, ranked{i: i, free: c})
			}
		}
		for j := range rs {
			r, c := &rs[j], &pool[rs[j].i]
			inFlight, queue := max(c.InFlight, 0), max(c.QueueDepth, 0)
			switch {
			case math.IsInf(minCap, 1): // no capacity known: fractions only
				r.free, r.inFlight, r.queue = headroom(*c), inFlight, queue
			case r.free == 0:
				r.free = headroom(*c)*minCap - float64(inFlight) - float64(queue)
			default:
				r.free = headroom(*c)*r.free - float64(inFlight) - float64(queue)
			}
		}
	}
	if len(rs) <= len(buf) {
		for j := 1; j < len(rs); j++ { // insertion sort: stable, no calls
			for k := j; k > 0 && before(pool, sticky, &rs[k], &rs[k-1]); k-- {
				rs[k], rs[k-1] = rs[k-1], rs[k]
			}
		}
	} else {
		slices.SortFunc(rs, func(a, b ranked) int {
			switch {
			case before(pool, sticky, &a, &b):
				return -1
			case before(pool, sticky, &b, &a):
				return 1
			}
			return 0
		})
	}
	for _, r := range rs {
		dst = append(dst, pool[r.i].Key)
	}
	return dst
}

// ranked is a usable key with what its policy orders it by. It holds no
// pointer, so sorting it costs no write barriers.
type ranked struct {
	free     float64 // least_loaded: more first
	weight   uint64  // sticky: higher first
	inFlight int     // fewer first
	queue    int     // fewer first
	i        int     // index in the pool
}

// before reports whether a goes before b. A sticky hash collision goes by
// key, not pool order, so that order never depends on the pool's; every
// other tie by pool order.
func before(pool []Candidate, sticky bool, a, b *ranked) bool {
	switch {
	case a.free != b.free:
		return a.free > b.free
	case a.weight != b.weight:
		return a.weight > b.weight
	case a.inFlight != b.inFlight:
		return a.inFlight < b.inFlight
	case a.queue != b.queue:
		return a.queue < b.queue
	}
	if ka, kb := pool[a.i].Key, pool[b.i].Key; sticky && ka != kb {
		return ka < kb
	}
	return a.i < b.i
}

// counts reports whether pool[i] is ranked: usable, named, and the first
// listing of its key. Pools are a handful of keys, so the scan is cheaper
// than a set.
func counts(pool []Candidate, i int) bool {
	c := &pool[i]
	if !c.Usable || c.Key == "" {
		return false
	}
	for j := range i {
		if pool[j].Key == c.Key {
			return false
		}
	}
	return true
}

// headroom is c.Headroom clamped to 0..1; NaN, which no heartbeat should
// carry, ranks last.
func headroom(c Candidate) float64 {
	h := c.Headroom
	if math.IsNaN(h) || h < 0 {
		return 0
	}
	return min(h, 1)
}

// capacity is c.Capacity, or 0 (unknown) when it is not a positive
// finite number.
func capacity(c Candidate) float64 {
	if !(c.Capacity > 0) || math.IsInf(c.Capacity, 1) {
		return 0
	}
	return c.Capacity
}

// The sticky hash is FNV-1a 64 over symbol, a 0 byte and key, finished by
// murmur3's fmix64 (FNV alone spreads keys that differ in their last byte
// poorly). It is fixed: every router process must agree, and changing it
// moves symbols between sub-accounts.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
