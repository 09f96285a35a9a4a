package executors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/keyrouter/keyrouter/router/bus/clocktest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

// start is a clock-aligned instant: a 10 s window begins here.
var start = time.Unix(1_800_000_000, 0)

// harness is one key "k" of strategy "s" on an embedded NATS server, a
// fake venue and a manual clock; it routes orders as the router would
// and reads every report from the REPORTS stream.
type harness struct {
	t      *testing.T
	srv    *server.Server
	clock  *clocktest.Clock
	nc     *nats.Conn
	js     jetstream.JetStream
	b      bus.Buckets
	venue  *fakeVenue
	limits []budget.Limit
	groups *budget.Groups
	logs   *bustest.Buffer
	opts   executors.Options

	mu      sync.Mutex
	reports []messages.ExecutionReport
	procs   []*proc
}

func newHarness(t *testing.T, limits ...budget.Limit) *harness {
	t.Helper()
	h := &harness{t: t, srv: bustest.Server(t), clock: clocktest.New(start), venue: newFakeVenue(),
		limits: limits, groups: budget.NewGroups(), logs: &bustest.Buffer{}}
	h.nc, h.js = bustest.JetStream(t, h.srv)
	var err error
	h.b, err = bus.Provision(t.Context(), h.js, configs.Streams{Replicas: 1, OrdersMaxAge: time.Hour,
		ReportsMaxAge: time.Hour, ReportsMaxBytes: 1 << 24, DedupeHorizon: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := h.js.OrderedConsumer(t.Context(), messages.StreamReports, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var r messages.ExecutionReport
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Errorf("undecodable report %s: %v", m.Data(), err)
			return
		}
		h.mu.Lock()
		h.reports = append(h.reports, r)
		h.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker logs:\n%s", h.logs.String())
		}
	})
	h.opts = executors.Options{Key: "k", VenueName: "fake", QueueSize: 100, Clock: h.clock}
	return h
}

// proc is one executor process serving key k.
type proc struct {
	w    *executors.Worker
	nc   *nats.Conn
	stop context.CancelFunc
	done chan struct{} // closed when Run returned
}

// halt stops p gracefully and waits for it.
func (p *proc) halt() {
	p.stop()
	<-p.done
}

// startWorker starts a worker of k in a process of its own named
// instance (its own connection and lease view).
func (h *harness) startWorker(instance string) *proc {
	h.t.Helper()
	return h.startKey(instance, "k", false)
}

// startKey starts a worker of key in a process of its own; with leased,
// its group limits are counted in the BUDGETS bucket (executors.Shares)
// rather than in the harness's in-process groups.
func (h *harness) startKey(instance, key string, leased bool) *proc {
	h.t.Helper()
	nc, js := bustest.JetStream(h.t, h.srv)
	b, err := bus.Provision(h.t.Context(), js, configs.Streams{Replicas: 1, OrdersMaxAge: time.Hour,
		ReportsMaxAge: time.Hour, ReportsMaxBytes: 1 << 24, DedupeHorizon: time.Hour})
	if err != nil {
		h.t.Fatal(err)
	}
	log := zerolog.New(h.logs).With().Str("instance", instance).Logger()
	ls, err := bus.NewLeases(b.Control, bus.LeaseOptions{Instance: instance, Clock: h.clock, Logger: log})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := ls.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	groups := h.groups
	opts := h.opts
	opts.Key, opts.Logger = key, log
	opts.Halts = executors.NewHalts(b.Control) // one per process, as the program has
	if err := opts.Halts.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	opts.Ticker = executors.NewStatusTicker(h.clock, time.Second) // one per process, as the program has
	if leased {
		opts.Shares = executors.NewShares(b.Budgets, h.clock, log, nil)
		groups = opts.Shares.Groups()
		go func() { _ = opts.Shares.Run(ctx) }()
	}
	bud, err := budget.New(h.limits, groups)
	if err != nil {
		h.t.Fatal(err)
	}
	w := executors.NewWorker(nc, js, b, ls, h.venue, executors.FromBudget(bud), opts)
	p := &proc{w: w, nc: nc, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if err := w.Run(ctx); err != nil {
			h.t.Errorf("worker %s: %v", instance, err)
		}
	}()
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(bustest.Patience):
			h.t.Errorf("worker %s did not stop", instance)
		}
	})
	return p
}

