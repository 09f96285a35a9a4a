package executors

import (
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/router/bus"
)

// StatusTicker looks at every active key of a process once a period from
// one goroutine: it publishes the key's status when it changed or a
// heartbeat is due, saves the key's budget when it was spent, and keeps
// its queued orders in progress. A goroutine and a timer per key would
// wake the process a thousand times a second for a thousand keys, nearly
// always to find nothing changed.
//
// The goroutine runs only while at least one key is active: it starts
// with the first and ends with the last. A look at a key does no I/O but
// publishes (a budget write goes on a goroutine of its own), so a slow
// bus does not hold up the other keys' statuses. Safe for concurrent use.
type StatusTicker struct {
	clock bus.Clock
	every time.Duration

	walk sync.Mutex // held while the keys are looked at

	mu    sync.Mutex
	terms map[ticked]struct{}
	stop  chan struct{} // closed to stop the goroutine; nil while none runs
	done  chan struct{} // closed when it has ended
	buf   []ticked
}

// ticked is what a StatusTicker looks at: a term.
type ticked interface{ tick() }

// NewStatusTicker returns a ticker looking at its keys every every
// (default 1s) by clock (default the wall clock).
func NewStatusTicker(clock bus.Clock, every time.Duration) *StatusTicker {
	if clock == nil {
		clock = bus.RealClock
	}
	if every <= 0 {
		every = time.Second
	}
	return &StatusTicker{clock: clock, every: every, terms: map[ticked]struct{}{}}
}

// add makes the ticker look at t until the returned func is called; once
// that has returned, t is not looked at any more.
func (s *StatusTicker) add(t ticked) (remove func()) {
	s.mu.Lock()
	s.terms[t] = struct{}{}
	if s.stop == nil {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.run(s.stop, s.done)
	}
	s.mu.Unlock()
	return func() {
		s.walk.Lock() // a walk under way may look at t: after its end
		s.mu.Lock()
		delete(s.terms, t)
		var done chan struct{}
		if len(s.terms) == 0 && s.stop != nil {
			close(s.stop)
			done = s.done
			s.stop, s.done = nil, nil
		}
		s.mu.Unlock()
		s.walk.Unlock()
		if done != nil {
			<-done
		}
	}
}

func (s *StatusTicker) run(stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-s.clock.After(s.every):
		}
		s.walk.Lock()
		s.mu.Lock()
		terms := s.buf[:0]
		for t := range s.terms {
			terms = append(terms, t)
		}
		s.mu.Unlock()
		for _, t := range terms {
			t.tick()
		}
		clear(terms)
		s.mu.Lock()
		s.buf = terms
		s.mu.Unlock()
		s.walk.Unlock()
	}
}
