package bench

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/rs/zerolog"
)

// The hops bench runs end to end: every intent answered once by both
// systems, and the JSON object has its figures under the contract's names.
func TestHops(t *testing.T) {
	res, err := Run(t.Context(), Hops, Options{Intents: 500, LatencyIntents: 50, Inflight: 64, Logger: zerolog.Nop()})
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
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"scenario":"hops"`, `"sync":"default"`, `"intents":500`, `"throughput_per_s":`, `"latency_us":{"p50":`, `"p99":`, `"p999":`,
		`"baseline":{"intents":500,"throughput_per_s":`, `"ratio":{"latency_p50":`, `"throughput":`, `"lost":0`, `"duplicates":0`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("JSON %s has no %s", data, field)
		}
	}
}

// TestIsolationSurgeNeverQueuesOtherStrategy runs the isolation bench
// briefly: while strategy a sends twenty times its keys' budget, none of
// strategy b's orders waits for budget in b's executors (b sends half the
// budget of b1, the key its failover pool uses) and none is lost. Latency
// figures are printed, not asserted: a bench is not a timed assertion.
func TestIsolationSurgeNeverQueuesOtherStrategy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	res, err := Run(t.Context(), Isolation, Options{Duration: 4 * time.Second, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	x := res.Isolation
	t.Logf("b without surge %+v, with surge %+v; all %+v", x.BWithout, x.BWith, x)
	if res.Scenario != Isolation || res.Intents == 0 {
		t.Fatalf("scenario %q with %d intents", res.Scenario, res.Intents)
	}
	if *res.Lost != 0 || x.BLost != 0 {
		t.Errorf("b lost %d intents (no first report)", *res.Lost)
	}
	if *res.Duplicates != 0 {
		t.Errorf("b got %d duplicate first reports", *res.Duplicates)
	}
	// b's orders never wait for budget: a's surge has its own keys.
	// (Latency figures are printed: the machine's two cores are shared.)
	if w := x.BWith.BudgetWaits; w != 0 {
		t.Errorf("b's orders waited for budget %d times during a's surge; want 0", w)
	}
	if w := x.BWithout.BudgetWaits; w != 0 {
		t.Errorf("b's orders waited for budget %d times without a surge; want 0", w)
	}
	if len(x.AAcceptedByKey) < 2 {
		t.Errorf("a's surge used keys %v; least_loaded should spread it over both", x.AAcceptedByKey)
	}
	if x.ARateLimited+x.AExpired == 0 {
		t.Errorf("a's surge was neither rate_limited nor expired: its keys were not saturated (%+v)", x)
	}
	if x.AAccepted == 0 {
		t.Errorf("a had no order accepted during its surge")
	}
	// Each of b's phases is split into its stages, each stage a part of
	// the whole (percentiles of parts are not additive; medians of parts
	// are each at most the p99.9 of the whole).
	for name, f := range map[string]PhaseFigures{"without": x.BWithout, "with": x.BWith} {
		s := f.Stages
		if s == nil {
			t.Errorf("b %s surge: no stages measured", name)
			continue
		}
		t.Logf("b %s surge, stages: %+v", name, *s)
		for stage, p := range map[string]Percentiles{"routing": s.Routing, "intake": s.Intake, "placing": s.Placing} {
			if p.P50 <= 0 || p.P50 > f.LatencyUS.P999 {
				t.Errorf("b %s surge, stage %s: p50 %.1fµs, outside (0, %.1fµs]", name, stage, p.P50, f.LatencyUS.P999)
			}
		}
	}
}

// TestSaturateKeepsEveryPromise runs the saturate bench briefly on two
// keys: twice their budget is sent, the excess is refused or expires, and
// nothing is lost, sent twice or answered 429 by the venue. Utilisation is
// printed and only bounded loosely (a bench is not a timed assertion):
// two keys are far from what the machine carries, so well over half of
// their budget is used.
func TestSaturateKeepsEveryPromise(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	res, err := Run(t.Context(), Saturate, Options{Keys: 2, Duration: 3 * time.Second, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	s, b := res.Saturate, res.Budget
	t.Logf("%+v %+v", *s, *b)
	if *res.Lost != 0 || *res.Duplicates != 0 {
		t.Errorf("lost %d, duplicates %d", *res.Lost, *res.Duplicates)
	}
	if b.Venue429 != 0 {
		t.Errorf("the venue answered 429 %d times", b.Venue429)
	}
	if s.Accepted == 0 || s.Rejected+b.Expired == 0 {
		t.Errorf("accepted %d, rejected %d, expired %d: want some of each kind at twice the budget", s.Accepted, s.Rejected, b.Expired)
	}
	if s.Accepted+s.Rejected+b.Expired != res.Intents {
		t.Errorf("%d accepted + %d rejected + %d expired, for %d intents sent", s.Accepted, s.Rejected, b.Expired, res.Intents)
	}
	if s.ExpiredAtRouter+s.ExpiredForBudget > b.Expired {
		t.Errorf("%d + %d expired at the router, of %d expired", s.ExpiredAtRouter, s.ExpiredForBudget, b.Expired)
	}
	// Within a second a key's status says its queue is a second deep:
	// from then on the router refuses what the budget cannot send in time.
	if s.ExpiredForBudget == 0 {
		t.Errorf("the router refused no intent for its keys' budget (%d expired in all)", b.Expired)
	}
	if b.Utilization < 0.5 || b.Utilization > 1 {
		t.Errorf("utilisation %.4f of two keys' budget", b.Utilization)
	}
	// The windows' utilisations average to the run's.
	sum := 0.0
	for _, u := range s.PerWindow {
		if u < 0 || u > 1 {
			t.Errorf("a window's utilisation %.4f", u)
		}
		sum += u
	}
	if len(s.PerWindow) != s.WholeWindows || math.Abs(sum/float64(len(s.PerWindow))-b.Utilization) > 0.001 {
		t.Errorf("utilisation by window %v, for %.4f over %d windows", s.PerWindow, b.Utilization, s.WholeWindows)
	}
}

// A run stops when its context ends (here at its first progress line,
// well into an hour-long run), and says so.
func TestRunStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	begin := time.Now()
	_, err := Run(ctx, Saturate, Options{Duration: time.Hour, Logger: zerolog.Nop(), Progress: cancelOnWrite(cancel)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if took := time.Since(begin); took > 30*time.Second {
		t.Errorf("took %v to stop", took)
	}
}

// cancelOnWrite is a progress writer that cancels the run.
type cancelOnWrite context.CancelFunc

func (c cancelOnWrite) Write(p []byte) (int, error) {
	c()
	return len(p), nil
}

func TestPercentiles(t *testing.T) {
	us := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	if got, want := percentiles(us), (Percentiles{P50: 5, P99: 10, P999: 10}); got != want {
		t.Errorf("percentiles = %+v, want %+v", got, want)
	}
	if us[0] != 5 {
		t.Errorf("percentiles sorted its argument")
	}
	if got := percentiles(nil); got != (Percentiles{}) {
		t.Errorf("percentiles(nil) = %+v", got)
	}
}

// The keys bench starts its keys in this process, trades through every
// one of them and measures the process; the JSON object carries the
// figures under their names.
func TestKeys(t *testing.T) {
	res, err := Run(t.Context(), Keys, Options{Keys: 7, Duration: time.Second, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	k := res.Keys
	if k == nil {
		t.Fatalf("no keys figures in %+v", res)
	}
	if k.Keys != 7 || k.TradedKeys != 7 || k.Rounds != keysRounds || k.Processes != 0 {
		t.Errorf("keys %d traded %d rounds %d processes %d; want 7 keys all traded in %d rounds, in process",
			k.Keys, k.TradedKeys, k.Rounds, k.Processes, keysRounds)
	}
	if res.Intents != 7*keysRounds || *res.Lost != 0 || *res.Duplicates != 0 || len(k.Rejected) != 0 {
		t.Errorf("intents %d lost %d duplicates %d rejected %v", res.Intents, *res.Lost, *res.Duplicates, k.Rejected)
	}
	if k.StartupS <= 0 || k.RSSMB <= 0 || k.BaseRSSMB <= 0 || k.RSSMB < k.BaseRSSMB || k.IdleS != 1 || k.Goroutines == 0 || k.HeapMB <= 0 || k.StackMB <= 0 || k.GoSysMB < k.HeapMB+k.StackMB {
		t.Errorf("missing figures: %+v", k)
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"scenario":"keys"`, `"keys":{"keys":7,"executor_processes":0,"startup_s":`, `"rss_mb":`, `"base_rss_mb":`,
		`"mb_per_key":`, `"idle_cpu_pct":`, `"base_idle_cpu_pct":`, `"traded_keys":7`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("JSON %s has no %s", data, field)
		}
	}
}

func TestKeysConfig(t *testing.T) {
	cfg, err := configs.Parse(keysConfigYAML(250))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Keys) != 250 || len(cfg.Strategies) != 3 {
		t.Fatalf("%d keys, %d strategies; want 250 and 3", len(cfg.Keys), len(cfg.Strategies))
	}
	for i := range 250 {
		if s := cfg.Strategies[keyStrategy(i)]; !slices.Contains(s.Keys, keyName(i)) {
			t.Errorf("key %s not in its strategy %s's keys", keyName(i), keyStrategy(i))
		}
	}
}
