package paper

import (
	"testing"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

// An idle Venue holds no goroutine and no buffer beyond Updates': updates
// that find Updates full wait, in order, for a goroutine that runs only
// while they do; as many as the Exchange's SubscriberBuffer wait, further
// ones are dropped.
func TestVenueForwardsOnlyWhileUpdatesWait(t *testing.T) {
	x, err := NewExchange(Config{Symbols: DefaultSymbols(), SubscriberBuffer: 2})
	if err != nil {
		t.Fatal(err)
	}
	v := NewVenue(x, "acct", VenueOptions{UpdateBuffer: 1, AllAccountOrders: true})
	defer v.Close()
	idle := func() bool {
		v.qmu.Lock()
		defer v.qmu.Unlock()
		return !v.forwarding && v.q == nil
	}
	if !idle() {
		t.Fatal("a new venue forwards")
	}
	for i, want := range []bool{true, true, true, false} {
		if got := v.offer(executors.OrderUpdate{ClientID: string(rune('a' + i))}); got != want {
			t.Errorf("offer %d: took %v, want %v", i, got, want)
		}
		if i == 0 && !idle() {
			t.Error("an update that found room in Updates started a goroutine")
		}
	}
	for _, want := range []string{"a", "b", "c"} {
		if u := <-v.Updates(); u.ClientID != want {
			t.Fatalf("got %s, want %s", u.ClientID, want)
		}
	}
	bustest.WaitFor(t, "the forwarding to end with nothing waiting", idle)
	if !v.offer(executors.OrderUpdate{ClientID: "d"}) || !idle() {
		t.Error("an update into an empty Updates did not go straight in")
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if u := <-v.Updates(); u.ClientID != "d" {
		t.Errorf("got %s, want d", u.ClientID)
	}
	if _, open := <-v.Updates(); open {
		t.Error("Updates open after Close")
	}
}
