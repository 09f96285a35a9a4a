package monitor

import (
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router"
)

// maxRejections is how many of the latest rejections the View keeps.
const maxRejections = 50

// sparkSeconds is how many seconds of history a snapshot carries.
const sparkSeconds = 120

// View is what the bus says about every key and strategy, kept for the
// dashboard and the key gauges. It does no I/O and never reads the clock:
// every call takes the instant. Safe for concurrent use.
type View struct {
	timeout time.Duration
	version atomic.Uint64 // bumped on every change the dashboard shows

	mu         sync.Mutex
	keys       map[string]*keyView
	strategies map[string]*strategyView
	rejections []Rejection // newest last, at most maxRejections
	halts      map[string]Halt
	alive      func(worker string) bool // see SetAlive; nil: none known alive
}

type keyView struct {
	venue      string
	status     *messages.KeyStatus // nil until heard from
	seen       time.Time
	accepted   series
	lastErr    string
	lastErrAt  time.Time
	strategies []string
}

type strategyView struct {
	policy   string
	keys     []string
	intents  series
	total    uint64
	accepted uint64
	fills    uint64
	canceled uint64
	expired  uint64
	rejected map[messages.Reason]uint64
}

// Rejection is one rejected, expired or cancel_rejected report.
type Rejection struct {
	TS            time.Time           `json:"ts"`
	Kind          messages.ReportKind `json:"kind"`
	Strategy      string              `json:"strategy"`
	ClientOrderID string              `json:"client_order_id"`
	Key           string              `json:"key,omitempty"`
	Reason        messages.Reason     `json:"reason"`
	Message       string              `json:"message,omitempty"`
}

