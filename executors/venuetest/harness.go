package venuetest

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// Harness is one venue under test with the levers the suite needs.
type Harness struct {
	// Venue is the adapter under test, for one key. The function that
	// built the Harness closes it (t.Cleanup).
	Venue executors.Venue
	// SetPrice moves the simulated market's reference price of symbol,
	// filling resting orders it crosses.
	SetPrice func(symbol string, p decimal.Decimal)
	// Orders returns every order the venue holds for this key, open or
	// closed, to count duplicates.
	Orders func() []executors.OrderUpdate
	// Market is the instrument traded; zero fields take DefaultMarket's.
	Market Market
	// RateLimit, if set, runs the rate-limit subtest.
	RateLimit *RateLimitCase
	// Timeout bounds each request and each wait; 5s if zero.
	Timeout time.Duration
	// ReusesClosedClientIDs says the venue refuses a client ID only while
	// an order with it is open, and places a second order with it once the
	// first is closed (Binance does). The suite then checks that it does,
	// since the executor, not the venue, must keep a closed order from
	// being placed again.
	ReusesClosedClientIDs bool
}

// Market describes the symbol the suite trades and the sizes it uses.
type Market struct {
	Symbol string
	// Price is where the suite sets the market before each subtest.
	Price decimal.Decimal
	// Tick is the symbol's tick size.
	Tick decimal.Decimal
	// Qty is a quantity that passes every filter and fills in one fill.
	Qty decimal.Decimal
	// LargeQty passes every filter but is more than one fill (and than
	// what a marketable limit order can take at once).
	LargeQty decimal.Decimal
}

// DefaultMarket fits paper.DefaultSymbols' BTC-USDT (at most 0.5 per fill).
func DefaultMarket() Market {
	return Market{
		Symbol:   "BTC-USDT",
		Price:    decimal.RequireFromString("60000"),
		Tick:     decimal.RequireFromString("0.01"),
		Qty:      decimal.RequireFromString("0.001"),
		LargeQty: decimal.RequireFromString("1.2"),
	}
}

// RateLimitCase describes a limit on new orders the suite should hit.
type RateLimitCase struct {
	// Limit is the name the venue reports in Usage.
	Limit string
	// Max is the number of new orders the limit allows in one window; the
	// window must be long enough (say a minute) that the suite's 2·Max+1
	// orders cannot straddle two boundaries.
	Max int
	// Rejections, if set, returns the venue's count of refused requests.
	Rejections func() int64
}

func (h *Harness) fill() {
	d := DefaultMarket()
	m := &h.Market
	if m.Symbol == "" {
		m.Symbol = d.Symbol
	}
	if m.Price.IsZero() {
		m.Price = d.Price
	}
	if m.Tick.IsZero() {
		m.Tick = d.Tick
	}
	if m.Qty.IsZero() {
		m.Qty = d.Qty
	}
	if m.LargeQty.IsZero() {
		m.LargeQty = d.LargeQty
	}
	if h.Timeout <= 0 {
		h.Timeout = 5 * time.Second
	}
}

// env is one subtest's harness with helpers.
type env struct {
	t *testing.T
	Harness
	m Market
}

func newEnv(t *testing.T, newHarness func(t *testing.T) Harness) *env {
	t.Helper()
	h := newHarness(t)
	h.fill()
	e := &env{t: t, Harness: h, m: h.Market}
	e.SetPrice(e.m.Symbol, e.m.Price)
	return e
}

var idSeq atomic.Int64

// newID returns a client ID unique in this process and, by its time part,
// across runs against a long-lived simulator.
func newID() string {
	return "vt" + strconv.FormatInt(time.Now().UnixNano(), 36) + "x" + strconv.FormatInt(idSeq.Add(1), 36)
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	e.t.Cleanup(cancel)
	return ctx
}

// ticks returns the market price moved by n ticks.
func (e *env) ticks(n int64) decimal.Decimal {
	return e.m.Price.Add(e.m.Tick.Mul(decimal.NewFromInt(n)))
}

func (e *env) market(side messages.Side, qty decimal.Decimal) executors.Order {
	return executors.Order{ClientID: newID(), Symbol: e.m.Symbol, Side: side,
		Type: messages.Market, TimeInForce: messages.IOC, Quantity: qty}
}

