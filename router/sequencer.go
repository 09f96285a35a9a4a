package router

import "sync"

// sequencer lets a strategy's intents be handled concurrently while their
// effects (the publish to an executor, or a report) are issued in the order
// the intents arrived, so a key's queue sees the strategy's orders first in,
// first out. The router keeps one per strategy.
// Tickets are handed out in arrival order by the (serial) consume
// callback; each handler waits for its turn before issuing its publish
// and passes the turn on at once, then waits for the publish's ack
// concurrently with the others.
type sequencer struct {
	mu   sync.Mutex
	cond *sync.Cond
	next uint64 // next ticket to hand out
	turn uint64 // ticket whose turn it is
}

func newSequencer() *sequencer {
	s := &sequencer{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// ticket takes the next place in line; call in arrival order.
func (s *sequencer) ticket() *turn {
	s.mu.Lock()
	t := &turn{s: s, n: s.next}
	s.next++
	s.mu.Unlock()
	return t
}

// turn is one place in line; wait for it, then release it exactly once
// (release is idempotent, so a deferred release covers every path).
type turn struct {
	s        *sequencer
	n        uint64
	released bool
}

func (t *turn) wait() {
	t.s.mu.Lock()
	for t.s.turn != t.n {
		t.s.cond.Wait()
	}
	t.s.mu.Unlock()
}

func (t *turn) release() {
	if t == nil || t.released {
		return
	}
	t.wait()
	t.released = true
	t.s.mu.Lock()
	t.s.turn++
	t.s.mu.Unlock()
	t.s.cond.Broadcast()
}
