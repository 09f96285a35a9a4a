package executors_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestMarketOrderIsAcceptedAndFilledOnce(t *testing.T) {
	h := newHarness(t, fixed("r10s", 10, 10*time.Second))
	h.active("a")
	h.route(intent("m1", "market", ""))
	h.waitKind("m1", messages.KindFill)
	bustest.WaitFor(t, "the order's reports", func() bool { return len(h.of("m1")) == 2 })
	rs := h.of("m1")
	if rs[0].Kind != messages.KindAccepted || rs[0].Seq != 1 || rs[1].Kind != messages.KindFill || rs[1].Seq != 2 {
		t.Fatalf("reports %s, want accepted#1 fill#2", kinds(rs))
	}
	if f := rs[1]; f.Status != messages.StatusFilled || !f.CumQuantity.Equal(dec("1")) || !f.LeavesQuantity.IsZero() {
		t.Errorf("fill: status %s cum %s leaves %s", f.Status, f.CumQuantity, f.LeavesQuantity)
	}
	if n := h.venue.count("place " + clientID("m1")); n != 1 {
		t.Errorf("placed %d times", n)
	}
}

// Cancels go before new orders, and a cancel of an order still queued
// needs no venue request.
func TestCancelsOvertakeQueuedOrders(t *testing.T) {
	h := newHarness(t, fixed("r10s", 2, 10*time.Second))
	h.active("a")
	for i := 1; i <= 4; i++ {
		h.route(intent(fmt.Sprintf("n%d", i), "limit", ""))
	}
	h.waitKind("n2", messages.KindAccepted)
	bustest.WaitFor(t, "n3 and n4 queued", func() bool { return h.venue.count("place "+clientID("n2")) == 1 && queue(h) == 2 })
	h.cancel("n4") // queued here: canceled at once, no budget
	h.cancel("n1") // at the venue: needs budget, and gets it before n3
	h.waitKind("n4", messages.KindCanceled)
	if rs := h.of("n4"); kinds(rs) != "accepted#1 canceled#2" {
		t.Errorf("n4: %s, want accepted#1 canceled#2", kinds(rs))
	}
	if slices.Contains(h.venue.Calls(), "place "+clientID("n4")) {
		t.Error("n4 reached the venue although it was canceled in the queue")
	}
	bustest.WaitFor(t, "the cancel of n1 to wait for budget, with n3", func() bool { return queue(h) == 2 })
	if slices.Contains(h.venue.Calls(), "cancel "+clientID("n1")) {
		t.Fatal("n1 was canceled before the budget allowed a request")
	}
	h.clock.Advance(10 * time.Second) // the next window
	h.waitKind("n1", messages.KindCanceled)
	h.waitKind("n3", messages.KindAccepted)
	calls := h.venue.Calls()
	if c, p := slices.Index(calls, "cancel "+clientID("n1")), slices.Index(calls, "place "+clientID("n3")); c < 0 || p < c {
		t.Errorf("venue requests %v: the cancel of n1 must come before the placement of n3", calls)
	}
}

func queue(h *harness) int {
	st := h.status()
	return st.QueueDepth
}

// waitHandBack waits for k's hand-back of s's order id to the router.
func (h *harness) waitHandBack(id string) {
	h.t.Helper()
	rr, err := h.js.Stream(h.t.Context(), messages.StreamOrders)
	if err != nil {
		h.t.Fatal(err)
	}
	bustest.WaitFor(h.t, id+" handed back", func() bool {
		m, err := rr.GetLastMsgForSubject(h.t.Context(), messages.OrdersRerouteSubject("s"))
		return err == nil && strings.Contains(string(m.Data), `"from":"k"`) && strings.Contains(string(m.Data), `"client_order_id":"`+id+`"`)
	})
}

// status returns the key's status from its active worker.
func (h *harness) status() messages.KeyStatus {
	h.t.Helper()
	var st messages.KeyStatus
	bustest.WaitFor(h.t, "an active worker", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, p := range h.procs {
			if p.w.Active() {
				st = p.w.Status()
				return true
			}
		}
		return false
	})
	return st
}

