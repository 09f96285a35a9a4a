package router

import (
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// DefaultHeartbeatTimeout is how long a key may stay silent before the
// router takes it for down.
const DefaultHeartbeatTimeout = 3 * time.Second

// Health is the router's view of every key, fed by KeyStatus heartbeats,
// plus the orders the router handed to each key and has not yet seen
// reported (so two intents in one instant do not both pick the same
// emptiest key). It is safe for concurrent use.
type Health struct {
	timeout time.Duration
	mu      sync.RWMutex
	keys    map[string]*keyHealth
	prices  map[string]decimal.Decimal // latest reference price by symbol
}

type keyHealth struct {
	status   messages.KeyStatus
	seen     time.Time
	inFlight int
}

// NewHealth returns an empty view; a key silent for longer than timeout
// after its last heartbeat is down.
func NewHealth(timeout time.Duration) *Health {
	if timeout <= 0 {
		timeout = DefaultHeartbeatTimeout
	}
	return &Health{timeout: timeout, keys: map[string]*keyHealth{}, prices: map[string]decimal.Decimal{}}
}

func (h *Health) key(k string) *keyHealth {
	kh := h.keys[k]
	if kh == nil {
		kh = &keyHealth{}
		h.keys[k] = kh
	}
	return kh
}

// Observe records a heartbeat received at now.
func (h *Health) Observe(st messages.KeyStatus, now time.Time) {
	h.mu.Lock()
	kh := h.key(st.Key)
	kh.status, kh.seen = st, now
	for sym, p := range st.Prices {
		h.prices[sym] = p
	}
	h.mu.Unlock()
}

// Sent counts an order handed to key; Seen counts its first report back.
func (h *Health) Sent(key string) {
	h.mu.Lock()
	h.key(key).inFlight++
	h.mu.Unlock()
}

// Seen counts the first report of an order key held.
func (h *Health) Seen(key string) {
	h.mu.Lock()
	if kh := h.keys[key]; kh != nil && kh.inFlight > 0 {
		kh.inFlight--
	}
	h.mu.Unlock()
}

// State returns key's state at now and whether the key was ever heard from.
func (h *Health) State(key string, now time.Time) (messages.KeyState, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.stateLocked(key, now)
}

func (h *Health) stateLocked(key string, now time.Time) (messages.KeyState, bool) {
	kh, ok := h.keys[key]
	if !ok || kh.seen.IsZero() {
		return messages.KeyActive, false
	}
	if now.Sub(kh.seen) > h.timeout {
		return messages.KeyDown, true
	}
	return kh.status.State, true
}

// Usable reports whether key can take new orders at now; a key never
// heard from is usable (its orders wait in EXEC until it starts).
func (h *Health) Usable(key string, now time.Time) bool {
	s, _ := h.State(key, now)
	return s.Usable()
}

// Candidate returns key as a policy sees it at now.
func (h *Health) Candidate(key string, now time.Time) Candidate {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s, _ := h.stateLocked(key, now)
	c := Candidate{Key: key, Usable: s.Usable(), Headroom: 1}
	kh := h.keys[key]
	if kh == nil {
		return c
	}
	c.InFlight, c.QueueDepth = kh.inFlight, kh.status.QueueDepth
	for _, l := range kh.status.Limits {
		if l.Max <= 0 {
			continue
		}
		if free := (l.Max - l.Used) / l.Max; free < c.Headroom || c.Capacity == 0 {
			c.Headroom, c.Capacity = max(free, 0), l.Max
		}
	}
	return c
}

// OpenOrders returns key's open orders at the venue, plus those handed to
// it and not yet reported.
func (h *Health) OpenOrders(key string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if kh := h.keys[key]; kh != nil {
		return kh.status.OpenOrders + kh.inFlight
	}
	return 0
}

// Price returns the latest reference price of symbol any key reported.
func (h *Health) Price(symbol string) (decimal.Decimal, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, ok := h.prices[symbol]
	return p, ok
}
