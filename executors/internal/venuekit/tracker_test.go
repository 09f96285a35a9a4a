package venuekit

import (
	"context"
	"testing"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

// An update that finds Updates full is left to the poller (the order
// turns dirty); once the poller resends the order's state it is clean,
// and forgotten when closed. Orders with keyrouter's client IDs are ours
// even before they are tracked.
func TestTrackerLeavesWhatDoesNotFitToThePoller(t *testing.T) {
	updates := make(chan executors.OrderUpdate, 1)
	tr := NewTracker("test", updates, zerolog.Nop())
	ctx := context.Background()
	id := executors.VenueClientID("s", "o1")
	if !tr.Ours(id) || tr.Ours("someone-else") {
		t.Fatalf("Ours(%s) %v, Ours(someone-else) %v", id, tr.Ours(id), tr.Ours("someone-else"))
	}
	open := executors.OrderUpdate{ClientID: id, Symbol: "BTC-USDT", Status: messages.StatusNew, VenueOrderID: "v1"}
	tr.Deliver(ctx, open, "BTCUSDT")
	if tr.Dirty() || len(updates) != 1 {
		t.Fatalf("dirty %v with %d updates queued; want clean and 1", tr.Dirty(), len(updates))
	}
	filled := open
	filled.Status, filled.CumQuantity = messages.StatusFilled, decimal.NewFromInt(1)
	tr.Deliver(ctx, filled, "BTCUSDT") // Updates is full
	if !tr.Dirty() {
		t.Fatal("an update that did not fit left its order clean")
	}
	if o := tr.Orders()[id]; o.Symbol != "BTCUSDT" || o.OrderID != "v1" || !o.Dirty {
		t.Errorf("tracked %+v", o)
	}
	<-updates
	tr.Resend(ctx, filled)
	if tr.Dirty() || len(tr.Orders()) != 0 {
		t.Errorf("after the resend of its closed state: dirty %v, %d tracked; want clean and none", tr.Dirty(), len(tr.Orders()))
	}
	if got := <-updates; got.Status != messages.StatusFilled {
		t.Errorf("resent %s, want filled", got.Status)
	}
}
