package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
)

// Isolation scenario (DESIGN.md promise 6: a strategy's surge cannot delay
// another strategy that uses other keys). Strategy a (keys a1, a2) and
// strategy b (keys b1, b2), every key isoBudget orders per second with a
// queue of isoBudget. Phase 1: b alone sends isoBRate market orders per
// second. Phase 2: the same b traffic while a sends isoSurge times its
// keys' budget, each intent expiring a second after it was sent. Each
// phase lasts half the duration. The figures are b's intent → accepted
// latency in each phase, the deepest queue of b's executors seen (sampled
// every isoSample), how often b's orders waited for budget, and a's
// outcomes.
const (
	isoBudget  = 100
	isoBRate   = 50
	isoSurge   = 20
	isoSample  = 10 * time.Millisecond
	isoSlowFor = 10 * time.Millisecond
	isoWarm    = 10 // b's unrecorded warm-up intents
)

// isoKeys are each strategy's keys, in pool order.
var isoKeys = map[string][]string{"a": {"a1", "a2"}, "b": {"b1", "b2"}}

// IsolationFigures are the isolation scenario's own figures.
type IsolationFigures struct {
	BRatePerS        int     `json:"b_rate_per_s"`
	ADemandPerS      int     `json:"a_demand_per_s"`
	BudgetPerKeyPerS int     `json:"budget_per_key_per_s"`
	PhaseS           float64 `json:"phase_s"`
	// BWithout and BWith are b's figures alone and during a's surge.
	BWithout PhaseFigures `json:"b_without_surge"`
	BWith    PhaseFigures `json:"b_with_surge"`
	BLost    int          `json:"b_lost"`
	// a's outcomes.
	ASent          int            `json:"a_sent"`
	AAccepted      int64          `json:"a_accepted"`
	AAcceptedByKey map[string]int `json:"a_accepted_by_key"`
	ARejected      int64          `json:"a_rejected"`
	ARateLimited   int64          `json:"a_rejected_rate_limited"`
	AExpired       int64          `json:"a_expired"`
	AUnanswered    int64          `json:"a_unanswered"`
}

// PhaseFigures are what b saw in one phase.
type PhaseFigures struct {
	Intents   int         `json:"intents"`
	LatencyUS Percentiles `json:"latency_us"`
	// Slow counts the intents accepted more than isoSlowFor after they
	// were sent.
	Slow int `json:"over_10ms"`
	// MaxQueueDepth is the deepest queue of b's keys sampled; Samples the
	// samples taken, Queued those that found one of b's orders queued.
	MaxQueueDepth int `json:"max_queue_depth"`
	Samples       int `json:"queue_samples"`
	Queued        int `json:"queued_samples"`
	// BudgetWaits counts the times one of b's orders waited for its key's
	// budget (executors.Worker.BudgetWaits).
	BudgetWaits int `json:"budget_waits"`
	// Stages split b's accepted intents' latency where the bench sees
	// the order go by: Routing from the send to its claim on
	// exec.<key>.new (the intent stored, the router's intake and the
	// claim stored), Intake from the claim to the first record of it in
	// ORDERSTATE (the executor's delivery, queue and budget, its
	// write-ahead stored), Placing from that record to the accepted
	// report (the venue and the report).
	Stages *Stages `json:"stages_us,omitempty"`
	// CPUPct is the CPU the bench's process (server, router, executors
	// and both strategies) used over the phase, in % of one core.
	CPUPct float64 `json:"cpu_pct"`
}

// Stages are the percentiles of each stage of b's path, in µs.
type Stages struct {
	Routing Percentiles `json:"routing"`
	Intake  Percentiles `json:"intake"`
	Placing Percentiles `json:"placing"`
}