// Halt is one halt in force (CONTROL bucket).
type Halt struct {
	Scope  string    `json:"scope"` // all, strategy or key
	Target string    `json:"target,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// report is the part of an ExecutionReport the View reads.
type report struct {
	Kind          messages.ReportKind `json:"kind"`
	Strategy      string              `json:"strategy"`
	ClientOrderID string              `json:"client_order_id"`
	Key           string              `json:"key"`
	Venue         string              `json:"venue"`
	Reason        messages.Reason     `json:"reason"`
	Message       string              `json:"message"`
	TS            time.Time           `json:"ts"`
}

// NewView returns a View with a card for every key and strategy of cfg
// (more appear as the bus names them). A key silent for longer than
// heartbeatTimeout is shown down, as the router takes it.
func NewView(cfg *configs.Config, heartbeatTimeout time.Duration) *View {
	if heartbeatTimeout <= 0 {
		heartbeatTimeout = 3 * time.Second
	}
	v := &View{timeout: heartbeatTimeout, keys: map[string]*keyView{}, strategies: map[string]*strategyView{}, halts: map[string]Halt{}}
	if cfg == nil {
		return v
	}
	for id, k := range cfg.Keys {
		v.keys[id] = &keyView{venue: k.Venue}
	}
	for id, s := range cfg.Strategies {
		sv := v.strategy(id)
		sv.policy = string(s.Policy) // defaulted at load
		sv.keys = slices.Clone(s.Keys)
		for _, k := range s.Keys {
			if kv := v.keys[k]; kv != nil {
				kv.strategies = append(kv.strategies, id)
			}
		}
	}
	for _, kv := range v.keys {
		sort.Strings(kv.strategies)
	}
	return v
}

// keepOnly forgets every key but keys.
func (v *View) keepOnly(keys []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for id := range v.keys {
		if !slices.Contains(keys, id) {
			delete(v.keys, id)
		}
	}
}

// Version changes whenever something the dashboard shows does.
func (v *View) Version() uint64 { return v.version.Load() }

func (v *View) key(id string) *keyView {
	kv := v.keys[id]
	if kv == nil {
		kv = &keyView{}
		v.keys[id] = kv
	}
	return kv
}

func (v *View) strategy(id string) *strategyView {
	sv := v.strategies[id]
	if sv == nil {
		sv = &strategyView{rejected: map[messages.Reason]uint64{}}
		v.strategies[id] = sv
	}
	return sv
}

// ObserveStatus records a key's heartbeat received at now.
func (v *View) ObserveStatus(st messages.KeyStatus, now time.Time) {
	if st.Key == "" {
		return
	}
	v.mu.Lock()
	kv := v.key(st.Key)
	kv.status, kv.seen = &st, now
	if st.Venue != "" {
		kv.venue = st.Venue
	}
	v.mu.Unlock()
	v.version.Add(1)
}

// ObserveIntent counts an intent of strategy seen at now.
func (v *View) ObserveIntent(strategy string, now time.Time) {
	v.mu.Lock()
	sv := v.strategy(strategy)
	sv.intents.add(now, 1)
	sv.total++
	v.mu.Unlock()
	v.version.Add(1)
}

// ObserveReport counts a report seen at now.
func (v *View) ObserveReport(r *report, now time.Time) {
	if r.Strategy == "" {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	defer v.version.Add(1)
	sv := v.strategy(r.Strategy)
	switch r.Kind {
	case messages.KindAccepted:
		sv.accepted++
		if r.Key != "" {
			v.key(r.Key).accepted.add(now, 1)
		}
		return
	case messages.KindFill:
		sv.fills++
		return
	case messages.KindCanceled:
		sv.canceled++
		return
	case messages.KindExpired:
		sv.expired++
	case messages.KindRejected:
		sv.rejected[r.Reason]++
	case messages.KindCancelRejected:
	default:
		return
	}
	ts := r.TS
	if ts.IsZero() {
		ts = now
	}
	if len(v.rejections) == maxRejections {
		v.rejections = append(v.rejections[:0], v.rejections[1:]...)
	}
	v.rejections = append(v.rejections, Rejection{TS: ts, Kind: r.Kind, Strategy: r.Strategy,
		ClientOrderID: r.ClientOrderID, Key: r.Key, Reason: r.Reason, Message: r.Message})
	if r.Key != "" {
		kv := v.key(r.Key)
		kv.lastErr, kv.lastErrAt = string(r.Reason)+": "+r.Message, ts
		if r.Message == "" {
			kv.lastErr = string(r.Reason)
		}
	}
}

// SetHalt records the halt of a CONTROL key (all, strategy.<id>,
// key.<id>), or its end with h nil. Other keys are ignored.
func (v *View) SetHalt(controlKey string, h *Halt) {
	scope, target := "all", ""
	switch {
	case controlKey == "all":
	case len(controlKey) > 9 && controlKey[:9] == "strategy.":
		scope, target = "strategy", controlKey[9:]
	case len(controlKey) > 4 && controlKey[:4] == "key.":
		scope, target = "key", controlKey[4:]
	default:
		return
	}
	v.mu.Lock()
	if h == nil {
		delete(v.halts, controlKey)
	} else {
		h.Scope, h.Target = scope, target
		v.halts[controlKey] = *h
	}
	v.mu.Unlock()
	v.version.Add(1)
}

// KeySnapshot is one key as the dashboard shows it.
type KeySnapshot struct {
	Key         string                 `json:"key"`
	Venue       string                 `json:"venue"`
	State       string                 `json:"state"` // a KeyState, or "unknown" before its first heartbeat
	Until       *time.Time             `json:"until,omitempty"`
	Message     string                 `json:"message,omitempty"`
	Limits      []messages.LimitStatus `json:"limits"`
	QueueNew    int                    `json:"queue_new"`
	QueueCancel int                    `json:"queue_cancel"`
	OpenOrders  int                    `json:"open_orders"`
	Worker      string                 `json:"worker,omitempty"`
	HeartbeatMS int64                  `json:"heartbeat_age_ms"` // -1 before the first
	Rate        []uint32               `json:"rate"`             // accepted orders per second, oldest first
	PerSecond   float64                `json:"per_second"`       // mean of the last 5 s
	LastError   string                 `json:"last_error,omitempty"`
	LastErrorAt time.Time              `json:"last_error_at,omitzero"`
	Strategies  []string               `json:"strategies,omitempty"`
}

// StrategySnapshot is one strategy's flow.
type StrategySnapshot struct {
	Strategy  string                     `json:"strategy"`
	Policy    string                     `json:"policy,omitempty"`
	Keys      []string                   `json:"keys,omitempty"`
	Rate      []uint32                   `json:"rate"`       // intents per second, oldest first
	PerSecond float64                    `json:"per_second"` // mean of the last 5 s
	Intents   uint64                     `json:"intents"`
	Accepted  uint64                     `json:"accepted"`
	Fills     uint64                     `json:"fills"`
	Canceled  uint64                     `json:"canceled"`
	Expired   uint64                     `json:"expired"`
	Rejected  map[messages.Reason]uint64 `json:"rejected"`
}

// Snapshot is everything the dashboard shows at one instant.
type Snapshot struct {
	TS         time.Time          `json:"ts"`
	Keys       []KeySnapshot      `json:"keys"`
	Strategies []StrategySnapshot `json:"strategies"`
	Rejections []Rejection        `json:"rejections"` // newest first
	Halts      []Halt             `json:"halts"`
}

// stateLocked is key's state at now: its last heartbeat's, down if that is
// too old, unknown before the first. v.mu must be held.
func (v *View) stateLocked(kv *keyView, now time.Time) string {
	switch {
	case kv.status == nil:
		return "unknown"
	case router.Stale(now.Sub(kv.seen), v.timeout, v.alive != nil && v.alive(kv.status.Worker)):
		return string(messages.KeyDown)
	}
	return string(kv.status.State)
}

// SetAlive tells the view how to know that a worker's process is alive,
// as router.Health.SetAlive does: a key that idles reports only every
// messages.KeyStatusHeartbeat. (alive reads the clock of the process
// heartbeats it follows: the one exception to the View never reading one.)
func (v *View) SetAlive(alive func(worker string) bool) {
	v.mu.Lock()
	v.alive = alive
	v.mu.Unlock()
}

// Snapshot returns the view at now, keys and strategies sorted by ID.
func (v *View) Snapshot(now time.Time) Snapshot {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := Snapshot{TS: now.UTC(), Keys: []KeySnapshot{}, Strategies: []StrategySnapshot{}, Rejections: []Rejection{}, Halts: []Halt{}}
	for id, kv := range v.keys {
		ks := KeySnapshot{Key: id, Venue: kv.venue, State: v.stateLocked(kv, now), Limits: []messages.LimitStatus{},
			HeartbeatMS: -1, Rate: kv.accepted.last(now, sparkSeconds), PerSecond: kv.accepted.rate(now, 5),
			LastError: kv.lastErr, LastErrorAt: kv.lastErrAt, Strategies: kv.strategies}
		if st := kv.status; st != nil {
			ks.Until, ks.Message, ks.Limits, ks.Worker = st.Until, st.Message, st.Limits, st.Worker
			ks.QueueNew, ks.QueueCancel, ks.OpenOrders = st.QueueDepth-st.QueueCancel, st.QueueCancel, st.OpenOrders
			ks.HeartbeatMS = now.Sub(kv.seen).Milliseconds()
			if ks.State == string(messages.KeyDown) && st.State != messages.KeyDown {
				ks.Message = "no heartbeat for " + now.Sub(kv.seen).Round(time.Second).String()
			}
		}
		s.Keys = append(s.Keys, ks)
	}
	sort.Slice(s.Keys, func(i, j int) bool { return s.Keys[i].Key < s.Keys[j].Key })
	for id, sv := range v.strategies {
		ss := StrategySnapshot{Strategy: id, Policy: sv.policy, Keys: sv.keys, Rate: sv.intents.last(now, sparkSeconds),
			PerSecond: sv.intents.rate(now, 5), Intents: sv.total, Accepted: sv.accepted, Fills: sv.fills,
			Canceled: sv.canceled, Expired: sv.expired, Rejected: map[messages.Reason]uint64{}}
		for r, n := range sv.rejected {
			ss.Rejected[r] = n
		}
		s.Strategies = append(s.Strategies, ss)
	}
	sort.Slice(s.Strategies, func(i, j int) bool { return s.Strategies[i].Strategy < s.Strategies[j].Strategy })
	for i := len(v.rejections) - 1; i >= 0; i-- {
		s.Rejections = append(s.Rejections, v.rejections[i])
	}
	for _, h := range v.halts {
		s.Halts = append(s.Halts, h)
	}
	sort.Slice(s.Halts, func(i, j int) bool {
		return s.Halts[i].Scope+"."+s.Halts[i].Target < s.Halts[j].Scope+"."+s.Halts[j].Target
	})
	return s
}

// keyGauge is what the key gauges export of one key.
type keyGauge struct {
	key, venue, state string
	limits            []messages.LimitStatus
	queueNew          int
	queueCancel       int
	openOrders        int
	heartbeatAge      float64 // seconds; -1 before the first
}

// gauges returns every key heard from, for a scrape at now.
func (v *View) gauges(now time.Time) []keyGauge {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]keyGauge, 0, len(v.keys))
	for id, kv := range v.keys {
		g := keyGauge{key: id, venue: kv.venue, state: v.stateLocked(kv, now), heartbeatAge: -1}
		if st := kv.status; st != nil {
			g.limits, g.openOrders = st.Limits, st.OpenOrders
			g.queueNew, g.queueCancel = st.QueueDepth-st.QueueCancel, st.QueueCancel
			g.heartbeatAge = now.Sub(kv.seen).Seconds()
		}
		out = append(out, g)
	}
	return out
}

// ObserveReportJSON counts a report, as published on reports.<s>.<kind>,
// seen at now.
func (v *View) ObserveReportJSON(data []byte, now time.Time) error {
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	v.ObserveReport(&r, now)
	return nil
}
