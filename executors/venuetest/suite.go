package venuetest

import (
	"errors"
	"testing"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// Run runs the venue contract, each subtest with a fresh Harness from
// newHarness.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	cases := []struct {
		name string
		run  func(e *env)
	}{
		{"market_fills", marketFills},
		{"large_market_partial_fills", largeMarket},
		{"limit_rests_then_fills", limitRestsThenFills},
		{"limit_cancel", limitCancel},
		{"cancel_unknown", cancelUnknown},
		{"cancel_filled", cancelFilled},
		{"query_by_client_id", queryByClientID},
		{"duplicate_client_id_open", func(e *env) { duplicate(e, false) }},
		{"duplicate_client_id_closed", func(e *env) { duplicate(e, true) }},
		{"filter_violation", filterViolation},
		{"ioc_partial", iocPartial},
		{"ioc_not_marketable", iocNotMarketable},
		{"fok_all_or_nothing", fok},
		{"post_only_crossing", postOnly},
		{"usage_reported", usage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(newEnv(t, newHarness)) })
	}
	// The rate-limit case needs the harness to say which limit to hit.
	probe := newHarness(t)
	if probe.RateLimit != nil {
		t.Run("rate_limited", func(t *testing.T) { rateLimited(newEnv(t, newHarness)) })
	}
}

func marketFills(e *env) {
	for _, side := range []messages.Side{messages.Buy, messages.Sell} {
		o := e.market(side, e.m.Qty)
		u := e.place(o)
		if u.Status != messages.StatusFilled {
			e.t.Fatalf("%s market: got status %s, want filled", side, u.Status)
		}
		if !u.CumQuantity.Equal(e.m.Qty) {
			e.t.Errorf("%s market: got cum %s, want %s", side, u.CumQuantity, e.m.Qty)
		}
		if u.VenueOrderID == "" || u.ClientID != o.ClientID || u.Symbol != o.Symbol {
			e.t.Errorf("%s market: got venue ID %q, client ID %q, symbol %q; want an ID, %q, %q",
				side, u.VenueOrderID, u.ClientID, u.Symbol, o.ClientID, o.Symbol)
		}
		e.checkFills(u.Fills, e.m.Qty, messages.Taker)
	}
}

func largeMarket(e *env) {
	o := e.market(messages.Buy, e.m.LargeQty)
	u := e.place(o)
	if u.Status != messages.StatusFilled || !u.CumQuantity.Equal(e.m.LargeQty) {
		e.t.Fatalf("got status %s cum %s, want filled %s", u.Status, u.CumQuantity, e.m.LargeQty)
	}
	if len(u.Fills) < 2 {
		e.t.Errorf("got %d fills, want several", len(u.Fills))
	}
	e.checkFills(u.Fills, e.m.LargeQty, messages.Taker)
}

func limitRestsThenFills(e *env) {
	price := e.ticks(-100)
	o := e.limit(messages.Buy, e.m.Qty, price, messages.GTC)
	u := e.place(o)
	if u.Status != messages.StatusNew || !u.CumQuantity.IsZero() || len(u.Fills) != 0 {
		e.t.Fatalf("placed: got status %s cum %s with %d fills, want new and nothing filled", u.Status, u.CumQuantity, len(u.Fills))
	}
	q, err := e.Venue.Query(e.ctx(), o.Symbol, o.ClientID)
	if err != nil {
		e.t.Fatal("Query:", err)
	}
	if q.Status != messages.StatusNew || q.VenueOrderID != u.VenueOrderID {
		e.t.Fatalf("Query: got status %s venue ID %s, want new %s", q.Status, q.VenueOrderID, u.VenueOrderID)
	}

	e.SetPrice(o.Symbol, price.Sub(e.m.Tick))
	status, fills := e.waitFor(o.ClientID, func(s messages.Status, f []executors.Fill) bool {
		return s == messages.StatusFilled && sum(f).Equal(e.m.Qty)
	})
	if status != messages.StatusFilled {
		e.t.Fatalf("got status %s, want filled", status)
	}
	e.checkFills(fills, e.m.Qty, messages.Maker)
	for _, f := range fills {
		if f.Price.GreaterThan(price) {
			e.t.Errorf("buy limit %s filled at %s", price, f.Price)
		}
	}

	q, err = e.Venue.Query(e.ctx(), o.Symbol, o.ClientID)
	if err != nil {
		e.t.Fatal("Query after fill:", err)
	}
	if q.Status != messages.StatusFilled || !q.CumQuantity.Equal(e.m.Qty) {
		e.t.Errorf("Query after fill: got status %s cum %s, want filled %s", q.Status, q.CumQuantity, e.m.Qty)
	}
	e.checkFills(q.Fills, e.m.Qty, messages.Maker)
}

