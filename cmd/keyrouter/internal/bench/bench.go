package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Scenario names a benchmark scenario.
type Scenario string

// The scenarios; the package documentation says what each measures.
const (
	Hops      Scenario = "hops"
	Saturate  Scenario = "saturate"
	Isolation Scenario = "isolation"
	Keys      Scenario = "keys"
)

// Options parameterise a run. Zero values take the defaults of
// `keyrouter bench`.
type Options struct {
	// Intents is the number of intents of the throughput measurement
	// (hops; default 20000); LatencyIntents of the one-at-a-time latency
	// measurement (default 2000), each after 200 unrecorded ones;
	// Inflight how many are in flight for throughput (default 512).
	Intents, LatencyIntents, Inflight int
	// Keys is the number of keys (hops: of one strategy; saturate: one
	// strategy each; keys: the keys started; default 1).
	Keys int
	// Procs (keys) runs the executors in that many `keyrouter executor`
	// processes, started from Executable, instead of in this process.
	Procs      int
	Executable string
	// CPUProfile, if set, receives a CPU profile of the run (keys: of its
	// idle interval only); HeapProfile a heap profile (keys: at the end of
	// the idle interval, while every key runs; others: at the end).
	CPUProfile, HeapProfile io.Writer
	// Duration of the time-bound scenarios (saturate, isolation; keys:
	// the idle interval; default 10s).
	Duration time.Duration
	// Sync is how often the embedded server flushes JetStream's files to
	// disk, as app.App.Sync: 0 is nats-server's default (every 2 min),
	// app.SyncAlways after every write (`keyrouter run`'s default). The
	// baseline runs on the same server, so it pays the same.
	Sync time.Duration
	// Logger is the system under test's.
	Logger zerolog.Logger
	// Progress, if set, receives a progress line rewritten in place (with
	// \r): give it a terminal only.
	Progress io.Writer
}

func (o Options) withDefaults() Options {
	if o.Intents == 0 {
		o.Intents = 20000
	}
	if o.LatencyIntents == 0 {
		o.LatencyIntents = 2000
	}
	if o.Inflight == 0 {
		o.Inflight = 512
	}
	if o.Keys == 0 {
		o.Keys = 1
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	return o
}

// progress writes a progress line over the last one, if o.Progress is set.
func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "\r"+format+"   ", args...)
	}
}

// Result is what a run measured. Its JSON field names are part of the
// command line's contract (DESIGN.md); the scenario's own figures are in
// Saturate or Isolation.
type Result struct {
	Scenario Scenario `json:"scenario"`
	// Sync is the embedded server's fsync setting: "always", an interval,
	// or "default" (nats-server's, every 2 minutes).
	Sync           string      `json:"sync"`
	Intents        int         `json:"intents"`
	ThroughputPerS float64     `json:"throughput_per_s"`
	LatencyUS      Percentiles `json:"latency_us"`
	Baseline       *Measure    `json:"baseline,omitempty"`
	Ratio          *Ratio      `json:"ratio,omitempty"`
	Budget         *Budget     `json:"budget,omitempty"`
	Lost           *int        `json:"lost,omitempty"`
	Duplicates     *int        `json:"duplicates,omitempty"`

	Saturate  *SaturateFigures  `json:"saturate,omitempty"`
	Isolation *IsolationFigures `json:"isolation,omitempty"`
	Keys      *KeysFigures      `json:"keys,omitempty"`
}

// Percentiles of a latency sample, in microseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// Measure is one system's figures in a run.
type Measure struct {
	Intents        int         `json:"intents"`
	ThroughputPerS float64     `json:"throughput_per_s"`
	LatencyUS      Percentiles `json:"latency_us"`
}

// Ratio is keyrouter's figure over the baseline's.
type Ratio struct {
	LatencyP50 float64 `json:"latency_p50"`
	Throughput float64 `json:"throughput"`
}

// Budget is the budget figures of a saturating scenario.
type Budget struct {
	Utilization float64 `json:"utilization"`
	Venue429    int64   `json:"venue_429"`
	Expired     int     `json:"expired"`
}

