package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

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
// phase lasts --duration/2. The figures are b's intent → accepted latency
// in each phase, the deepest queue of b's executors seen (sampled every
// isoSample) and a's outcomes.
const (
	isoBudget  = 100
	isoBRate   = 50
	isoSurge   = 20
	isoSample  = 10 * time.Millisecond
	isoSlowFor = 10 * time.Millisecond
)

// isoKeys are each strategy's keys, in pool order.
var isoKeys = map[string][]string{"a": {"a1", "a2"}, "b": {"b1", "b2"}}

func isolationConfig() *configs.Config {
	y := "venues:\n  paper: {kind: paper, seed: 1, tick: 1h}\nkeys:\n"
	for _, s := range []string{"a", "b"} {
		for _, k := range isoKeys[s] {
			y += fmt.Sprintf("  %s:\n    venue: paper\n    queue_size: %d\n    limits: [{name: orders_1s, shape: fixed, max: %d, window: 1s}]\n", k, isoBudget, isoBudget)
		}
	}
	y += "strategies:\n  a: {keys: [a1, a2], policy: least_loaded}\n  b: {keys: [b1, b2]}\n"
	cfg, err := configs.Parse([]byte(y))
	if err != nil {
		panic(err)
	}
	return cfg
}

// isoPhase is what b saw in one phase.
type isoPhase struct {
	lat      []float64 // µs, intent → accepted
	accepted int
	maxDepth int // deepest b1+b2 queue sampled
	samples  int // queue samples taken
	queued   int // samples that found an order of b queued
	waits    int // times a b order waited for its key's budget
}

