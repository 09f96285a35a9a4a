package venuekit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A reconnect waits a random time in [backoff/2, backoff): spread, never
// longer than the backoff, never less than half of it.
func TestJitterSpreadsReconnects(t *testing.T) {
	for _, d := range []time.Duration{MinBackoff, time.Second, MaxBackoff} {
		seen := map[time.Duration]bool{}
		for range 200 {
			j := Jitter(d)
			if j < d/2 || j >= d {
				t.Fatalf("Jitter(%v) = %v, want it in [%v, %v)", d, j, d/2, d)
			}
			seen[j] = true
		}
		if len(seen) < 100 {
			t.Errorf("Jitter(%v) gave %d distinct waits in 200: not spread", d, len(seen))
		}
	}
}

// Reconnect runs the connection again after each drop, telling down why
// and how long it waits, until its context ends.
func TestReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runs := 0
	var waits []time.Duration
	Reconnect(ctx, func(context.Context) error {
		runs++
		if runs == 3 {
			cancel()
		}
		return errors.New("dropped")
	}, func(err error, wait time.Duration) {
		if ErrText(err) != "dropped" {
			t.Errorf("down got %v", err)
		}
		waits = append(waits, wait)
	})
	if runs != 3 || len(waits) != 2 {
		t.Fatalf("%d runs, %d waits; want 3 and 2 (none after the context ended)", runs, len(waits))
	}
	if waits[0] >= MinBackoff || waits[1] < MinBackoff || waits[1] >= 2*MinBackoff {
		t.Errorf("waits %v, want one in [%v, %v) then one in [%v, %v)", waits, MinBackoff/2, MinBackoff, MinBackoff, 2*MinBackoff)
	}
}
