// Package budget is the rate budget of a venue API key: a pure model of the
// venue's rate limits that tells a key's executor when each request may be
// sent so that the key uses its limits as fully as possible without ever
// crossing one. It does no I/O, starts no goroutines and never reads the
// clock: every call takes the current instant, so tests drive it with an
// injected clock and no sleeps.
//
// # Model
//
// A key's [Budget] is a set of [Limit]s. A request is an [Op] (class new,
// cancel, amend or query; optionally an endpoint, a symbol and the age of
// the order it acts on); it consumes its cost from every limit whose cost
// for it is not zero. A limit's cost for an op is Endpoints[op.Endpoint]
// when set and listed, else Costs[op.Class] (absent: 0), plus the first
// matching AgeCost step. [Budget.TryTake] consumes from all limits at once
// or from none; [Budget.Earliest] says when an op will fit.
//
// An op that costs more than a limit's effective max can never be sent:
// Earliest returns (time.Time{}, false), TryTake returns (false, [Never])
// and [Budget.Check] returns an error wrapping [ErrNeverFits] naming the
// limit. The executor should reject such an op at once rather than queue it.
//
// # Shapes
//
// All arithmetic is on integer nanoseconds and integer units (bucket and
// decay rates as exact rationals), so rounding can never let a request
// through that the venue would refuse.
//
//   - fixed: a window aligned to the clock, index = UnixNano / Window; usage
//     resets when the index changes. Binance's REQUEST_WEIGHT per minute,
//     ORDERS per 10 s and per day, RAW_REQUESTS per 5 minutes.
//   - sliding: at most Max in every interval (t-Window, t]. Bybit's per
//     second endpoint limits, OKX's "N requests per 2 s". Exact: a ring of
//     (instant, cost) of at most Max entries.
//   - bucket: Max tokens refilled at Rate per second (or Max per Window),
//     kept as GCRA's theoretical arrival time with an exact fraction of a
//     nanosecond. Coinbase's 15 requests per second with bursts of 30.
//   - decay: a counter raised by each op's cost and lowered continuously
//     at Rate per second; an op fits if counter+cost <= Max. Kraken's REST
//     call counter and its per-pair trading counter, whose cancel cost
//     depends on the order's age (AgeCost). Same exact GCRA arithmetic.
//
// # Scopes
//
// A limit counts per key (default), per symbol (Kraken per pair, OKX per
// instrument), or in a group shared with other keys: "account:<id>" or
// "ip:<id>". Budgets created with the same [Groups] share one counter per
// (group, limit name): two Binance keys of one account share ORDERS, two
// keys on one IP share REQUEST_WEIGHT. A group limit with PerSymbol keeps
// one shared counter per (group, limit name, symbol): two OKX keys of one
// sub-account share the 60-per-2-s place limit of each instrument.
//
// # Feedback and margin
//
// [Budget.Observe] takes the usage the venue reported (Binance's
// X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S) and raises the budget's
// count to it if larger; it never lowers it. Extra usage of unknown age
// in a sliding window is counted as taken at the observed instant.
// Limit.Margin holds a fraction back (default 0: exactness is the goal).
//
// # Reference enforcers
//
// [NewEnforcer] returns an independent, deliberately simple model of how a
// venue enforces one limit (see [Enforcer] for the exact semantics); a
// fixed limit's is a [Window], which also counts what it refuses (Charge)
// and says when it resets. The simulated venues (paper, binancesim,
// okxsim) count their limits with them; the tests check that no Budget
// decision is ever refused by them.
//
// # Concurrency
//
// A Budget is safe for concurrent use (the executor worker plus a status
// publisher). Each decision takes exactly one mutex: the budget's own, or,
// if it has a group-scoped limit, the mutex of its Groups, so decisions
// spanning key and shared counters are atomic and there is no lock order
// to get wrong. Time never goes backwards for a counter: an instant
// earlier than the latest it has seen is taken as the latest. Decisions
// do not allocate (a symbol's counter is allocated when first seen).
package budget
