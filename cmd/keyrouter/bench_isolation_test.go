package main

import (
	"io"
	"testing"
	"time"
)

// TestIsolationSurgeNeverQueuesOtherStrategy runs the isolation bench
// briefly: while strategy a sends twenty times its keys' budget, none of
// strategy b's orders waits in b's executor queues (b sends half the
// budget of b1, the key its failover pool uses) and none is lost. Latency
// figures are printed, not asserted: a bench is not a timed assertion.
func TestIsolationSurgeNeverQueuesOtherStrategy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	bf := &benchFlags{scenario: "isolation", duration: 4 * time.Second, progress: io.Discard, logLevel: "error"}
	res, err := benchIsolation(bf)
	if err != nil {
		t.Fatal(err)
	}
	x := res.Extra
	t.Logf("b without surge %v, with surge %v; extra %v", x["b_latency_us_without_surge"], x["b_latency_us_with_surge"], x)
	if res.Scenario != "isolation" || res.Intents == 0 {
		t.Fatalf("scenario %q with %d intents", res.Scenario, res.Intents)
	}
	if *res.Lost != 0 || x["b_lost"] != 0 {
		t.Errorf("b lost %d intents (no first report)", *res.Lost)
	}
	if *res.Duplicates != 0 {
		t.Errorf("b got %d duplicate first reports", *res.Duplicates)
	}
	// b's orders never wait for budget: a's surge has its own keys.
	// (Latency figures are printed: the machine's two cores are shared.)
	if w := x["b_queue_waits_with"]; w != 0 {
		t.Errorf("b's orders waited for budget %v times during a's surge; want 0", w)
	}
	if w := x["b_queue_waits_without"]; w != 0 {
		t.Errorf("b's orders waited for budget %v times without a surge; want 0", w)
	}
	if byKey, _ := x["a_accepted_by_key"].(map[string]int); len(byKey) < 2 {
		t.Errorf("a's surge used keys %v; least_loaded should spread it over both", byKey)
	}
	if x["a_rejected_rate_limited"].(int64)+x["a_expired"].(int64) == 0 {
		t.Errorf("a's surge was neither rate_limited nor expired: its keys were not saturated (%v)", x)
	}
	if x["a_accepted"].(int64) == 0 {
		t.Errorf("a had no order accepted during its surge")
	}
}
