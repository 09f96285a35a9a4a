package budget

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var one = map[Class]int64{ClassNew: 1, ClassCancel: 1, ClassAmend: 1, ClassQuery: 1}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// step is one call in a unit table: TryTake at t0+at, expecting ok and,
// when refused, the wait.
type step struct {
	at   time.Duration
	op   Class
	ok   bool
	wait time.Duration
}

func runSteps(t *testing.T, l Limit, steps []step) {
	t.Helper()
	b := mustNew(t, []Limit{l}, nil)
	for i, s := range steps {
		ok, wait := b.TryTake(t0.Add(s.at), Op{Class: s.op})
		if ok != s.ok || (!ok && wait != s.wait) {
			t.Fatalf("step %d (%v at +%v): got %v, %v; want %v, %v", i, s.op, s.at, ok, wait, s.ok, s.wait)
		}
	}
}

func TestShapes(t *testing.T) {
	cases := []struct {
		name  string
		l     Limit
		steps []step
	}{
		{"fixed resets at the clock boundary", Limit{Name: "F", Shape: Fixed, Max: 2, Window: time.Second, Costs: one},
			[]step{{ms(900), ClassNew, true, 0}, {ms(950), ClassNew, true, 0}, {ms(999), ClassNew, false, ms(1)},
				{ms(1000), ClassNew, true, 0}, {ms(1000), ClassNew, true, 0}, {ms(1500), ClassNew, false, ms(500)}}},
		{"fixed: absent class costs nothing", Limit{Name: "F", Shape: Fixed, Max: 1, Window: time.Second, Costs: map[Class]int64{ClassNew: 1}},
			[]step{{0, ClassNew, true, 0}, {0, ClassCancel, true, 0}, {0, ClassNew, false, time.Second}}},
		{"sliding counts (t-W, t]", Limit{Name: "S", Shape: Sliding, Max: 2, Window: time.Second, Costs: one},
			[]step{{ms(900), ClassNew, true, 0}, {ms(950), ClassNew, true, 0}, {ms(1000), ClassNew, false, ms(900)},
				{ms(1899), ClassNew, false, ms(1)}, {ms(1900), ClassNew, true, 0}, {ms(1900), ClassNew, false, ms(50)},
				{ms(1950), ClassNew, true, 0}}},
		{"sliding cost 2 waits for two expiries", Limit{Name: "S", Shape: Sliding, Max: 3, Window: time.Second, Costs: map[Class]int64{ClassNew: 1, ClassQuery: 2}},
			[]step{{0, ClassNew, true, 0}, {ms(100), ClassNew, true, 0}, {ms(200), ClassNew, true, 0},
				{ms(300), ClassQuery, false, ms(800)}, {ms(1100), ClassQuery, true, 0}}},
		{"bucket: burst then rate", Limit{Name: "B", Shape: Bucket, Max: 3, Rate: 2, Costs: one},
			[]step{{0, ClassNew, true, 0}, {0, ClassNew, true, 0}, {0, ClassNew, true, 0}, {0, ClassNew, false, ms(500)},
				{ms(499), ClassNew, false, ms(1)}, {ms(500), ClassNew, true, 0}, {ms(600), ClassNew, false, ms(400)}}},
		{"bucket: a third of a second is rounded up", Limit{Name: "B", Shape: Bucket, Max: 1, Rate: 3, Costs: one},
			[]step{{0, ClassNew, true, 0}, {0, ClassNew, false, 333333334}, {333333333, ClassNew, false, 1},
				{333333334, ClassNew, true, 0}, {333333334, ClassNew, false, 333333334}, {666666667, ClassNew, false, 1}, {666666668, ClassNew, true, 0}}},
		{"decay: counter drains at Rate", Limit{Name: "D", Shape: Decay, Max: 10, Rate: 0.5, Costs: map[Class]int64{ClassNew: 4}},
			[]step{{0, ClassNew, true, 0}, {0, ClassNew, true, 0}, {0, ClassNew, false, 4 * time.Second},
				{4 * time.Second, ClassNew, true, 0}, {4 * time.Second, ClassNew, false, 8 * time.Second}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runSteps(t, c.l, c.steps) })
	}
}

