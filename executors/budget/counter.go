package budget

import (
	"math"
	"math/bits"
	"time"
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

	// lease is set for this process's share of a counter that several
	// processes share through a store (Groups with a Grantor): the
	// decisions spend only what was granted (see lease).
	lease *lease
}

// lease is what a process holds of a shared counter: the units granted
// to it, each grant spendable before its end (ns), and the store's counter
// as last seen (mirror), for estimates and status.
type lease struct {
	key    GrantKey
	grants []grant // oldest end first
	mirror *counter
}

type grant struct{ units, until int64 }

// drop forgets the grants ended at now.
func (l *lease) drop(now int64) {
	i := 0
	for i < len(l.grants) && l.grants[i].until <= now {
		i++
	}
	l.grants = append(l.grants[:0], l.grants[i:]...)
}

// allow is the units spendable at now (dropped already).
func (l *lease) allow() int64 {
	var n int64
	for _, g := range l.grants {
		n += g.units
	}
	return n
}

// add keeps a grant of units spendable before until.
func (l *lease) add(units, until int64) {
	i := len(l.grants)
	for i > 0 && l.grants[i-1].until > until {
		i--
	}
	l.grants = append(l.grants, grant{})
	copy(l.grants[i+1:], l.grants[i:])
	l.grants[i] = grant{units, until}
}

// spend takes cost from the grants ending first.
func (l *lease) spend(cost int64) {
	for i := 0; cost > 0 && i < len(l.grants); i++ {
		n := min(cost, l.grants[i].units)
		l.grants[i].units -= n
		cost -= n
	}
	for len(l.grants) > 0 && l.grants[0].units == 0 {
		l.grants = l.grants[1:]
	}
}

// LeaseWait is how long a decision waits for a grant from the store when
// the store had room as last seen: the grant's arrival wakes the waiter
// sooner.
const LeaseWait = 5 * time.Millisecond

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
	if l := c.lease; l != nil {
		l.drop(now)
		l.mirror.advance(now)
		return now
	}
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
	if l := c.lease; l != nil {
		return l.allow() >= cost
	}
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
	if l := c.lease; l != nil {
		// A grant is needed: when the store has room, as last seen, and
		// no sooner than a grant can come.
		return max(l.mirror.earliest(now, cost), now+int64(LeaseWait))
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
	if l := c.lease; l != nil {
		l.spend(cost) // the store counted the grant already
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

// usage is the units in use at now (advanced), rounded up for bucket/decay;
// for a leased counter, the store's usage as last seen.
func (c *counter) usage(now int64) int64 {
	if l := c.lease; l != nil {
		return l.mirror.usage(now)
	}
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
// For a leased counter it raises the mirror: the estimates see it, and the
// grants follow the store.
func (c *counter) observe(now, used int64) {
	if l := c.lease; l != nil {
		l.mirror.observe(now, used)
		return
	}
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
	if l := c.lease; l != nil {
		return l.mirror.resetsIn(now)
	}
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

// clone returns a copy of c that shares nothing mutable with it. A
// leased counter's copy is the store's counter as last seen, with what is
// granted to this process and not yet spent given back where the shape
// allows (fixed windows): a plan over it is what the store could grant.
func (c *counter) clone() *counter {
	if l := c.lease; l != nil {
		m := l.mirror.clone()
		if a := l.allow(); m.s.shape == Fixed && a > 0 && m.idx == floorDiv(m.last, m.s.window) {
			m.used = max(m.used-a, 0)
		}
		return m
	}
	n := *c
	if c.ring != nil {
		n.ring = append([]slot(nil), c.ring...)
	}
	return &n
}

// force counts cost at now (advanced) whether or not it fits: a request
// that was sent (by a predecessor) and must be counted.
// expired reports whether a cost spent at ns would no longer count at the
// latest instant seen: exact for fixed and sliding windows; a bucket's or
// decay's cost is always counted (at the latest instant: conservative).
func (c *counter) expired(ns int64) bool {
	if ns >= c.last {
		return false
	}
	switch c.s.shape {
	case Fixed:
		return floorDiv(ns, c.s.window) < floorDiv(c.last, c.s.window)
	case Sliding:
		return ns <= c.last-c.s.window
	}
	return false
}

func (c *counter) force(now, cost int64) {
	if c.lease != nil || cost <= 0 {
		return
	}
	if c.s.shape == Sliding && c.n == len(c.ring) {
		// The ring holds at most max entries: fold into the newest.
		li := c.head + c.n - 1
		if li >= len(c.ring) {
			li -= len(c.ring)
		}
		c.ring[li].c += cost
		c.sum += cost
		return
	}
	c.take(now, cost)
}
