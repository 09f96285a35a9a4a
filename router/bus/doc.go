// Package bus is keyrouter's use of NATS that every role shares: the
// streams and buckets and their provisioning, leases that keep one process
// active per key (executors) and one router active, the liveness
// heartbeats behind them, claims (which key holds an order), and the
// small JetStream helpers whose rules must be the same everywhere:
// every wait has a deadline, and compare-and-set conflicts are told apart
// from failures the same way on one server and on a cluster.
//
// # Leases
//
// Each process runs one [Leases]: it writes its heartbeat to the CONTROL
// bucket (proc.<instance>) every TTL/4 and follows everyone else's. A
// lease is a KV entry naming its holder (instance and incarnation).
// [Leases.Acquire] waits until the entry is free, held by a dead process
// (no heartbeat for TTL) or by an earlier incarnation of this instance, and
// takes it by compare-and-set; two standbys racing cannot both win. The
// entry's revision changes only when the holder changes, so it is a
// fencing token: the executor checks it with every write before a Place
// (Nats-Expected-Last-Subject-Sequence on the lease's subject), and a
// process that lost its lease can write nothing more. A holder learns it
// lost a lease from the entry (someone else took it) or from a fenced
// write that failed; it gives its leases up itself when it cannot write
// its heartbeat for 3/4 of the TTL.
//
// Leases and Lease are safe for concurrent use. Leases.Run returns when
// its context ends (leases held are released then, so a standby takes over
// at once).
package bus
