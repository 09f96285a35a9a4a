package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
)

// Saturate scenario: N keys, one strategy each (s1 → k1 ...), each key's
// budget satBudget orders per second (a clock-aligned fixed window that
// the simulated venue enforces too, counting its 429s); every strategy
// sends twice its key's budget, each intent expiring a second after it was
// sent. Utilization is the orders the venue accepted in the run's whole
// windows over what the budgets allowed in them.
const (
	satBudget = 100
	satWindow = time.Second
)

func saturateConfig(keys int) *configs.Config {
	var b strings.Builder
	b.WriteString("venues:\n  paper: {kind: paper, seed: 1, tick: 1h}\nkeys:\n")
	for i := 1; i <= keys; i++ {
		fmt.Fprintf(&b, "  k%d:\n    venue: paper\n    queue_size: %d\n    limits: [{name: orders_1s, shape: fixed, max: %d, window: 1s}]\n", i, satBudget, satBudget)
	}
	b.WriteString("strategies:\n")
	for i := 1; i <= keys; i++ {
		fmt.Fprintf(&b, "  s%d: {keys: [k%d]}\n", i, i)
	}
	cfg, err := configs.Parse([]byte(b.String()))
	if err != nil {
		panic(err)
	}
	return cfg
}

func benchSaturate(bf *benchFlags) (*BenchResult, error) {
	if bf.keys < 1 || bf.duration < 3*satWindow {
		return nil, fmt.Errorf("saturate needs --keys >= 1 and --duration >= 3s")
	}
	ka, err := startBench(bf, saturateConfig(bf.keys))
	if err != nil {
		return nil, err
	}
	defer ka.Close()
	nc, err := ka.InProcessConn()
	if err != nil {
		return nil, err
	}
	defer nc.Close()

	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	var acceptedTS []time.Time
	var lat []float64
	counts := map[messages.ReportKind]int{}
	firsts := map[string]int{}
	sub, err := nc.Subscribe("reports.>", func(m *nats.Msg) {
		var r messages.ExecutionReport
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		id := r.Strategy + "/" + r.ClientOrderID
		mu.Lock()
		defer mu.Unlock()
		counts[r.Kind]++
		switch r.Kind {
		case messages.KindAccepted:
			acceptedTS = append(acceptedTS, r.TS)
			if t, ok := sentAt[id]; ok {
				lat = append(lat, float64(time.Since(t).Nanoseconds())/1e3)
			}
			firsts[id]++
		case messages.KindRejected, messages.KindExpired:
			firsts[id]++
		}
	})
	if err != nil {
		return nil, err
	}
	_ = sub.SetPendingLimits(-1, -1)

	// Start on a window boundary so whole windows can be counted.
	start := time.Now().Truncate(satWindow).Add(satWindow)
	time.Sleep(time.Until(start))
	end := start.Add(bf.duration.Truncate(satWindow))
	perTick := 2 * satBudget / 100 // every 10 ms: twice the budget per second
	tick := time.NewTicker(10 * time.Millisecond)
	n := 0
	for now := time.Now(); now.Before(end); now = <-tick.C {
		exp := now.Add(time.Second).UTC().Format(time.RFC3339Nano)
		for k := 1; k <= bf.keys; k++ {
			s := "s" + strconv.Itoa(k)
			for j := 0; j < perTick; j++ {
				id := "x" + strconv.Itoa(n)
				n++
				mu.Lock()
				sentAt[s+"/"+id] = time.Now()
				mu.Unlock()
				data := `{"client_order_id":"` + id + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.0001","expires_at":"` + exp + `"}`
				if err := nc.Publish(messages.OrdersNewSubject(s), []byte(data)); err != nil {
					return nil, err
				}
			}
		}
		if n%(perTick*bf.keys*100) == 0 {
			fmt.Fprintf(bf.progress, "\rbench saturate: %d keys, %v of %v, %d intents sent   ", bf.keys, time.Since(start).Truncate(time.Second), bf.duration, n)
		}
	}
	tick.Stop()
	// Wait until every intent has its first report (or 10 s).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := len(firsts) >= n
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	inRun := 0
	for _, ts := range acceptedTS {
		if !ts.Before(start) && ts.Before(end) {
			inRun++
		}
	}
	windows := int(end.Sub(start) / satWindow)
	capacity := bf.keys * satBudget * windows
	var v429 int64
	for k := 1; k <= bf.keys; k++ {
		if v, ok := ka.Venue("k" + strconv.Itoa(k)).(*paper.Venue); ok {
			v429 += v.Rejections429()
		}
	}
	lost, dups := 0, 0
	for _, c := range firsts {
		if c > 1 {
			dups += c - 1
		}
	}
	lost = n - len(firsts)
	return &BenchResult{
		Scenario: "saturate", Intents: n,
		ThroughputPerS: math.Round(float64(inRun) / end.Sub(start).Seconds()),
		LatencyUS:      percentiles(lat),
		Budget: &BudgetFig{
			Utilization: math.Round(float64(inRun)/float64(capacity)*10000) / 10000,
			Venue429:    v429, Expired: counts[messages.KindExpired],
		},
		Lost: &lost, Duplicates: &dups,
		Extra: map[string]any{
			"keys": bf.keys, "budget_per_key_per_s": satBudget, "demand_per_key_per_s": 2 * satBudget,
			"accepted": counts[messages.KindAccepted], "rejected": counts[messages.KindRejected],
			"whole_windows": windows,
		},
	}, nil
}
