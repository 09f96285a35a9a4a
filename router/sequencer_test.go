package router

import (
	"sync"
	"testing"
	"time"
)

// Handlers that finish in any order still issue their effects in ticket
// order.
func TestSequencerIssuesInTicketOrder(t *testing.T) {
	s := newSequencer()
	const n = 200
	turns := make([]*turn, n)
	for i := range turns {
		turns[i] = s.ticket()
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := n - 1; i >= 0; i-- { // started in reverse
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer turns[i].release()
			time.Sleep(time.Duration(i%7) * time.Microsecond)
			turns[i].wait()
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			turns[i].release()
		}(i)
	}
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("effect %d came from ticket %d; want ticket order", i, got)
		}
	}
	if len(s.waiting) != 0 {
		t.Errorf("%d tickets still waiting", len(s.waiting))
	}
}
