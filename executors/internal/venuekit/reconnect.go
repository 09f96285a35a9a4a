package venuekit

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff of a stream's reconnection.
const (
	MinBackoff = 100 * time.Millisecond
	MaxBackoff = 30 * time.Second
	// Stable is how long a connection must have lived for the backoff to
	// start again from MinBackoff.
	Stable = time.Minute
)

// Reconnect runs connect (one connection of a stream, until it drops)
// again and again until ctx ends. Between two runs it calls down with why
// the connection ended (nil: it closed) and the wait before the next, a
// random time in [b/2, b) where b doubles from MinBackoff to MaxBackoff
// and starts again after a connection lived Stable: processes that lost
// their streams together (a venue restart, a network blip) do not all
// come back at the same instants.
func Reconnect(ctx context.Context, connect func(context.Context) error, down func(err error, retryIn time.Duration)) {
	backoff := MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > Stable {
			backoff = MinBackoff
		}
		wait := Jitter(backoff)
		down(err, wait)
		if !Sleep(ctx, wait) {
			return
		}
		backoff = min(2*backoff, MaxBackoff)
	}
}

// Jitter is a random wait in [d/2, d).
func Jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d-d/2)
}

// Sleep waits d or until ctx ends; false if ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ErrText is how a log line says why a connection ended.
func ErrText(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// Loops are a venue adapter's background loops (its stream, poller and
// refreshers). The zero value is ready; Start them once, Stop them once
// or more.
type Loops struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start runs each loop in a goroutine until Stop, with a context that
// keeps ctx's values but not its end (an adapter outlives the call that
// connected it).
func (l *Loops) Start(ctx context.Context, loops ...func(context.Context)) {
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	for _, loop := range loops {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			loop(bg)
		}()
	}
}

// Stop ends the loops, waits for them, then runs then; only the first
// Stop does anything.
func (l *Loops) Stop(then func()) {
	l.once.Do(func() {
		if l.cancel != nil {
			l.cancel()
		}
		l.wg.Wait()
		then()
	})
}
