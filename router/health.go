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
// plus the orders the router handed to each key since its last heartbeat
// was taken (the heartbeat's queue and open orders count the earlier
// ones), so two intents in one instant do not both pick the same emptiest
// key. It is safe for concurrent use.
type Health struct {
	timeout time.Duration
	alive   func(worker string) bool // nil: no process is known alive
	mu      sync.RWMutex
	keys    map[string]*keyHealth
	prices  map[string]decimal.Decimal // latest reference price by symbol
}

type keyHealth struct {
	status messages.KeyStatus
	seen   time.Time
	sends  []time.Time // orders handed to the key after status.TS, oldest first
}

// maxSends bounds the sends remembered for a key that stopped reporting.
const maxSends = 4096

func (kh *keyHealth) inFlight() int { return len(kh.sends) }

// NewHealth returns an empty view; a key silent for longer than timeout
// after its last heartbeat is down (see SetAlive for keys that idle).
func NewHealth(timeout time.Duration) *Health {
	if timeout <= 0 {
		timeout = DefaultHeartbeatTimeout
	}
	return &Health{timeout: timeout, keys: map[string]*keyHealth{}, prices: map[string]decimal.Decimal{}}
}

// SetAlive tells the view how to know that a worker's process is alive
// (its heartbeat in CONTROL is fresh): a key that idles is heard from only
// every messages.KeyStatusHeartbeat, and stays up while its worker's
// process is (see Stale). Call it before the view is used.
func (h *Health) SetAlive(alive func(worker string) bool) { h.alive = alive }

// Stale reports whether a key's last status, age old, from a worker whose
// process is alive (or not), says nothing any more: it is older than
// timeout and either the process is not known alive or the status is
// older than two heartbeats past timeout (the key's worker stopped in a
// live process). The dashboard applies the same rule.
func Stale(age, timeout time.Duration, alive bool) bool {
	return age > timeout && (!alive || age > timeout+2*messages.KeyStatusHeartbeat)
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
	i := 0
	for i < len(kh.sends) && !kh.sends[i].After(st.TS) {
		i++
	}
	kh.sends = append(kh.sends[:0], kh.sends[i:]...)
	for sym, p := range st.Prices {
		h.prices[sym] = p
	}
	h.mu.Unlock()
}

// Sent counts an order handed to key at now.
func (h *Health) Sent(key string, now time.Time) {
	h.mu.Lock()
	kh := h.key(key)
	if len(kh.sends) >= maxSends {
		// A key this far behind reports nothing useful; forget the older
		// half at once (one copy per maxSends/2 sends, not one per send).
		kh.sends = append(kh.sends[:0], kh.sends[maxSends/2:]...)
	}
	kh.sends = append(kh.sends, now)
	h.mu.Unlock()
}

// Unsent takes back the latest Sent of key (its publish failed).
func (h *Health) Unsent(key string) {
	h.mu.Lock()
	if kh := h.keys[key]; kh != nil && len(kh.sends) > 0 {
		kh.sends = kh.sends[:len(kh.sends)-1]
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
	if age := now.Sub(kh.seen); age > h.timeout && Stale(age, h.timeout, h.alive != nil && h.alive(kh.status.Worker)) {
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
	c.InFlight, c.QueueDepth = kh.inFlight(), kh.status.QueueDepth
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

// Explain says what the view knows of key at now, for a refusal: its
// state and how long ago its last status came, e.g. "down, last status
// 4.2s ago" (a key taken for down because it fell silent shows it by the
// age), or "active, never heard from".
func (h *Health) Explain(key string, now time.Time) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s, seen := h.stateLocked(key, now)
	if !seen {
		return string(s) + ", never heard from"
	}
	return string(s) + ", last status " + now.Sub(h.keys[key].seen).Round(100*time.Millisecond).String() + " ago"
}

// capacityFresh is how old a key's status may be for its capacity to
// count: a busy key's status comes every second, and orders that left its
// queue unsent (canceled, expired) free budget that an older status does
// not show.
const capacityFresh = 2 * time.Second

// EarliestNew returns the earliest instant key could send one more new
// order, by the capacity its last status gave and the orders handed to it
// since, each counted as queued ahead of it: no later than the key's own
// plan unless some of those never joined its queue or left it unsent
// (refused, expired, canceled), which the next status shows. false if the
// view knows nothing that holds a new order back: no capacity in the
// status (it could go at once), or a status older than capacityFresh.
func (h *Health) EarliestNew(key string, now time.Time) (time.Time, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	kh := h.keys[key]
	if kh == nil || kh.seen.IsZero() || now.Sub(kh.seen) > capacityFresh {
		return time.Time{}, false
	}
	return kh.status.EarliestNew(kh.inFlight())
}

// OpenOrders returns key's open orders at the venue, plus those handed to
// it and not yet reported.
func (h *Health) OpenOrders(key string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if kh := h.keys[key]; kh != nil {
		return kh.status.OpenOrders + kh.inFlight()
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
