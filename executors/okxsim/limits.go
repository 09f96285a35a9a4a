package okxsim

import (
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
)

// limiter holds every counter: per sub-account and instrument, per
// sub-account, per IP. Each is budget's reference enforcer of a sliding
// window: a request at t counts in every window (u-W, u] holding t. The
// max is checked here, per request, since a sub-account's can change
// (Server.SetAccRateLimit); the enforcer only counts.
type limiter struct {
	mu sync.Mutex // makes take's check and count over several counters one step
	// counters by endpoint class + NUL + scope (+ NUL + instrument).
	counters map[string]budget.Enforcer
}

func newLimiter() *limiter { return &limiter{counters: map[string]budget.Enforcer{}} }

// take counts one request against every (key, limit) given, all or
// none; it returns the index of the first limit that is full, or -1.
// Config.Validate checked every limit's window, so a counter can always
// be made.
func (l *limiter) take(now time.Time, keys []string, limits []Limit) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := make([]budget.Enforcer, len(keys))
	for i, k := range keys {
		c := l.counters[k]
		if c == nil {
			c, _ = budget.NewEnforcer(budget.Limit{Name: k, Shape: budget.Sliding, Max: budget.MaxSliding, Window: limits[i].Window})
			l.counters[k] = c
		}
		if c.Used(now)+1 > limits[i].Max {
			return i
		}
		cs[i] = c
	}
	for _, c := range cs {
		c.Allow(now, 1)
	}
	return -1
}
