package budget

import (
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// The benchmarks advance an injected clock by a step chosen so that demand
// runs at about the limit: roughly half the calls are refused and take the
// Earliest path, half consume.
func benchTryTake(b *testing.B, limits []Limit, op Op, step time.Duration) {
	bu, err := New(limits, NewGroups())
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(step)
		bu.TryTake(now, op)
	}
}

func BenchmarkTryTake(b *testing.B) {
	op := Op{Class: ClassNew, Symbol: "BTC-USDT"}
	for _, c := range []struct {
		name string
		l    Limit
		step time.Duration
	}{
		{"fixed", Limit{Name: "F", Shape: Fixed, Max: 100, Window: 10 * time.Second, Costs: one}, 50 * time.Millisecond},
		{"sliding", Limit{Name: "S", Shape: Sliding, Max: 100, Window: 10 * time.Second, Costs: one}, 50 * time.Millisecond},
		{"bucket", Limit{Name: "B", Shape: Bucket, Max: 30, Rate: 15, Costs: one}, 33 * time.Millisecond},
		{"decay", Limit{Name: "D", Shape: Decay, Max: 60, Rate: 1, Costs: one}, 500 * time.Millisecond},
		{"symbol", Limit{Name: "S", Shape: Sliding, Max: 60, Window: 2 * time.Second, Costs: one, Scope: ScopeSymbol}, 17 * time.Millisecond},
	} {
		b.Run(c.name, func(b *testing.B) { benchTryTake(b, []Limit{c.l}, op, c.step) })
	}
}

func BenchmarkEarliest(b *testing.B) {
	bu, err := New([]Limit{{Name: "S", Shape: Sliding, Max: 100, Window: 10 * time.Second, Costs: one}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	op := Op{Class: ClassNew}
	for i := 0; i < 100; i++ {
		bu.TryTake(t0.Add(time.Duration(i)*time.Millisecond), op)
	}
	now := t0.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bu.Earliest(now, op)
	}
}

func BenchmarkBinancePreset(b *testing.B) {
	ops := []Op{{Class: ClassNew}, {Class: ClassCancel}, {Class: ClassQuery}, {Class: ClassNew}}
	bu, err := New(Binance("ip", "acct"), NewGroups())
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(50 * time.Millisecond)
		bu.TryTake(now, ops[i&3])
	}
}

// x/time/rate for comparison only: a token bucket of 15/s, burst 30.
func BenchmarkXTimeRateAllow(b *testing.B) {
	l := rate.NewLimiter(15, 30)
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(33 * time.Millisecond)
		l.AllowN(now, 1)
	}
}

func BenchmarkXTimeRateReserve(b *testing.B) {
	l := rate.NewLimiter(15, 30)
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(33 * time.Millisecond)
		r := l.ReserveN(now, 1)
		if r.DelayFrom(now) > 0 {
			r.CancelAt(now)
		}
	}
}