func (f *IsolationFigures) print(w io.Writer) {
	fmt.Fprintf(w, "  b at %d/s beside a at %d/s (%dx its keys' budget), %vs per phase\n",
		f.BRatePerS, f.ADemandPerS, isoSurge, f.PhaseS)
	for _, p := range []struct {
		label string
		f     PhaseFigures
	}{{"b without surge:", f.BWithout}, {"b with surge:   ", f.BWith}} {
		fmt.Fprintf(w, "  %s %d intents, p50 %.1fµs p99 %.1fµs p99.9 %.1fµs, %d over %v, max queue depth %d, %d budget waits\n",
			p.label, p.f.Intents, p.f.LatencyUS.P50, p.f.LatencyUS.P99, p.f.LatencyUS.P999, p.f.Slow, isoSlowFor, p.f.MaxQueueDepth, p.f.BudgetWaits)
		fmt.Fprintf(w, "    CPU %.0f%% of one core (of %d)\n", p.f.CPUPct, runtime.NumCPU()*100)
		if s := p.f.Stages; s != nil {
			fmt.Fprintf(w, "    stages p50/p99: routing %.0f/%.0fµs, executor intake %.0f/%.0fµs, placing %.0f/%.0fµs\n",
				s.Routing.P50, s.Routing.P99, s.Intake.P50, s.Intake.P99, s.Placing.P50, s.Placing.P99)
		}
	}
	fmt.Fprintf(w, "  a: sent %d, accepted %d %v, rejected %d (rate_limited %d), expired %d, unanswered %d; b lost %d\n",
		f.ASent, f.AAccepted, f.AAcceptedByKey, f.ARejected, f.ARateLimited, f.AExpired, f.AUnanswered, f.BLost)
}

func runIsolation(ctx context.Context, o Options) (*Result, error) {
	phaseLen := o.Duration / 2
	if phaseLen < time.Second {
		return nil, fmt.Errorf("isolation needs a duration of 2s or more")
	}
	ka, ncB, stop, err := start(ctx, o, append(isoKeys["a"], isoKeys["b"]...), isoBudget, isoBudget, map[string]configs.Strategy{
		"a": {Keys: isoKeys["a"], Policy: configs.PolicyLeastLoaded},
		"b": {Keys: isoKeys["b"]},
	})
	if err != nil {
		return nil, err
	}
	defer stop()
	r := &isolation{o: o, ka: ka, ncB: ncB, phaseLen: phaseLen, b: newBSide(), a: newASide()}
	defer r.close()
	if err := r.connect(); err != nil {
		return nil, err
	}
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	return r.result(), nil
}

// isolation is one run of the scenario.
type isolation struct {
	o        Options
	ka       *app.App
	phaseLen time.Duration
	ncA, ncB *nats.Conn // one connection per strategy, as two processes would have
	b        *bSide
	a        *aSide
	phase2   time.Duration // how long phase 2 lasted
}

// connect gives a its own connection (b has the one start made) and
// follows both strategies' reports.
func (r *isolation) connect() error {
	var err error
	if r.ncA, err = r.ka.InProcessConn(); err != nil {
		return err
	}
	if err := r.b.follow(r.ncB); err != nil {
		return err
	}
	if err := r.b.watchStages(r.ncB); err != nil {
		return err
	}
	return r.a.follow(r.ncA)
}

func (r *isolation) close() {
	if r.ncA != nil {
		r.ncA.Close()
	}
}

// run warms b's path up, then runs the two phases while sampling b's
// queues, then waits for the last reports.
func (r *isolation) run(ctx context.Context) error {
	if err := r.warmUp(ctx); err != nil {
		return err
	}
	samplerCtx, stopSampler := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		r.sample(samplerCtx)
	}()
	defer func() {
		stopSampler()
		<-sampled
	}()

	r.b.phase.Store(1)
	if err := r.sendB(ctx, 1, "no surge"); err != nil {
		return err
	}
	// Let phase 1's last answers land before the surge starts.
	poll(ctx, 2*time.Second, func() bool { return r.b.answered() >= r.b.sentCount() })

	r.b.phase.Store(2)
	if err := r.surge(ctx); err != nil {
		return err
	}
	r.o.progress("bench isolation: waiting for the last reports (b sent %d, a sent %d)", r.b.sentCount(), r.a.sent.Load())
	// b's first reports, then a's (its backlog drains at the router's pace).
	poll(ctx, 10*time.Second, func() bool { return r.b.answered() >= r.b.sentCount() })
	stopSampler()
	<-sampled
	poll(ctx, 30*time.Second, func() bool { return r.a.answered() >= r.a.sent.Load() })
	return ctx.Err()
}

