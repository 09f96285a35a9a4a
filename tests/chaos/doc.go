// Package chaos is keyrouter's chaos suite: the whole system as separate
// OS processes on loopback, under load, while processes are killed and
// the venue misbehaves; then a check of the promises from what the
// REPORTS stream and the venue itself say.
//
// # What runs
//
//   - a 3-node NATS cluster with JetStream: nats-server built by the
//     suite at the version go.mod pins (go install into .cache/bin, reused
//     while it reports that version), configs written to the run's
//     directory, sync_interval SyncInterval (why: see there);
//   - keyrouter, built once per run into .cache/bin/keyrouter;
//   - the Binance simulator (keyrouter exchange-sim --admin) with the
//     accounts, keys and secrets of its config file (two keys of one
//     account, one of another; no bans; a tight ORDERS limit per account);
//   - two routers (--instance r1, r2) and two executors per key
//     (--instance <key>-a, <key>-b), all reading one config: streams and
//     buckets at 3 replicas, the binance venue at the simulator's URL,
//     secrets from files and from the environment.
//
// A Go client sends a seeded load of market and limit orders (some filled
// in several fills, some IOC partly filled then expired, some resting)
// from two strategies, as JetStream publishes waiting for the stored-ack
// (retried with the same Nats-Msg-Id while a node is down), and cancels a
// share of the limit orders after their stored-ack, some at once, in
// bursts past the account's ORDERS limit. Meanwhile, at seeded times, it
// SIGKILLs the active executor of a key (the worker named by the key's
// latest KeyStatus), the active router (the holder of the router lease,
// KV CONTROL lease.router; while no router takes a lease, r1 then r2),
// and the NATS node leading a stream, starting each again after a pause;
// and it switches the simulator's faults on and off through its admin API
// (5xx that do nothing, requests held until the client gives up that
// still take effect half the time, latency). A process that exits by
// itself is started again after a second, as a supervisor would, and
// named in the summary.
//
// # What it checks
//
// After the load it waits (Profile.Settle at most) for every stored
// intent's first report and every stored cancel's answer, reads the
// REPORTS stream whole with an ordered consumer and the simulator's order
// log (GET /sim/orders) and counters (GET /sim/stats), and checks (see
// Check and the Check* names):
//
//   - exactly one first report (accepted, rejected, or expired as the
//     order's first event) per intent;
//   - at most one venue order per (strategy, client_order_id), across
//     accounts, matched by executors.VenueClientID; no venue order of no
//     intent; every venue order reported accepted, and a closed one's
//     final status reported;
//   - every venue fill reported exactly once (by trade ID), with the
//     venue's quantity and price, and no fill the venue does not have for
//     that order; cum_quantity never above quantity;
//   - every cancel stored after its intent's stored-ack applied: never
//     answered unknown_order for an order that existed, always answered,
//     and the order not left open at the venue;
//   - no venue order created more than its request's validity (the
//     adapter's 5 s recvWindow) after its intent's expires_at: one intent
//     in five has a deadline of 0.3, 1 or 3 s (promise 5);
//   - the venue never answered 429 (or 418);
//   - after each executor SIGKILL, another worker of the key published an
//     active KeyStatus within Profile.TakeoverMax (timed from the kill).
//
// It prints intents, first reports by kind, venue orders and fills, the
// venue's 429s and injected faults, takeovers with p50 and max, router
// kills, lost (stored intents with no first report, or venue orders never
// reported) and duplicates (intents with more than one first report or
// venue order), the seed, and every broken check with examples. The
// summary is also written to the run's directory.
//
// # Running it
//
//	go test ./tests/chaos                  # the short run (also part of go test ./...), seed 1, about 1.5 min
//	make chaos                             # the long run: 6 min of load, more kills; seed from the clock
//	CHAOS_SEED=42 make chaos               # replay a seed; or go test ./tests/chaos -chaos.seed=42 [-chaos.long]
//	CHAOS_KEEP=1 ...                       # keep the run's directory when it passes
//
// -short skips it. The run's directory, .cache/chaos/<profile>-seed<N>-*,
// holds the configs, JetStream data and every process's log (appended
// across restarts); it is kept when the run fails and its path printed.
// The load and the disruptions are drawn from the seed (NewPlan); what
// the processes do with them still depends on timing, so two runs of one
// seed differ in detail, not in kind.
package chaos
