package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Percentiles of a latency sample, in microseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// Measure is one system's figures in a bench run.
type Measure struct {
	Intents        int         `json:"intents"`
	ThroughputPerS float64     `json:"throughput_per_s"`
	LatencyUS      Percentiles `json:"latency_us"`
}

// BenchResult is what `keyrouter bench --json` prints; its field names are
// part of the command line contract (DESIGN.md).
type BenchResult struct {
	Scenario       string      `json:"scenario"`
	Intents        int         `json:"intents"`
	ThroughputPerS float64     `json:"throughput_per_s"`
	LatencyUS      Percentiles `json:"latency_us"`
	Baseline       *Measure    `json:"baseline,omitempty"`
	Ratio          *Ratio      `json:"ratio,omitempty"`
	Budget         *BudgetFig  `json:"budget,omitempty"`
	Lost           *int        `json:"lost,omitempty"`
	Duplicates     *int        `json:"duplicates,omitempty"`
	// Extra holds scenario-specific figures.
	Extra map[string]any `json:"extra,omitempty"`
}

// Ratio is keyrouter over baseline.
type Ratio struct {
	LatencyP50 float64 `json:"latency_p50"`
	Throughput float64 `json:"throughput"`
}

// BudgetFig is the budget figures of a saturating scenario.
type BudgetFig struct {
	Utilization float64 `json:"utilization"`
	Venue429    int64   `json:"venue_429"`
	Expired     int     `json:"expired"`
}

type benchFlags struct {
	scenario       string
	intents        int
	latencyIntents int
	inflight       int
	keys           int
	duration       time.Duration
	asJSON         bool
	progress       io.Writer
	logLevel       string
}

func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf benchFlags
	fs.StringVar(&bf.scenario, "scenario", "hops", "scenario: hops (latency and throughput of the intent → accepted path, beside raw NATS), saturate (N keys under twice their budget), isolation (a strategy's latency beside another's surge on other keys)")
	fs.IntVar(&bf.intents, "intents", 20000, "intents sent for the throughput measurement")
	fs.IntVar(&bf.latencyIntents, "latency-intents", 2000, "intents sent one at a time for the latency measurement")
	fs.IntVar(&bf.inflight, "inflight", 512, "intents in flight for the throughput measurement")
	fs.IntVar(&bf.keys, "keys", 1, "keys (saturate: one strategy per key)")
	fs.DurationVar(&bf.duration, "duration", 10*time.Second, "duration of time-bound scenarios")
	fs.BoolVar(&bf.asJSON, "json", false, "end with one JSON object of the results")
	fs.StringVar(&bf.logLevel, "log-level", "error", "log level of the system under test")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if bf.intents < 1 || bf.latencyIntents < 1 || bf.inflight < 1 {
		return fmt.Errorf("--intents, --latency-intents and --inflight must be positive")
	}
	bf.progress = stderr
	var res *BenchResult
	var err error
	switch bf.scenario {
	case "hops":
		res, err = benchHops(&bf)
	case "saturate":
		res, err = benchSaturate(&bf)
	case "isolation":
		res, err = benchIsolation(&bf)
	default:
		return fmt.Errorf("unknown scenario %q (known: hops, saturate, isolation)", bf.scenario)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr)
	printBench(stdout, res)
	if bf.asJSON {
		data, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(data))
	}
	return nil
}

func printBench(w io.Writer, r *BenchResult) {
	fmt.Fprintf(w, "scenario %s: %d intents\n", r.Scenario, r.Intents)
	fmt.Fprintf(w, "  keyrouter: throughput %8.0f/s   intent→accepted p50 %7.1fµs  p99 %7.1fµs  p99.9 %7.1fµs\n",
		r.ThroughputPerS, r.LatencyUS.P50, r.LatencyUS.P99, r.LatencyUS.P999)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "  raw NATS:  throughput %8.0f/s   three hops      p50 %7.1fµs  p99 %7.1fµs  p99.9 %7.1fµs\n",
			b.ThroughputPerS, b.LatencyUS.P50, b.LatencyUS.P99, b.LatencyUS.P999)
	}
	if q := r.Ratio; q != nil {
		fmt.Fprintf(w, "  ratio:     latency p50 %.2fx   throughput %.2fx\n", q.LatencyP50, q.Throughput)
	}
	if r.Budget != nil {
		fmt.Fprintf(w, "  budget:    utilization %.4f   venue 429s %d   expired %d\n", r.Budget.Utilization, r.Budget.Venue429, r.Budget.Expired)
	}
	if r.Extra != nil {
		fmt.Fprintf(w, "  %v\n", r.Extra)
	}
	if r.Lost != nil {
		fmt.Fprintf(w, "  lost %d   duplicates %d\n", *r.Lost, *r.Duplicates)
	}
}