// warmUp sends b's unrecorded intents (streams, consumers, connections),
// waits for their reports, then for a fresh budget window for b.
func (r *isolation) warmUp(ctx context.Context) error {
	for i := range isoWarm {
		if err := r.b.send(r.ncB, "w"+strconv.Itoa(i), 0); err != nil {
			return err
		}
		sleep(ctx, 20*time.Millisecond)
	}
	if !poll(ctx, 10*time.Second, func() bool { return r.b.answered() >= isoWarm }) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("b's warm-up intents got no report within 10s")
	}
	sleep(ctx, time.Second)
	return ctx.Err()
}

// sendB sends b's traffic for one phase.
func (r *isolation) sendB(ctx context.Context, phase int, label string) error {
	begin := time.Now()
	before, err := selfUsage()
	if err != nil {
		return err
	}
	defer func() {
		if after, err := selfUsage(); err == nil {
			r.b.mu.Lock()
			r.b.phases[phase].CPUPct = round(cpuPct(after.CPU-before.CPU, time.Since(begin)), 1)
			r.b.mu.Unlock()
		}
	}()
	n := 0
	return ticks(ctx, time.Second/isoBRate, begin.Add(r.phaseLen), func(time.Time) error {
		if err := r.b.send(r.ncB, "p"+strconv.Itoa(phase)+"-"+strconv.Itoa(n), phase); err != nil {
			return err
		}
		n++
		if n%isoBRate == 0 {
			r.o.progress("bench isolation: phase %d (%s), %v of %v, b sent %d, a sent %d",
				phase, label, time.Since(begin).Truncate(time.Second), r.phaseLen, n, r.a.sent.Load())
		}
		return nil
	})
}

// surge runs phase 2: b's traffic while a sends isoSurge times its keys'
// budget.
func (r *isolation) surge(ctx context.Context) error {
	surgeCtx, stopA := context.WithCancel(ctx)
	aDone := make(chan error, 1)
	go func() { aDone <- r.a.surge(surgeCtx, r.ncA) }()
	begin := time.Now()
	errB := r.sendB(ctx, 2, "a surging")
	r.phase2 = time.Since(begin)
	stopA()
	errA := <-aDone
	if errB != nil {
		return errB
	}
	if errA != nil && surgeCtx.Err() == nil {
		return errA
	}
	return nil
}

// sample samples b's queue depth and budget waits every isoSample until
// ctx ends, counting them in the phase of the moment.
func (r *isolation) sample(ctx context.Context) {
	t := time.NewTicker(isoSample)
	defer t.Stop()
	// An order waited in b's queue if the budget of b's key made it wait
	// (its worker counts those); the depth samples show what passes
	// through.
	budgetWaits := func() (n uint64) {
		for _, k := range isoKeys["b"] {
			n += r.ka.Worker(k).BudgetWaits()
		}
		return n
	}
	prevWaits, prevPhase := budgetWaits(), int32(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		depth := 0
		for _, k := range isoKeys["b"] {
			depth += r.ka.Worker(k).Status().QueueDepth
		}
		waits, p := budgetWaits(), r.b.phase.Load()
		if p > 0 {
			newWaits := 0
			if p == prevPhase {
				newWaits = int(waits - prevWaits)
			}
			r.b.sample(int(p), depth, newWaits)
		}
		prevWaits, prevPhase = waits, p
	}
}

func (r *isolation) result() *Result {
	b, a := r.b.figures(), r.a
	f := &IsolationFigures{
		BRatePerS: isoBRate, ADemandPerS: len(isoKeys["a"]) * isoBudget * isoSurge, BudgetPerKeyPerS: isoBudget,
		PhaseS: r.phaseLen.Seconds(), BWithout: b.phases[1], BWith: b.phases[2], BLost: b.lost,
		ASent: int(a.sent.Load()), AAccepted: a.accepted.Load(), AAcceptedByKey: a.byKey(),
		ARejected: a.rejected.Load(), ARateLimited: a.rateLimited.Load(), AExpired: a.expired.Load(),
		AUnanswered: a.sent.Load() - a.answered(),
	}
	return &Result{
		Scenario: Isolation, Intents: f.BWith.Intents,
		ThroughputPerS: round(float64(b.accepted2)/r.phase2.Seconds(), 1),
		LatencyUS:      f.BWith.LatencyUS,
		Lost:           &b.lost, Duplicates: &b.dups,
		Isolation: f,
	}
}

