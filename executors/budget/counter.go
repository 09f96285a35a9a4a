package budget

import (
	"math"
	"math/bits"
)

// counter is the usage state of one limit in one scope. All arithmetic is
// on int64 nanoseconds and integer units: no floating point takes part in
// a decision. A counter is guarded by the mutex of the budget(s) using it.
type counter struct {
	s    *spec
	last int64 // latest instant seen: time never goes backwards for a counter

	// fixed
	idx, used int64

	// sliding: ring of (instant, cost), oldest at head; sum of live costs.
	ring []slot
	head int
	n    int
	sum  int64

	// bucket and decay (GCRA): the theoretical arrival time tat + frac/num ns.
	// Usage at t is (max(tat, t) - t) / (den/num), in units.
	tat, frac int64
}

type slot struct{ t, c int64 }

func newCounter(s *spec) *counter {
	c := &counter{s: s, idx: math.MinInt64, tat: math.MinInt64 / 4}
	if s.shape == Sliding {
		c.ring = make([]slot, s.max)
	}
	return c
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// advance clamps now to the latest instant seen and forgets what expired.
func (c *counter) advance(now int64) int64 {
	if now < c.last {
		now = c.last
	}
	c.last = now
	switch c.s.shape {
	case Fixed:
		if k := floorDiv(now, c.s.window); k != c.idx {
			c.idx, c.used = k, 0
		}
	case Sliding:
		// An entry at t counts in (t-W, t] windows, so at now it is gone
		// once t <= now-W.
		edge := now - c.s.window
		for c.n > 0 && c.ring[c.head].t <= edge {
			c.sum -= c.ring[c.head].c
			c.head++
			if c.head == len(c.ring) {
				c.head = 0
			}
			c.n--
		}
	}
	return now
}

// interval returns units*den/num as whole ns q plus r/num ns.
func (c *counter) interval(units int64) (q, r int64) {
	hi, lo := bits.Mul64(uint64(units), uint64(c.s.den))
	uq, ur := bits.Div64(hi, lo, uint64(c.s.num))
	return int64(uq), int64(ur)
}

// backlog is max(tat, now) - now as (ns, frac/num).
func (c *counter) backlog(now int64) (int64, int64) {
	if c.tat > now || (c.tat == now && c.frac > 0) {
		return c.tat - now, c.frac
	}
	return 0, 0
}

// fits reports whether cost fits at now (already advanced). cost <= max.
func (c *counter) fits(now, cost int64) bool {
	switch c.s.shape {
	case Fixed:
		return c.used+cost <= c.s.max
	case Sliding:
		return c.sum+cost <= c.s.max
	default:
		// GCRA: conforming iff backlog <= (max-cost) units of time.
		bq, br := c.backlog(now)
		q, r := c.interval(c.s.max - cost)
		return bq < q || (bq == q && br <= r)
	}
}

// earliest is the first instant >= now (advanced) at which cost fits,
// assuming no other consumption. cost <= max.
func (c *counter) earliest(now, cost int64) int64 {
	if c.fits(now, cost) {
		return now
	}
	switch c.s.shape {
	case Fixed:
		return (c.idx + 1) * c.s.window
	case Sliding:
		need := c.sum + cost - c.s.max // units that must expire
		i := c.head
		for {
			need -= c.ring[i].c
			if need <= 0 {
				return c.ring[i].t + c.s.window
			}
			i++
			if i == len(c.ring) {
				i = 0
			}
		}
	default:
		// Smallest integer t with tat - t <= (max-cost) units of time.
		q, r := c.interval(c.s.max - cost)
		t, f := c.tat-q, c.frac-r
		if f < 0 {
			t--
			f += c.s.num
		}
		if f > 0 {
			t++
		}
		return t
	}
}

// take consumes cost at now (advanced); the caller checked fits.
func (c *counter) take(now, cost int64) {
	if cost == 0 {
		return
	}
	switch c.s.shape {
	case Fixed:
		c.used += cost
	case Sliding:
		c.push(now, cost)
	default:
		if c.tat < now {
			c.tat, c.frac = now, 0
		}
		q, r := c.interval(cost)
		c.tat += q
		c.frac += r
		if c.frac >= c.s.num {
			c.frac -= c.s.num
			c.tat++
		}
	}
}

func (c *counter) push(now, cost int64) {
	if c.n > 0 {
		li := c.head + c.n - 1
		if li >= len(c.ring) {
			li -= len(c.ring)
		}
		if c.ring[li].t == now {
			c.ring[li].c += cost
			c.sum += cost
			return
		}
	}
	i := c.head + c.n
	if i >= len(c.ring) {
		i -= len(c.ring)
	}
	c.ring[i] = slot{now, cost}
	c.n++
	c.sum += cost
}

// usage is the units in use at now (advanced), rounded up for bucket/decay.
func (c *counter) usage(now int64) int64 {
	switch c.s.shape {
	case Fixed:
		return c.used
	case Sliding:
		return c.sum
	default:
		bq, br := c.backlog(now)
		// units = backlog*num/den, rounded up.
		hi, lo := bits.Mul64(uint64(bq), uint64(c.s.num))
		var carry uint64
		lo, carry = bits.Add64(lo, uint64(br), 0)
		hi += carry
		if hi >= uint64(c.s.den) {
			return c.s.max
		}
		u, rem := bits.Div64(hi, lo, uint64(c.s.den))
		if rem > 0 {
			u++
		}
		return int64(u)
	}
}

// observe raises usage at now (advanced) to used if the venue counts more.
func (c *counter) observe(now, used int64) {
	switch c.s.shape {
	case Fixed:
		if used > c.used {
			c.used = used
		}
	case Sliding:
		// The venue's extra units are of unknown age: count them as taken
		// now, the conservative choice. The ring never holds more than max.
		if used > c.s.max {
			used = c.s.max
		}
		if used > c.sum {
			c.push(now, used-c.sum)
		}
	default:
		// Compare exactly: the own usage rounded up could hide a venue
		// count that is larger than the exact own one.
		if used > c.s.max {
			used = c.s.max
		}
		q, r := c.interval(used)
		if bq, br := c.backlog(now); q > bq || (q == bq && r > br) {
			c.tat, c.frac = now+q, r
		}
	}
}

// resetsIn is how long until usage is back to zero (fixed: until the window
// ends), from now (advanced).
func (c *counter) resetsIn(now int64) int64 {
	switch c.s.shape {
	case Fixed:
		return (c.idx+1)*c.s.window - now
	case Sliding:
		if c.n == 0 {
			return 0
		}
		li := c.head + c.n - 1
		if li >= len(c.ring) {
			li -= len(c.ring)
		}
		return c.ring[li].t + c.s.window - now
	default:
		bq, br := c.backlog(now)
		if br > 0 {
			bq++
		}
		return bq
	}
}

// span is the window shown in status: the window, or for bucket and decay
// the time to earn (or decay) max units.
func (c *counter) span() int64 {
	if c.s.shape == Fixed || c.s.shape == Sliding {
		return c.s.window
	}
	q, r := c.interval(c.s.max)
	if r > 0 {
		q++
	}
	return q
}

// clone returns a copy of c that shares nothing mutable with it.
func (c *counter) clone() *counter {
	n := *c
	if c.ring != nil {
		n.ring = append([]slot(nil), c.ring...)
	}
	return &n
}