func percentiles(us []float64) Percentiles {
	if len(us) == 0 {
		return Percentiles{}
	}
	slices.Sort(us)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(us)))) - 1
		return us[max(0, min(i, len(us)-1))]
	}
	return Percentiles{P50: round1(at(0.50)), P99: round1(at(0.99)), P999: round1(at(0.999))}
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// benchConfig is the hops scenario's config: one strategy, its keys on the
// in-process venue, budgets far above the demand.
func benchConfig(keys int) *configs.Config {
	y := "venues:\n  paper: {kind: paper, seed: 1, tick: 1h}\nkeys:\n"
	var ids []string
	for i := 1; i <= keys; i++ {
		id := "bench-" + strconv.Itoa(i)
		ids = append(ids, id)
		y += "  " + id + ":\n    venue: paper\n    queue_size: 100000\n    limits: [{name: orders_1s, shape: fixed, max: 100000000, window: 1s}]\n"
	}
	y += "strategies:\n  bench:\n    keys: ["
	for i, id := range ids {
		if i > 0 {
			y += ", "
		}
		y += id
	}
	y += "]\n"
	cfg, err := configs.Parse([]byte(y))
	if err != nil {
		panic(err)
	}
	return cfg
}

// pipe is a system under test: send publishes intent i, and the receiver
// calls done(i) when its answer comes back.
type pipe struct {
	nc   *nats.Conn
	send func(i int) error
	// doneHook is set by the driver.
	doneHook func(i int)
}

// driver measures one pipe: intents one at a time (latency), then many in
// flight (throughput), counting lost and duplicated answers.
type driver struct {
	p         *pipe
	bf        *benchFlags
	label     string
	mu        sync.Mutex
	starts    map[int]time.Time
	lat       []float64
	seen      map[int]bool
	dups      int
	doneCh    chan struct{}
	recording atomic.Bool
	next      int
}

func newDriver(p *pipe, bf *benchFlags, label string) *driver {
	d := &driver{p: p, bf: bf, label: label, starts: map[int]time.Time{}, seen: map[int]bool{},
		doneCh: make(chan struct{}, bf.inflight+1)}
	p.doneHook = func(i int) {
		now := time.Now()
		d.mu.Lock()
		if d.seen[i] {
			d.dups++
			d.mu.Unlock()
			return
		}
		d.seen[i] = true
		if t, ok := d.starts[i]; ok && d.recording.Load() {
			d.lat = append(d.lat, float64(now.Sub(t).Nanoseconds())/1e3)
		}
		d.mu.Unlock()
		d.doneCh <- struct{}{}
	}
	return d
}

func (d *driver) wait() error {
	select {
	case <-d.doneCh:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s: no answer within 30s", d.label)
	}
}

// one sends one intent and waits for its answer, recording the latency.
func (d *driver) one(record bool) error {
	i := d.next
	d.next++
	d.recording.Store(record)
	d.mu.Lock()
	d.starts[i] = time.Now()
	d.mu.Unlock()
	if err := d.p.send(i); err != nil {
		return err
	}
	return d.wait()
}

func (d *driver) percentiles() Percentiles {
	d.mu.Lock()
	defer d.mu.Unlock()
	return percentiles(d.lat)
}

// throughput sends bf.intents with bf.inflight in flight and returns the
// rate of answers.
func (d *driver) throughput() (float64, error) {
	d.recording.Store(false)
	start := time.Now()
	first := d.next
	inflight, sent, got := 0, 0, 0
	for got < d.bf.intents {
		for inflight < d.bf.inflight && sent < d.bf.intents {
			if err := d.p.send(first + sent); err != nil {
				return 0, err
			}
			sent++
			inflight++
		}
		if err := d.wait(); err != nil {
			return 0, err
		}
		got++
		inflight--
		if got%1000 == 0 {
			fmt.Fprintf(d.bf.progress, "\rbench %-9s throughput %6d/%d   ", d.label, got, d.bf.intents)
		}
	}
	d.next += d.bf.intents
	return math.Round(float64(d.bf.intents) / time.Since(start).Seconds()), nil
}

// lostAndDuplicates counts intents never answered and answers repeated.
func (d *driver) lostAndDuplicates() (int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	lost := 0
	for i := 0; i < d.next; i++ {
		if !d.seen[i] {
			lost++
		}
	}
	return lost, d.dups
}

// measureBoth measures keyrouter and the baseline in one run: warm-up,
// then the one-at-a-time latency samples alternate between the two, so
// both see the same machine at the same moments; then each throughput.
func measureBoth(kr, base *driver, bf *benchFlags) (krM, baseM Measure, err error) {
	for range 200 {
		if err = kr.one(false); err != nil {
			return
		}
		if err = base.one(false); err != nil {
			return
		}
	}
	for k := 0; k < bf.latencyIntents; k++ {
		if err = kr.one(true); err != nil {
			return
		}
		if err = base.one(true); err != nil {
			return
		}
		if k%100 == 0 {
			fmt.Fprintf(bf.progress, "\rbench latency, alternating  %6d/%d   ", k, bf.latencyIntents)
		}
	}
	krM = Measure{Intents: bf.intents, LatencyUS: kr.percentiles()}
	baseM = Measure{Intents: bf.intents, LatencyUS: base.percentiles()}
	if krM.ThroughputPerS, err = kr.throughput(); err != nil {
		return
	}
	baseM.ThroughputPerS, err = base.throughput()
	return
}