// bSide follows strategy b: its intents "w<n>" (warm-up), "p1-<n>" and
// "p2-<n>", and their first reports, by phase.
type bSide struct {
	phase atomic.Int32 // the phase now: 0 warm-up, 1, 2

	mu      sync.Mutex
	sentAt  map[string]time.Time
	phaseOf map[string]int
	firsts  map[string]int // first reports by client_order_id
	// When b's orders were seen claimed, first recorded and accepted.
	claimedAt, recordedAt, acceptedAt map[string]time.Time
	phases                            [3]isoPhase // index 1 and 2 used
}

// isoPhase is what b saw in one phase, as it is counted.
type isoPhase struct {
	PhaseFigures
	lat      []float64 // µs, intent → accepted
	accepted int
}

func newBSide() *bSide {
	return &bSide{sentAt: map[string]time.Time{}, phaseOf: map[string]int{}, firsts: map[string]int{},
		claimedAt: map[string]time.Time{}, recordedAt: map[string]time.Time{}, acceptedAt: map[string]time.Time{}}
}

func (b *bSide) follow(nc *nats.Conn) error {
	sub, err := nc.Subscribe("reports.b.>", func(m *nats.Msg) {
		now := time.Now()
		var r struct {
			Kind messages.ReportKind `json:"kind"`
			ID   string              `json:"client_order_id"`
		}
		if json.Unmarshal(m.Data, &r) == nil {
			b.report(r.Kind, r.ID, now)
		}
	})
	if err != nil {
		return err
	}
	return sub.SetPendingLimits(-1, -1)
}

func (b *bSide) report(kind messages.ReportKind, id string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch kind {
	case messages.KindAccepted:
		if t, ok := b.sentAt[id]; ok && b.firsts[id] == 0 {
			if p := b.phaseOf[id]; p > 0 {
				b.phases[p].lat = append(b.phases[p].lat, micros(now.Sub(t)))
				b.phases[p].accepted++
			}
			b.acceptedAt[id] = now
		}
		b.firsts[id]++
	case messages.KindRejected, messages.KindExpired:
		b.firsts[id]++
	}
}

// watchStages notes when each of b's orders is claimed (its routed order
// on exec.<key>.new.b.<id>) and first recorded ($KV.ORDERSTATE.<key>.b.<id>).
func (b *bSide) watchStages(nc *nats.Conn) error {
	for subject, at := range map[string]map[string]time.Time{
		messages.ExecClaimSubjects("b", "*"):                                         b.claimedAt,
		"$KV." + messages.BucketOrders + "." + messages.OrderStateKey("*", "b", "*"): b.recordedAt,
	} {
		sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
			now := time.Now()
			id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
			b.mu.Lock()
			if _, seen := at[id]; !seen {
				at[id] = now
			}
			b.mu.Unlock()
		})
		if err != nil {
			return err
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			return err
		}
	}
	return nil
}

// stages splits the latency of phase's accepted intents (b.mu held).
func (b *bSide) stages(phase int) *Stages {
	var routing, intake, placing []float64
	for id, p := range b.phaseOf {
		sent, claimed, recorded, accepted := b.sentAt[id], b.claimedAt[id], b.recordedAt[id], b.acceptedAt[id]
		if p != phase || claimed.IsZero() || recorded.IsZero() || accepted.IsZero() {
			continue
		}
		routing = append(routing, micros(claimed.Sub(sent)))
		intake = append(intake, micros(recorded.Sub(claimed)))
		placing = append(placing, micros(accepted.Sub(recorded)))
	}
	if len(routing) == 0 {
		return nil
	}
	return &Stages{Routing: percentiles(routing), Intake: percentiles(intake), Placing: percentiles(placing)}
}

