package bench

import (
	"context"
	"encoding/json"
	"fmt"
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

// SaturateFigures are the saturate scenario's own figures.
type SaturateFigures struct {
	Keys             int `json:"keys"`
	BudgetPerKeyPerS int `json:"budget_per_key_per_s"`
	DemandPerKeyPerS int `json:"demand_per_key_per_s"`
	Accepted         int `json:"accepted"`
	Rejected         int `json:"rejected"`
	WholeWindows     int `json:"whole_windows"`
	// ExpiredAtRouter counts the intents the router found expired when it
	// read them (the report names no key, and says expires_at had
	// passed): they waited in ORDERS past their expiry. ExpiredForBudget
	// counts those the router refused at once because no key's budget
	// could send them in time (their keys' statuses said so). The rest of
	// the expired were expired by a key's executor.
	ExpiredAtRouter  int `json:"expired_at_router"`
	ExpiredForBudget int `json:"expired_for_budget_at_router"`
	// PerWindow is each whole window's utilisation, in order: where in a
	// run the budget went unused.
	PerWindow []float64 `json:"utilization_per_window"`
}

func runSaturate(ctx context.Context, o Options) (*Result, error) {
	if o.Duration < 3*satWindow {
		return nil, fmt.Errorf("saturate needs a duration of 3s or more")
	}
	var keys []string
	strategies := map[string]configs.Strategy{}
	for i := 1; i <= o.Keys; i++ {
		k := "k" + strconv.Itoa(i)
		keys = append(keys, k)
		strategies["s"+strconv.Itoa(i)] = configs.Strategy{Keys: []string{k}}
	}
	ka, nc, stop, err := start(ctx, o, keys, satBudget, satBudget, strategies)
	if err != nil {
		return nil, err
	}
	defer stop()
	var t satTally
	if err := t.follow(nc); err != nil {
		return nil, err
	}

	// Start on a window boundary so whole windows can be counted.
	begin := time.Now().Truncate(satWindow).Add(satWindow)
	if !sleep(ctx, time.Until(begin)) {
		return nil, ctx.Err()
	}
	end := begin.Add(o.Duration.Truncate(satWindow))
	n, err := sendSaturating(ctx, nc, o, begin, end, &t)
	if err != nil {
		return nil, err
	}
	poll(ctx, 10*time.Second, func() bool { return t.answered() >= n })

	var v429 int64
	for _, k := range keys {
		if v, ok := ka.Venue(k).(*paper.Venue); ok {
			v429 += v.Rejections429()
		}
	}
	return t.result(o, n, begin, end, v429), nil
}

// sendSaturating sends every key's strategy twice its budget, in bursts
// every 10 ms from begin until end, and returns how many it sent.
func sendSaturating(ctx context.Context, nc *nats.Conn, o Options, begin, end time.Time, t *satTally) (int, error) {
	perTick := 2 * satBudget / 100 // every 10 ms: twice the budget per second
	n := 0
	err := ticks(ctx, 10*time.Millisecond, end, func(now time.Time) error {
		exp := now.Add(time.Second).UTC().Format(time.RFC3339Nano)
		for k := 1; k <= o.Keys; k++ {
			s := "s" + strconv.Itoa(k)
			for range perTick {
				id := "x" + strconv.Itoa(n)
				n++
				t.sent(s + "/" + id)
				data := `{"client_order_id":"` + id + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.0001","expires_at":"` + exp + `"}`
				if err := nc.Publish(messages.OrdersNewSubject(s), []byte(data)); err != nil {
					return err
				}
			}
		}
		if n%(perTick*o.Keys*100) == 0 {
			o.progress("bench saturate: %d keys, %v of %v, %d intents sent", o.Keys, time.Since(begin).Truncate(time.Second), o.Duration, n)
		}
		return nil
	})
	return n, err
}

// satTally counts the reports of a saturate run.
type satTally struct {
	mu              sync.Mutex
	sentAt          map[string]time.Time // by strategy/client_order_id
	accepted        []time.Time          // each accepted report's ts
	lat             []float64            // µs, intent → accepted
	counts          map[messages.ReportKind]int
	firsts          map[string]int // first reports by strategy/client_order_id
	expiredAtRouter int
	// expiredForBudget: see SaturateFigures.ExpiredForBudget.
	expiredForBudget int
}

// follow counts every report published on nc's server.
func (t *satTally) follow(nc *nats.Conn) error {
	t.sentAt, t.counts, t.firsts = map[string]time.Time{}, map[messages.ReportKind]int{}, map[string]int{}
	sub, err := nc.Subscribe("reports.>", func(m *nats.Msg) {
		// Only the fields counted: the bench shares the machine with
		// what it measures.
		var r satReport
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		t.report(&r, time.Now())
	})
	if err != nil {
		return err
	}
	return sub.SetPendingLimits(-1, -1)
}

func (t *satTally) sent(id string) {
	t.mu.Lock()
	t.sentAt[id] = time.Now()
	t.mu.Unlock()
}

// satReport is what a saturate run reads of a report.
type satReport struct {
	Strategy      string              `json:"strategy"`
	ClientOrderID string              `json:"client_order_id"`
	Kind          messages.ReportKind `json:"kind"`
	Key           string              `json:"key"`
	Message       string              `json:"message"`
	TS            time.Time           `json:"ts"`
}

func (t *satTally) report(r *satReport, now time.Time) {
	id := r.Strategy + "/" + r.ClientOrderID
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[r.Kind]++
	switch r.Kind {
	case messages.KindAccepted:
		t.accepted = append(t.accepted, r.TS)
		if at, ok := t.sentAt[id]; ok {
			t.lat = append(t.lat, micros(now.Sub(at)))
		}
		t.firsts[id]++
	case messages.KindRejected, messages.KindExpired:
		t.firsts[id]++
		switch {
		case r.Kind != messages.KindExpired || r.Key != "":
		case strings.HasPrefix(r.Message, "expires_at "): // "expires_at ... had passed when the intent arrived"
			t.expiredAtRouter++
		default:
			t.expiredForBudget++
		}
	}
}

// answered is how many intents have a first report.
func (t *satTally) answered() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.firsts)
}

