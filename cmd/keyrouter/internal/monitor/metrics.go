package monitor

import (
	"errors"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metric names, for tests, dashboards and alerts.
const (
	MetricIntents          = "keyrouter_intents_total"
	MetricReports          = "keyrouter_reports_total"
	MetricFills            = "keyrouter_fills_total"
	MetricIntentAccepted   = "keyrouter_intent_accepted_seconds"
	MetricKeyState         = "keyrouter_key_state"
	MetricBudgetUsed       = "keyrouter_key_budget_used"
	MetricBudgetMax        = "keyrouter_key_budget_max"
	MetricBudgetWindow     = "keyrouter_key_budget_window_seconds"
	MetricQueueDepth       = "keyrouter_key_queue_depth"
	MetricOpenOrders       = "keyrouter_key_open_orders"
	MetricHeartbeatAge     = "keyrouter_key_heartbeat_age_seconds"
	MetricHalted           = "keyrouter_halted"
	MetricOrdersSent       = "keyrouter_orders_sent_total"
	MetricCancelsSent      = "keyrouter_cancels_sent_total"
	MetricVenueRequests    = "keyrouter_venue_requests_total"
	MetricVenue429         = "keyrouter_venue_429_total"
	MetricVenue418         = "keyrouter_venue_418_total"
	MetricVenueLatency     = "keyrouter_venue_request_seconds"
	MetricConsumersBound   = "keyrouter_consumers_bound"
	MetricTakeovers        = "keyrouter_takeovers_total"
	MetricBudgetLeases     = "keyrouter_shared_budget_leases_total"
	MetricBudgetLeaseUnits = "keyrouter_shared_budget_leased_units_total"
	MetricBudgetLeaseWait  = "keyrouter_shared_budget_lease_wait_seconds"
)

// keyStates are the values of keyrouter_key_state's state label; the
// key's current one is 1, the others 0, so an alert can match on it.
var keyStates = []string{string(messages.KeyActive), string(messages.KeyThrottled), string(messages.KeyBanned),
	string(messages.KeyHalted), string(messages.KeyDown), "unknown"}

// latencyBuckets span 100 µs to 10 s.
var latencyBuckets = prometheus.ExponentialBucketsRange(0.0001, 10, 16)

// metrics holds every family this process exports.
type metrics struct {
	reg *prometheus.Registry

	intents        *prometheus.CounterVec
	reports        *prometheus.CounterVec
	fills          *prometheus.CounterVec
	intentAccepted *prometheus.HistogramVec

	ordersSent    *prometheus.CounterVec
	cancelsSent   *prometheus.CounterVec
	venueRequests *prometheus.CounterVec
	venue429      *prometheus.CounterVec
	venue418      *prometheus.CounterVec
	venueLatency  *prometheus.HistogramVec
	bound         *prometheus.GaugeVec
	takeovers     *prometheus.CounterVec
	leases        *prometheus.CounterVec
	leaseUnits    *prometheus.CounterVec
	leaseWait     *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, labels)
		m.reg.MustRegister(h)
		return h
	}
	m.intents = counter(MetricIntents, "Intents published on orders.new.<strategy> (read from the ORDERS stream).", "strategy")
	m.reports = counter(MetricReports, "Execution reports by kind and reason (read from the REPORTS stream); key is empty for the router's own.", "strategy", "key", "kind", "reason")
	m.fills = counter(MetricFills, "Fills reported (read from the REPORTS stream).", "strategy", "key", "venue")
	m.intentAccepted = histogram(MetricIntentAccepted, "Intent stored in ORDERS to its accepted report stored in REPORTS, both stamped by the NATS server.", "strategy")
	m.ordersSent = counter(MetricOrdersSent, "New orders sent to the venue (place requests that reached it, refused ones included).", "key", "venue")
	m.cancelsSent = counter(MetricCancelsSent, "Cancels sent to the venue (requests that reached it).", "key", "venue")
	m.venueRequests = counter(MetricVenueRequests, "Requests to the venue by operation and outcome (ok, rejected, throttled, banned, key_invalid, unknown, unavailable).", "key", "venue", "op", "outcome")
	m.venue429 = counter(MetricVenue429, "Venue answers that the key is over its rate limit (HTTP 429 or the venue's equivalent); the key turns throttled.", "key", "venue")
	m.venue418 = counter(MetricVenue418, "Venue answers that the key or its IP is banned (HTTP 418 or the venue's equivalent); the key turns banned.", "key", "venue")
	m.venueLatency = histogram(MetricVenueLatency, "Round trip of a request to the venue.", "key", "venue", "op")
	m.bound = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricConsumersBound, Help: "1 while a role's JetStream consumers are bound (key is empty for the router)."}, []string{"role", "key"})
	m.reg.MustRegister(m.bound)
	m.takeovers = counter(MetricTakeovers, "Times this process became the active router or the active executor of a key.", "role", "key")
	m.leases = counter(MetricBudgetLeases, "Leases granted from a shared budget scope.", "key", "limit")
	m.leaseUnits = counter(MetricBudgetLeaseUnits, "Budget units leased from a shared budget scope.", "key", "limit")
	m.leaseWait = histogram(MetricBudgetLeaseWait, "Wait for a lease from a shared budget scope.", "key", "limit")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeReport counts one report from the REPORTS stream.
