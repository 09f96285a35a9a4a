package executors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// Venue is what a key's worker needs from an exchange. One Venue value
// serves one API key; its methods are called from one worker goroutine at a
// time except Updates, which is read by the worker concurrently.
type Venue interface {
	// Name is the venue's ID as it appears in reports (e.g. "paper").
	Name() string
	// Place sends a new order. The returned update is the venue's answer:
	// status new (resting), partially_filled or filled with the fills that
	// happened at once, expired (an IOC/FOK that did not fill), or rejected.
	// A refusal is a *VenueError. An error with Unknown set means the order
	// may or may not exist: call Query before deciding anything.
	Place(ctx context.Context, o Order) (OrderUpdate, error)
	// Cancel cancels the order with the venue-side client ID clientID.
	// ErrUnknownOrder if the venue does not know it; ErrTooLateToCancel if
	// it is already filled, canceled or expired (with its last state).
	Cancel(ctx context.Context, symbol, clientID string) (OrderUpdate, error)
	// Query returns the order's current state, with all its fills so far.
	// ErrUnknownOrder if the venue does not know it.
	Query(ctx context.Context, symbol, clientID string) (OrderUpdate, error)
	// Updates delivers asynchronous events of this key's orders: fills of
	// resting orders, cancels and expiries the venue did itself. The channel
	// is closed when the venue is closed. An update may repeat fills already
	// seen (trade IDs tell them apart).
	Updates() <-chan OrderUpdate
	// Close releases the venue's resources.
	Close() error
}

// Checker is implemented by a Venue that can tell without a request that
// an order breaks the venue's rules (tick size, step size, minimum
// notional), so such an order costs no budget. Check returns a
// *VenueError of kind Rejected (reason invalid) or nil.
type Checker interface {
	Check(o Order) error
}

// Pricer is implemented by a Venue that knows reference prices; the
// worker publishes them in KeyStatus for the router's risk checks.
type Pricer interface {
	Prices() map[string]decimal.Decimal
}

// Order is a new order as sent to a venue.
type Order struct {
	// ClientID is the venue-side client order ID, derived deterministically
	// from (strategy, client_order_id) by VenueClientID.
	ClientID    string
	Symbol      string // contract form, BTC-USDT
	Side        messages.Side
	Type        messages.OrderType
	TimeInForce messages.TimeInForce
	Quantity    decimal.Decimal
	Price       decimal.Decimal // zero for market orders
	PostOnly    bool
	ReduceOnly  bool
}

// OrderUpdate is the venue's view of one order after an event.
type OrderUpdate struct {
	ClientID     string
	VenueOrderID string
	Symbol       string
	Status       messages.Status
	// CumQuantity is the total filled so far, as the venue counts it.
	CumQuantity decimal.Decimal
	// Fills are executions; Place and Query return every fill so far, an
	// asynchronous update at least the new ones.
	Fills []Fill
	// Reason and Message explain a rejected or expired status.
	Reason  messages.Reason
	Message string
	// Usage is rate-limit usage the venue reported with this answer.
	Usage []Usage
}

// Fill is one execution as a venue reports it.
type Fill struct {
	messages.Fill
	// VenueOrderID is the venue's ID of the order the fill belongs to, as
	// the venue says it ("": the update's). The worker reports a fill of
	// another order as nothing.
	VenueOrderID string
}

// Usage is a venue's own count of a rate limit, e.g. Binance's
// X-MBX-USED-WEIGHT-1M. Limit names the budget limit it feeds.
type Usage struct {
	Limit string
	Used  int64
}

// Errors a Venue returns for callers to branch on with errors.Is.
var (
	ErrUnknownOrder    = errors.New("executors: unknown order")
	ErrTooLateToCancel = errors.New("executors: order already closed")
)

// ErrorKind classifies a VenueError for the worker.
type ErrorKind int

// Kinds of venue errors.
const (
	// Rejected: the venue refused this request; nothing happened.
	Rejected ErrorKind = iota
	// Throttled: the venue's rate limit was hit; wait until RetryAfter.
	Throttled
	// Banned: the key or IP is banned until RetryAfter.
	Banned
	// KeyInvalid: the key is revoked or lacks permission; the key is down.
	KeyInvalid
	// Unknown: the outcome is unknown (timeout, 5xx); query before acting.
	Unknown
	// Unavailable: the venue could not be reached; nothing was sent.
	Unavailable
)

func (k ErrorKind) String() string {
	switch k {
	case Rejected:
		return "rejected"
	case Throttled:
		return "throttled"
	case Banned:
		return "banned"
	case KeyInvalid:
		return "key_invalid"
	case Unknown:
		return "unknown"
	case Unavailable:
		return "unavailable"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// VenueError is a venue failure. Code and Message are the venue's own (they
// go into a report's message); Reason is the contract's code for it.
type VenueError struct {
	Kind    ErrorKind
	Reason  messages.Reason
	Code    string
	Message string
	// RetryAfter is, for Throttled and Banned, when to try again; for
	// Unknown, when asking the venue about the order is definite (the
	// request can no longer take effect); zero: the venue does not say.
	RetryAfter time.Time
	Usage      []Usage
	Err        error
}

func (e *VenueError) Error() string {
	s := "venue " + e.Kind.String()
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *VenueError) Unwrap() error { return e.Err }

// Retryable reports whether the same request may succeed later.
func (e *VenueError) Retryable() bool {
	switch e.Kind {
	case Throttled, Banned, Unknown, Unavailable:
		return true
	}
	return false
}