func limitCancel(e *env) {
	o, _ := e.rest()
	u, err := e.Venue.Cancel(e.ctx(), o.Symbol, o.ClientID)
	if err != nil {
		e.t.Fatal("Cancel:", err)
	}
	if u.Status != messages.StatusCanceled {
		e.t.Errorf("Cancel: got status %s, want canceled", u.Status)
	}
	q, err := e.Venue.Query(e.ctx(), o.Symbol, o.ClientID)
	if err != nil {
		e.t.Fatal("Query:", err)
	}
	if q.Status != messages.StatusCanceled {
		e.t.Errorf("Query: got status %s, want canceled", q.Status)
	}
	// Canceling again is too late.
	if _, err := e.Venue.Cancel(e.ctx(), o.Symbol, o.ClientID); !errors.Is(err, executors.ErrTooLateToCancel) {
		e.t.Errorf("second Cancel: got %v, want ErrTooLateToCancel", err)
	}
}

func cancelUnknown(e *env) {
	id := newID()
	if _, err := e.Venue.Cancel(e.ctx(), e.m.Symbol, id); !errors.Is(err, executors.ErrUnknownOrder) {
		e.t.Errorf("Cancel of unknown: got %v, want ErrUnknownOrder", err)
	}
	if _, err := e.Venue.Query(e.ctx(), e.m.Symbol, id); !errors.Is(err, executors.ErrUnknownOrder) {
		e.t.Errorf("Query of unknown: got %v, want ErrUnknownOrder", err)
	}
}

func cancelFilled(e *env) {
	o := e.market(messages.Buy, e.m.Qty)
	e.place(o)
	u, err := e.Venue.Cancel(e.ctx(), o.Symbol, o.ClientID)
	if !errors.Is(err, executors.ErrTooLateToCancel) {
		e.t.Fatalf("Cancel of filled: got %v, want ErrTooLateToCancel", err)
	}
	if u.Status != messages.StatusFilled || !u.CumQuantity.Equal(e.m.Qty) {
		e.t.Errorf("Cancel of filled: got last state %s cum %s, want filled %s", u.Status, u.CumQuantity, e.m.Qty)
	}
}

func queryByClientID(e *env) {
	o, u := e.rest()
	q, err := e.Venue.Query(e.ctx(), o.Symbol, o.ClientID)
	if err != nil {
		e.t.Fatal("Query:", err)
	}
	if q.ClientID != o.ClientID || q.VenueOrderID != u.VenueOrderID || q.Symbol != o.Symbol || q.Status != messages.StatusNew {
		e.t.Errorf("Query: got %s/%s/%s/%s, want %s/%s/%s/new",
			q.ClientID, q.VenueOrderID, q.Symbol, q.Status, o.ClientID, u.VenueOrderID, o.Symbol)
	}
}