func TestMarginFloorsMax(t *testing.T) {
	b := mustNew(t, []Limit{{Name: "F", Shape: Fixed, Max: 10, Window: time.Second, Costs: one, Margin: 0.15}}, nil)
	n := 0
	for ok := true; ok; ok, _ = b.TryTake(t0, Op{Class: ClassNew}) {
		n++
	}
	if got, want := n-1, 8; got != want { // floor(10*0.85)
		t.Fatalf("took %d, want %d", got, want)
	}
	if got := b.Status(t0)[0].Max; got != 8 {
		t.Fatalf("status max %d, want 8", got)
	}
}

func TestCosts(t *testing.T) {
	l := Limit{Name: "W", Shape: Fixed, Max: 100, Window: time.Minute,
		Costs:     map[Class]int64{ClassNew: 1, ClassQuery: 4, "custom": 7},
		Endpoints: map[string]int64{"exchangeInfo": 20},
		AgeCost: []AgeStep{{Under: 300 * time.Second, Cost: 1}, {Under: 5 * time.Second, Cost: 8},
			{Under: 10 * time.Second, Cost: 6}, {Class: ClassAmend, Under: 5 * time.Second, Cost: 3}}}
	s, err := compile(l, false)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		op   Op
		want int64
	}{
		{Op{Class: ClassNew}, 1},
		{Op{Class: ClassQuery}, 4},
		{Op{Class: ClassQuery, Endpoint: "exchangeInfo"}, 20},
		{Op{Class: ClassQuery, Endpoint: "other"}, 4},
		{Op{Class: "custom"}, 7},
		{Op{Class: ClassCancel, OrderAge: ms(4999)}, 8},
		{Op{Class: ClassCancel, OrderAge: 5 * time.Second}, 6},
		{Op{Class: ClassCancel, OrderAge: 299 * time.Second}, 1},
		{Op{Class: ClassCancel, OrderAge: 300 * time.Second}, 0},
		{Op{Class: ClassAmend, OrderAge: time.Second}, 3},
		{Op{Class: ClassNew, OrderAge: time.Second}, 1},
	}
	for _, c := range cases {
		if got := s.cost(c.op); got != c.want || got != refCost(l, c.op) {
			t.Errorf("cost(%+v) = %d, want %d (ref %d)", c.op, got, c.want, refCost(l, c.op))
		}
	}
}

func TestImpossibleOp(t *testing.T) {
	b := mustNew(t, []Limit{
		{Name: "OK", Shape: Bucket, Max: 100, Rate: 1, Costs: one},
		{Name: "TIGHT", Shape: Fixed, Max: 5, Window: time.Second, Costs: map[Class]int64{ClassQuery: 6}},
	}, nil)
	op := Op{Class: ClassQuery}
	if at, ok := b.Earliest(t0, op); ok || !at.IsZero() {
		t.Fatalf("Earliest = %v, %v; want zero, false", at, ok)
	}
	if ok, wait := b.TryTake(t0, op); ok || wait != Never {
		t.Fatalf("TryTake = %v, %v; want false, Never", ok, wait)
	}
	err := b.Check(op)
	if !errors.Is(err, ErrNeverFits) || !strings.Contains(err.Error(), "TIGHT") {
		t.Fatalf("Check = %v, want ErrNeverFits naming TIGHT", err)
	}
	if err := b.Check(Op{Class: ClassNew}); err != nil {
		t.Fatalf("Check(new) = %v", err)
	}
	// Nothing was consumed by the refused op.
	if st := b.Status(t0); st[0].Used != 0 || st[1].Used != 0 {
		t.Fatalf("status after refusal: %+v", st)
	}
}

func TestObserve(t *testing.T) {
	for name, l := range map[string]Limit{
		"fixed":   {Name: "L", Shape: Fixed, Max: 10, Window: time.Minute, Costs: one},
		"sliding": {Name: "L", Shape: Sliding, Max: 10, Window: time.Minute, Costs: one},
		"bucket":  {Name: "L", Shape: Bucket, Max: 10, Window: time.Minute, Costs: one},
		"decay":   {Name: "L", Shape: Decay, Max: 10, Window: time.Minute, Costs: one},
	} {
		t.Run(name, func(t *testing.T) {
			b := mustNew(t, []Limit{l}, nil)
			now := t0.Add(time.Second)
			for i := 0; i < 3; i++ {
				b.TryTake(now, Op{Class: ClassNew})
			}
			b.Observe(now, "L", 2) // lower than own: ignored
			if got := b.Status(now)[0].Used; got != 3 {
				t.Fatalf("used after lower observe %d, want 3", got)
			}
			b.Observe(now, "L", 9)
			if got := b.Status(now)[0].Used; got != 9 {
				t.Fatalf("used after observe %d, want 9", got)
			}
			if ok, _ := b.TryTake(now, Op{Class: ClassNew}); !ok {
				t.Fatal("10th unit refused")
			}
			if ok, _ := b.TryTake(now, Op{Class: ClassNew}); ok {
				t.Fatal("11th unit allowed after observe")
			}
			b.Observe(now, "NOPE", 100) // unknown: ignored
		})
	}
}