func benchIsolation(bf *benchFlags) (*BenchResult, error) {
	phaseLen := bf.duration / 2
	if phaseLen < time.Second {
		return nil, fmt.Errorf("isolation needs --duration >= 2s")
	}
	ka, err := startBench(bf, isolationConfig())
	if err != nil {
		return nil, err
	}
	defer ka.Close()
	// One connection per strategy, as two separate processes would have.
	ncA, err := ka.InProcessConn()
	if err != nil {
		return nil, err
	}
	defer ncA.Close()
	ncB, err := ka.InProcessConn()
	if err != nil {
		return nil, err
	}
	defer ncB.Close()

	// b: intent "w<n>" (warm-up), "p1-<n>" or "p2-<n>"; sentAt by ID.
	var mu sync.Mutex
	bSentAt := map[string]time.Time{}
	bPhaseOf := map[string]int{}
	bFirsts := map[string]int{}
	phases := [3]isoPhase{} // index 1 and 2 used
	subB, err := ncB.Subscribe("reports.b.>", func(m *nats.Msg) {
		now := time.Now()
		var r struct {
			Kind messages.ReportKind `json:"kind"`
			ID   string              `json:"client_order_id"`
		}
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch r.Kind {
		case messages.KindAccepted:
			if t, ok := bSentAt[r.ID]; ok && bFirsts[r.ID] == 0 {
				if p := bPhaseOf[r.ID]; p > 0 {
					phases[p].lat = append(phases[p].lat, float64(now.Sub(t).Nanoseconds())/1e3)
					phases[p].accepted++
				}
			}
			bFirsts[r.ID]++
		case messages.KindRejected, messages.KindExpired:
			bFirsts[r.ID]++
		}
	})
	if err != nil {
		return nil, err
	}
	_ = subB.SetPendingLimits(-1, -1)

	var aAccepted, aRejected, aRateLimited, aExpired atomic.Int64
	var aMu sync.Mutex
	aByKey := map[string]int{}
	subA, err := ncA.Subscribe("reports.a.>", func(m *nats.Msg) {
		var r struct {
			Kind   messages.ReportKind `json:"kind"`
			Reason messages.Reason     `json:"reason"`
			Key    string              `json:"key"`
		}
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		switch r.Kind {
		case messages.KindAccepted:
			aAccepted.Add(1)
			aMu.Lock()
			aByKey[r.Key]++
			aMu.Unlock()
		case messages.KindRejected:
			aRejected.Add(1)
			if r.Reason == messages.ReasonRateLimited {
				aRateLimited.Add(1)
			}
		case messages.KindExpired:
			aExpired.Add(1)
		}
	})
	if err != nil {
		return nil, err
	}
	_ = subA.SetPendingLimits(-1, -1)

	sendB := func(id string, phase int) error {
		mu.Lock()
		bSentAt[id] = time.Now()
		bPhaseOf[id] = phase
		mu.Unlock()
		data := `{"client_order_id":"` + id + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.0001"}`
		return ncB.Publish(messages.OrdersNewSubject("b"), []byte(data))
	}
	waitFirsts := func(want int, within time.Duration) bool {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			mu.Lock()
			done := len(bFirsts) >= want
			mu.Unlock()
			if done {
				return true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}

	// Warm up b's path (streams, consumers, connections), unrecorded.
	const warm = 10
	for i := range warm {
		if err := sendB("w"+strconv.Itoa(i), 0); err != nil {
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !waitFirsts(warm, 10*time.Second) {
		return nil, fmt.Errorf("isolation: b's warm-up intents got no report within 10s")
	}
	time.Sleep(time.Second) // a fresh budget window for b

	// Sample b's executor queues all along.
	var curPhase atomic.Int32
	stopSampler := make(chan struct{})
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		t := time.NewTicker(isoSample)
		defer t.Stop()
		// An order waited in b's queue if the budget of b's key made it
		// wait (its worker counts those); the depth samples show what
		// passes through.
		budgetWaits := func() (n uint64) {
			for _, k := range isoKeys["b"] {
				n += ka.Worker(k).BudgetWaits()
			}
			return n
		}
		prevWaits, prevPhase := budgetWaits(), int32(0)
		for {
			select {
			case <-stopSampler:
				return
			case <-t.C:
			}
			depth := 0
			for _, k := range isoKeys["b"] {
				depth += ka.Worker(k).Status().QueueDepth
			}
			waits := budgetWaits()
			if p := curPhase.Load(); p > 0 {
				mu.Lock()
				phases[p].maxDepth = max(phases[p].maxDepth, depth)
				phases[p].samples++
				if depth > 0 {
					phases[p].queued++
				}
				if p == prevPhase {
					phases[p].waits += int(waits - prevWaits)
				}
				mu.Unlock()
			}
			prevWaits, prevPhase = waits, curPhase.Load()
		}
	}()

	bSent, aSent := 0, 0
	var aSentN atomic.Int64
	// runB sends b's traffic for one phase and returns how many it sent.
	runB := func(phase int, label string) (int, error) {
		start := time.Now()
		end := start.Add(phaseLen)
		t := time.NewTicker(time.Second / isoBRate)
		defer t.Stop()
		n := 0
		for now := time.Now(); now.Before(end); now = <-t.C {
			if err := sendB("p"+strconv.Itoa(phase)+"-"+strconv.Itoa(n), phase); err != nil {
				return n, err
			}
			n++
			if n%isoBRate == 0 {
				fmt.Fprintf(bf.progress, "\rbench isolation: phase %d (%s), %v of %v, b sent %d, a sent %d   ",
					phase, label, time.Since(start).Truncate(time.Second), phaseLen, n, aSentN.Load())
			}
		}
		return n, nil
	}

	// Phase 1: b alone.
	curPhase.Store(1)
	n1, err := runB(1, "no surge")
	if err != nil {
		return nil, err
	}
	bSent += n1
	// Let phase 1's last answers land before the surge starts.
	waitFirsts(warm+bSent, 2*time.Second)

	// Phase 2: b again, while a sends isoSurge times its keys' budget.
	curPhase.Store(2)
	aStop := make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		perTick := len(isoKeys["a"]) * isoBudget * isoSurge / 100 // every 10 ms
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		n := 0
		for now := time.Now(); ; now = <-t.C {
			select {
			case <-aStop:
				aDone <- nil
				return
			default:
			}
			exp := now.Add(time.Second).UTC().Format(time.RFC3339Nano)
			for range perTick {
				data := `{"client_order_id":"x` + strconv.Itoa(n) + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.0001","expires_at":"` + exp + `"}`
				if err := ncA.Publish(messages.OrdersNewSubject("a"), []byte(data)); err != nil {
					aDone <- err
					return
				}
				n++
			}
			aSentN.Store(int64(n))
		}
	}()
	phase2Start := time.Now()
	n2, errB := runB(2, "a surging")
	phase2Len := time.Since(phase2Start)
	close(aStop)
	errA := <-aDone
	if errB != nil {
		return nil, errB
	}
	if errA != nil {
		return nil, errA
	}
	bSent += n2
	aSent = int(aSentN.Load())
	fmt.Fprintf(bf.progress, "\rbench isolation: waiting for the last reports (b sent %d, a sent %d)          ", bSent, aSent)

	// Wait for b's first reports, then for a's (its backlog drains at the
	// router's pace).
	waitFirsts(warm+bSent, 10*time.Second)
	close(stopSampler)
	<-samplerDone
	aAnswered := func() int64 { return aAccepted.Load() + aRejected.Load() + aExpired.Load() }
	for deadline := time.Now().Add(30 * time.Second); aAnswered() < int64(aSent) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}

	aMu.Lock()
	defer aMu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	lost, dups := 0, 0
	for id := range bSentAt {
		switch c := bFirsts[id]; {
		case c == 0:
			lost++
		case c > 1:
			dups += c - 1
		}
	}
	slow := func(p int) int {
		n := 0
		for _, us := range phases[p].lat {
			if us > float64(isoSlowFor.Microseconds()) {
				n++
			}
		}
		return n
	}
	slow1, slow2 := slow(1), slow(2)
	without, with := percentiles(phases[1].lat), percentiles(phases[2].lat)
	res := &BenchResult{
		Scenario: "isolation", Intents: n2,
		ThroughputPerS: math.Round(float64(phases[2].accepted)/phase2Len.Seconds()*10) / 10,
		LatencyUS:      with,
		Lost:           &lost, Duplicates: &dups,
		Extra: map[string]any{
			"b_rate_per_s":               isoBRate,
			"a_demand_per_s":             len(isoKeys["a"]) * isoBudget * isoSurge,
			"budget_per_key_per_s":       isoBudget,
			"phase_s":                    phaseLen.Seconds(),
			"b_intents_without_surge":    n1,
			"b_latency_us_without_surge": without,
			"b_latency_us_with_surge":    with,
			"b_over_10ms_without":        slow1,
			"b_over_10ms_with":           slow2,
			"b_max_queue_depth_without":  phases[1].maxDepth,
			"b_max_queue_depth_with":     phases[2].maxDepth,
			"b_queue_samples":            phases[1].samples + phases[2].samples,
			"b_queued_samples_without":   phases[1].queued,
			"b_queued_samples_with":      phases[2].queued,
			"b_queue_waits_without":      phases[1].waits,
			"b_queue_waits_with":         phases[2].waits,
			"a_sent":                     aSent,
			"a_accepted":                 aAccepted.Load(),
			"a_accepted_by_key":          aByKey,
			"a_rejected":                 aRejected.Load(),
			"a_rejected_rate_limited":    aRateLimited.Load(),
			"a_expired":                  aExpired.Load(),
			"a_unanswered":               int64(aSent) - aAnswered(),
			"b_lost":                     lost,
		},
	}
	fmt.Fprintf(bf.progress, "\rbench isolation: b at %d/s beside a at %d/s (%dx its keys' budget), %v per phase\n",
		isoBRate, len(isoKeys["a"])*isoBudget*isoSurge, isoSurge, phaseLen)
	fmt.Fprintf(bf.progress, "  b without surge: %d intents, p50 %.1fµs p99 %.1fµs p99.9 %.1fµs, %d over %v, max queue depth %d\n",
		n1, without.P50, without.P99, without.P999, slow1, isoSlowFor, phases[1].maxDepth)
	fmt.Fprintf(bf.progress, "  b with surge:    %d intents, p50 %.1fµs p99 %.1fµs p99.9 %.1fµs, %d over %v, max queue depth %d\n",
		n2, with.P50, with.P99, with.P999, slow2, isoSlowFor, phases[2].maxDepth)
	fmt.Fprintf(bf.progress, "  a: sent %d, accepted %d, rejected %d (rate_limited %d), expired %d, unanswered %d; b lost %d",
		aSent, aAccepted.Load(), aRejected.Load(), aRateLimited.Load(), aExpired.Load(), int64(aSent)-aAnswered(), lost)
	return res, nil
}