// duplicate places an order, then another with the same client ID: the
// venue must refuse it, or answer with the first order, while the first is
// open; once it is closed, a venue that ReusesClosedClientIDs makes a
// second order (which the executor must never ask for), any other refuses.
func duplicate(e *env, closed bool) {
	if closed && e.ReusesClosedClientIDs {
		reuseClosed(e)
		return
	}
	var o executors.Order
	var first executors.OrderUpdate
	if closed {
		o = e.market(messages.Buy, e.m.Qty)
		first = e.place(o)
	} else {
		o, first = e.rest()
	}
	again := o
	again.Quantity = e.m.Qty.Add(e.m.Qty)
	// A venue may refuse the second order, or answer with the first one
	// (Binance's "Duplicate order sent." resolved by a query): either way
	// it must not make a second order.
	u, err := e.Venue.Place(e.ctx(), again)
	if err == nil {
		if u.VenueOrderID != first.VenueOrderID {
			e.t.Errorf("second Place with client ID %s made order %s; want a refusal or the first order %s", o.ClientID, u.VenueOrderID, first.VenueOrderID)
		}
	} else {
		e.venueError(err, executors.Rejected)
	}
	if n := e.count(o.ClientID); n != 1 {
		e.t.Errorf("venue holds %d orders with client ID %s, want 1", n, o.ClientID)
	}
	q, err := e.Venue.Query(e.ctx(), o.Symbol, o.ClientID)
	if err != nil {
		e.t.Fatal("Query:", err)
	}
	if q.VenueOrderID != first.VenueOrderID || !q.CumQuantity.Equal(first.CumQuantity) {
		e.t.Errorf("Query: got venue ID %s cum %s, want the first order's %s cum %s",
			q.VenueOrderID, q.CumQuantity, first.VenueOrderID, first.CumQuantity)
	}
}

// reuseClosed checks that the venue places a closed order's client ID
// again as a new order, and that a query by client ID finds the newest.
func reuseClosed(e *env) {
	o := e.market(messages.Buy, e.m.Qty)
	first := e.place(o)
	again := o
	again.Quantity = e.m.Qty.Add(e.m.Qty)
	second, err := e.Venue.Place(e.ctx(), again)
	if err != nil {
		e.t.Fatalf("second Place with the closed order's client ID %s: %v; the harness says the venue accepts it", o.ClientID, err)
	}
	if second.VenueOrderID == first.VenueOrderID || !second.CumQuantity.Equal(again.Quantity) {
		e.t.Errorf("second Place: got order %s cum %s, want a new order (not %s) filled %s",
			second.VenueOrderID, second.CumQuantity, first.VenueOrderID, again.Quantity)
	}
	if n := e.count(o.ClientID); n != 2 {
		e.t.Errorf("venue holds %d orders with client ID %s, want 2", n, o.ClientID)
	}
	q, err := e.Venue.Query(e.ctx(), o.Symbol, o.ClientID)
	if err != nil {
		e.t.Fatal("Query:", err)
	}
	if q.VenueOrderID != second.VenueOrderID {
		e.t.Errorf("Query: got venue ID %s, want the newest order %s", q.VenueOrderID, second.VenueOrderID)
	}
}

func filterViolation(e *env) {
	half := e.m.Tick.Div(decimal.NewFromInt(2))
	tiny := decimal.New(1, -12) // below any step size
	for _, c := range []struct {
		name string
		o    executors.Order
	}{
		{"price off tick", e.limit(messages.Buy, e.m.Qty, e.ticks(-100).Add(half), messages.GTC)},
		{"quantity off step", e.limit(messages.Buy, e.m.Qty.Add(tiny), e.ticks(-100), messages.GTC)},
		{"notional too small", e.limit(messages.Buy, e.m.Qty, e.m.Tick, messages.GTC)},
	} {
		_, err := e.Venue.Place(e.ctx(), c.o)
		var ve *executors.VenueError
		// A filter the order cannot meet is the intent's fault: invalid.
		if !errors.As(err, &ve) || ve.Kind != executors.Rejected || ve.Reason != messages.ReasonInvalid {
			e.t.Errorf("%s: got %v, want a Rejected *executors.VenueError with reason %s", c.name, err, messages.ReasonInvalid)
			continue
		}
		if ve.Message == "" && ve.Code == "" {
			e.t.Errorf("%s: the error names no filter", c.name)
		}
		if n := e.count(c.o.ClientID); n != 0 {
			e.t.Errorf("%s: venue holds %d orders, want 0", c.name, n)
		}
	}
}

func iocPartial(e *env) {
	o := e.limit(messages.Buy, e.m.LargeQty, e.m.Price, messages.IOC)
	u := e.place(o)
	if u.Status != messages.StatusExpired {
		e.t.Fatalf("got status %s, want expired", u.Status)
	}
	if !u.CumQuantity.IsPositive() || !u.CumQuantity.LessThan(e.m.LargeQty) {
		e.t.Errorf("got cum %s, want a part of %s", u.CumQuantity, e.m.LargeQty)
	}
	e.checkFills(u.Fills, u.CumQuantity, messages.Taker)
}

