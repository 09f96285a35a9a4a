package paper_test

import (
	"errors"
	"testing"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
)

// With ReuseClosedClientIDs an ID is refused while its order is open and
// places a second, separate order once it is closed; lookups by client ID
// find the newest, the *ByVenueID methods the one named.
func TestReuseClosedClientIDs(t *testing.T) {
	x := newExchange(t, paper.Config{ReuseClosedClientIDs: true})
	x.SetPrice("BTC-USDT", dec("60000"))
	first, err := x.Place("a", limitOrder("r1", messages.Buy, "0.001", "59000", messages.GTC))
	if err != nil || first.Status != messages.StatusNew {
		t.Fatalf("first: got %+v, %v; want new", first, err)
	}
	var ve *executors.VenueError
	if _, err := x.Place("a", marketOrder("r1", messages.Buy, "0.001")); !errors.As(err, &ve) || ve.Code != paper.CodeDuplicateClientID {
		t.Fatalf("reuse while open: got %v, want %s", err, paper.CodeDuplicateClientID)
	}
	if _, err := x.Cancel("a", "BTC-USDT", "r1"); err != nil {
		t.Fatal(err)
	}
	second, err := x.Place("a", marketOrder("r1", messages.Buy, "0.002"))
	if err != nil || second.Status != messages.StatusFilled {
		t.Fatalf("reuse once closed: got %+v, %v; want a filled order", second, err)
	}
	if second.VenueOrderID == first.VenueOrderID {
		t.Fatalf("second order has the first's venue ID %s", first.VenueOrderID)
	}
	if n := len(x.AllOrders("a", "")); n != 2 {
		t.Errorf("AllOrders: got %d, want 2", n)
	}
	if q, _ := x.Query("a", "BTC-USDT", "r1"); q.VenueOrderID != second.VenueOrderID {
		t.Errorf("Query by client ID: got order %s, want the newest %s", q.VenueOrderID, second.VenueOrderID)
	}
	old, err := x.InfoByVenueID("a", "BTC-USDT", first.VenueOrderID)
	if err != nil || old.Status != messages.StatusCanceled || !old.Order.Quantity.Equal(dec("0.001")) {
		t.Errorf("InfoByVenueID(first): got %+v, %v; want the canceled 0.001", old.OrderUpdate, err)
	}
	if _, err := x.CancelByVenueID("a", "BTC-USDT", first.VenueOrderID); !errors.Is(err, executors.ErrTooLateToCancel) {
		t.Errorf("CancelByVenueID(closed): got %v, want ErrTooLateToCancel", err)
	}
	if _, err := x.InfoByVenueID("a", "BTC-USDT", "999"); !errors.Is(err, executors.ErrUnknownOrder) {
		t.Errorf("InfoByVenueID(unknown): got %v, want ErrUnknownOrder", err)
	}
	if _, err := x.CancelByVenueID("a", "ETH-USDT", second.VenueOrderID); !errors.Is(err, executors.ErrUnknownOrder) {
		t.Errorf("CancelByVenueID(other symbol): got %v, want ErrUnknownOrder", err)
	}
}