// New orders the budget lets go at once go out together (their
// write-aheads in flight together), but none is placed later than
// batchSlack after its budget was taken: when the venue is slow, the
// rest of the batch goes back to the queue and waits for budget again
// (the venue counts a request when it arrives), and the next batches are
// of one order.
func TestSlowVenueEndsTheBatch(t *testing.T) {
	h := newHarness(t, fixed("r10s", 4, 10*time.Second))
	h.active("a")
	for i := range 4 {
		h.route(intent(fmt.Sprintf("w%d", i), "market", `"key":"k"`))
	}
	h.waitKind("w3", messages.KindAccepted)
	// The window's budget is spent: t0..t3 wait together for the next.
	for i := range 4 {
		h.route(intent(fmt.Sprintf("t%d", i), "market", `"key":"k"`))
	}
	bustest.WaitFor(t, "t0..t3 to wait for budget", func() bool { return queue(h) == 4 })
	h.venue.PlaceFunc = func(o executors.Order) (executors.OrderUpdate, error) {
		h.clock.Advance(10 * time.Millisecond) // a slow answer
		return h.venue.doPlace(o)
	}
	h.clock.Advance(10 * time.Second)
	h.waitKind("t0", messages.KindAccepted)
	bustest.WaitFor(t, "t1..t3 back in the queue", func() bool { return queue(h) == 3 })
	for i := 1; i < 4; i++ {
		if n := h.venue.count("place " + clientID(fmt.Sprintf("t%d", i))); n != 0 {
			t.Fatalf("t%d placed %d times 10 ms after its budget was taken: %v", i, n, h.venue.Calls())
		}
	}
	h.clock.Advance(10 * time.Second)
	for i := 1; i < 4; i++ {
		h.waitKind(fmt.Sprintf("t%d", i), messages.KindAccepted)
	}
	var places []string
	for _, c := range h.venue.Calls() {
		if strings.HasPrefix(c, "place ") {
			places = append(places, c)
		}
	}
	var want []string
	for _, id := range []string{"w0", "w1", "w2", "w3", "t0", "t1", "t2", "t3"} {
		want = append(want, "place "+clientID(id))
	}
	if !slices.Equal(places, want) {
		t.Errorf("places %v, want each once, in order: %v", places, want)
	}
}

// An order whose deadline the budget cannot meet, counting the orders
// queued ahead of it, is expired at once, not late.
func TestUnmeetableDeadlineExpiresAtOnce(t *testing.T) {
	h := newHarness(t, fixed("r10s", 1, 10*time.Second))
	h.active("a")
	h.route(intent("first", "market", ""))
	h.waitKind("first", messages.KindAccepted)
	// The budget is spent until start+10s: one more order fits then.
	h.route(intent("queued", "limit", ""))
	bustest.WaitFor(t, "queued to wait", func() bool { return queue(h) == 1 })
	// A deadline at start+15s would be met with an empty queue (next
	// window), but "queued" takes that slot: the next is start+20s.
	exp := start.Add(15 * time.Second).UTC().Format(time.RFC3339Nano)
	h.route(intent("late", "market", `"expires_at":"`+exp+`"`))
	r := h.waitKind("late", messages.KindExpired)
	if r.Reason != messages.ReasonExpired || !strings.Contains(r.Message, "budget") {
		t.Errorf("late: reason %s message %q", r.Reason, r.Message)
	}
	if got := h.clock.Now(); !got.Equal(start) {
		t.Errorf("the clock moved to %v: the expiry did not come at once", got)
	}
	if slices.Contains(h.venue.Calls(), "place "+clientID("late")) {
		t.Error("an expired order reached the venue")
	}
}

func TestFullQueueRejectsRateLimited(t *testing.T) {
	h := newHarness(t, fixed("r10s", 1, 10*time.Second))
	h.opts.QueueSize = 2
	h.active("a")
	for _, id := range []string{"a", "b", "c", "d"} {
		h.route(intent(id, "limit", ""))
	}
	r := h.waitKind("d", messages.KindRejected)
	if r.Reason != messages.ReasonRateLimited {
		t.Errorf("d: reason %s, want rate_limited", r.Reason)
	}
	if got := queue(h); got != 2 {
		t.Errorf("queue depth %d, want 2", got)
	}
}

// A 429 with Retry-After holds the key: it is throttled, nothing is sent
// until then, and then the rest goes out.
func TestVenueThrottleHoldsTheKey(t *testing.T) {
	h := newHarness(t, fixed("r10s", 50, 10*time.Second))
	throttled := 0
	h.venue.PlaceFunc = func(o executors.Order) (executors.OrderUpdate, error) {
		if o.ClientID == clientID("t3") && throttled == 0 {
			throttled++
			return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Throttled, Code: "429",
				Message: "too many requests", RetryAfter: start.Add(2 * time.Second)}
		}
		return h.venue.doPlace(o)
	}
	h.active("a")
	// Pinned to k, they stay at k while it is throttled.
	for i := range 6 {
		h.route(intent(fmt.Sprintf("t%d", i), "market", `"key":"k"`))
	}
	h.waitKind("t2", messages.KindAccepted)
	bustest.WaitFor(t, "the key to be throttled", func() bool { return h.status().State == messages.KeyThrottled })
	placed := h.venue.count("place " + clientID("t3"))
	if placed != 1 || slices.Contains(h.venue.Calls(), "place "+clientID("t4")) {
		t.Fatalf("requests while throttled: %v", h.venue.Calls())
	}
	h.clock.Advance(2 * time.Second)
	for i := 3; i < 6; i++ {
		h.waitKind(fmt.Sprintf("t%d", i), messages.KindAccepted)
	}
	if st := h.status(); st.State != messages.KeyActive {
		t.Errorf("state %s after the throttle ended, want active", st.State)
	}
}