func TestStatus(t *testing.T) {
	b := mustNew(t, []Limit{
		{Name: "F", Shape: Fixed, Max: 10, Window: 10 * time.Second, Costs: one},
		{Name: "S", Shape: Sliding, Max: 10, Window: time.Second, Costs: one},
		{Name: "B", Shape: Bucket, Max: 30, Rate: 15, Costs: one},
		{Name: "D", Shape: Decay, Max: 15, Rate: 0.5, Costs: one},
	}, nil)
	now := t0.Add(3 * time.Second)
	for i := 0; i < 3; i++ {
		b.TryTake(now, Op{Class: ClassNew})
	}
	want := []LimitState{
		{Name: "F", Shape: Fixed, Scope: ScopeKey, Used: 3, Max: 10, Window: 10 * time.Second, ResetsIn: 7 * time.Second},
		{Name: "S", Shape: Sliding, Scope: ScopeKey, Used: 3, Max: 10, Window: time.Second, ResetsIn: time.Second},
		{Name: "B", Shape: Bucket, Scope: ScopeKey, Used: 3, Max: 30, Window: 2 * time.Second, ResetsIn: ms(200)},
		{Name: "D", Shape: Decay, Scope: ScopeKey, Used: 3, Max: 15, Window: 30 * time.Second, ResetsIn: 6 * time.Second},
	}
	got := b.Status(now)
	if len(got) != len(want) {
		t.Fatalf("got %d states, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("state %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSharedGroups(t *testing.T) {
	g := NewGroups()
	a := mustNew(t, Binance("ip1", "acct"), g)
	b := mustNew(t, Binance("ip1", "acct"), g)
	c := mustNew(t, Binance("ip2", "other"), g)
	for i := 0; i < 50; i++ {
		if ok, _ := a.TryTake(t0, Op{Class: ClassNew}); !ok {
			t.Fatalf("a: order %d refused", i)
		}
		if ok, _ := b.TryTake(t0, Op{Class: ClassNew}); !ok {
			t.Fatalf("b: order %d refused", i)
		}
	}
	if ok, wait := a.TryTake(t0, Op{Class: ClassNew}); ok || wait != 10*time.Second {
		t.Fatalf("101st order on the account: %v, %v; want refused for 10s", ok, wait)
	}
	if ok, _ := b.TryTake(t0, Op{Class: ClassCancel}); !ok {
		t.Fatal("cancel refused: cancels do not count toward ORDERS")
	}
	if ok, _ := c.TryTake(t0, Op{Class: ClassNew}); !ok {
		t.Fatal("another account refused")
	}
	if st := a.Status(t0); st[0].Used != 101 || st[1].Used != 100 {
		t.Fatalf("a status %+v", st)
	}
}

func TestValidation(t *testing.T) {
	ok := Limit{Name: "X", Shape: Fixed, Max: 1, Window: time.Second}
	cases := []struct {
		name  string
		edit  func(*Limit)
		field string
	}{
		{"no name", func(l *Limit) { l.Name = "" }, "Name"},
		{"no shape", func(l *Limit) { l.Shape = "" }, "Shape"},
		{"bad shape", func(l *Limit) { l.Shape = "leaky" }, "Shape"},
		{"zero max", func(l *Limit) { l.Max = 0 }, "Max"},
		{"no window", func(l *Limit) { l.Window = 0 }, "Window"},
		{"rate on fixed", func(l *Limit) { l.Rate = 1 }, "Rate"},
		{"bucket without rate", func(l *Limit) { l.Shape, l.Window = Bucket, 0 }, "Rate"},
		{"bucket with both", func(l *Limit) { l.Shape, l.Rate = Bucket, 1 }, "Rate"},
		{"rate too precise", func(l *Limit) { l.Shape, l.Window, l.Rate = Decay, 0, 0.1234567 }, "Rate"},
		{"negative rate", func(l *Limit) { l.Shape, l.Window, l.Rate = Decay, 0, -1 }, "Rate"},
		{"margin 1", func(l *Limit) { l.Margin = 1 }, "Margin"},
		{"margin eats all", func(l *Limit) { l.Margin = 0.5 }, "Margin"},
		{"bad scope", func(l *Limit) { l.Scope = "team:x" }, "Scope"},
		{"empty group id", func(l *Limit) { l.Scope = "account:" }, "Scope"},
		{"negative cost", func(l *Limit) { l.Costs = map[Class]int64{ClassNew: -1} }, "Costs"},
		{"negative weight", func(l *Limit) { l.Endpoints = map[string]int64{"x": -1} }, "Endpoints"},
		{"bad age step", func(l *Limit) { l.AgeCost = []AgeStep{{Cost: 1}} }, "AgeCost[0]"},
		{"huge sliding", func(l *Limit) { l.Shape, l.Max = Sliding, 1<<21 }, "Max"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := ok
			c.edit(&l)
			_, err := New([]Limit{l}, NewGroups())
			if !errors.Is(err, ErrInvalidLimit) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("err = %v, want ErrInvalidLimit naming %s", err, c.field)
			}
		})
	}
	t.Run("duplicate name", func(t *testing.T) {
		if _, err := New([]Limit{ok, ok}, nil); !errors.Is(err, ErrInvalidLimit) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("group without Groups", func(t *testing.T) {
		l := ok
		l.Scope = "ip:1"
		if _, err := New([]Limit{l}, nil); !errors.Is(err, ErrInvalidLimit) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("group disagreement", func(t *testing.T) {
		g := NewGroups()
		l := ok
		l.Scope = "ip:1"
		mustNew(t, []Limit{l}, g)
		l.Max = 2
		if _, err := New([]Limit{l}, g); !errors.Is(err, ErrInvalidLimit) || !strings.Contains(err.Error(), "Scope") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestPresets(t *testing.T) {
	for _, name := range []string{"binance", "bybit", "okx", "coinbase", "kraken"} {
		ls, err := Preset(name, PresetOptions{Account: "a", IP: "i"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := New(ls, NewGroups()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, l := range ls {
			if _, err := NewEnforcer(l); err != nil {
				t.Fatalf("%s: enforcer: %v", name, err)
			}
		}
	}
	if _, err := Preset("nasdaq", PresetOptions{}); err == nil {
		t.Fatal("unknown preset accepted")
	}
	// Binance's published figures.
	want := map[string][2]int64{
		BinanceRequestWeight: {6000, int64(time.Minute)},
		BinanceOrders10s:     {100, int64(10 * time.Second)},
		BinanceOrders1d:      {200000, int64(24 * time.Hour)},
		BinanceRawRequests:   {61000, int64(5 * time.Minute)},
	}
	for _, l := range Binance("i", "a") {
		if w := want[l.Name]; l.Max != w[0] || int64(l.Window) != w[1] || l.Shape != Fixed {
			t.Errorf("%s: %d per %v, want %d per %v", l.Name, l.Max, l.Window, w[0], time.Duration(w[1]))
		}
	}
	for h, want := range map[string]string{"X-MBX-USED-WEIGHT-1M": BinanceRequestWeight, "x-mbx-order-count-10s": BinanceOrders10s} {
		if got, ok := BinanceHeaderLimit(h); !ok || got != want {
			t.Errorf("BinanceHeaderLimit(%s) = %s, %v", h, got, ok)
		}
	}
}

func TestTimeNeverGoesBackwards(t *testing.T) {
	b := mustNew(t, []Limit{{Name: "S", Shape: Sliding, Max: 1, Window: time.Second, Costs: one}}, nil)
	b.TryTake(t0, Op{Class: ClassNew})
	b.Earliest(t0.Add(5*time.Second), Op{Class: ClassNew}) // advances the clock
	// An older instant is the latest seen, so the entry at t0 stays expired
	// and the one taken now is counted from t0+5s.
	if ok, _ := b.TryTake(t0.Add(ms(500)), Op{Class: ClassNew}); !ok {
		t.Fatal("refused")
	}
	if ok, wait := b.TryTake(t0.Add(5*time.Second+ms(500)), Op{Class: ClassNew}); ok || wait != ms(500) {
		t.Fatalf("got %v, %v; want refused for 500ms", ok, wait)
	}
}

func TestConcurrentSharedAccount(t *testing.T) {
	g := NewGroups()
	budgets := []*Budget{mustNew(t, Binance("i", "a"), g), mustNew(t, Binance("i", "a"), g)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(b *Budget) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if ok, _ := b.TryTake(t0, Op{Class: ClassNew}); ok {
					mu.Lock()
					taken++
					mu.Unlock()
				}
				b.Status(t0)
			}
		}(budgets[w%2])
	}
	wg.Wait()
	if taken != 100 {
		t.Fatalf("taken %d orders in one 10s window, want exactly 100", taken)
	}
}

func TestEnforcers(t *testing.T) {
	type call struct {
		at   time.Duration
		cost int64
		ok   bool
	}
	for name, c := range map[string]struct {
		l     Limit
		calls []call
	}{
		"fixed":   {Limit{Name: "F", Shape: Fixed, Max: 2, Window: time.Second}, []call{{ms(999), 2, true}, {ms(999), 1, false}, {ms(1000), 2, true}}},
		"sliding": {Limit{Name: "S", Shape: Sliding, Max: 2, Window: time.Second}, []call{{ms(500), 2, true}, {ms(1499), 1, false}, {ms(1500), 2, true}}},
		"bucket":  {Limit{Name: "B", Shape: Bucket, Max: 2, Rate: 1}, []call{{0, 2, true}, {ms(999), 1, false}, {ms(1000), 1, true}, {ms(5000), 3, false}, {ms(5000), 2, true}}},
		"decay":   {Limit{Name: "D", Shape: Decay, Max: 4, Rate: 0.5}, []call{{0, 4, true}, {ms(1999), 1, false}, {ms(2000), 1, true}, {ms(2000), 0, true}}},
	} {
		t.Run(name, func(t *testing.T) {
			e, err := NewEnforcer(c.l)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range c.calls {
				if got := e.Allow(t0.Add(k.at), k.cost); got != k.ok {
					t.Fatalf("call %d: Allow(+%v, %d) = %v, want %v", i, k.at, k.cost, got, k.ok)
				}
			}
		})
	}
}

// A Window is the fixed enforcer with what a simulated venue needs: it
// refuses without counting (Allow), counts what it refuses (Charge, as
// Binance counts request weight), and says when its window ends.
func TestWindow(t *testing.T) {
	w, err := NewWindow(Limit{Name: "W", Shape: Fixed, Max: 3, Window: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_800_000_004, 0) // 4 s into a 10 s window
	if !w.Allow(at, 2) || w.Allow(at, 2) || w.Used(at) != 2 {
		t.Fatalf("Allow 2 then 2 over a max of 3: used %d, want 2 (the refused one not counted)", w.Used(at))
	}
	if got := w.Charge(at, 2); got != 4 {
		t.Errorf("Charge(2) = %d, want 4 (counted although over the max)", got)
	}
	if got, want := w.ResetAt(at), time.Unix(1_800_000_010, 0); !got.Equal(want) {
		t.Errorf("ResetAt = %v, want %v", got, want)
	}
	next := time.Unix(1_800_000_010, 0)
	if w.Used(next) != 0 || !w.Allow(next, 3) {
		t.Errorf("the next window does not start empty: used %d", w.Used(next))
	}
	if w.Used(at) != 3 {
		t.Errorf("an earlier instant after a later one: used %d, want the latest window's 3", w.Used(at))
	}
	if _, err := NewWindow(Limit{Name: "S", Shape: Sliding, Max: 3, Window: time.Second}); !errors.Is(err, ErrInvalidLimit) {
		t.Errorf("NewWindow of a sliding limit: %v, want ErrInvalidLimit", err)
	}
}

// A LimitError names the limit and the field, and is ErrInvalidLimit.
func TestLimitErrorNamesTheField(t *testing.T) {
	_, err := New([]Limit{{Name: "s", Shape: Sliding, Max: 100_000_000, Window: time.Second}}, nil)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "s" || le.Field != "Max" || !errors.Is(err, ErrInvalidLimit) {
		t.Fatalf("err = %v (%#v), want a LimitError of s's Max", err, le)
	}
	if want := `budget: invalid limit "s": Max: 100000000 too large`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("message %q, want it to begin %q", err, want)
	}
}
