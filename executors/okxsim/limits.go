package okxsim

import (
	"sync"
	"time"
)

// window is a sliding-window log of arrival instants: a request at t
// counts in every window (u-W, u] holding t. It is written for
// obviousness, independently of the budget package.
type window struct{ at []int64 }

// used prunes what no longer counts at now and returns what does.
func (w *window) used(now int64, size time.Duration) int64 {
	edge := now - int64(size)
	i := 0
	for i < len(w.at) && w.at[i] <= edge {
		i++
	}
	if i > 0 {
		w.at = append(w.at[:0], w.at[i:]...)
	}
	return int64(len(w.at))
}

// limiter holds every counter: per sub-account and instrument, per
// sub-account, per IP.
type limiter struct {
	mu sync.Mutex // guards windows and last
	// windows by endpoint class + NUL + scope (+ NUL + instrument).
	windows map[string]*window
	last    int64 // time never goes backwards for the limiter
}

func newLimiter() *limiter { return &limiter{windows: map[string]*window{}} }

// take counts one request against every (key, limit) given, all or
// none; it returns the index of the first limit that is full, or -1.
func (l *limiter) take(now time.Time, keys []string, limits []Limit) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	ns := now.UnixNano()
	if ns < l.last {
		ns = l.last
	}
	l.last = ns
	ws := make([]*window, len(keys))
	for i, k := range keys {
		w := l.windows[k]
		if w == nil {
			w = &window{}
			l.windows[k] = w
		}
		if w.used(ns, limits[i].Window)+1 > limits[i].Max {
			return i
		}
		ws[i] = w
	}
	for _, w := range ws {
		w.at = append(w.at, ns)
	}
	return -1
}