// A cancel's budget cost follows its order's age (Kraken's rule).
func TestCancelCostFollowsOrderAge(t *testing.T) {
	l := fixed("r10s", 20, 10*time.Second)
	l.AgeCost = []budget.AgeStep{{Class: budget.ClassCancel, Under: time.Second, Cost: 8}, {Class: budget.ClassCancel, Under: 300 * time.Second, Cost: 1}}
	h := newHarness(t, l)
	h.active("a")
	h.route(intent("young", "limit", ""))
	h.route(intent("old", "limit", ""))
	h.waitKind("old", messages.KindAccepted)
	h.clock.Advance(2 * time.Second)
	h.cancel("old") // 2 s old: 1 + 1
	h.waitKind("old", messages.KindCanceled)
	h.route(intent("young2", "limit", ""))
	h.waitKind("young2", messages.KindAccepted)
	h.cancel("young2") // 0 s old: 1 + 8
	h.waitKind("young2", messages.KindCanceled)
	// 3 placements + 2 + 9 for the cancels.
	if used := h.status().Limits[0].Used; used != 14 {
		t.Errorf("budget used %v, want 14 (3 orders, a 2 s old cancel at 2, a new one at 9)", used)
	}
}

// A worker that restarts asks the venue about the orders it had at the
// venue and reports what happened to them meanwhile, once.
func TestRestartReportsWhatHappenedMeanwhile(t *testing.T) {
	h := newHarness(t, fixed("r10s", 10, 10*time.Second))
	a := h.active("a")
	h.route(intent("rest", "limit", ""))
	h.waitKind("rest", messages.KindAccepted)
	a.halt()
	h.venue.Fill(clientID("rest"), dec("0.4")) // while nobody listens
	h.active("a")
	r := h.waitKind("rest", messages.KindFill)
	if !r.CumQuantity.Equal(dec("0.4")) || r.Seq != 2 {
		t.Errorf("fill after restart: cum %s seq %d", r.CumQuantity, r.Seq)
	}
	h.venue.Fill(clientID("rest"), dec("0.6"))
	bustest.WaitFor(t, "the last fill", func() bool { return len(h.of("rest")) == 3 })
	if rs := h.of("rest"); kinds(rs) != "accepted#1 fill#2 fill#3" || rs[2].Status != messages.StatusFilled {
		t.Errorf("reports %s (last status %s)", kinds(rs), rs[len(rs)-1].Status)
	}
}

