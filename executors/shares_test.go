package executors_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

// placed counts the venue's placements of s's orders whose IDs start with
// prefix.
func (h *harness) placed(prefix string, n int) int {
	c := 0
	for i := range n {
		c += h.venue.count("place " + clientID(fmt.Sprintf("%s%d", prefix, i)))
	}
	return c
}

// The worker that takes a key over starts from the budget its predecessor
// spent in the current window, not from a full one.
func TestTakeoverStartsFromTheSpentBudget(t *testing.T) {
	for _, saved := range []bool{false, true} {
		t.Run(fmt.Sprintf("state saved %v", saved), func(t *testing.T) {
			h := newHarness(t, fixed("r10s", 4, 10*time.Second))
			a := h.active("a")
			b := h.startWorker("b")
			for i := range 3 {
				h.route(intent(fmt.Sprintf("x%d", i), "market", ""))
				h.waitKind(fmt.Sprintf("x%d", i), messages.KindFill)
			}
			if saved {
				// A status tick: the active worker saves its counters.
				h.clock.Advance(time.Second)
				bustest.WaitFor(t, "the budget state", func() bool {
					_, err := h.b.Orders.Get(t.Context(), messages.BudgetKey("k"))
					return err == nil
				})
			}
			a.kill()
			for !b.w.Active() {
				h.clock.Advance(250 * time.Millisecond)
				time.Sleep(time.Millisecond)
			}
			if now := h.clock.Now(); !now.Before(start.Add(10 * time.Second)) {
				t.Fatalf("the takeover took the clock past the window (%v)", now.Sub(start))
			}
			for i := range 3 {
				h.route(intent(fmt.Sprintf("y%d", i), "market", ""))
			}
			h.waitKind("y0", messages.KindFill)
			bustest.WaitFor(t, "y1 and y2 to wait for the next window", func() bool { return queue(h) == 2 })
			if n := h.placed("y", 3); n != 1 {
				t.Fatalf("the new worker placed %d orders in a window its predecessor had used 3 of 4 of", n)
			}
			h.clock.Set(start.Add(10 * time.Second))
			h.waitKind("y2", messages.KindFill)
		})
	}
}

// Two keys of one account, served by two processes, share the account's
// limit through the BUDGETS bucket: together they never send more than it
// allows in a window, and they use it all.
func TestAccountLimitSharedAcrossProcesses(t *testing.T) {
	acct := budget.Limit{Name: "ORDERS_10S", Shape: budget.Fixed, Max: 10, Window: 10 * time.Second,
		Costs: map[budget.Class]int64{budget.ClassNew: 1}, Scope: "account:a"}
	h := newHarness(t, acct)
	h.startKey("p1", "k", true)
	h.startKey("p2", "k2", true)
	bustest.WaitFor(t, "both keys active", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.procs[0].w.Active() && h.procs[1].w.Active()
	})
	const each = 8
	for i := range each {
		h.routeTo("k", intent(fmt.Sprintf("a%d", i), "market", ""), 1, 0)
		h.routeTo("k2", intent(fmt.Sprintf("b%d", i), "market", ""), 1, 0)
	}
	bustest.WaitFor(t, "the window's budget to be used", func() bool { return h.placed("a", each)+h.placed("b", each) == 10 })
	// The rest wait in the two queues for the next window.
	bustest.WaitFor(t, "the rest queued", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.procs[0].w.Status().QueueDepth+h.procs[1].w.Status().QueueDepth == 2*each-10
	})
	if n := h.placed("a", each) + h.placed("b", each); n != 10 {
		t.Fatalf("the two processes placed %d orders in a window of 10", n)
	}
	if na, nb := h.placed("a", each), h.placed("b", each); na == 0 || nb == 0 {
		t.Errorf("one key got all the budget (k %d, k2 %d)", na, nb)
	}
	h.clock.Set(start.Add(10 * time.Second))
	bustest.WaitFor(t, "the rest in the next window", func() bool { return h.placed("a", each)+h.placed("b", each) == 2*each })
	if !strings.Contains(h.logs.String(), "executor active") {
		t.Error("no executor became active")
	}
}
