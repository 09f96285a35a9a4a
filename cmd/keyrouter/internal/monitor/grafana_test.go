package monitor

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
)

// The Grafana dashboard queries only metrics this package exports.
func TestGrafanaDashboardUsesExportedNames(t *testing.T) {
	data, err := os.ReadFile("../../../../deploy/grafana/keyrouter.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("keyrouter.json: %v", err)
	}
	known := map[string]bool{}
	for _, n := range []string{MetricIntents, MetricReports, MetricFills, MetricIntentAccepted, MetricKeyState,
		MetricBudgetUsed, MetricBudgetMax, MetricBudgetWindow, MetricQueueDepth, MetricOpenOrders, MetricHeartbeatAge,
		MetricHalted, MetricOrdersSent, MetricCancelsSent, MetricVenueRequests, MetricVenue429, MetricVenue418,
		MetricVenueLatency, MetricConsumersBound, MetricTakeovers, MetricBudgetLeases, MetricBudgetLeaseUnits,
		MetricBudgetLeaseWait} {
		known[n] = true
	}
	// Every constant is a family the registry really exports.
	mon := New(Options{})
	e, r := mon.Executor("k", "v"), mon.Router()
	e.Serving(true)
	r.Takeover()
	e.Takeover()
	e.BudgetLease("l", 1, 0)
	for _, op := range []string{"place", "cancel"} {
		for _, kind := range []executors.ErrorKind{executors.Throttled, executors.Banned} {
			e.VenueRequest(op, 0, &executors.VenueError{Kind: kind})
		}
	}
	mon.metrics.intents.WithLabelValues("s").Inc()
	mon.metrics.intentAccepted.WithLabelValues("s").Observe(0)
	mon.metrics.observeReport(&report{Kind: messages.KindFill, Strategy: "s", Key: "k"})
	mon.view.ObserveStatus(messages.KeyStatus{Key: "k", Limits: []messages.LimitStatus{{Name: "l"}}}, time.Now())
	mon.view.SetHalt("all", &Halt{})
	fams, err := mon.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
	}
	for n := range known {
		if !exported[n] {
			t.Errorf("%s is not exported", n)
		}
	}
	name := regexp.MustCompile(`keyrouter_[a-z0-9_]+`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, n := range name.FindAllString(tg.Expr, -1) {
				base := n
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					if s, ok := strings.CutSuffix(n, suf); ok && known[s] {
						base = s
					}
				}
				if !known[base] {
					t.Errorf("panel %q queries %s, which keyrouter does not export", p.Title, n)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries in the dashboard", queries)
	}
}
