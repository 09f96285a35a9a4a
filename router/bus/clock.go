package bus

import "time"

// Clock is the time source of everything that decides by time (leases,
// the executor's budget waits and heartbeats), so tests drive it instead
// of waiting. After must deliver once the clock has passed now+d.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
var RealClock Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
