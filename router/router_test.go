package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/keyrouter/keyrouter/router/bus/clocktest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// harness is routers on an embedded NATS server with a manual clock, a
// config of strategy s on keys k1 and k2, key statuses published as their
// executors would, and every report and exec message collected.
type harness struct {
	t     *testing.T
	srv   *server.Server
	clock *clocktest.Clock
	nc    *nats.Conn
	js    jetstream.JetStream
	b     bus.Buckets
	cfg   *configs.Config
	logs  *bustest.Buffer

	mu      sync.Mutex
	reports []messages.ExecutionReport
	execs   []string // subjects stored in EXEC
}

var testStreams = configs.Streams{Replicas: 1, OrdersMaxAge: time.Hour, ReportsMaxAge: time.Hour, ReportsMaxBytes: 1 << 24, DedupeHorizon: time.Hour}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cfg := router.TwoKeys(t, "s")
	h := &harness{t: t, srv: bustest.Server(t), clock: clocktest.New(time.Unix(1_800_000_000, 0)), cfg: cfg, logs: &bustest.Buffer{}}
	h.nc, h.js = bustest.JetStream(t, h.srv)
	var err error
	if h.b, err = bus.Provision(t.Context(), h.js, testStreams); err != nil {
		t.Fatal(err)
	}
	cons, err := h.js.OrderedConsumer(t.Context(), messages.StreamReports, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var r messages.ExecutionReport
		if json.Unmarshal(m.Data(), &r) == nil {
			h.mu.Lock()
			h.reports = append(h.reports, r)
			h.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	// What EXEC stored (a core subscription would also see the claims the
	// stream refused).
	econs, err := h.js.OrderedConsumer(t.Context(), messages.StreamExec, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ecc, err := econs.Consume(func(m jetstream.Msg) {
		h.mu.Lock()
		h.execs = append(h.execs, m.Subject())
		h.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ecc.Stop)
	h.status("k1", messages.KeyActive)
	h.status("k2", messages.KeyActive)
	return h
}

// status publishes key's KeyStatus as its executor would.
func (h *harness) status(key string, state messages.KeyState) {
	h.t.Helper()
	data, _ := json.Marshal(messages.KeyStatus{Key: key, Venue: "paper", State: state, Limits: []messages.LimitStatus{}, TS: h.clock.Now()})
	if err := h.nc.Publish(messages.KeyStatusSubject(key), data); err != nil {
		h.t.Fatal(err)
	}
	_ = h.nc.Flush()
}

// proc is one router process.
type proc struct {
	r    *router.Router
	nc   *nats.Conn
	stop context.CancelFunc
	done chan struct{}
}

func (h *harness) startRouter(instance string) *proc {
	h.t.Helper()
	nc, js := bustest.JetStream(h.t, h.srv)
	b, err := bus.Provision(h.t.Context(), js, testStreams)
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
	r := router.New(nc, js, b, ls, h.cfg, router.Options{Clock: h.clock, Logger: log, AckWait: time.Second})
	p := &proc{r: r, nc: nc, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if err := r.Run(ctx); err != nil {
			h.t.Errorf("router %s: %v", instance, err)
		}
	}()
	h.t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

func (h *harness) active(instance string) *proc {
	h.t.Helper()
	p := h.startRouter(instance)
	bustest.WaitFor(h.t, instance+" active", p.r.Active)
	return p
}

// submit publishes an intent of s and returns its ORDERS sequence.
func (h *harness) submit(subject, data string) uint64 {
	h.t.Helper()
	ack, err := h.js.Publish(h.t.Context(), subject, []byte(data))
	if err != nil {
		h.t.Fatalf("publish %s: %v", subject, err)
	}
	return ack.Sequence
}

func market(id string) string {
	return fmt.Sprintf(`{"client_order_id":%q,"symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`, id)
}

// of returns the reports of order id.
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

// execsOf returns the EXEC subjects stored for order id.
func (h *harness) execsOf(id string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, subj := range h.execs {
		if strings.HasSuffix(subj, "."+id) {
			out = append(out, subj)
		}
	}
	return out
}

func TestIntentIsRoutedOnceToItsKey(t *testing.T) {
	h := newHarness(t)
	h.active("r1")
	h.submit(messages.OrdersNewSubject("s"), market("o1"))
	bustest.WaitFor(t, "o1 routed", func() bool { return len(h.execsOf("o1")) == 1 })
	if got := h.execsOf("o1")[0]; got != messages.ExecNewSubject("k1", "s", "o1") {
		t.Errorf("routed on %s, want k1's claim", got)
	}
	h.submit(messages.OrdersNewSubject("s"), market("o1")) // re-sent
	bustest.WaitFor(t, "the duplicate answered", func() bool {
		rs := h.of("o1")
		return len(rs) == 1 && rs[0].Reason == messages.ReasonDuplicate
	})
	if n := len(h.execsOf("o1")); n != 1 {
		t.Errorf("%d exec messages for o1", n)
	}
}

// An intent with a deadline goes to the first key whose budget, by the
// capacity in its status, could send it in time, and is refused expired
// at once (with its claim on the refused key, not a key's) when none could.
func TestDeadlineNoKeyCanMeetIsExpiredAtOnce(t *testing.T) {
	h := newHarness(t)
	busy := func(key string, firstIn time.Duration) {
		st := messages.KeyStatus{Key: key, Venue: "paper", State: messages.KeyActive, Limits: []messages.LimitStatus{},
			QueueDepth: 100, TS: h.clock.Now(), Capacity: []messages.CapacityPoint{{InMS: firstIn.Milliseconds()}}}
		data, _ := json.Marshal(st)
		if err := h.nc.Publish(messages.KeyStatusSubject(key), data); err != nil {
			t.Fatal(err)
		}
		_ = h.nc.Flush()
	}
	withDeadline := func(id string, in time.Duration) string {
		return fmt.Sprintf(`{"client_order_id":%q,"symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001","expires_at":%q}`,
			id, h.clock.Now().Add(in).UTC().Format(time.RFC3339Nano))
	}
	p := h.active("r1")
	// k1 cannot send a new order for 1.5 s, k2 for 0.5 s.
	busy("k1", 1500*time.Millisecond)
	busy("k2", 500*time.Millisecond)
	bustest.WaitFor(t, "the statuses seen", func() bool {
		_, ok1 := p.r.Health().EarliestNew("k1", h.clock.Now())
		_, ok2 := p.r.Health().EarliestNew("k2", h.clock.Now())
		return ok1 && ok2
	})
	h.submit(messages.OrdersNewSubject("s"), withDeadline("spill", time.Second))
	bustest.WaitFor(t, "spill routed", func() bool { return len(h.execsOf("spill")) == 1 })
	if got := h.execsOf("spill")[0]; got != messages.ExecNewSubject("k2", "s", "spill") {
		t.Errorf("routed on %s, want k2's claim (k1 cannot meet the deadline)", got)
	}
	h.submit(messages.OrdersNewSubject("s"), withDeadline("late", 400*time.Millisecond))
	bustest.WaitFor(t, "late answered", func() bool { return len(h.of("late")) == 1 })
	r := h.of("late")[0]
	if r.Kind != messages.KindExpired || r.Reason != messages.ReasonExpired || r.Key != "" || r.Seq != 1 {
		t.Errorf("late: %s %s key %q seq %d, want expired by the router", r.Kind, r.Reason, r.Key, r.Seq)
	}
	if !strings.Contains(r.Message, "k1 in 1.5s") || !strings.Contains(r.Message, "k2 in 500ms") {
		t.Errorf("late's message does not say when each key could send it: %q", r.Message)
	}
	if got := h.execsOf("late"); len(got) != 1 || got[0] != messages.ExecNewSubject(messages.RefusedKey, "s", "late") {
		t.Errorf("late's claims: %v, want the refused key's only", got)
	}
	// Without a deadline the budget is the key's to wait for.
	h.submit(messages.OrdersNewSubject("s"), market("patient"))
	bustest.WaitFor(t, "patient routed", func() bool { return len(h.execsOf("patient")) == 1 })
	if got := h.execsOf("patient")[0]; got != messages.ExecNewSubject("k1", "s", "patient") {
		t.Errorf("routed on %s, want k1's", got)
	}
}

// Two routers: one active; when it dies, the other takes over after the
// lease TTL and routes what came meanwhile, and a reload reaches both.
func TestStandbyRouterTakesOver(t *testing.T) {
	h := newHarness(t)
	a := h.active("r1")
	b := h.startRouter("r2")
	h.submit(messages.OrdersNewSubject("s"), market("a1"))
	bustest.WaitFor(t, "a1 routed", func() bool { return len(h.execsOf("a1")) == 1 })
	if b.r.Active() {
		t.Fatal("two routers active")
	}
	a.nc.Close() // SIGKILL
	a.stop()
	<-a.done
	h.submit(messages.OrdersNewSubject("s"), market("a2"))
	bustest.WaitFor(t, "the standby to take the lease", func() bool {
		if b.r.Active() {
			return true
		}
		h.clock.Advance(250 * time.Millisecond)
		return false
	})
	h.status("k1", messages.KeyActive) // a fresh heartbeat at the new time
	bustest.WaitFor(t, "a2 routed by the new router", func() bool { return len(h.execsOf("a2")) == 1 })
	if n := len(h.execsOf("a1")); n != 1 {
		t.Errorf("a1 routed %d times", n)
	}
}

// A router that crashed after publishing an intent's claim and before
// acking the intent left it for redelivery, however late: the next router
// finds the claim made by that very intent and routes nothing again
// (before, the order was republished once EXEC's 2-minute duplicate
// window had passed, and placed twice).
func TestRedeliveredIntentIsNotRoutedAgain(t *testing.T) {
	h := newHarness(t)
	seq := h.submit(messages.OrdersNewSubject("s"), market("c1"))
	in, err := messages.DecodeOrderIntent([]byte(market("c1")), "s")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(messages.ExecOrder{Intent: in, IntentSeq: seq, Routed: 1})
	if _, err := h.js.PublishMsg(t.Context(), bus.ClaimMsg(messages.ExecNewSubject("k2", "s", "c1"), data, seq, 1)); err != nil {
		t.Fatal(err)
	}
	h.active("r1")
	h.submit(messages.OrdersNewSubject("s"), market("after"))
	bustest.WaitFor(t, "a later intent routed", func() bool { return len(h.execsOf("after")) == 1 })
	if got := h.execsOf("c1"); len(got) != 1 || got[0] != messages.ExecNewSubject("k2", "s", "c1") {
		t.Errorf("exec messages of c1: %v, want only the crashed router's claim on k2", got)
	}
	if rs := h.of("c1"); len(rs) != 0 {
		t.Errorf("reports of c1 from the router: %v", rs)
	}
}

// A cancel published after its order's intent was stored applies to that
// order, even when it reaches the router first.
func TestCancelWaitsForItsIntent(t *testing.T) {
	h := newHarness(t)
	// Every intent and its cancel are stored before a router runs, behind
	// a backlog of other intents: the cancel line reaches the cancels long
	// before the intents line has made their orders' claims.
	for i := range 300 {
		h.submit(messages.OrdersNewSubject("s"), market(fmt.Sprintf("f%d", i)))
	}
	for i := range 20 {
		h.submit(messages.OrdersNewSubject("s"), market(fmt.Sprintf("w%d", i)))
		h.submit(messages.OrdersCancelSubject("s"), fmt.Sprintf(`{"client_order_id":"w%d"}`, i))
	}
	h.active("r1")
	for i := range 20 {
		id := fmt.Sprintf("w%d", i)
		bustest.WaitFor(t, "the cancel of "+id+" routed", func() bool {
			for _, s := range h.execsOf(id) {
				if s == messages.ExecCancelSubject("k1", "s", id) {
					return true
				}
			}
			return false
		})
		for _, r := range h.of(id) {
			if r.Reason == messages.ReasonUnknownOrder {
				t.Errorf("%s: cancel answered unknown_order", id)
			}
		}
	}
}

// Junk never stalls anything: a huge invalid intent gets a small
// rejection, an intent on a subject no strategy has is not even stored,
// an unconfigured strategy is answered, and a forged hand-back of an
// order nobody holds changes nothing.
func TestJunkIsAnsweredAndStallsNothing(t *testing.T) {
	h := newHarness(t)
	h.active("r1")
	huge := `{"client_order_id":"big","symbol":"` + strings.Repeat("X", 200_000) + `","side":"buy","type":"market","quantity":"1"}`
	h.submit(messages.OrdersNewSubject("s"), huge)
	if _, err := h.js.Publish(t.Context(), "orders.new.a.b", []byte(market("x"))); err == nil {
		t.Error("orders.new.a.b was stored: nothing would answer it")
	}
	h.submit(messages.OrdersNewSubject("nosuch"), market("n1"))
	forged, _ := json.Marshal(messages.ExecOrder{Intent: messages.OrderIntent{ClientOrderID: "ghost", Strategy: "s"}, From: "k1", ClaimSeq: 99, Routed: 2})
	h.submit(messages.OrdersRerouteSubject("s"), string(forged))
	h.submit(messages.OrdersNewSubject("s"), market("ok"))

	big := waitReport(h, "big")
	if big.Reason != messages.ReasonInvalid {
		t.Errorf("huge intent: %s %s", big.Kind, big.Reason)
	}
	raw, _ := json.Marshal(big)
	if len(raw) > 4096 {
		t.Errorf("the rejection of a 200 KB intent is %d bytes", len(raw))
	}
	bustest.WaitFor(t, "ok routed", func() bool { return len(h.execsOf("ok")) == 1 })
	h.clock.Advance(time.Second) // the router looks for unconfigured strategies every second
	if r := waitReport(h, "n1"); r.Reason != messages.ReasonUnknownStrategy || r.Strategy != "nosuch" {
		t.Errorf("unconfigured strategy: %+v", r)
	}
	if n := len(h.execsOf("ghost")); n != 0 {
		t.Errorf("a forged hand-back was routed")
	}
}

func waitReport(h *harness, id string) messages.ExecutionReport {
	h.t.Helper()
	var r messages.ExecutionReport
	bustest.WaitFor(h.t, "a report of "+id, func() bool {
		rs := h.of(id)
		if len(rs) > 0 {
			r = rs[0]
		}
		return len(rs) > 0
	})
	return r
}
