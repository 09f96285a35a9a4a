package executors

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

var t0 = time.Unix(1_800_000_000, 0) // a 10 s window begins

func testCore(t *testing.T, max int64) *core {
	t.Helper()
	b, err := budget.New([]budget.Limit{{Name: "r", Shape: budget.Fixed, Max: max, Window: 10 * time.Second,
		Costs: map[budget.Class]int64{budget.ClassNew: 1, budget.ClassCancel: 1, budget.ClassQuery: 1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return newCore("k", 10, FromBudget(b))
}

func newItem(id string, extra ...func(*messages.OrderIntent)) *item {
	in := messages.OrderIntent{ClientOrderID: id, Strategy: "s", Symbol: "BTC-USDT", Side: messages.Buy, Type: messages.Market}
	for _, f := range extra {
		f(&in)
	}
	return &item{order: newOrder("k", &messages.ExecOrder{Intent: in, Routed: 1}, 1)}
}

func cancelOf(id string) *item { return &item{cancel: &cancelReq{strategy: "s", clientOrderID: id}} }

func pinned(in *messages.OrderIntent) { in.Key = "k" }

func expiring(at time.Time) func(*messages.OrderIntent) {
	return func(in *messages.OrderIntent) { in.ExpiresAt = &at }
}

// TestNext walks the core through sequences of decisions: each step's
// admissions, then the kinds next returns until it waits.
func TestNext(t *testing.T) {
	type step struct {
		at    time.Duration // since t0
		admit []*item
		state messages.KeyState
		until time.Duration
		want  []actKind // next's answers until the first wait or idle (included)
	}
	for _, tc := range []struct {
		name  string
		max   int64
		steps []step
	}{
		{"within budget, sent in order", 3, []step{
			{admit: []*item{newItem("a"), newItem("b")}, want: []actKind{actSend, actSend, actIdle}},
		}},
		{"over budget, the rest waits for the window", 1, []step{
			{admit: []*item{newItem("a"), newItem("b")}, want: []actKind{actSend, actWait}},
			{at: 10 * time.Second, want: []actKind{actSend, actIdle}},
		}},
		{"a cancel of a queued order needs no budget", 1, []step{
			{admit: []*item{newItem("a"), newItem("b"), cancelOf("b")}, want: []actKind{actCancelQueued, actSend, actIdle}},
		}},
		{"a cancel of a queued look-up goes to the venue", 2, []step{
			{admit: []*item{func() *item { it := newItem("a"); it.inDoubt = true; return it }(), cancelOf("a")},
				want: []actKind{actSend, actSend, actIdle}},
		}},
		{"cancels go first", 1, []step{
			{admit: []*item{newItem("a"), cancelOf("x")}, want: []actKind{actSend, actWait}},
		}},
		{"an order past its deadline when its turn comes is expired", 5, []step{
			{admit: []*item{newItem("a"), newItem("b", expiring(t0.Add(5*time.Second)))}},
			{at: 6 * time.Second, want: []actKind{actSend, actExpire, actIdle}},
		}},
		{"throttled: nothing sent, what cannot wait is expired, then resumed", 5, []step{
			{admit: []*item{newItem("a", pinned), newItem("b", pinned, expiring(t0.Add(time.Second)))}, state: messages.KeyThrottled, until: 2 * time.Second,
				want: []actKind{actExpire, actWait}},
			{at: 2 * time.Second, want: []actKind{actResumed, actSend, actIdle}},
		}},
		{"halted: cancels still sent", 5, []step{
			{admit: []*item{cancelOf("x")}, state: messages.KeyHalted, want: []actKind{actSend, actIdle}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCore(t, tc.max)
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				for _, it := range st.admit {
					if it.cancel != nil {
						c.admitCancel(now, it)
						continue
					}
					if it.inDoubt {
						c.hold(it.order)
						c.newQ.push(it)
						continue
					}
					if a, _ := c.admitNew(now, it, true); a != admitQueued {
						t.Fatalf("step %d: %s not queued (%d)", i, it.order.intent.ClientOrderID, a)
					}
				}
				if st.state != "" {
					c.setState(st.state, now.Add(st.until), "test")
				}
				if st.want == nil {
					continue
				}
				var got []actKind
				for range 10 {
					a := c.next(now)
					got = append(got, a.kind)
					if a.kind == actWait || a.kind == actIdle {
						break
					}
				}
				if len(got) != len(st.want) {
					t.Fatalf("step %d: got %v, want %v", i, got, st.want)
				}
				for j := range got {
					if got[j] != st.want[j] {
						t.Fatalf("step %d: got %v, want %v", i, got, st.want)
					}
				}
			}
		})
	}
}

// Turning unusable hands the movable queued orders back and, halted,
// refuses those that cannot move; orders that may be at the venue stay.
func TestSetStateHandsBack(t *testing.T) {
	c := testCore(t, 5)
	doubt := newItem("d")
	doubt.inDoubt = true
	c.hold(doubt.order)
	c.newQ.push(doubt)
	for _, it := range []*item{newItem("m"), newItem("p", pinned)} {
		c.admitNew(t0, it, it.order.movable())
	}
	_, moved, refused := c.setState(messages.KeyThrottled, t0.Add(time.Second), "429")
	if len(moved) != 1 || moved[0].order.intent.ClientOrderID != "m" || len(refused) != 0 {
		t.Fatalf("throttled: moved %d, refused %d; want m moved", len(moved), len(refused))
	}
	_, moved, refused = c.setState(messages.KeyHalted, time.Time{}, "halt")
	if len(moved) != 0 || len(refused) != 1 || refused[0].order.intent.ClientOrderID != "p" {
		t.Fatalf("halted: moved %d, refused %d; want p refused", len(moved), len(refused))
	}
	if c.newQ.len() != 1 || c.newQ.peek() != doubt {
		t.Fatalf("the look-up of an order that may be at the venue left the queue")
	}
}

// An order whose deadline the budget cannot meet, counting the orders
// queued ahead of it, is expired at admission.
func TestAdmitCountsTheQueueAhead(t *testing.T) {
	c := testCore(t, 1)
	for _, id := range []string{"a", "b"} {
		if a, _ := c.admitNew(t0, newItem(id), true); a != admitQueued {
			t.Fatalf("%s not queued", id)
		}
	}
	// a goes now, b at the next window (t0+10s); a deadline at t0+15s
	// would be met with the queue empty, not behind b (t0+20s).
	a, at := c.admitNew(t0, newItem("late", expiring(t0.Add(15*time.Second))), true)
	if a != admitExpire || !at.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("got %d at %v, want admitExpire at t0+20s", a, at.Sub(t0))
	}
	if a, _ := c.admitNew(t0, newItem("ok", expiring(t0.Add(25*time.Second))), true); a != admitQueued {
		t.Fatalf("an order that fits its deadline behind the queue: %d", a)
	}
}

// A key's status goes out when it changed or is a heartbeat old, or when
// forced (a change of state); an idle key's unchanged status does not.
func TestStatusDue(t *testing.T) {
	last := messages.KeyStatus{Key: "k", State: messages.KeyActive, Worker: "k@p", TS: t0,
		Limits: []messages.LimitStatus{{Name: "r", Used: 1, Max: 10, Window: 10, ResetsIn: 9}}}
	at := func(d time.Duration, change func(*messages.KeyStatus)) *messages.KeyStatus {
		st := last
		st.Limits = slices.Clone(last.Limits)
		st.TS = t0.Add(d)
		st.Limits[0].ResetsIn = 9 - d.Seconds()
		if change != nil {
			change(&st)
		}
		return &st
	}
	for _, c := range []struct {
		name   string
		st     *messages.KeyStatus
		forced bool
		want   bool
	}{
		{"unchanged, a second later", at(time.Second, nil), false, false},
		{"unchanged, just under a heartbeat later", at(5*time.Second-time.Millisecond, nil), false, false},
		{"unchanged, a heartbeat later", at(5*time.Second, nil), false, true},
		{"forced", at(time.Second, nil), true, true},
		{"queue changed", at(time.Second, func(s *messages.KeyStatus) { s.QueueDepth = 1 }), false, true},
		{"used changed", at(time.Second, func(s *messages.KeyStatus) { s.Limits[0].Used = 2 }), false, true},
		{"state changed", at(time.Second, func(s *messages.KeyStatus) { s.State = messages.KeyThrottled }), false, true},
		{"open orders changed", at(time.Second, func(s *messages.KeyStatus) { s.OpenOrders = 3 }), false, true},
		{"a price appeared", at(time.Second, func(s *messages.KeyStatus) {
			s.Prices = map[string]decimal.Decimal{"BTC-USDT": decimal.NewFromInt(1)}
		}), false, true},
	} {
		if got := statusDue(c.st, &last, c.forced, 5*time.Second); got != c.want {
			t.Errorf("%s: due %v, want %v", c.name, got, c.want)
		}
	}
}

// A key's capacity (KeyStatus.Capacity) never says a new order could go
// later than the core would plan it: for the k-th order arriving after the
// status, behind everything queued, KeyStatus.EarliestNew(k-1) is no later
// than the instant admission projects, and within one step of it while
// that is inside the horizon. Over each shape of limit, with the budget
// partly spent and orders and cancels queued.
func TestCapacityNeverLaterThanThePlan(t *testing.T) {
	limits := map[string]budget.Limit{
		"fixed":   {Shape: budget.Fixed, Max: 40, Window: time.Second},
		"sliding": {Shape: budget.Sliding, Max: 25, Window: 500 * time.Millisecond},
		"bucket":  {Shape: budget.Bucket, Max: 10, Rate: 30},
		"decay":   {Shape: budget.Decay, Max: 20, Rate: 50},
	}
	checked := 0
	for name, l := range limits {
		for _, spent := range []int{0, 7, 60} {
			for _, queued := range []int{0, 3, 30} {
				l.Name = "r"
				l.Costs = map[budget.Class]int64{budget.ClassNew: 1, budget.ClassCancel: 1, budget.ClassQuery: 1}
				b, err := budget.New([]budget.Limit{l}, nil)
				if err != nil {
					t.Fatal(err)
				}
				now := t0.Add(130 * time.Millisecond)
				for range spent {
					b.TryTake(now.Add(-100*time.Millisecond), budget.Op{Class: budget.ClassNew})
				}
				c := newCore("k", 10_000, FromBudget(b))
				for i := range queued {
					it := newItem("q" + strconv.Itoa(i))
					if i%3 == 2 {
						it = cancelOf("q0")
					}
					if it.cancel != nil {
						c.admitCancel(now, it)
					} else if a, _ := c.admitNew(now, it, true); a != admitQueued {
						t.Fatalf("%s: queued order %d not queued: %d", name, i, a)
					}
				}
				st := messages.KeyStatus{TS: now, Capacity: c.capacity(now)}
				if st.Capacity == nil {
					// Only for a key whose next new order could go at once.
					if at, _ := c.project(now, budget.Op{Class: budget.ClassNew}); queued > 0 || !at.Equal(now) {
						t.Fatalf("%s spent %d queued %d: no capacity, and the next order goes in %v", name, spent, queued, at.Sub(now))
					}
					continue
				}
				checked++
				for k := range 400 {
					got, ok := st.EarliestNew(k)
					at, fits := c.project(now, budget.Op{Class: budget.ClassNew})
					if !ok || !fits {
						t.Fatalf("%s: no answer (%v %v)", name, ok, fits)
					}
					if got.After(at) {
						t.Fatalf("%s spent %d queued %d: order %d: capacity says %v, the plan %v (later)",
							name, spent, queued, k+1, got.Sub(now), at.Sub(now))
					}
					if at.Sub(now) < capacityHorizon-capacityStep && at.Sub(got) > capacityStep+time.Millisecond {
						t.Fatalf("%s spent %d queued %d: order %d: capacity says %v, the plan %v: more than a step early",
							name, spent, queued, k+1, got.Sub(now), at.Sub(now))
					}
					if a, _ := c.admitNew(now, newItem("n"+strconv.Itoa(k)), true); a != admitQueued {
						t.Fatalf("%s: order %d not queued", name, k)
					}
				}
			}
		}
	}
	if checked < 3*len(limits) {
		t.Fatalf("only %d cases had a capacity to check", checked)
	}
}

// An order refused, expired or canceled without the venue stays in hand
// until its decision is stored (finish forgets it): a redelivery of its
// message meanwhile is admitHeld, waiting for that work, never taken in
// as a new order. (A chaos run sent an order whose local cancel was being
// stored: at a takeover its message was read directly and redelivered
// too, and the redelivery came in between.)
func TestLocallyDecidedOrderStaysInHandUntilStored(t *testing.T) {
	soon := t0.Add(time.Second)
	for _, tc := range []struct {
		name  string
		setup func(c *core) (o *order, want actKind, at time.Time)
	}{
		{"canceled while queued", func(c *core) (*order, actKind, time.Time) {
			it := newItem("a")
			c.admitNew(t0, it, true)
			if !c.admitCancel(t0, cancelOf("a")) {
				t.Fatal("cancel not queued")
			}
			return it.order, actCancelQueued, t0
		}},
		{"expired in the queue", func(c *core) (*order, actKind, time.Time) {
			it := newItem("a", expiring(soon))
			c.admitNew(t0, it, true)
			return it.order, actExpire, soon
		}},
		{"refused at admission: queue full", func(c *core) (*order, actKind, time.Time) {
			for i := range c.queueSize {
				c.admitNew(t0, newItem("q"+strconv.Itoa(i)), true)
			}
			it := newItem("a")
			if a, _ := c.admitNew(t0, it, true); a != admitFull {
				t.Fatalf("admission %d, want admitFull", a)
			}
			return it.order, actIdle, t0
		}},
		{"expired at admission", func(c *core) (*order, actKind, time.Time) {
			c.admitNew(t0, newItem("q"), true) // takes the budget's one request
			it := newItem("a", expiring(t0.Add(time.Second)))
			if a, _ := c.admitNew(t0, it, true); a != admitExpire {
				t.Fatalf("admission %d, want admitExpire", a)
			}
			return it.order, actIdle, t0
		}},
		{"refused: the key halted", func(c *core) (*order, actKind, time.Time) {
			it := newItem("a", pinned)
			c.admitNew(t0, it, true)
			if _, _, refused := c.setState(messages.KeyHalted, time.Time{}, "halted"); len(refused) != 1 {
				t.Fatalf("refused %d, want the pinned order", len(refused))
			}
			return it.order, actIdle, t0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCore(t, 1)
			o, want, now := tc.setup(c)
			if want != actIdle {
				if a := c.next(now); a.kind != want {
					t.Fatalf("next: %d, want %d", a.kind, want)
				}
			}
			if c.orders[o.kvKey] != o || !o.deciding {
				t.Fatalf("the order left hand before its decision was stored (held %v, deciding %v)", c.orders[o.kvKey] != nil, o.deciding)
			}
			redelivered := &item{order: newOrder("k", &messages.ExecOrder{Intent: o.intent, Routed: 1}, 1)}
			if a, _ := c.admitNew(now, redelivered, true); a != admitHeld {
				t.Fatalf("its redelivery was admitted as %d, want admitHeld", a)
			}
			for _, q := range []*queue{&c.newQ, &c.cancelQ} {
				q.each(func(it *item) {
					if it.order != nil && it.order.kvKey == o.kvKey {
						t.Fatal("the order is queued again")
					}
				})
			}
			c.forget(o) // its decision stored (finish)
			if c.orders[o.kvKey] != nil {
				t.Fatal("still in hand after forget")
			}
		})
	}
}

// An order that may already be at the venue (in doubt: sent by a
// predecessor, or its Place's outcome unknown) is asked about whatever its
// deadline and the queue: expired or refused here without asking, it could
// be live there, reported closed. Only the venue's answer (not there)
// makes it a never-sent order that its deadline then expires.
func TestInDoubtOrderIsAskedAboutPastItsDeadline(t *testing.T) {
	past := t0.Add(-time.Second)
	doubt := func(id string) *item {
		it := newItem(id, expiring(past))
		it.inDoubt = true
		return it
	}
	c := testCore(t, 10)
	for i := range c.queueSize {
		c.admitNew(t0, newItem("q"+strconv.Itoa(i)), true)
	}
	it := doubt("a")
	if a, _ := c.admitNew(t0, it, true); a != admitQueued {
		t.Fatalf("in doubt, past its deadline, the queue full: admission %d, want admitQueued", a)
	}
	c = testCore(t, 10)
	c.newQ.push(doubt("b"))
	c.hold(c.newQ.peek().order)
	if a := c.next(t0); a.kind != actSend || a.it.order.intent.ClientOrderID != "b" {
		t.Fatalf("next: %d, want the look-up sent (actSend)", a.kind)
	}
	// Throttled past its deadline: it waits for the look-up, not expired.
	c = testCore(t, 10)
	c.newQ.push(doubt("c"))
	c.hold(c.newQ.peek().order)
	c.setState(messages.KeyThrottled, t0.Add(time.Minute), "429")
	if a := c.next(t0); a.kind != actWait {
		t.Fatalf("throttled: next %d, want actWait", a.kind)
	}
	// Not at the venue after all: now a never-sent order, expired.
	c = testCore(t, 10)
	never := newItem("d", expiring(past))
	c.newQ.push(never)
	c.hold(never.order)
	if a := c.next(t0); a.kind != actExpire {
		t.Fatalf("never sent, past its deadline: next %d, want actExpire", a.kind)
	}
}