func iocNotMarketable(e *env) {
	u := e.place(e.limit(messages.Buy, e.m.Qty, e.ticks(-100), messages.IOC))
	if u.Status != messages.StatusExpired || !u.CumQuantity.IsZero() || len(u.Fills) != 0 {
		e.t.Errorf("got status %s cum %s with %d fills, want expired with nothing filled", u.Status, u.CumQuantity, len(u.Fills))
	}
}

func fok(e *env) {
	u := e.place(e.limit(messages.Buy, e.m.LargeQty, e.m.Price, messages.FOK))
	if u.Status != messages.StatusExpired || !u.CumQuantity.IsZero() || len(u.Fills) != 0 {
		e.t.Errorf("FOK too large: got status %s cum %s with %d fills, want expired with nothing filled", u.Status, u.CumQuantity, len(u.Fills))
	}
	u = e.place(e.limit(messages.Buy, e.m.Qty, e.m.Price, messages.FOK))
	if u.Status != messages.StatusFilled || !u.CumQuantity.Equal(e.m.Qty) {
		e.t.Errorf("FOK that fits: got status %s cum %s, want filled %s", u.Status, u.CumQuantity, e.m.Qty)
	}
	e.checkFills(u.Fills, u.CumQuantity, messages.Taker)
}

func postOnly(e *env) {
	o := e.limit(messages.Buy, e.m.Qty, e.ticks(1), messages.GTC)
	o.PostOnly = true
	_, err := e.Venue.Place(e.ctx(), o)
	ve := e.venueError(err, executors.Rejected)
	if ve.Reason != messages.ReasonVenueRejected {
		e.t.Errorf("got reason %s, want %s", ve.Reason, messages.ReasonVenueRejected)
	}
	if n := e.count(o.ClientID); n != 0 {
		e.t.Errorf("venue holds %d orders, want 0", n)
	}

	o = e.limit(messages.Buy, e.m.Qty, e.ticks(-100), messages.GTC)
	o.PostOnly = true
	if u := e.place(o); u.Status != messages.StatusNew {
		e.t.Errorf("post-only below the market: got status %s, want new", u.Status)
	}
}

func usage(e *env) {
	u := e.place(e.market(messages.Buy, e.m.Qty))
	if len(u.Usage) == 0 {
		e.t.Fatal("Place answer carries no Usage")
	}
	counted := false
	for _, us := range u.Usage {
		if us.Limit == "" || us.Used < 0 {
			e.t.Errorf("bad usage %+v", us)
		}
		counted = counted || us.Used > 0
	}
	if !counted {
		e.t.Errorf("no limit counts the order: %+v", u.Usage)
	}
	if rl := e.RateLimit; rl != nil && !hasLimit(u.Usage, rl.Limit) {
		e.t.Errorf("usage %+v lacks limit %s", u.Usage, rl.Limit)
	}
}

func hasLimit(us []executors.Usage, name string) bool {
	for _, u := range us {
		if u.Limit == name {
			return true
		}
	}
	return false
}

func rateLimited(e *env) {
	rl := e.RateLimit
	var ve *executors.VenueError
	ok := 0
	for i := 0; i < 2*rl.Max+1 && ve == nil; i++ {
		u, err := e.Venue.Place(e.ctx(), e.market(messages.Buy, e.m.Qty))
		if err == nil {
			ok++
			for _, us := range u.Usage {
				if us.Limit == rl.Limit && us.Used > int64(rl.Max) {
					e.t.Errorf("usage of %s is %d, over its max %d", rl.Limit, us.Used, rl.Max)
				}
			}
			continue
		}
		ve = e.venueError(err, executors.Throttled)
	}
	if ve == nil {
		e.t.Fatalf("%d orders placed, none throttled by %s (max %d)", ok, rl.Limit, rl.Max)
	}
	if ve.Reason != messages.ReasonRateLimited {
		e.t.Errorf("got reason %s, want %s", ve.Reason, messages.ReasonRateLimited)
	}
	if ve.RetryAfter.IsZero() {
		e.t.Error("throttled without RetryAfter")
	}
	if rl.Rejections != nil && rl.Rejections() < 1 {
		e.t.Errorf("venue counts %d rejections, want at least 1", rl.Rejections())
	}
}
