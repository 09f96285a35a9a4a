package executors_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

// One Halts tells each key followed of the halts that stop it: its own,
// and the halt of everything; a key no longer followed hears nothing.
func TestHaltsFollowEachKey(t *testing.T) {
	h := newHarness(t)
	if _, err := h.b.Control.Put(t.Context(), "key.a", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// Halted before the watch starts: Start returns once that is known.
	halts := executors.NewHalts(h.b.Control)
	if err := halts.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string][]bool{}
	follow := func(key string) func() {
		return halts.Follow(key, func(halted bool) {
			mu.Lock()
			seen[key] = append(seen[key], halted)
			mu.Unlock()
		})
	}
	last := func(key string) []bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen[key])
	}
	stopA := follow("a")
	follow("b")
	if got := last("a"); !slices.Equal(got, []bool{true}) {
		t.Fatalf("a followed while halted: got %v, want [true]", got)
	}
	if got := last("b"); !slices.Equal(got, []bool{false}) {
		t.Fatalf("b followed: got %v, want [false]", got)
	}
	put := func(k string) {
		t.Helper()
		if _, err := h.b.Control.Put(t.Context(), k, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	del := func(k string) {
		t.Helper()
		if err := h.b.Control.Delete(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	put("all")
	bustest.WaitFor(t, "b halted by all", func() bool { return slices.Equal(last("b"), []bool{false, true}) })
	del("key.a") // a stays halted: everything is
	bustest.WaitFor(t, "a told again", func() bool { return len(last("a")) >= 3 })
	if got := last("a"); got[len(got)-1] != true {
		t.Errorf("a after its own resume under a halt of all: %v, want halted", got)
	}
	stopA()
	n := len(last("a"))
	del("all")
	bustest.WaitFor(t, "b resumed", func() bool { return slices.Equal(last("b"), []bool{false, true, false}) })
	put("key.b")
	bustest.WaitFor(t, "b halted", func() bool { return slices.Equal(last("b"), []bool{false, true, false, true}) })
	if got := last("a"); len(got) != n {
		t.Errorf("a heard %v after it stopped following", got[n:])
	}
}