// The promise across processes: two workers of one key, one active; when
// it dies the standby takes over, and no order is placed twice.
func TestStandbyTakesOverAndPlacesNothingTwice(t *testing.T) {
	h := newHarness(t, fixed("r10s", 100, 10*time.Second))
	// The active worker dies in the middle of a Place: the order reaches
	// the venue, the answer never comes back.
	died := make(chan struct{})
	h.venue.PlaceFunc = func(o executors.Order) (executors.OrderUpdate, error) {
		u, err := h.venue.doPlace(o)
		if o.ClientID == clientID("o2") {
			<-died
			return executors.OrderUpdate{}, errors.New("connection lost")
		}
		return u, err
	}
	a := h.active("a")
	b := h.startWorker("b")
	h.route(intent("o1", "market", ""))
	h.waitKind("o1", messages.KindFill)
	h.route(intent("o2", "market", ""))
	bustest.WaitFor(t, "o2 at the venue", func() bool { return h.venue.count("place "+clientID("o2")) == 1 })
	a.nc.Close() // SIGKILL: nothing more leaves a
	close(died)
	a.halt()
	if b.w.Active() {
		t.Fatal("the standby took over while a's heartbeat was fresh")
	}
	// a is silent now; after the lease TTL b takes over.
	for !b.w.Active() {
		h.clock.Advance(500 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	h.route(intent("o3", "market", ""))
	h.waitKind("o3", messages.KindFill)
	// o2 was being sent by a: b asks the venue once a's request can no
	// longer take effect, and reports it; it never places it again.
	h.clock.Advance(11 * time.Second)
	h.waitKind("o2", messages.KindFill)
	for _, id := range []string{"o1", "o2", "o3"} {
		if n := h.venue.count("place " + clientID(id)); n != 1 {
			t.Errorf("%s placed %d times", id, n)
		}
		if rs := h.of(id); kinds(rs) != "accepted#1 fill#2" {
			t.Errorf("%s reports %s, want accepted#1 fill#2", id, kinds(rs))
		}
	}
	if st := b.w.Status(); !strings.HasSuffix(st.Worker, "@b") {
		t.Errorf("status from worker %s, want b", st.Worker)
	}
}

// A worker whose lease another process took while it was alive (its
// heartbeat lapsed, a standby took the key) steps down and sends nothing
// more. (That a write fenced by a taken lease is refused is
// router/bus's TestStandbyTakesLeaseOnlyAfterHolderIsSilentForTTL.)
func TestDisplacedWorkerPlacesNothing(t *testing.T) {
	h := newHarness(t, fixed("r10s", 100, 10*time.Second))
	a := h.active("a")
	// Another process, alive (its heartbeat is there), takes the key's
	// lease behind a's back (as a standby does when a's heartbeats stop
	// reaching the bus).
	if _, err := h.b.Control.Put(t.Context(), "proc.x", []byte(`{"instance":"x","incarnation":"y"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.b.Orders.Put(t.Context(), messages.LeaseKey("k"), []byte(`{"holder":"x","incarnation":"y"}`)); err != nil {
		t.Fatal(err)
	}
	h.route(intent("z1", "market", ""))
	bustest.WaitFor(t, "a to step down", func() bool { return !a.w.Active() })
	if n := h.venue.count("place " + clientID("z1")); n != 0 {
		t.Fatalf("the displaced worker placed z1 %d times", n)
	}
	if r := h.of("z1"); len(r) != 0 {
		t.Errorf("reports of z1 from a displaced worker: %s", kinds(r))
	}
}

// An order handed back to the router (its key turned unusable) is never
// sent by that key again, even if its message comes back after a crash.
func TestHandedBackOrderIsNotSentByItsOldKey(t *testing.T) {
	h := newHarness(t, fixed("r10s", 1, 10*time.Second))
	h.active("a")
	h.route(intent("h1", "limit", ""))
	h.waitKind("h1", messages.KindAccepted)
	h.route(intent("h2", "limit", "")) // queued: no budget until the next window
	bustest.WaitFor(t, "h2 queued", func() bool { return queue(h) == 1 })
	// Halting the key hands h2 back (it may move to another key).
	if _, err := h.b.Control.Put(t.Context(), "key.k", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	bustest.WaitFor(t, "h2 handed back", func() bool { return queue(h) == 0 })
	h.waitHandBack("h2")
	// Resume, and let time pass: h2's message is not taken again.
	if err := h.b.Control.Delete(t.Context(), "key.k"); err != nil {
		t.Fatal(err)
	}
	bustest.WaitFor(t, "the key resumed", func() bool { return h.status().State == messages.KeyActive })
	h.clock.Advance(10 * time.Second)
	h.route(intent("h3", "limit", ""))
	h.waitKind("h3", messages.KindAccepted)
	if slices.Contains(h.venue.Calls(), "place "+clientID("h2")) {
		t.Error("the old key placed an order it had handed back")
	}
}

// A cancel taken in while its order was being placed follows the order
// when the venue's answer (a throttle) hands it back: once the router has
// moved the order to another key, the cancel is forwarded there, never
// answered too_late_to_cancel as if the order had closed (chaos short run,
// seed 2, after a 429).
func TestCancelFollowsItsOrderHandedBack(t *testing.T) {
	h := newHarness(t, fixed("r10s", 10, 10*time.Second))
	placing, release := make(chan struct{}), make(chan struct{})
	h.venue.PlaceFunc = func(o executors.Order) (executors.OrderUpdate, error) {
		if o.ClientID == clientID("m1") {
			close(placing)
			<-release
			return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Throttled, Code: "429",
				Message: "too many requests", RetryAfter: h.clock.Now().Add(time.Second)}
		}
		return h.venue.doPlace(o)
	}
	h.active("a")
	in := intent("m1", "limit", "")
	claim := h.route(in)
	<-placing
	h.cancel("m1")
	bustest.WaitFor(t, "the cancel to wait for m1's outcome", func() bool { return h.status().QueueCancel == 1 })
	close(release)
	h.waitHandBack("m1")
	// The throttle ends; the cancel finds m1 gone from here, its claim
	// still here until the router moves it, as it does now.
	h.clock.Advance(time.Second)
	h.routeTo("k2", in, 2, claim)
	ex, err := h.js.Stream(t.Context(), messages.StreamExec)
	if err != nil {
		t.Fatal(err)
	}
	bustest.WaitFor(t, "the cancel forwarded to k2", func() bool {
		_, err := ex.GetLastMsgForSubject(t.Context(), messages.ExecCancelSubject("k2", "s", "m1"))
		return err == nil
	})
	for _, r := range h.of("m1") {
		if r.Kind == messages.KindCancelRejected {
			t.Errorf("the cancel was answered %s (%s) at the old key", r.Reason, r.Message)
		}
	}
}

// Whatever a venue says, a fill is reported only if it belongs to the
// order, once by trade ID, and never past the order's quantity.
func TestOnlyFillsOfTheOrderAreReported(t *testing.T) {
	h := newHarness(t, fixed("r10s", 10, 10*time.Second))
	h.active("a")
	h.route(intent("f1", "limit", ""))
	acc := h.waitKind("f1", messages.KindAccepted)
	fill := func(trade, order, qty string) executors.Fill {
		f := executors.Fill{VenueOrderID: order}
		f.TradeID, f.Quantity, f.Price = trade, dec(qty), dec("100")
		return f
	}
	h.venue.Push(executors.OrderUpdate{ClientID: clientID("f1"), VenueOrderID: acc.VenueOrderID, Status: messages.StatusPartiallyFilled,
		Fills: []executors.Fill{
			fill("x1", "someone-else", "0.5"),    // another order's trade
			fill("ok1", acc.VenueOrderID, "0.5"), // good
			fill("ok1", acc.VenueOrderID, "0.5"), // repeated
			fill("big", acc.VenueOrderID, "0.6"), // would pass the quantity
			fill("ok2", "", "0.5"),               // good (the update's order)
		}})
	bustest.WaitFor(t, "the good fills", func() bool { return len(h.of("f1")) == 3 })
	rs := h.of("f1")
	if kinds(rs) != "accepted#1 fill#2 fill#3" || rs[1].Fill.TradeID != "ok1" || rs[2].Fill.TradeID != "ok2" {
		t.Fatalf("reports %s", kinds(rs))
	}
	if last := rs[2]; !last.CumQuantity.Equal(dec("1")) || last.Status != messages.StatusFilled {
		t.Errorf("cum %s status %s, want 1 filled", last.CumQuantity, last.Status)
	}
	for _, bad := range []string{"someone-else", "big"} {
		if !strings.Contains(h.logs.String(), bad) {
			t.Errorf("no loud log of the %s fill", bad)
		}
	}
}

// A venue that cannot be reached leaves its key down, and the key comes
// back by itself when the venue does.
func TestUnreachableVenueKeepsKeyDownUntilItAnswers(t *testing.T) {
	h := newHarness(t, fixed("r10s", 10, 10*time.Second))
	h.venue.SetHealth(errors.New("no route to host"))
	h.active("a")
	bustest.WaitFor(t, "down", func() bool { return h.status().State == messages.KeyDown })
	if st := h.status(); !strings.Contains(st.Message, "no route to host") {
		t.Errorf("message %q", st.Message)
	}
	h.venue.SetHealth(nil)
	bustest.WaitFor(t, "active again", func() bool {
		h.clock.Advance(time.Second)
		return h.status().State == messages.KeyActive
	})
}

// An order whose outcome is unknown (a timeout) is asked about once its
// request can no longer take effect, and meanwhile the key's other orders
// go out; found, it is reported; not found, it is sent again, once.
//
// slow: every Place takes 5 ms, so that orders go out one at a time, not
// in batches (see sendNews).
func TestUnknownOutcomeIsAskedLaterWithoutHoldingUpTheKey(t *testing.T) {
	for _, c := range []struct{ booked, slow bool }{{true, false}, {false, false}, {true, true}, {false, true}} {
		booked := c.booked
		t.Run(fmt.Sprintf("booked %v slow %v", booked, c.slow), func(t *testing.T) {
			h := newHarness(t, fixed("r10s", 100, 10*time.Second))
			first := true
			h.venue.PlaceFunc = func(o executors.Order) (executors.OrderUpdate, error) {
				if c.slow {
					h.clock.Advance(5 * time.Millisecond)
				}
				if o.ClientID == clientID("u1") && first {
					first = false
					if booked {
						_, _ = h.venue.doPlace(o)
					}
					return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Unknown, Message: "timeout",
						RetryAfter: h.clock.Now().Add(5 * time.Second)}
				}
				return h.venue.doPlace(o)
			}
			h.active("a")
			if c.slow {
				h.route(intent("w", "market", "")) // the venue is seen to be slow
				h.waitKind("w", messages.KindFill)
			}
			h.route(intent("u1", "market", ""))
			h.route(intent("u2", "market", ""))
			h.waitKind("u2", messages.KindFill) // not held up by u1
			if slices.Contains(h.venue.Calls(), "query "+clientID("u1")) {
				t.Fatal("asked about u1 before its request could no longer take effect")
			}
			h.clock.Advance(5 * time.Second)
			h.waitKind("u1", messages.KindFill)
			if n := h.venue.count("place " + clientID("u1")); (booked && n != 1) || (!booked && n != 2) {
				t.Errorf("u1 placed %d times (booked %v)", n, booked)
			}
			if rs := h.of("u1"); kinds(rs) != "accepted#1 fill#2" {
				t.Errorf("u1 reports %s", kinds(rs))
			}
		})
	}
}

// A cancel of an order whose placement's outcome is unknown waits until
// the venue has been asked: sent at once, it could be answered "unknown
// order" and the order then arrive (a request that took effect late).
func TestCancelWaitsForItsOrdersUnknownOutcome(t *testing.T) {
	for _, arrives := range []bool{true, false} {
		t.Run(fmt.Sprintf("arrives %v", arrives), func(t *testing.T) {
			h := newHarness(t, fixed("r10s", 100, 10*time.Second))
			var late executors.Order
			first := true
			h.venue.PlaceFunc = func(o executors.Order) (executors.OrderUpdate, error) {
				if o.ClientID == clientID("u1") && first {
					first, late = false, o
					return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Unknown, Message: "timeout",
						RetryAfter: h.clock.Now().Add(5 * time.Second)}
				}
				return h.venue.doPlace(o)
			}
			h.active("a")
			h.route(intent("u1", "limit", ""))
			bustest.WaitFor(t, "u1 placed", func() bool { return h.venue.count("place "+clientID("u1")) == 1 })
			h.cancel("u1")
			h.route(intent("u2", "market", ""))
			h.waitKind("u2", messages.KindFill) // the cancel, ahead of u2, has been looked at
			if arrives {
				if _, err := h.venue.doPlace(late); err != nil { // the request takes effect late
					t.Fatal(err)
				}
			}
			if slices.Contains(h.venue.Calls(), "cancel "+clientID("u1")) {
				t.Fatal("the cancel of u1 went to the venue before u1's outcome was known")
			}
			if rs := h.of("u1"); len(rs) != 0 {
				t.Fatalf("u1 reported %s before its outcome was known", kinds(rs))
			}
			h.clock.Advance(5 * time.Second)
			h.waitKind("u1", messages.KindCanceled)
			if rs := h.of("u1"); kinds(rs) != "accepted#1 canceled#2" {
				t.Errorf("u1 reports %s, want accepted#1 canceled#2", kinds(rs))
			}
			calls := h.venue.Calls()
			if arrives {
				if q, c := slices.Index(calls, "query "+clientID("u1")), slices.Index(calls, "cancel "+clientID("u1")); q < 0 || c < q {
					t.Errorf("venue requests %v: want the look-up of u1, then its cancel", calls)
				}
			} else {
				if n := h.venue.count("place " + clientID("u1")); n != 1 {
					t.Errorf("u1 placed %d times; not at the venue and canceled, it must not be sent again", n)
				}
				if slices.Contains(calls, "cancel "+clientID("u1")) {
					t.Errorf("venue requests %v: u1 was not at the venue; its cancel needs no request", calls)
				}
			}
			h.venue.mu.Lock()
			st := h.venue.orders[clientID("u1")]
			h.venue.mu.Unlock()
			if arrives && (st == nil || st.Status != messages.StatusCanceled) {
				t.Errorf("u1 at the venue: %+v, want canceled", st)
			}
		})
	}
}

// Reports that could not be stored (their stream had no leader) are made
// by the successor if the worker dies before redoing them: the order's
// record never says more than the reports that were stored.
func TestReportsNotStoredAreMadeBySuccessor(t *testing.T) {
	h := newHarness(t, fixed("r10s", 100, 10*time.Second))
	a := h.active("a")
	b := h.startWorker("b")
	h.route(intent("o1", "market", ""))
	h.waitKind("o1", messages.KindFill)

	// REPORTS takes nothing more for a while.
	st, err := h.js.Stream(t.Context(), messages.StreamReports)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	open := info.Config
	full := open
	full.MaxMsgs, full.Discard = int64(info.State.Msgs), jetstream.DiscardNew
	if _, err := h.js.UpdateStream(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	h.route(intent("o2", "market", ""))
	bustest.WaitFor(t, "o2's reports refused", func() bool { return strings.Contains(h.logs.String(), "reports not stored") })
	a.kill()
	if _, err := h.js.UpdateStream(t.Context(), open); err != nil {
		t.Fatal(err)
	}
	for !b.w.Active() {
		h.clock.Advance(500 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	h.clock.Advance(11 * time.Second) // a's request can no longer take effect: b asks
	h.waitKind("o2", messages.KindFill)
	if rs := h.of("o2"); kinds(rs) != "accepted#1 fill#2" {
		t.Errorf("o2 reports %s, want accepted#1 fill#2", kinds(rs))
	}
	if n := h.venue.count("place " + clientID("o2")); n != 1 {
		t.Errorf("o2 placed %d times", n)
	}
}

// An active key's status goes out at once, again within a tick of a
// change (here an order spends budget), and while nothing changes only
// every heartbeat: the ticks between say nothing.
func TestStatusOnChangeAndHeartbeat(t *testing.T) {
	h := newHarness(t, fixed("r10s", 10, 10*time.Second))
	var mu sync.Mutex
	var got []messages.KeyStatus
	sub, err := h.nc.Subscribe(messages.KeyStatusSubject("k"), func(m *nats.Msg) {
		var st messages.KeyStatus
		if json.Unmarshal(m.Data, &st) == nil {
			mu.Lock()
			got = append(got, st)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// first returns the first status received that pred holds for.
	first := func(pred func(messages.KeyStatus) bool) (messages.KeyStatus, bool) {
		mu.Lock()
		defer mu.Unlock()
		i := slices.IndexFunc(got, pred)
		if i < 0 {
			return messages.KeyStatus{}, false
		}
		return got[i], true
	}
	// tick moves the clock a second once the status loop waits on it.
	tick := func() {
		t.Helper()
		next := h.clock.Now().Add(time.Second)
		bustest.WaitFor(t, "the status loop to wait for its next tick", func() bool { return h.clock.WaitingAt(next) })
		h.clock.Advance(time.Second)
	}
	p := h.active("a")
	bustest.WaitFor(t, "the first status", func() bool {
		_, ok := first(func(st messages.KeyStatus) bool { return st.State == messages.KeyActive })
		return ok
	})
	h.route(intent("s1", "market", ""))
	h.waitKind("s1", messages.KindFill)
	// Its final record follows its reports, and the order leaves hand
	// (open orders) only then: a look before that and one after would be
	// two changes.
	bustest.WaitFor(t, "s1 out of hand", func() bool { return p.w.Status().OpenOrders == 0 })
	tick()
	spent := func(st messages.KeyStatus) bool { return len(st.Limits) == 1 && st.Limits[0].Used == 1 }
	var changed messages.KeyStatus
	bustest.WaitFor(t, "a status with the budget spent, within a second", func() bool {
		var ok bool
		changed, ok = first(spent)
		return ok
	})
	if late := changed.TS.Sub(start); late > time.Second {
		t.Errorf("the status with the budget spent is of %v after the fill, want within a second", late)
	}
	beat := changed.TS.Add(messages.KeyStatusHeartbeat)
	for h.clock.Now().Before(beat) {
		tick()
	}
	// The status loop sets its next timer after each look. Under load a
	// tick can find another timer waiting at that instant while the
	// loop's is not set yet, and the loop then looks a second late: move
	// the clock on while the heartbeat is missing, up to two seconds past
	// it (a test of make test's race run hung here, waiting for a look at
	// an instant the clock never reached).
	bustest.WaitFor(t, "the heartbeat of the idle key", func() bool {
		if _, ok := first(func(st messages.KeyStatus) bool { return !st.TS.Before(beat) }); ok {
			return true
		}
		if next := h.clock.Now().Add(time.Second); next.Before(beat.Add(3*time.Second)) && h.clock.WaitingAt(next) {
			h.clock.Advance(time.Second)
		}
		return false
	})
	// The statuses go out in order on one connection: every tick before
	// the heartbeat has been answered by now.
	mu.Lock()
	defer mu.Unlock()
	var between []time.Duration
	for _, st := range got {
		if st.TS.After(changed.TS) && st.TS.Before(beat) {
			between = append(between, st.TS.Sub(start))
		}
	}
	if len(between) > 0 {
		t.Errorf("statuses of an idle key between the change and the heartbeat, at %v after start", between)
	}
	if last := got[len(got)-1]; !last.SameAs(&changed) {
		t.Errorf("the heartbeat says %+v, want what the last change said, %+v", last, changed)
	}
}

// limitStream makes stream take no new subjects (DiscardNew at its
// current count) until the returned func restores it.
func limitStream(t *testing.T, h *harness, stream string) (restore func()) {
	t.Helper()
	st, err := h.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	open := info.Config
	full := open
	full.MaxMsgs, full.Discard = int64(info.State.Msgs), jetstream.DiscardNew
	if _, err := h.js.UpdateStream(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := h.js.UpdateStream(t.Context(), open); err != nil {
			t.Fatal(err)
		}
	}
}

// An order canceled while queued here is never sent afterwards, whichever
// of its two writes (its record, its reports) fails: a decision made
// without the venue is recorded before it is reported, and a cancel of an
// order being redone waits for it. (A canceled report stored with its
// record lost let the order's redelivery send it: chaos long run, seed
// 120611.)
func TestCanceledInQueueStaysCanceledWhenAWriteFails(t *testing.T) {
	for _, failing := range []string{"KV_" + messages.BucketOrders, messages.StreamReports} {
		t.Run(failing, func(t *testing.T) {
			h := newHarness(t, fixed("r10s", 1, 10*time.Second))
			h.active("a")
			h.route(intent("q1", "limit", ""))
			h.waitKind("q1", messages.KindAccepted)
			h.route(intent("q2", "limit", "")) // waits for the next window
			bustest.WaitFor(t, "q2 queued", func() bool { return queue(h) == 1 })
			restore := limitStream(t, h, failing)
			h.cancel("q2")
			bustest.WaitFor(t, "the cancel's reports refused", func() bool { return strings.Contains(h.logs.String(), "reports not stored") })
			restore()
			// Budget for q2, were it sent, and then for its cancel: the two
			// come back (after a second on the server's clock) in either
			// order, and q2 may go out first, its cancel then waiting for
			// the next window. The clock moves a second a look.
			bustest.WaitFor(t, "q2 canceled", func() bool {
				h.clock.Advance(time.Second)
				return strings.Contains(kinds(h.of("q2")), "canceled")
			})
			h.route(intent("q3", "limit", ""))
			// The dispatcher has had its chance to send q2 once q3 is out
			// (in a window of its own if q2 and its cancel used this one).
			bustest.WaitFor(t, "q3 accepted", func() bool {
				h.clock.Advance(time.Second)
				return strings.Contains(kinds(h.of("q3")), "accepted")
			})
			// Nothing stored (the record refused), the order and its cancel
			// are handled again: q2 may then have been sent and canceled at
			// the venue. Either way it is not live there.
			h.venue.mu.Lock()
			at := h.venue.orders[clientID("q2")]
			h.venue.mu.Unlock()
			if at != nil && at.Status != messages.StatusCanceled {
				t.Errorf("q2 is %s at the venue after it was reported canceled", at.Status)
			}
			if n := h.venue.count("place " + clientID("q2")); n > 1 || (n == 1 && failing == messages.StreamReports) {
				t.Errorf("q2 placed %d times; its cancel was recorded before its reports were lost", n)
			}
			if rs := h.of("q2"); kinds(rs) != "accepted#1 canceled#2" {
				t.Errorf("q2 reports %s, want accepted#1 canceled#2", kinds(rs))
			}
		})
	}
}

// placedWithReportsRefused places p1 while REPORTS refuses writes, and
// returns once its reports were refused and REPORTS takes writes again.
func placedWithReportsRefused(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, fixed("r10s", 10, 10*time.Second))
	h.active("a")
	h.route(intent("p0", "limit", ""))
	h.waitKind("p0", messages.KindAccepted) // REPORTS holds a message: limitStream can fill it
	restore := limitStream(t, h, messages.StreamReports)
	h.route(intent("p1", "limit", ""))
	bustest.WaitFor(t, "p1's reports refused", func() bool { return strings.Contains(h.logs.String(), "reports not stored") })
	restore()
	return h
}

// A placed order whose reports cannot be stored stays in hand as sent: it
// is asked about and reported once they can be, its exec message never
// given back (given back, the order was forgotten here while its cancel,
// sent at once, closed it at the venue; redelivered, it was placed a
// second time in a chaos run).
func TestPlacedOrderWhoseReportsAreNotStoredStaysInHand(t *testing.T) {
	h := placedWithReportsRefused(t)
	// Kept in hand, it is asked about a second later; given back, it
	// would wait for its request's validity (10 s) to pass.
	var advanced time.Duration
	bustest.WaitFor(t, "p1 reported within 2 s of the clock", func() bool {
		if advanced < 2*time.Second {
			h.clock.Advance(100 * time.Millisecond)
			advanced += 100 * time.Millisecond
		}
		return len(h.of("p1")) > 0
	})
	if n := h.venue.count("place " + clientID("p1")); n != 1 {
		t.Errorf("p1 placed %d times", n)
	}
	if rs := h.of("p1"); kinds(rs) != "accepted#1" {
		t.Errorf("p1 reports %s, want accepted#1", kinds(rs))
	}
}

// As above, with the order's cancel coming before it was asked about: the
// cancel goes to the venue, and its answer reports the order accepted
// first, then canceled (reported canceled alone, the order was never
// reported accepted: a chaos run, after a NATS node's loss).
func TestCanceledBeforeItsAcceptanceIsStored(t *testing.T) {
	h := placedWithReportsRefused(t)
	h.cancel("p1") // the clock stands: p1 is not asked about yet
	h.waitKind("p1", messages.KindCanceled)
	if n := h.venue.count("place " + clientID("p1")); n != 1 {
		t.Errorf("p1 placed %d times", n)
	}
	if rs := h.of("p1"); kinds(rs) != "accepted#1 canceled#2" {
		t.Errorf("p1 reports %s, want accepted#1 canceled#2", kinds(rs))
	}
}
