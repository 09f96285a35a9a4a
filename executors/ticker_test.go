package executors

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/keyrouter/keyrouter/router/bus/clocktest"
)

type countTicks struct{ n atomic.Int64 }

func (c *countTicks) tick() { c.n.Add(1) }

// One ticker looks at every key of a process with one timer a period, so
// a thousand idle keys cost one wake-up a second, not a thousand; its
// goroutine runs only while it has keys.
func TestStatusTickerOneTimerForEveryKey(t *testing.T) {
	clock := clocktest.New(t0)
	s := NewStatusTicker(clock, time.Second)
	keys := make([]*countTicks, 100)
	removes := make([]func(), len(keys))
	for i := range keys {
		keys[i] = &countTicks{}
		removes[i] = s.add(keys[i])
	}
	ticked := func(want int64) func() bool {
		return func() bool {
			for _, k := range keys {
				if k.n.Load() != want {
					return false
				}
			}
			return true
		}
	}
	for round := int64(1); round <= 3; round++ {
		next := clock.Now().Add(time.Second)
		bustest.WaitFor(t, "the ticker to wait for its next period", func() bool { return clock.WaitingAt(next) })
		if got := clock.Waiters(); got != 1 {
			t.Fatalf("round %d: %d timers pending for %d keys, want 1", round, got, len(keys))
		}
		clock.Advance(time.Second)
		bustest.WaitFor(t, "every key looked at once more", ticked(round))
	}

	// A key removed is not looked at any more once remove returned.
	removes[0]()
	before := keys[0].n.Load()
	for _, r := range removes[1:] {
		r()
	}
	// The goroutine has ended: nothing waits on the clock any more.
	clock.Advance(time.Second)
	if got := clock.Waiters(); got != 0 {
		t.Errorf("%d timers pending with no key, want 0", got)
	}
	if got := keys[0].n.Load(); got != before {
		t.Errorf("a removed key was looked at %d more times", got-before)
	}

	// A key added later starts it again.
	k := &countTicks{}
	defer s.add(k)()
	bustest.WaitFor(t, "the ticker to start again", func() bool { return clock.Waiters() == 1 })
	clock.Advance(time.Second)
	bustest.WaitFor(t, "the new key looked at", func() bool { return k.n.Load() == 1 })
}
