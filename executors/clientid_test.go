package executors

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// venueClientIDBefore is VenueClientID as it was first written (a hash
// object and two string operations): the IDs of orders already at a venue
// must not change, or an in-doubt order could not be found again.
func venueClientIDBefore(strategy, clientOrderID string) string {
	h := sha256.New()
	h.Write([]byte(strategy))
	h.Write([]byte{0})
	h.Write([]byte(clientOrderID))
	var sum [sha256.Size]byte
	return "kr" + clientIDEncoding.EncodeToString(h.Sum(sum[:0]))[:30]
}

func TestVenueClientIDUnchanged(t *testing.T) {
	long := strings.Repeat("x", 300) // past the stack buffer
	for _, c := range [][2]string{{"alpha", "o-1"}, {"s", ""}, {"", "id"}, {"a\x00b", "c"}, {"a", "\x00bc"}, {long, long}, {"beta", "ünïcode-id"}} {
		got, want := VenueClientID(c[0], c[1]), venueClientIDBefore(c[0], c[1])
		if got != want {
			t.Errorf("VenueClientID(%q, %q) = %q, was %q", c[0], c[1], got, want)
		}
		if len(got) != 32 || !strings.HasPrefix(got, "kr") {
			t.Errorf("VenueClientID(%q, %q) = %q: want kr and 30 characters", c[0], c[1], got)
		}
	}
	// The separator keeps the two parts apart.
	if VenueClientID("ab", "c") == VenueClientID("a", "bc") {
		t.Error(`("ab", "c") and ("a", "bc") share an ID`)
	}
}

func FuzzVenueClientIDUnchanged(f *testing.F) {
	f.Add("alpha", "o-1")
	f.Fuzz(func(t *testing.T, strategy, id string) {
		if got, want := VenueClientID(strategy, id), venueClientIDBefore(strategy, id); got != want {
			t.Fatalf("VenueClientID(%q, %q) = %q, was %q", strategy, id, got, want)
		}
	})
}

func TestVenueClientIDAllocatesOnlyItsString(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = VenueClientID("alpha", "bench-123456") }); n > 1 {
		t.Errorf("%v allocations, want 1 (the string)", n)
	}
}
