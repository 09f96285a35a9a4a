package router

import "sync"

// sequencer lets a strategy's intents be handled concurrently while their
// effects (the publish to an executor, or a report) are issued in the order
// the intents arrived, so a key's queue sees the strategy's orders first in,
// first out. The router keeps one per strategy. Tickets are handed out in
// arrival order by the (serial) consume callback; each handler waits for
// its turn before issuing its publish and passes the turn on at once, then
// waits for the publish's ack concurrently with the others. Passing the
// turn wakes exactly the next ticket's goroutine, not every waiter.
type sequencer struct {
	mu      sync.Mutex
	next    uint64                   // next ticket to hand out
	turn    uint64                   // ticket whose turn it is
	waiting map[uint64]chan struct{} // tickets handed out, not yet released
}

func newSequencer() *sequencer {
	return &sequencer{waiting: map[uint64]chan struct{}{}}
}

// ticket takes the next place in line; call in arrival order.
func (s *sequencer) ticket() *turn {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &turn{s: s, n: s.next, ready: make(chan struct{})}
	s.waiting[t.n] = t.ready
	if t.n == s.turn {
		close(t.ready)
	}
	s.next++
	return t
}

// turn is one place in line; wait for it, then release it exactly once
// (release is idempotent, so a deferred release covers every path).
type turn struct {
	s        *sequencer
	n        uint64
	ready    chan struct{} // closed when it is this ticket's turn
	released bool
}

func (t *turn) wait() { <-t.ready }

func (t *turn) release() {
	if t == nil || t.released {
		return
	}
	t.wait()
	t.released = true
	s := t.s
	s.mu.Lock()
	delete(s.waiting, t.n)
	s.turn++
	if next, ok := s.waiting[s.turn]; ok {
		close(next)
	}
	s.mu.Unlock()
}