func benchHops(bf *benchFlags) (*BenchResult, error) {
	ka, err := startBench(bf, benchConfig(bf.keys))
	if err != nil {
		return nil, err
	}
	defer ka.Close()
	ctx := context.Background()

	// keyrouter: intent on orders.new.bench → accepted on reports.bench.accepted.
	nc, err := ka.InProcessConn()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	kr := &pipe{nc: nc}
	sub, err := nc.Subscribe("reports.bench.accepted", func(m *nats.Msg) {
		if i, ok := benchID(m.Data); ok {
			kr.doneHook(i)
		}
	})
	if err != nil {
		return nil, err
	}
	_ = sub.SetPendingLimits(-1, -1)
	kr.send = func(i int) error { return nc.Publish(messages.OrdersNewSubject("bench"), benchIntent(i)) }
	base, err := baselinePipe(ctx, ka)
	if err != nil {
		return nil, err
	}
	defer base.close()
	krD, baseD := newDriver(kr, bf, "keyrouter"), newDriver(base.pipe, bf, "raw-nats")
	krM, bM, err := measureBoth(krD, baseD, bf)
	if err != nil {
		return nil, err
	}
	// Give late duplicates a moment to show.
	time.Sleep(200 * time.Millisecond)
	lost, dups := krD.lostAndDuplicates()
	return &BenchResult{
		Scenario: "hops", Intents: bf.intents, ThroughputPerS: krM.ThroughputPerS, LatencyUS: krM.LatencyUS,
		Baseline: &bM,
		Ratio: &Ratio{
			LatencyP50: math.Round(krM.LatencyUS.P50/bM.LatencyUS.P50*100) / 100,
			Throughput: math.Round(krM.ThroughputPerS/bM.ThroughputPerS*100) / 100,
		},
		Lost: &lost, Duplicates: &dups,
	}, nil
}

type baseline struct {
	pipe  *pipe
	ccs   []jetstream.ConsumeContext
	nc    *nats.Conn
	hopNC *nats.Conn
}

func (b *baseline) close() {
	for _, cc := range b.ccs {
		cc.Stop()
	}
	b.nc.Close()
	b.hopNC.Close()
}

// baselinePipe is raw JetStream doing the same three hops with no logic:
// the client publishes to stream B1; a consumer takes it and republishes
// to B2 (acking once stored); another takes that to B3; the client
// receives it. Same server, same storage, same kind of consumers.
func baselinePipe(ctx context.Context, ka *app.App) (*baseline, error) {
	hopNC, err := ka.InProcessConn()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(hopNC, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, err
	}
	b := &baseline{hopNC: hopNC}
	for i := 1; i <= 3; i++ {
		name := "BENCH" + strconv.Itoa(i)
		if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"bench" + strconv.Itoa(i) + ".>"},
			Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy}); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= 2; i++ {
		next := "bench" + strconv.Itoa(i+1) + ".x"
		cons, err := js.CreateOrUpdateConsumer(ctx, "BENCH"+strconv.Itoa(i), jetstream.ConsumerConfig{
			Durable: "hop", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10000})
		if err != nil {
			return nil, err
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			f, err := js.PublishAsync(next, m.Data())
			if err != nil {
				_ = m.Nak()
				return
			}
			go func() {
				select {
				case <-f.Ok():
					_ = m.Ack()
				case <-f.Err():
					_ = m.Nak()
				}
			}()
		}, jetstream.PullMaxMessages(512))
		if err != nil {
			return nil, err
		}
		b.ccs = append(b.ccs, cc)
	}
	nc, err := ka.InProcessConn()
	if err != nil {
		return nil, err
	}
	b.nc = nc
	p := &pipe{nc: nc}
	sub, err := nc.Subscribe("bench3.>", func(m *nats.Msg) {
		if i, ok := benchID(m.Data); ok {
			p.doneHook(i)
		}
	})
	if err != nil {
		return nil, err
	}
	_ = sub.SetPendingLimits(-1, -1)
	p.send = func(i int) error { return nc.Publish("bench1.x", benchIntent(i)) }
	b.pipe = p
	return b, nil
}

// benchIntent is intent i of a bench run; both systems carry it.
func benchIntent(i int) []byte {
	return []byte(`{"client_order_id":"b` + strconv.Itoa(i) + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
}

// benchID reads i back from an intent or a report of it.
func benchID(data []byte) (int, bool) {
	var r struct {
		ID string `json:"client_order_id"`
	}
	if json.Unmarshal(data, &r) != nil || len(r.ID) < 2 {
		return 0, false
	}
	i, err := strconv.Atoi(r.ID[1:])
	return i, err == nil
}

// startBench starts the whole system on an embedded server for a bench
// scenario, logging at --log-level.
func startBench(bf *benchFlags, cfg *configs.Config) (*app.App, error) {
	lvl, err := zerolog.ParseLevel(bf.logLevel)
	if err != nil {
		return nil, err
	}
	ka := &app.App{Config: cfg, RunRouter: true, Keys: app.AllKeys,
		Logger: zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Logger()}
	if err := ka.Start(context.Background()); err != nil {
		return nil, err
	}
	return ka, nil
}
