package monitor

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Health answers /readyz: the process is ready when it is connected to
// NATS, every role it runs has its consumers bound, and every venue its
// executors talk to was reachable at the last request. Safe for
// concurrent use.
type Health struct {
	now func() time.Time

	mu       sync.Mutex
	nc       *nats.Conn
	expected []string        // roles in the order they are reported
	bound    map[string]bool // by role name ("router", "executor <key>")
	venues   map[string]venueHealth
}

type venueHealth struct {
	venue string
	since time.Time
	err   string
}

func newHealth(now func() time.Time) *Health {
	return &Health{now: now, bound: map[string]bool{}, venues: map[string]venueHealth{}}
}

// expect adds a role that must bind its consumers before the process is
// ready.
func (h *Health) expect(role string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.bound[role]; !ok {
		h.expected = append(h.expected, role)
		h.bound[role] = false
	}
}

func (h *Health) serving(role string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.bound[role]; !ok {
		h.expected = append(h.expected, role)
	}
	h.bound[role] = on
}

// venueAnswer records whether key's last request reached its venue.
func (h *Health) venueAnswer(key, venue string, unreachable bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !unreachable {
		delete(h.venues, key)
		return
	}
	if _, ok := h.venues[key]; !ok {
		h.venues[key] = venueHealth{venue: venue, since: h.now(), err: oneLine(err.Error())}
	}
}

func (h *Health) setConn(nc *nats.Conn) {
	h.mu.Lock()
	h.nc = nc
	h.mu.Unlock()
}

// Ready says whether the process is ready, and why in one line.
func (h *Health) Ready() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nc == nil {
		return false, "not connected to NATS yet"
	}
	if st := h.nc.Status(); st != nats.CONNECTED {
		return false, "not connected to NATS (" + strings.ToLower(st.String()) + ")"
	}
	var waiting []string
	for _, role := range h.expected {
		if !h.bound[role] {
			waiting = append(waiting, role)
		}
	}
	if len(waiting) > 0 {
		return false, "consumers not bound yet: " + strings.Join(waiting, ", ")
	}
	for _, role := range h.expected {
		key, ok := strings.CutPrefix(role, "executor ")
		if !ok {
			continue
		}
		if v, bad := h.venues[key]; bad {
			return false, fmt.Sprintf("executor %s: venue %s unreachable since %s: %s", key, v.venue, v.since.UTC().Format(time.RFC3339), v.err)
		}
	}
	if len(h.expected) == 0 {
		return true, "ready: connected to NATS"
	}
	return true, "ready: connected to NATS; consumers bound: " + strings.Join(h.expected, ", ")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