func (e *env) limit(side messages.Side, qty, price decimal.Decimal, tif messages.TimeInForce) executors.Order {
	return executors.Order{ClientID: newID(), Symbol: e.m.Symbol, Side: side,
		Type: messages.Limit, TimeInForce: tif, Quantity: qty, Price: price}
}

// place places o and fails the test on an error.
func (e *env) place(o executors.Order) executors.OrderUpdate {
	e.t.Helper()
	u, err := e.Venue.Place(e.ctx(), o)
	if err != nil {
		e.t.Fatalf("Place(%s %s %s %s @%s): %v", o.ClientID, o.Side, o.Type, o.Quantity, o.Price, err)
	}
	return u
}

// rest places a GTC buy far below the market, which rests.
func (e *env) rest() (executors.Order, executors.OrderUpdate) {
	e.t.Helper()
	o := e.limit(messages.Buy, e.m.Qty, e.ticks(-1000), messages.GTC)
	u := e.place(o)
	if u.Status != messages.StatusNew {
		e.t.Fatalf("resting limit: got status %s, want %s", u.Status, messages.StatusNew)
	}
	return o, u
}

// venueError fails the test unless err is a *executors.VenueError of kind.
func (e *env) venueError(err error, kind executors.ErrorKind) *executors.VenueError {
	e.t.Helper()
	var ve *executors.VenueError
	if !errors.As(err, &ve) {
		e.t.Fatalf("got error %v (%T), want a *executors.VenueError of kind %s", err, err, kind)
	}
	if ve.Kind != kind {
		e.t.Fatalf("got %v of kind %s, want kind %s", ve, ve.Kind, kind)
	}
	return ve
}

// count returns how many orders the venue holds with clientID.
func (e *env) count(clientID string) int {
	n := 0
	for _, u := range e.Orders() {
		if u.ClientID == clientID {
			n++
		}
	}
	return n
}

// waitFor reads Updates until done says the accumulated state of clientID
// is reached or the timeout passes. Fills are merged by trade ID, since an
// update may repeat fills.
func (e *env) waitFor(clientID string, done func(status messages.Status, fills []executors.Fill) bool) (messages.Status, []executors.Fill) {
	e.t.Helper()
	deadline := time.NewTimer(e.Timeout)
	defer deadline.Stop()
	var status messages.Status
	var fills []executors.Fill
	seen := make(map[string]bool)
	for {
		select {
		case u, ok := <-e.Venue.Updates():
			if !ok {
				e.t.Fatalf("Updates closed while waiting for %s", clientID)
			}
			if u.ClientID != clientID {
				continue
			}
			status = u.Status
			for _, f := range u.Fills {
				if !seen[f.TradeID] {
					seen[f.TradeID] = true
					fills = append(fills, f)
				}
			}
			if done(status, fills) {
				return status, fills
			}
		case <-deadline.C:
			e.t.Fatalf("no update of %s reached the wanted state within %s; last status %q, %d fills", clientID, e.Timeout, status, len(fills))
		}
	}
}

func sum(fills []executors.Fill) decimal.Decimal {
	s := decimal.Zero
	for _, f := range fills {
		s = s.Add(f.Quantity)
	}
	return s
}

// checkFills fails unless fills are well formed, unique by trade ID, and
// add up to cum.
func (e *env) checkFills(fills []executors.Fill, cum decimal.Decimal, liq messages.Liquidity) {
	e.t.Helper()
	ids := make(map[string]bool)
	for i, f := range fills {
		if f.TradeID == "" || ids[f.TradeID] {
			e.t.Errorf("fill %d: trade ID %q empty or repeated", i, f.TradeID)
		}
		ids[f.TradeID] = true
		if !f.Quantity.IsPositive() || !f.Price.IsPositive() {
			e.t.Errorf("fill %d: quantity %s, price %s; want both > 0", i, f.Quantity, f.Price)
		}
		if f.Fee.IsNegative() {
			e.t.Errorf("fill %d: fee %s < 0", i, f.Fee)
		}
		if !f.Fee.IsZero() && f.FeeAsset == "" {
			e.t.Errorf("fill %d: fee %s without a fee asset", i, f.Fee)
		}
		if liq != "" && f.Liquidity != "" && f.Liquidity != liq {
			e.t.Errorf("fill %d: got liquidity %s, want %s", i, f.Liquidity, liq)
		}
	}
	if got := sum(fills); !got.Equal(cum) {
		e.t.Errorf("fills add up to %s, want %s", got, cum)
	}
}
