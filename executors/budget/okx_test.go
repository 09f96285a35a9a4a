package budget

import (
	"testing"
	"time"
)

// OKX's published figures, and the sharing OKX's "per user ID" implies.
func TestOKXPreset(t *testing.T) {
	ls, err := Preset("okx", PresetOptions{Account: "okx/sub1"})
	if err != nil {
		t.Fatal(err)
	}
	w := 2*time.Second + OKXWindowGuard
	want := map[string]struct {
		max       int64
		class     Class
		perSymbol bool
	}{
		OKXPlace:      {60, ClassNew, true},
		OKXCancel:     {60, ClassCancel, true},
		OKXAmend:      {60, ClassAmend, true},
		OKXOrderQuery: {60, ClassQuery, true},
		OKXSubAccount: {1000, ClassNew, false},
	}
	if len(ls) != len(want) {
		t.Fatalf("got %d limits, want %d", len(ls), len(want))
	}
	for _, l := range ls {
		wl, ok := want[l.Name]
		if !ok {
			t.Errorf("unexpected limit %s", l.Name)
			continue
		}
		if l.Max != wl.max || l.Window != w || l.Shape != Sliding || l.Costs[wl.class] != 1 ||
			l.Scope != "account:okx/sub1" || l.PerSymbol != wl.perSymbol {
			t.Errorf("%s: got %+v", l.Name, l)
		}
	}
	if ls[len(ls)-1].Costs[ClassAmend] != 1 || ls[len(ls)-1].Costs[ClassCancel] != 0 {
		t.Errorf("sub-account limit costs %v, want new and amend only", ls[len(ls)-1].Costs)
	}
}

// Two keys of one OKX sub-account share each instrument's counter and the
// sub-account's, and nothing of another sub-account.
func TestGroupPerSymbolSharing(t *testing.T) {
	g := NewGroups()
	a := mustNew(t, OKX("sub1"), g)
	b := mustNew(t, OKX("sub1"), g)
	other := mustNew(t, OKX("sub2"), g)
	btc := Op{Class: ClassNew, Symbol: "BTC-USDT"}
	eth := Op{Class: ClassNew, Symbol: "ETH-USDT"}
	now := t0
	for i := 0; i < 30; i++ {
		for _, k := range []*Budget{a, b} {
			if ok, _ := k.TryTake(now, btc); !ok {
				t.Fatalf("order %d on BTC refused", i)
			}
		}
	}
	// 60 BTC orders in this window between the two keys: neither may send
	// another, but both may send ETH, and the other sub-account BTC.
	for name, k := range map[string]*Budget{"a": a, "b": b} {
		ok, wait := k.TryTake(now, btc)
		if ok {
			t.Fatalf("key %s sent a 61st BTC order in one window", name)
		}
		if want := OKXWindow + OKXWindowGuard; wait != want {
			t.Errorf("key %s: wait %v, want %v", name, wait, want)
		}
		if ok, _ := k.TryTake(now, eth); !ok {
			t.Errorf("key %s: ETH refused", name)
		}
	}
	if ok, _ := other.TryTake(now, btc); !ok {
		t.Error("another sub-account's BTC order refused")
	}
	// Status of b shows the shared BTC count under the group's scope.
	found := false
	for _, st := range b.Status(now) {
		if st.Name == OKXPlace && st.Symbol == "BTC-USDT" {
			found = true
			if st.Used != 60 || st.Scope != "account:sub1" {
				t.Errorf("status %+v, want 60 used in account:sub1", st)
			}
		}
	}
	if !found {
		t.Error("no BTC entry in status")
	}
	// A clone of a fresh third key sees the BTC usage it never took itself.
	c := mustNew(t, OKX("sub1"), g).Clone()
	if ok, _ := c.TryTake(now, btc); ok {
		t.Error("a clone of a key of the sub-account ignores the shared BTC count")
	}
	// The sub-account limit spans instruments: 1000 new orders in all.
	g2 := NewGroups()
	x := mustNew(t, OKX("s"), g2)
	y := mustNew(t, OKX("s"), g2)
	n := 0
	for i := 0; i < 40; i++ {
		sym := string(rune('A'+i%26)) + string(rune('A'+i/26)) + "-USDT"
		for j := 0; j < 30; j++ {
			k := x
			if j%2 == 1 {
				k = y
			}
			if ok, _ := k.TryTake(now, Op{Class: ClassNew, Symbol: sym}); ok {
				n++
			}
		}
	}
	if n != OKXSubAccountDefault {
		t.Errorf("%d orders fit one window across instruments and keys, want %d", n, OKXSubAccountDefault)
	}
}

// Two budgets may not disagree on whether a group limit is per symbol.
func TestGroupPerSymbolConflict(t *testing.T) {
	g := NewGroups()
	l := Limit{Name: "X", Shape: Sliding, Max: 5, Window: time.Second, Costs: map[Class]int64{ClassNew: 1}, Scope: "account:a", PerSymbol: true}
	mustNew(t, []Limit{l}, g)
	l.PerSymbol = false
	if _, err := New([]Limit{l}, g); err == nil {
		t.Fatal("a plain group limit accepted over a per-symbol one of the same name")
	}
}