// Run runs scenario s and returns what it measured. It stops early, with
// ctx's error, when ctx ends.
func Run(ctx context.Context, s Scenario, o Options) (*Result, error) {
	o = o.withDefaults()
	if o.Intents < 1 || o.LatencyIntents < 1 || o.Inflight < 1 || o.Keys < 1 {
		return nil, fmt.Errorf("bench: intents, latency intents, in-flight intents and keys must be positive")
	}
	var res *Result
	var err error
	if o.CPUProfile != nil && s != Keys {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	switch s {
	case Hops:
		res, err = runHops(ctx, o)
	case Saturate:
		res, err = runSaturate(ctx, o)
	case Isolation:
		res, err = runIsolation(ctx, o)
	case Keys:
		res, err = runKeys(ctx, o)
	default:
		return nil, fmt.Errorf("bench: unknown scenario %q (known: %s, %s, %s, %s)", s, Hops, Saturate, Isolation, Keys)
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // a wait cut short reads as an ordinary outcome
	}
	if err == nil && o.HeapProfile != nil && s != Keys {
		// What the run allocated (alloc_space); what it holds is gone.
		runtime.GC()
		err = pprof.WriteHeapProfile(o.HeapProfile)
	}
	if err != nil {
		return nil, fmt.Errorf("bench %s: %w", s, err)
	}
	switch {
	case o.Sync == app.SyncAlways:
		res.Sync = "always"
	case o.Sync > 0:
		res.Sync = o.Sync.String()
	default:
		res.Sync = "default"
	}
	return res, nil
}

// Print writes r for people.
func Print(w io.Writer, r *Result) {
	fmt.Fprintf(w, "scenario %s: %d intents (fsync: %s)\n", r.Scenario, r.Intents, r.Sync)
	fmt.Fprintf(w, "  keyrouter: throughput %8.0f/s   intent→accepted p50 %7.1fµs  p99 %7.1fµs  p99.9 %7.1fµs\n",
		r.ThroughputPerS, r.LatencyUS.P50, r.LatencyUS.P99, r.LatencyUS.P999)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "  raw NATS:  throughput %8.0f/s   three hops      p50 %7.1fµs  p99 %7.1fµs  p99.9 %7.1fµs\n",
			b.ThroughputPerS, b.LatencyUS.P50, b.LatencyUS.P99, b.LatencyUS.P999)
	}
	if q := r.Ratio; q != nil {
		fmt.Fprintf(w, "  ratio:     latency p50 %.2fx   throughput %.2fx\n", q.LatencyP50, q.Throughput)
	}
	if b := r.Budget; b != nil {
		fmt.Fprintf(w, "  budget:    utilization %.4f   venue 429s %d   expired %d\n", b.Utilization, b.Venue429, b.Expired)
	}
	if s := r.Saturate; s != nil {
		fmt.Fprintf(w, "  %d keys of %d orders/s each at %d intents/s each: %d accepted, %d rejected over %d whole windows\n",
			s.Keys, s.BudgetPerKeyPerS, s.DemandPerKeyPerS, s.Accepted, s.Rejected, s.WholeWindows)
		if r.Budget != nil {
			fmt.Fprintf(w, "  expired: %d at once by the router (no key's budget could send them in time), %d found so by the router (they waited in ORDERS), %d by a key's executor\n",
				s.ExpiredForBudget, s.ExpiredAtRouter, r.Budget.Expired-s.ExpiredAtRouter-s.ExpiredForBudget)
		}
		if len(s.PerWindow) > 0 {
			fmt.Fprintf(w, "  utilization by window: %v\n", s.PerWindow)
		}
	}
	if i := r.Isolation; i != nil {
		i.print(w)
	}
	if k := r.Keys; k != nil {
		k.print(w)
	}
	if r.Lost != nil && r.Duplicates != nil {
		fmt.Fprintf(w, "  lost %d   duplicates %d\n", *r.Lost, *r.Duplicates)
	}
}

func percentiles(us []float64) Percentiles {
	if len(us) == 0 {
		return Percentiles{}
	}
	us = slices.Clone(us)
	slices.Sort(us)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(us)))) - 1
		return us[max(0, min(i, len(us)-1))]
	}
	return Percentiles{P50: round(at(0.50), 1), P99: round(at(0.99), 1), P999: round(at(0.999), 1)}
}

// round rounds f to places decimal places.
func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// micros is d in microseconds.
func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// start starts keyrouter on an embedded server that listens on no port,
// with keys on one in-process paper venue whose prices stand still (each
// key with a budget of max orders per clock-aligned second and a queue of
// queue orders) and strategies, and connects a client to it. stop closes
// both.
func start(ctx context.Context, o Options, keys []string, max int64, queue int, strategies map[string]configs.Strategy) (ka *app.App, nc *nats.Conn, stop func(), err error) {
	c := configs.Config{
		Venues:     map[string]configs.Venue{"paper": {Kind: "paper", Seed: 1, Tick: time.Hour}},
		Keys:       map[string]configs.Key{},
		Strategies: strategies,
	}
	for _, k := range keys {
		c.Keys[k] = configs.Key{Venue: "paper", QueueSize: queue,
			Limits: []configs.Limit{{Name: "orders_1s", Shape: "fixed", Max: max, Window: time.Second}}}
	}
	cfg, err := configs.New(c)
	if err != nil {
		return nil, nil, nil, err
	}
	ka = &app.App{Config: cfg, RunRouter: true, Keys: app.AllKeys, Logger: o.Logger, Sync: o.Sync}
	if err := ka.Start(ctx); err != nil {
		return nil, nil, nil, err
	}
	if nc, err = ka.InProcessConn(); err != nil {
		ka.Close()
		return nil, nil, nil, err
	}
	return ka, nc, func() { nc.Close(); ka.Close() }, nil
}

// sleep waits for d or until ctx ends, and says whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// poll checks done every 10 ms until it is true, within passes or ctx
// ends; it says whether done came true.
func poll(ctx context.Context, within time.Duration, done func() bool) bool {
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) || !sleep(ctx, 10*time.Millisecond) {
			return false
		}
	}
	return true
}

// ticks calls f at once and at every tick of period until end (zero: no
// end) or until ctx ends, with the tick's instant; it stops at f's first
// error.
func ticks(ctx context.Context, period time.Duration, end time.Time, f func(now time.Time) error) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for now := time.Now(); end.IsZero() || now.Before(end); {
		if err := f(now); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now = <-t.C:
		}
	}
	return nil
}