func (t *satTally) result(o Options, sent int, begin, end time.Time, venue429 int64) *Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	windows := int(end.Sub(begin) / satWindow)
	inRun, perWindow := 0, make([]int, windows)
	for _, ts := range t.accepted {
		if !ts.Before(begin) && ts.Before(end) {
			inRun++
			if w := int(ts.Sub(begin) / satWindow); w < windows {
				perWindow[w]++
			}
		}
	}
	per := make([]float64, windows)
	for i, n := range perWindow {
		per[i] = round(float64(n)/float64(o.Keys*satBudget), 4)
	}
	capacity := o.Keys * satBudget * windows
	lost, dups := lostAndDuplicates(sent, t.firsts)
	return &Result{
		Scenario: Saturate, Intents: sent,
		ThroughputPerS: round(float64(inRun)/end.Sub(begin).Seconds(), 0),
		LatencyUS:      percentiles(t.lat),
		Budget: &Budget{
			Utilization: round(float64(inRun)/float64(capacity), 4),
			Venue429:    venue429, Expired: t.counts[messages.KindExpired],
		},
		Lost: &lost, Duplicates: &dups,
		Saturate: &SaturateFigures{
			Keys: o.Keys, BudgetPerKeyPerS: satBudget, DemandPerKeyPerS: 2 * satBudget,
			Accepted: t.counts[messages.KindAccepted], Rejected: t.counts[messages.KindRejected],
			WholeWindows: windows, ExpiredAtRouter: t.expiredAtRouter,
			ExpiredForBudget: t.expiredForBudget, PerWindow: per,
		},
	}
}

// lostAndDuplicates counts, of sent intents whose first reports are
// counted by ID in firsts, those never answered and the extra answers.
func lostAndDuplicates(sent int, firsts map[string]int) (lost, dups int) {
	for _, c := range firsts {
		dups += max(c-1, 0)
	}
	return sent - len(firsts), dups
}
