package paper

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
)

// Request classes a RateLimit counts.
const (
	ClassNew    = "new"
	ClassCancel = "cancel"
	ClassQuery  = "query"
)

// RateLimit is a limit the venue itself enforces: at most Max requests of
// the given classes in each fixed window of length Window, windows aligned
// to the clock (window index = now.UnixNano() / Window).
type RateLimit struct {
	Name   string // as reported in executors.Usage.Limit
	Max    int64
	Window time.Duration
	// Classes are the request classes counted (ClassNew, ClassCancel,
	// ClassQuery); empty counts every request.
	Classes []string
	// Group, if set, shares the count with every Venue given the same
	// group and a limit of the same Name and Window: an account-scope
	// limit over several keys. Nil counts this Venue's requests only.
	Group *LimitGroup
}

// LimitGroup holds rate-limit counts shared by several Venues. The zero
// value is not usable; call NewLimitGroup.
type LimitGroup struct {
	mu       sync.Mutex
	counters map[groupKey]*counter
}

type groupKey struct {
	name   string
	window time.Duration
}

// NewLimitGroup returns an empty LimitGroup.
func NewLimitGroup() *LimitGroup {
	return &LimitGroup{counters: make(map[groupKey]*counter)}
}

func (g *LimitGroup) counter(name string, window time.Duration) *counter {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := groupKey{name, window}
	c, ok := g.counters[k]
	if !ok {
		c = newCounter()
		g.counters[k] = c
	}
	return c
}

// counterIDs orders counter locks: a request locks the counters it needs
// in increasing id, so Venues sharing groups cannot deadlock.
var counterIDs atomic.Uint64

// counter is one fixed window, counted by budget's reference enforcer.
// mu makes a request's check and count over several counters one step.
type counter struct {
	id uint64
	mu sync.Mutex
	w  *budget.Window // nil until the first limit using it sets it
}

func newCounter() *counter { return &counter{id: counterIDs.Add(1)} }

type limit struct {
	RateLimit
	c *counter
	w *budget.Window // c's window
}

// limiter enforces a Venue's limits.
type limiter struct {
	all     []*limit            // in VenueOptions order, for Usage
	byClass map[string][]*limit // in counter id order, for locking
}

func newLimiter(limits []RateLimit) (*limiter, error) {
	l := &limiter{byClass: make(map[string][]*limit)}
	seen := make(map[*counter]bool)
	for _, r := range limits {
		if r.Name == "" || r.Max <= 0 || r.Window <= 0 {
			return nil, fmt.Errorf("paper: rate limit %q needs a name, Max > 0 and Window > 0", r.Name)
		}
		lim := &limit{RateLimit: r, c: newCounter()}
		if r.Group != nil {
			lim.c = r.Group.counter(r.Name, r.Window)
		}
		if seen[lim.c] {
			return nil, fmt.Errorf("paper: rate limit %q given twice", r.Name)
		}
		seen[lim.c] = true
		// A shared window is counted against each Venue's own Max (so
		// the window's is not used): Used, then Charge.
		lim.c.mu.Lock()
		if lim.c.w == nil {
			// r passed the checks above, so NewWindow cannot fail.
			lim.c.w, _ = budget.NewWindow(budget.Limit{Name: r.Name, Shape: budget.Fixed, Max: r.Max, Window: r.Window})
		}
		lim.w = lim.c.w
		lim.c.mu.Unlock()
		l.all = append(l.all, lim)
		classes := r.Classes
		if len(classes) == 0 {
			classes = []string{ClassNew, ClassCancel, ClassQuery}
		}
		done := make(map[string]bool, len(classes))
		for _, cl := range classes {
			switch {
			case cl != ClassNew && cl != ClassCancel && cl != ClassQuery:
				return nil, fmt.Errorf("paper: rate limit %q: unknown class %q", r.Name, cl)
			case done[cl]:
				continue
			}
			done[cl] = true
			l.byClass[cl] = append(l.byClass[cl], lim)
		}
	}
	for _, ls := range l.byClass {
		sort.Slice(ls, func(i, j int) bool { return ls[i].c.id < ls[j].c.id })
	}
	return l, nil
}

// admit counts a request of class at now in every limit of the class, or,
// if one of them is used up, counts nothing and returns a Throttled
// *executors.VenueError with RetryAfter the latest start of a next window
// among the exhausted limits. The usage returned is every limit's count in
// its current window, this request included.
func (l *limiter) admit(class string, now time.Time) ([]executors.Usage, error) {
	if len(l.all) == 0 {
		return nil, nil
	}
	ls := l.byClass[class]
	for _, lim := range ls {
		lim.c.mu.Lock()
	}
	var over *limit
	var retry time.Time
	for _, lim := range ls {
		if lim.w.Used(now)+1 > lim.Max {
			over = lim
			if next := lim.w.ResetAt(now); next.After(retry) {
				retry = next
			}
		}
	}
	if over == nil {
		for _, lim := range ls {
			lim.w.Charge(now, 1)
		}
	}
	for i := len(ls) - 1; i >= 0; i-- {
		ls[i].c.mu.Unlock()
	}
	usage := l.usage(now)
	if over != nil {
		return usage, &executors.VenueError{
			Kind: executors.Throttled, Reason: messages.ReasonRateLimited, Code: "429",
			Message:    fmt.Sprintf("rate limit %s of %d per %s exceeded", over.Name, over.Max, over.Window),
			RetryAfter: retry, Usage: usage,
		}
	}
	return usage, nil
}

func (l *limiter) usage(now time.Time) []executors.Usage {
	out := make([]executors.Usage, len(l.all))
	for i, lim := range l.all {
		out[i] = executors.Usage{Limit: lim.Name, Used: lim.w.Used(now)}
	}
	return out
}

// LimitsOf returns limits ls, all fixed, as the venue enforces them: a
// key's rate budget as a venue counts it. Each counts the requests of the
// classes it costs something for (the venue has no amend, so a limit
// counting only amends is left out); one with an account scope
// ("account:<id>") is shared through group. A limit of another shape is
// an error: the venue counts fixed windows only.
func LimitsOf(ls []budget.Limit, group *LimitGroup) ([]RateLimit, error) {
	var out []RateLimit
	for _, l := range ls {
		if l.Shape != budget.Fixed {
			return nil, fmt.Errorf("paper: rate limit %q: the venue counts fixed windows only, not %s", l.Name, l.Shape)
		}
		rl := RateLimit{Name: l.Name, Max: l.Max, Window: l.Window}
		for _, c := range []string{ClassNew, ClassCancel, ClassQuery} {
			if l.Costs[budget.Class(c)] > 0 {
				rl.Classes = append(rl.Classes, c)
			}
		}
		if len(rl.Classes) == 0 {
			continue
		}
		if strings.HasPrefix(l.Scope, "account:") {
			rl.Group = group
		}
		out = append(out, rl)
	}
	return out, nil
}
