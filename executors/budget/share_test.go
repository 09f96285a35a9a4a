package budget

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// store is a shared counter store with compare-and-set, as the BUDGETS
// bucket is: a value and a revision per key.
type store struct {
	vals map[GrantKey][]byte
	revs map[GrantKey]int
}

// process is one executor process: its leased Groups, the budgets of its
// keys, and what its Grantor was asked for.
type process struct {
	g     *Groups
	wants map[GrantKey]int64
}

func (p *process) Want(k GrantKey, cost int64) { p.wants[k] += cost }

// grant serves p's wants from st as the executors' grantor does: a
// compare-and-set of Share.Grant's result (a conflict cannot happen here:
// the test is sequential), sized want*factor.
func (p *process) grant(t *testing.T, st *store, now time.Time, factor int64, hold time.Duration) {
	t.Helper()
	for k, w := range p.wants {
		sh, ok := p.g.Share(k)
		if !ok {
			t.Fatalf("Share(%v): unknown", k)
		}
		next, got, until, _, err := sh.Grant(st.vals[k], now, w*factor, hold)
		if err != nil {
			t.Fatal(err)
		}
		if got > 0 {
			st.vals[k] = next
			st.revs[k]++
			if _, err := p.g.Grant(k, got, until, next); err != nil {
				t.Fatal(err)
			}
		}
		delete(p.wants, k)
	}
}

// Two processes serve two keys of one account: both want more than the
// account allows. Every request they send is checked against the venue's
// independent enforcer of the account limit: none may be refused, and
// together they use at least 95% of it.
func TestSharedLimitAcrossProcessesNeverExceedsAndIsUsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Limit
	}{
		{"fixed", Limit{Name: "ORDERS", Shape: Fixed, Max: 100, Window: 10 * time.Second}},
		{"sliding", Limit{Name: "ORDERS", Shape: Sliding, Max: 60, Window: 2 * time.Second}},
		{"bucket", Limit{Name: "ORDERS", Shape: Bucket, Max: 20, Rate: 10}},
		{"decay", Limit{Name: "ORDERS", Shape: Decay, Max: 30, Rate: 15}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.l
			l.Scope, l.Costs = "account:a", map[Class]int64{ClassNew: 1}
			venue, err := NewEnforcer(l)
			if err != nil {
				t.Fatal(err)
			}
			st := &store{vals: map[GrantKey][]byte{}, revs: map[GrantKey]int{}}
			procs := make([]*process, 2)
			budgets := make([]*Budget, 2)
			for i := range procs {
				procs[i] = &process{wants: map[GrantKey]int64{}}
				procs[i].g = NewLeasedGroups(procs[i])
				budgets[i] = mustNew(t, []Limit{l}, procs[i].g)
			}
			const step = time.Millisecond
			const hold = 20 * time.Millisecond
			span := 30 * time.Second
			sent := 0
			op := Op{Class: ClassNew}
			for now := t0; now.Before(t0.Add(span)); now = now.Add(step) {
				for i, b := range budgets {
					// Saturating demand: each tries several requests a
					// millisecond; grants come back a millisecond later.
					for range 3 {
						ok, _ := b.TryTake(now, op)
						if !ok {
							break
						}
						sent++
						if !venue.Allow(now, 1) {
							t.Fatalf("process %d: a request at %v was refused by the venue (sent %d)", i, now.Sub(t0), sent)
						}
					}
					procs[i].grant(t, st, now, 4, hold)
				}
			}
			// What the limit allows over span: max per window for fixed and
			// sliding, the rate (plus the first burst) for bucket and decay.
			var allowed float64
			switch l.Shape {
			case Fixed, Sliding:
				allowed = float64(l.Max) * float64(span) / float64(l.Window)
			default:
				allowed = float64(l.Max) + l.Rate*span.Seconds()
			}
			if u := float64(sent) / allowed; u < 0.95 {
				t.Errorf("used %d of %.0f (%.3f); want at least 0.95", sent, allowed, u)
			} else {
				t.Logf("used %d of %.0f (%.4f) with no refusal", sent, allowed, u)
			}
		})
	}
}