func (b *bSide) send(nc *nats.Conn, id string, phase int) error {
	b.mu.Lock()
	b.sentAt[id] = time.Now()
	b.phaseOf[id] = phase
	if phase > 0 {
		b.phases[phase].Intents++
	}
	b.mu.Unlock()
	data := `{"client_order_id":"` + id + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.0001"}`
	return nc.Publish(messages.OrdersNewSubject("b"), []byte(data))
}

func (b *bSide) sample(phase, depth, budgetWaits int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := &b.phases[phase]
	p.MaxQueueDepth = max(p.MaxQueueDepth, depth)
	p.Samples++
	if depth > 0 {
		p.Queued++
	}
	p.BudgetWaits += budgetWaits
}

func (b *bSide) sentCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sentAt)
}

func (b *bSide) answered() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.firsts)
}

// bFigures are b's figures at the end of a run.
type bFigures struct {
	phases     [3]PhaseFigures
	accepted2  int // accepted in phase 2
	lost, dups int
}

func (b *bSide) figures() bFigures {
	b.mu.Lock()
	defer b.mu.Unlock()
	var f bFigures
	for id := range b.sentAt {
		switch c := b.firsts[id]; {
		case c == 0:
			f.lost++
		case c > 1:
			f.dups += c - 1
		}
	}
	for p := 1; p <= 2; p++ {
		ph := b.phases[p]
		ph.LatencyUS = percentiles(ph.lat)
		for _, us := range ph.lat {
			if us > micros(isoSlowFor) {
				ph.Slow++
			}
		}
		ph.Stages = b.stages(p)
		f.phases[p] = ph.PhaseFigures
	}
	f.accepted2 = b.phases[2].accepted
	return f
}

// aSide is strategy a: its surge and the outcomes of its intents.
type aSide struct {
	sent, accepted, rejected, rateLimited, expired atomic.Int64

	mu       sync.Mutex
	accByKey map[string]int // accepted by key
}

func newASide() *aSide { return &aSide{accByKey: map[string]int{}} }

func (a *aSide) follow(nc *nats.Conn) error {
	sub, err := nc.Subscribe("reports.a.>", func(m *nats.Msg) {
		var r struct {
			Kind   messages.ReportKind `json:"kind"`
			Reason messages.Reason     `json:"reason"`
			Key    string              `json:"key"`
		}
		if json.Unmarshal(m.Data, &r) == nil {
			a.report(r.Kind, r.Reason, r.Key)
		}
	})
	if err != nil {
		return err
	}
	return sub.SetPendingLimits(-1, -1)
}

func (a *aSide) report(kind messages.ReportKind, reason messages.Reason, key string) {
	switch kind {
	case messages.KindAccepted:
		a.accepted.Add(1)
		a.mu.Lock()
		a.accByKey[key]++
		a.mu.Unlock()
	case messages.KindRejected:
		a.rejected.Add(1)
		if reason == messages.ReasonRateLimited {
			a.rateLimited.Add(1)
		}
	case messages.KindExpired:
		a.expired.Add(1)
	}
}

// surge sends isoSurge times a's keys' budget, in bursts every 10 ms,
// each intent expiring a second after it was sent, until ctx ends.
func (a *aSide) surge(ctx context.Context, nc *nats.Conn) error {
	perTick := len(isoKeys["a"]) * isoBudget * isoSurge / 100
	return ticks(ctx, 10*time.Millisecond, time.Time{}, func(now time.Time) error {
		exp := now.Add(time.Second).UTC().Format(time.RFC3339Nano)
		for range perTick {
			n := a.sent.Load()
			data := `{"client_order_id":"x` + strconv.FormatInt(n, 10) + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.0001","expires_at":"` + exp + `"}`
			if err := nc.Publish(messages.OrdersNewSubject("a"), []byte(data)); err != nil {
				return err
			}
			a.sent.Add(1)
		}
		return nil
	})
}

func (a *aSide) answered() int64 { return a.accepted.Load() + a.rejected.Load() + a.expired.Load() }

func (a *aSide) byKey() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]int, len(a.accByKey))
	for k, v := range a.accByKey {
		m[k] = v
	}
	return m
}
