package binance

import (
	"testing"
	"time"
)

// A reconnect waits a random time in [backoff/2, backoff): spread, never
// longer than the backoff, never less than half of it.
func TestJitterSpreadsReconnects(t *testing.T) {
	for _, d := range []time.Duration{streamMinBackoff, time.Second, streamMaxBackoff} {
		seen := map[time.Duration]bool{}
		for range 200 {
			j := jitter(d)
			if j < d/2 || j >= d {
				t.Fatalf("jitter(%v) = %v, want it in [%v, %v)", d, j, d/2, d)
			}
			seen[j] = true
		}
		if len(seen) < 100 {
			t.Errorf("jitter(%v) gave %d distinct waits in 200: not spread", d, len(seen))
		}
	}
}