// A budget's own counters go from one executor of a key to the next: the
// successor starts from what was spent, plus the requests sent after the
// snapshot.
func TestSnapshotRestoreSpent(t *testing.T) {
	limits := []Limit{
		{Name: "w", Shape: Fixed, Max: 10, Window: 10 * time.Second, Costs: map[Class]int64{ClassNew: 1}},
		{Name: "s", Shape: Sliding, Max: 5, Window: time.Second, Costs: map[Class]int64{ClassNew: 1}},
		{Name: "p", Shape: Fixed, Max: 3, Window: time.Second, Costs: map[Class]int64{ClassNew: 1}, Scope: ScopeSymbol},
	}
	a := mustNew(t, limits, nil)
	op := Op{Class: ClassNew, Symbol: "BTC-USDT"}
	for i := range 3 {
		if ok, _ := a.TryTake(t0.Add(time.Duration(i)*time.Millisecond), op); !ok {
			t.Fatalf("take %d refused", i)
		}
	}
	snap := a.Snapshot()
	b := mustNew(t, limits, nil)
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Snapshot(), snap) {
		t.Fatalf("restored snapshot differs:\n%s\n%s", b.Snapshot(), snap)
	}
	// One more was sent before the predecessor died.
	b.Spent(t0.Add(5*time.Millisecond), op)
	if ok, _ := b.TryTake(t0.Add(6*time.Millisecond), op); ok {
		t.Fatal("the per-symbol limit (3 a second) took a fifth request in a second")
	}
	used := map[string]int64{}
	for _, s := range b.Status(t0.Add(6 * time.Millisecond)) {
		used[s.Name] = s.Used
	}
	if fmt.Sprint(used) != fmt.Sprint(map[string]int64{"w": 4, "s": 4, "p": 4}) {
		t.Errorf("usage after restore and spent: %v, want 4 each", used)
	}
}

// A per-symbol shared limit is granted for an operation without a symbol
// too (its counter is the symbol ""'s): the grantor can always find the
// counter it is asked for.
func TestPerSymbolSharedLimitGrantsEverySymbol(t *testing.T) {
	p := &process{wants: map[GrantKey]int64{}}
	p.g = NewLeasedGroups(p)
	l := Limit{Name: "cancel", Shape: Sliding, Max: 60, Window: 2 * time.Second, Scope: "account:a", PerSymbol: true,
		Costs: map[Class]int64{ClassCancel: 1}}
	b := mustNew(t, []Limit{l}, p.g)
	st := &store{vals: map[GrantKey][]byte{}, revs: map[GrantKey]int{}}
	for _, sym := range []string{"", "BTC-USDT"} {
		op := Op{Class: ClassCancel, Symbol: sym}
		if ok, _ := b.TryTake(t0, op); ok {
			t.Fatalf("symbol %q: taken before any grant", sym)
		}
		if len(p.wants) != 1 {
			t.Fatalf("symbol %q: wants %v", sym, p.wants)
		}
		p.grant(t, st, t0, 1, 10*time.Millisecond)
		if ok, _ := b.TryTake(t0, op); !ok {
			t.Fatalf("symbol %q: not taken after a grant", sym)
		}
	}
}

// A request the predecessor sent is counted by its own instant: one
// whose window is over by the time the successor's counters have seen a
// later instant (its status was published first) uses nothing, one still
// inside its window uses its window's room.
func TestSpentAfterALaterInstantCountsByItsOwn(t *testing.T) {
	limits := []Limit{
		{Name: "fixed", Shape: Fixed, Max: 1, Window: 10 * time.Second, Costs: map[Class]int64{ClassNew: 1}},
		{Name: "sliding", Shape: Sliding, Max: 1, Window: 10 * time.Second, Costs: map[Class]int64{ClassNew: 1}},
		{Name: "bucket", Shape: Bucket, Max: 5, Window: 10 * time.Second, Costs: map[Class]int64{ClassNew: 1}},
	}
	op := Op{Class: ClassNew}
	later := t0.Add(time.Minute + 5*time.Second) // in the fixed window [1m, 1m10s)
	for _, tc := range []struct {
		at   time.Time
		want map[string]int64
	}{
		{t0, map[string]int64{"fixed": 0, "sliding": 0, "bucket": 1}},
		{later.Add(-time.Second), map[string]int64{"fixed": 1, "sliding": 1, "bucket": 1}},
	} {
		b := mustNew(t, limits, nil)
		b.Status(later)
		b.Spent(tc.at, op)
		used := map[string]int64{}
		for _, s := range b.Status(later) {
			used[s.Name] = s.Used
		}
		if fmt.Sprint(used) != fmt.Sprint(tc.want) {
			t.Errorf("spent at %v, seen at %v: usage %v, want %v", tc.at, later, used, tc.want)
		}
	}
}
