package executors_test

import (
	"context"
	"strconv"
	"sync"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// fakeVenue is a venue that remembers every request. A market order fills
// at once at price 100; a limit order rests until Fill. PlaceFunc,
// CancelFunc and QueryFunc, when set, answer instead (they may call the
// default behaviour through the venue's methods named do*). Safe for
// concurrent use; several workers of one key share one, as they share a
// real venue.
type fakeVenue struct {
	mu       sync.Mutex
	calls    []string // "place <client id>", "cancel <client id>", "query <client id>", in order
	orders   map[string]*executors.OrderUpdate
	nextID   int
	nextTr   int
	updates  chan executors.OrderUpdate
	health   error
	healthMu sync.Mutex

	PlaceFunc  func(o executors.Order) (executors.OrderUpdate, error)
	CancelFunc func(clientID string) (executors.OrderUpdate, error)
	QueryFunc  func(clientID string) (executors.OrderUpdate, error)
}

var _ executors.Venue = (*fakeVenue)(nil)

func newFakeVenue() *fakeVenue {
	return &fakeVenue{orders: map[string]*executors.OrderUpdate{}, updates: make(chan executors.OrderUpdate, 1024)}
}

func (v *fakeVenue) Name() string { return "fake" }

func (v *fakeVenue) record(call string) {
	v.mu.Lock()
	v.calls = append(v.calls, call)
	v.mu.Unlock()
}

// Calls returns the requests so far.
func (v *fakeVenue) Calls() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.calls...)
}

// count returns how many requests call (e.g. "place kr...") there were.
func (v *fakeVenue) count(call string) int {
	n := 0
	for _, c := range v.Calls() {
		if c == call {
			n++
		}
	}
	return n
}

func (v *fakeVenue) Place(_ context.Context, o executors.Order) (executors.OrderUpdate, error) {
	v.record("place " + o.ClientID)
	if v.PlaceFunc != nil {
		return v.PlaceFunc(o)
	}
	return v.doPlace(o)
}

func (v *fakeVenue) doPlace(o executors.Order) (executors.OrderUpdate, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.orders[o.ClientID]; ok {
		return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Rejected, Code: "DUPLICATE_CLIENT_ID", Message: "duplicate"}
	}
	v.nextID++
	u := &executors.OrderUpdate{ClientID: o.ClientID, VenueOrderID: strconv.Itoa(v.nextID), Symbol: o.Symbol, Status: messages.StatusNew}
	v.orders[o.ClientID] = u
	if o.Type == messages.Market {
		v.fillLocked(u, o.Quantity)
	}
	return copyUpdate(u), nil
}

// Fill fills qty of a resting order and pushes the update.
func (v *fakeVenue) Fill(clientID string, qty decimal.Decimal) {
	v.mu.Lock()
	u := v.orders[clientID]
	f := v.fillLocked(u, qty)
	out := copyUpdate(u)
	out.Fills = []executors.Fill{f}
	v.mu.Unlock()
	v.updates <- out
}

func (v *fakeVenue) fillLocked(u *executors.OrderUpdate, qty decimal.Decimal) executors.Fill {
	v.nextTr++
	f := executors.Fill{Fill: messages.Fill{Quantity: qty, Price: decimal.NewFromInt(100), Fee: decimal.Zero,
		TradeID: "t" + strconv.Itoa(v.nextTr), Liquidity: messages.Taker}, VenueOrderID: u.VenueOrderID}
	u.Fills = append(u.Fills, f)
	u.CumQuantity = u.CumQuantity.Add(qty)
	u.Status = messages.StatusPartiallyFilled
	return f
}

// Push sends an update as the venue's stream would.
func (v *fakeVenue) Push(u executors.OrderUpdate) { v.updates <- u }

func (v *fakeVenue) Cancel(_ context.Context, _, clientID string) (executors.OrderUpdate, error) {
	v.record("cancel " + clientID)
	if v.CancelFunc != nil {
		return v.CancelFunc(clientID)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	u, ok := v.orders[clientID]
	switch {
	case !ok:
		return executors.OrderUpdate{}, executors.ErrUnknownOrder
	case u.Status.Terminal():
		return copyUpdate(u), executors.ErrTooLateToCancel
	}
	u.Status = messages.StatusCanceled
	return copyUpdate(u), nil
}

func (v *fakeVenue) Query(_ context.Context, _, clientID string) (executors.OrderUpdate, error) {
	v.record("query " + clientID)
	if v.QueryFunc != nil {
		return v.QueryFunc(clientID)
	}
	return v.doQuery(clientID)
}

func (v *fakeVenue) doQuery(clientID string) (executors.OrderUpdate, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	u, ok := v.orders[clientID]
	if !ok {
		return executors.OrderUpdate{}, executors.ErrUnknownOrder
	}
	return copyUpdate(u), nil
}

func (v *fakeVenue) Updates() <-chan executors.OrderUpdate { return v.updates }

func (v *fakeVenue) Close() error { return nil }

// SetHealth makes the venue unreachable (err) or reachable (nil).
func (v *fakeVenue) SetHealth(err error) {
	v.healthMu.Lock()
	v.health = err
	v.healthMu.Unlock()
}

// Health is nil while the venue can be reached.
func (v *fakeVenue) Health() error {
	v.healthMu.Lock()
	defer v.healthMu.Unlock()
	return v.health
}

func copyUpdate(u *executors.OrderUpdate) executors.OrderUpdate {
	c := *u
	c.Fills = append([]executors.Fill(nil), u.Fills...)
	return c
}
