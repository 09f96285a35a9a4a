package binancesim

import (
	"testing"
	"time"
)

func TestWithoutSignature(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a=1&b=2", "a=1&b=2"},
		{"a=1&signature=ff", "a=1"},
		{"signature=ff&a=1", "a=1"},
		{"a=1&signature=ff&b=2", "a=1&b=2"},
		{"a=1&%73ignature=ff", "a=1"}, // percent-encoded name
		{"signatures=1&a=1", "signatures=1&a=1"},
	} {
		if got := withoutSignature(tc.in); got != tc.want {
			t.Errorf("withoutSignature(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTimingRule(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	for _, tc := range []struct {
		name       string
		ts, window string
		code       int
	}{
		{"now", "1700000000000", "", 0},
		{"window edge", "1699999995000", "", 0},
		{"past window", "1699999994999", "", -1021},
		{"just ahead", "1700000000999", "", 0},
		{"1s ahead", "1700000001000", "", -1021},
		{"microseconds", "1699999999999999", "", 0},
		{"fractional window", "1699999999000", "1000.001", 0},
		{"too much precision", "1700000000000", "1.0001", -1102},
		{"window too large", "1700000000000", "60000.001", -1131},
		{"garbage", "soon", "", -1102},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, aerr := parseTiming(tc.ts, tc.window, tc.window != "")
			if aerr == nil {
				aerr = tm.check(now)
			}
			got := 0
			if aerr != nil {
				got = aerr.Code
			}
			if got != tc.code {
				t.Fatalf("got %d (%v), want %d", got, aerr, tc.code)
			}
		})
	}
}

func TestWindowAlignment(t *testing.T) {
	l := newLimiter([]RateLimit{{Type: "ORDERS", Interval: "SECOND", IntervalNum: 10, Limit: 1}}, BanConfig{})
	base := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	if over, _ := l.takeOrder("a", base.Add(9999*time.Millisecond)); over != nil {
		t.Fatalf("first order refused by %v", over)
	}
	over, reset := l.takeOrder("a", base.Add(9999*time.Millisecond+999*time.Microsecond))
	if over == nil || !reset.Equal(base.Add(10*time.Second)) {
		t.Fatalf("same window: over %v, resets %v; want refused until %v", over, reset, base.Add(10*time.Second))
	}
	if over, _ := l.takeOrder("a", base.Add(10*time.Second)); over != nil {
		t.Fatalf("next window: refused by %v", over)
	}
}