func (m *metrics) observeReport(r *report) {
	m.reports.WithLabelValues(r.Strategy, r.Key, string(r.Kind), string(r.Reason)).Inc()
	if r.Kind == messages.KindFill {
		m.fills.WithLabelValues(r.Strategy, r.Key, r.Venue).Inc()
	}
}

// keyCollector exports the View's keys and halts at scrape time, so a key
// that leaves the config leaves the scrape.
type keyCollector struct {
	view                                               *View
	now                                                func() time.Time
	state, used, max, window, queue, open, age, halted *prometheus.Desc
}

func newKeyCollector(v *View, now func() time.Time) *keyCollector {
	kv := []string{"key", "venue"}
	return &keyCollector{view: v, now: now,
		state:  prometheus.NewDesc(MetricKeyState, "1 for the key's current state (active, throttled, banned, halted, down, unknown), 0 for the others.", append(kv, "state"), nil),
		used:   prometheus.NewDesc(MetricBudgetUsed, "Budget used of a key's rate limit, as its executor counts it.", append(kv, "limit"), nil),
		max:    prometheus.NewDesc(MetricBudgetMax, "Budget maximum of a key's rate limit per window.", append(kv, "limit"), nil),
		window: prometheus.NewDesc(MetricBudgetWindow, "Window of a key's rate limit.", append(kv, "limit"), nil),
		queue:  prometheus.NewDesc(MetricQueueDepth, "Requests waiting for budget in a key's queue, by class (new, cancel).", append(kv, "class"), nil),
		open:   prometheus.NewDesc(MetricOpenOrders, "A key's orders open at the venue.", kv, nil),
		age:    prometheus.NewDesc(MetricHeartbeatAge, "Seconds since the key's last KeyStatus.", kv, nil),
		halted: prometheus.NewDesc(MetricHalted, "1 for each halt in force (scope all, strategy or key).", []string{"scope", "strategy", "key"}, nil),
	}
}

func (c *keyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.used, c.max, c.window, c.queue, c.open, c.age, c.halted} {
		ch <- d
	}
}

