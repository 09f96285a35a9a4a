// Package monitor is what a person or a scraper sees of one keyrouter
// process: one HTTP listener serving /metrics (Prometheus text format,
// names under keyrouter_), /healthz, /readyz and, on processes that run the
// router, the live dashboard at / with its server-sent events at /events.
//
// # Where the figures come from
//
// What the bus already says is read from the bus, not counted in the
// roles: keys.*.status (every key's state, limits, queue), the REPORTS
// stream and the intents on ORDERS (ordered consumers from now), and the
// halts in the CONTROL bucket all feed a View, which the dashboard and the
// key gauges read. What only the code can count (requests to the venue,
// 429s and 418s, their latency, whether consumers are bound) comes through
// the Metrics interfaces that the executors and router packages declare;
// Monitor.Executor and Monitor.Router return their Prometheus
// implementations.
//
// # Lifecycle
//
// New builds a Monitor; Listen starts the HTTP server at once (so /healthz
// answers while the process is still starting and /readyz says what it is
// waiting for); Watch starts feeding the View from NATS; Close stops both.
// Every method is safe for concurrent use.
package monitor
