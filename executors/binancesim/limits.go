package binancesim

import (
	"sync"
	"time"
)

// window is a fixed window aligned to the clock: its index is
// UnixNano / size, so a minute window resets on the minute.
type window struct {
	lim  RateLimit
	size int64
	idx  int64
	used int64
}

func newWindows(limits []RateLimit, typ string) []*window {
	var ws []*window
	for _, l := range limits {
		if l.Type == typ {
			ws = append(ws, &window{lim: l, size: int64(l.Window()), idx: -1})
		}
	}
	return ws
}

// roll moves the window to now's index, emptying it on a new one.
func (w *window) roll(now time.Time) {
	if i := now.UnixNano() / w.size; i != w.idx {
		w.idx, w.used = i, 0
	}
}

// resetAt is when the current window ends.
func (w *window) resetAt() time.Time { return time.Unix(0, (w.idx+1)*w.size) }

// usage is one counter for a response header.
type usage struct {
	header string
	used   int64
}

// limiter enforces the IP and account limits and the IP bans.
type limiter struct {
	limits []RateLimit
	ban    BanConfig

	mu    sync.Mutex // guards below
	ips   map[string]*ipState
	accts map[string][]*window // ORDERS windows per account
}

type ipState struct {
	weight, raw []*window
	// warnedUntil is the Retry-After of the IP's last 429; strikes counts
	// the 429s it got since its first before that instant.
	warnedUntil time.Time
	strikes     int
	bans        int
	bannedUntil time.Time
}

func newLimiter(limits []RateLimit, ban BanConfig) *limiter {
	return &limiter{limits: limits, ban: ban, ips: map[string]*ipState{}, accts: map[string][]*window{}}
}

func (l *limiter) ip(addr string) *ipState {
	s, ok := l.ips[addr]
	if !ok {
		s = &ipState{weight: newWindows(l.limits, "REQUEST_WEIGHT"), raw: newWindows(l.limits, "RAW_REQUESTS")}
		l.ips[addr] = s
	}
	return s
}

func (l *limiter) account(id string) []*window {
	ws, ok := l.accts[id]
	if !ok {
		ws = newWindows(l.limits, "ORDERS")
		l.accts[id] = ws
	}
	return ws
}

// banned returns when the IP's ban ends, if it is banned at now.
func (l *limiter) banned(addr string, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.ip(addr)
	return s.bannedUntil, now.Before(s.bannedUntil)
}

// chargeIP counts a request of weight against the IP, whether or not it is
// then refused, as Binance does. over is the first limit exceeded, with the
// end of its window.
func (l *limiter) chargeIP(addr string, now time.Time, weight int64) (use []usage, over *RateLimit, resetAt time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.ip(addr)
	for _, w := range s.raw {
		w.roll(now)
		w.used++
		if w.used > w.lim.Limit && over == nil {
			over, resetAt = &w.lim, w.resetAt()
		}
	}
	for _, w := range s.weight {
		w.roll(now)
		w.used += weight
		if w.used > w.lim.Limit && over == nil {
			over, resetAt = &w.lim, w.resetAt()
		}
	}
	return weightUsage(s, now), over, resetAt
}

// weightUsage must be called with l.mu held.
func weightUsage(s *ipState, now time.Time) []usage {
	use := make([]usage, 0, len(s.weight))
	for _, w := range s.weight {
		w.roll(now)
		use = append(use, usage{header: "X-MBX-USED-WEIGHT-" + w.lim.suffix(), used: w.used})
	}
	return use
}

// ipUsage is the IP's current weight usage.
func (l *limiter) ipUsage(addr string, now time.Time) []usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return weightUsage(l.ip(addr), now)
}

// takeOrder counts a new order against the account unless that would
// exceed an ORDERS limit, in which case nothing is counted and over is the
// limit with the end of its window.
func (l *limiter) takeOrder(acct string, now time.Time) (over *RateLimit, resetAt time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := l.account(acct)
	for _, w := range ws {
		w.roll(now)
		if w.used+1 > w.lim.Limit {
			return &w.lim, w.resetAt()
		}
	}
	for _, w := range ws {
		w.used++
	}
	return nil, time.Time{}
}

// orderUsage is the account's current order counts.
func (l *limiter) orderUsage(acct string, now time.Time) []usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := l.account(acct)
	use := make([]usage, 0, len(ws))
	for _, w := range ws {
		w.roll(now)
		use = append(use, usage{header: "X-MBX-ORDER-COUNT-" + w.lim.suffix(), used: w.used})
	}
	return use
}

// note429 records that the IP is being refused with 429 until retryAt. It
// returns a ban instead when the IP has ignored enough earlier 429s.
func (l *limiter) note429(addr string, now, retryAt time.Time) (bannedUntil time.Time, banned bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.ip(addr)
	if now.Before(s.warnedUntil) {
		s.strikes++
	} else {
		s.strikes = 0
	}
	if retryAt.After(s.warnedUntil) {
		s.warnedUntil = retryAt
	}
	if s.strikes <= l.ban.After {
		return time.Time{}, false
	}
	d := l.ban.First
	for i := 0; i < s.bans && d < l.ban.Max; i++ {
		d *= 2
	}
	d = min(d, l.ban.Max)
	s.bans++
	s.strikes = 0
	s.warnedUntil = time.Time{}
	s.bannedUntil = now.Add(d)
	return s.bannedUntil, true
}

// retryAfter is the whole seconds from now until t, at least 1.
func retryAfter(now, t time.Time) int64 {
	d := t.Sub(now)
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
