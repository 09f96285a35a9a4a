// Package executors holds the per-key worker: it consumes its key's
// partition of the EXEC stream (exec.<key>.new and exec.<key>.cancel),
// queues orders by priority (cancels first, FIFO within a class) inside the
// key's rate budget, places and cancels them at the venue through the Venue
// interface defined here, and publishes every outcome as an
// ExecutionReport on REPORTS. An order's message is acked only after its
// reports are stored. The key's KeyStatus goes out on keys.<key>.status at
// once on a change of state, within a second of any other change, and at
// least every messages.KeyStatusHeartbeat while nothing changes.
//
// Sub-packages: budget (the rate-budget model), paper (the built-in
// simulated exchange), venuetest (the contract suite every Venue passes),
// binance and binancesim (Binance spot and a simulator of its protocol),
// okx and okxsim (OKX v5 spot and a simulator of its protocol).
//
// A Worker is started with Run, which returns when ctx is done and the
// orders in hand are finished or handed back to JetStream for
// redelivery (queued orders are nak'ed so another worker takes them at
// once). Its other methods are safe to call concurrently.
package executors
