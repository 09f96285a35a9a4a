package main

import (
	"io"
	"testing"
)

// The hops bench runs end to end: every intent answered once by both
// systems, and the JSON object has its figures.
func TestBenchHops(t *testing.T) {
	bf := &benchFlags{scenario: "hops", intents: 500, latencyIntents: 50, inflight: 64, keys: 1, logLevel: "error", progress: io.Discard}
	res, err := benchHops(bf)
	if err != nil {
		t.Fatal(err)
	}
	if *res.Lost != 0 || *res.Duplicates != 0 {
		t.Errorf("lost %d duplicates %d", *res.Lost, *res.Duplicates)
	}
	if res.ThroughputPerS <= 0 || res.Baseline.ThroughputPerS <= 0 || res.LatencyUS.P50 <= 0 || res.Baseline.LatencyUS.P50 <= 0 {
		t.Errorf("missing figures: %+v baseline %+v", res, res.Baseline)
	}
	if res.Ratio.Throughput <= 0 || res.Ratio.LatencyP50 <= 0 {
		t.Errorf("ratios %+v", res.Ratio)
	}
}
