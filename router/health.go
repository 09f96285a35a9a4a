package router

import (
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/messages"
)

// DefaultHeartbeatTimeout is how long a key may stay silent before the
// router takes it for down.
const DefaultHeartbeatTimeout = 3 * time.Second

// Health is the router's view of every key, fed by KeyStatus heartbeats.
// It is safe for concurrent use.
type Health struct {
	timeout time.Duration
	mu      sync.RWMutex
	keys    map[string]keyHealth
}

type keyHealth struct {
	status messages.KeyStatus
	seen   time.Time
}

// NewHealth returns an empty view; a key silent for longer than timeout
// after its last heartbeat is down.
func NewHealth(timeout time.Duration) *Health {
	if timeout <= 0 {
		timeout = DefaultHeartbeatTimeout
	}
	return &Health{timeout: timeout, keys: map[string]keyHealth{}}
}

// Observe records a heartbeat received at now.
func (h *Health) Observe(st messages.KeyStatus, now time.Time) {
	h.mu.Lock()
	h.keys[st.Key] = keyHealth{status: st, seen: now}
	h.mu.Unlock()
}

// State returns key's state at now and whether the key was ever heard from.
func (h *Health) State(key string, now time.Time) (messages.KeyState, bool) {
	h.mu.RLock()
	kh, ok := h.keys[key]
	h.mu.RUnlock()
	if !ok {
		return messages.KeyActive, false
	}
	if now.Sub(kh.seen) > h.timeout {
		return messages.KeyDown, true
	}
	return kh.status.State, true
}

// Usable implements HealthView.
func (h *Health) Usable(key string, now time.Time) bool {
	s, _ := h.State(key, now)
	return s.Usable()
}