func (c *keyCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, g := range c.view.gauges(now) {
		for _, s := range keyStates {
			v := 0.0
			if s == g.state {
				v = 1
			}
			gauge(c.state, v, g.key, g.venue, s)
		}
		if g.heartbeatAge < 0 {
			continue
		}
		seen := map[string]bool{}
		for _, l := range g.limits {
			if seen[l.Name] {
				continue
			}
			seen[l.Name] = true
			gauge(c.used, l.Used, g.key, g.venue, l.Name)
			gauge(c.max, l.Max, g.key, g.venue, l.Name)
			gauge(c.window, l.Window, g.key, g.venue, l.Name)
		}
		gauge(c.queue, float64(g.queueNew), g.key, g.venue, "new")
		gauge(c.queue, float64(g.queueCancel), g.key, g.venue, "cancel")
		gauge(c.open, float64(g.openOrders), g.key, g.venue)
		gauge(c.age, g.heartbeatAge, g.key, g.venue)
	}
	for _, h := range c.view.Snapshot(now).Halts {
		s, k := "", ""
		switch h.Scope {
		case "strategy":
			s = h.Target
		case "key":
			k = h.Target
		}
		gauge(c.halted, 1, h.Scope, s, k)
	}
}

// ExecutorMetrics is the Prometheus implementation of executors.Metrics
// for one key.
type ExecutorMetrics struct {
	key, venue string
	m          *metrics
	health     *Health
}

var _ executors.Metrics = (*ExecutorMetrics)(nil)

// Serving implements executors.Metrics.
func (e *ExecutorMetrics) Serving(on bool) {
	e.m.bound.WithLabelValues("executor", e.key).Set(b2f(on))
	e.health.serving("executor "+e.key, on)
}

// VenueRequest implements executors.Metrics.
func (e *ExecutorMetrics) VenueRequest(op string, took time.Duration, err error) {
	outcome := "ok"
	var ve *executors.VenueError
	if errors.As(err, &ve) {
		outcome = ve.Kind.String()
	} else if err != nil {
		switch {
		case errors.Is(err, executors.ErrUnknownOrder), errors.Is(err, executors.ErrTooLateToCancel):
			outcome = "rejected" // the venue answered
		default:
			outcome = "error"
		}
	}
	e.m.venueRequests.WithLabelValues(e.key, e.venue, op, outcome).Inc()
	e.health.venueAnswer(e.key, e.venue, outcome == executors.Unavailable.String(), err)
	if outcome == executors.Unavailable.String() {
		return // it never reached the venue: nothing sent, no round trip
	}
	e.m.venueLatency.WithLabelValues(e.key, e.venue, op).Observe(took.Seconds())
	switch op {
	case executors.OpPlace:
		e.m.ordersSent.WithLabelValues(e.key, e.venue).Inc()
	case executors.OpCancel:
		e.m.cancelsSent.WithLabelValues(e.key, e.venue).Inc()
	}
	switch outcome {
	case executors.Throttled.String():
		e.m.venue429.WithLabelValues(e.key, e.venue).Inc()
	case executors.Banned.String():
		e.m.venue418.WithLabelValues(e.key, e.venue).Inc()
	}
}

// Takeover implements executors.Metrics.
func (e *ExecutorMetrics) Takeover() { e.m.takeovers.WithLabelValues("executor", e.key).Inc() }

// BudgetLease implements executors.Metrics.
func (e *ExecutorMetrics) BudgetLease(limit string, units int64, took time.Duration) {
	e.m.leases.WithLabelValues(e.key, limit).Inc()
	e.m.leaseUnits.WithLabelValues(e.key, limit).Add(float64(units))
	e.m.leaseWait.WithLabelValues(e.key, limit).Observe(took.Seconds())
}

// RouterMetrics is the Prometheus implementation of router.Metrics.
type RouterMetrics struct {
	m      *metrics
	health *Health
}

var _ router.Metrics = (*RouterMetrics)(nil)

// Serving implements router.Metrics.
func (r *RouterMetrics) Serving(on bool) {
	r.m.bound.WithLabelValues("router", "").Set(b2f(on))
	r.health.serving("router", on)
}

// Takeover implements router.Metrics.
func (r *RouterMetrics) Takeover() { r.m.takeovers.WithLabelValues("router", "").Inc() }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
