package binancesim

import (
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
)

// window is one of the venue's limits, counted by budget's reference
// enforcer of a fixed window aligned to the clock (a minute window resets
// on the minute).
type window struct {
	lim RateLimit
	w   *budget.Window
}

func newWindows(limits []RateLimit, typ string) []*window {
	var ws []*window
	for _, l := range limits {
		if l.Type == typ {
			// Validate checked interval_num and limit > 0, so NewWindow
			// cannot fail.
			w, _ := budget.NewWindow(budget.Limit{Name: l.Type, Shape: budget.Fixed, Max: l.Limit, Window: l.Window()})
			ws = append(ws, &window{lim: l, w: w})
		}
	}
	return ws
}

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
	charge := func(ws []*window, cost int64) {
		for _, w := range ws {
			if w.w.Charge(now, cost) > w.lim.Limit && over == nil {
				over, resetAt = &w.lim, w.w.ResetAt(now)
			}
		}
	}
	charge(s.raw, 1)
	charge(s.weight, weight)
	return weightUsage(s, now), over, resetAt
}

// weightUsage must be called with l.mu held.
func weightUsage(s *ipState, now time.Time) []usage {
	use := make([]usage, 0, len(s.weight))
	for _, w := range s.weight {
		use = append(use, usage{header: "X-MBX-USED-WEIGHT-" + w.lim.suffix(), used: w.w.Used(now)})
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
		if w.w.Used(now)+1 > w.lim.Limit {
			return &w.lim, w.w.ResetAt(now)
		}
	}
	for _, w := range ws {
		w.w.Allow(now, 1)
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
		use = append(use, usage{header: "X-MBX-ORDER-COUNT-" + w.lim.suffix(), used: w.w.Used(now)})
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