// active starts a worker and waits until it holds the key.
func (h *harness) active(instance string) *proc {
	h.t.Helper()
	p := h.startWorker(instance)
	bustest.WaitFor(h.t, instance+" to take the key", p.w.Active)
	return p
}

// kill ends p as SIGKILL would: its connection goes first, so it neither
// publishes nor releases anything more.
func (p *proc) kill() {
	p.nc.Close()
	p.stop()
	<-p.done
}

// intent is an order of strategy s; fields in extra (JSON members) are
// added.
func intent(id, typ string, extra string) messages.OrderIntent {
	js := fmt.Sprintf(`{"client_order_id":%q,"symbol":"ETH-USDT","side":"buy","type":%q,"quantity":"1"`, id, typ)
	if typ == "limit" {
		js += `,"price":"100"`
	}
	if extra != "" {
		js += "," + extra
	}
	in, err := messages.DecodeOrderIntent([]byte(js+"}"), "s")
	if err != nil {
		panic(err)
	}
	return in
}

// route publishes in to key k as the router does: the claim of the order.
// It returns the claim's EXEC sequence.
func (h *harness) route(in messages.OrderIntent) uint64 {
	return h.routeTo("k", in, 1, 0)
}

func (h *harness) routeTo(key string, in messages.OrderIntent, route int, prevClaim uint64) uint64 {
	h.t.Helper()
	data, _ := json.Marshal(messages.ExecOrder{Intent: in, ReceivedAt: h.clock.Now(), IntentSeq: 1, Routed: route})
	m := bus.ClaimMsg(messages.ExecNewSubject(key, in.Strategy, in.ClientOrderID), data, 1, route)
	ack, err := h.js.PublishMsg(h.t.Context(), m, jetstream.WithExpectLastSequenceForSubject(prevClaim, messages.ExecClaimSubjects(in.Strategy, in.ClientOrderID)))
	if err != nil {
		h.t.Fatalf("routing %s: %v", in.ClientOrderID, err)
	}
	return ack.Sequence
}

// cancel publishes a cancel of s's order id to key k.
func (h *harness) cancel(id string) {
	h.t.Helper()
	data, _ := json.Marshal(messages.ExecCancel{Strategy: "s", ClientOrderID: id, ReceivedAt: h.clock.Now()})
	if _, err := h.js.Publish(h.t.Context(), messages.ExecCancelSubject("k", "s", id), data); err != nil {
		h.t.Fatal(err)
	}
}

// of returns the reports of order id so far.
func (h *harness) of(id string) []messages.ExecutionReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []messages.ExecutionReport
	for _, r := range h.reports {
		if r.ClientOrderID == id {
			out = append(out, r)
		}
	}
	return out
}

// waitKind waits for a report of kind on order id and returns it.
func (h *harness) waitKind(id string, kind messages.ReportKind) messages.ExecutionReport {
	h.t.Helper()
	var got messages.ExecutionReport
	bustest.WaitFor(h.t, fmt.Sprintf("%s report of %s", kind, id), func() bool {
		for _, r := range h.of(id) {
			if r.Kind == kind {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

func kinds(rs []messages.ExecutionReport) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%s#%d", r.Kind, r.Seq))
	}
	return strings.Join(s, " ")
}

// clientID is the venue-side ID of s's order id.
func clientID(id string) string { return executors.VenueClientID("s", id) }

func fixed(name string, max int64, window time.Duration) budget.Limit {
	return budget.Limit{Name: name, Shape: budget.Fixed, Max: max, Window: window,
		Costs: map[budget.Class]int64{budget.ClassNew: 1, budget.ClassCancel: 1}}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }
