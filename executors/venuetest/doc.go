// Package venuetest is the contract every executors.Venue adapter must
// meet, as a test suite: Run exercises placement, fills, partial fills,
// cancels, queries, exactly-once client IDs, filters, time in force,
// post-only, usage reporting and (optionally) rate limiting through the
// Venue interface alone, so the same suite runs against the in-process
// paper venue and against an adapter talking HTTP to a simulator.
//
//	func TestContract(t *testing.T) {
//		venuetest.Run(t, func(t *testing.T) venuetest.Harness {
//			... // a fresh venue for this subtest; t.Cleanup closes it
//			return venuetest.Harness{Venue: v, SetPrice: ..., Orders: ...}
//		})
//	}
//
// Subtests run one after another, each with a fresh Harness; they wait
// for asynchronous updates with a deadline (Harness.Timeout), never by
// sleeping. Nothing here is safe for concurrent use beyond what testing.T
// allows.
package venuetest
