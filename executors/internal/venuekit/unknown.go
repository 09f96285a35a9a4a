package venuekit

import (
	"context"
	"errors"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/rs/zerolog"
)

// Bounds of the resolution of an unknown outcome.
const (
	// ResolveAttempts is how many times the venue is asked.
	ResolveAttempts   = 8
	resolveFirstDelay = 50 * time.Millisecond
	resolveMaxDelay   = 2 * time.Second
	// ClockMargin covers the clock offset's error when deciding that the
	// venue must have dropped a request past its deadline.
	ClockMargin = 250 * time.Millisecond
)

// Unknown resolves the outcome of a new order whose request had no clear
// answer (a timeout, a 5XX). A venue refuses an order arriving after a
// deadline the request carries (Binance: its timestamp plus recvWindow;
// OKX: its expTime), so "not found" is definite only once that instant
// (plus ClockMargin) has passed on the venue's clock; before then the
// order may still be in flight. An order definitely not placed is not
// sent again here: that is the worker's to do, inside the key's budget (a
// resend by the adapter would be a request no budget counted).
type Unknown struct {
	Venue string         // in log lines and messages
	Log   zerolog.Logger // with the order's client ID
	// Deadline names the request's deadline in messages ("recvWindow").
	Deadline string
	// Now is the venue's clock.
	Now func() time.Time
	// Query looks the order up; an error wrapping
	// executors.ErrUnknownOrder if the venue does not have it.
	Query func(context.Context) (executors.OrderUpdate, error)
	// Found makes Place's answer of the order found (nil: the order as
	// found).
	Found func(executors.OrderUpdate) (executors.OrderUpdate, error)
}

// Resolve asks the venue until it can say what became of the order whose
// request carried deadline and failed with first: the order found, an
// Unavailable error if it was definitely not placed, or an Unknown one if
// the venue could not tell.
func (r Unknown) Resolve(ctx context.Context, deadline time.Time, first error) (executors.OrderUpdate, error) {
	lastErr := first
	deadline = deadline.Add(ClockMargin)
	delay := resolveFirstDelay
	r.Log.Warn().Err(first).Msg(r.Venue + " new order outcome unknown; querying")
	for range ResolveAttempts {
		wait := delay
		delay = min(2*delay, resolveMaxDelay)
		if !Sleep(ctx, wait) {
			break
		}
		q, err := r.Query(ctx)
		if err == nil {
			r.Log.Info().Str("status", string(q.Status)).Msg(r.Venue + " order found after unknown outcome")
			if r.Found != nil {
				return r.Found(q)
			}
			return q, nil
		}
		if !errors.Is(err, executors.ErrUnknownOrder) {
			lastErr = err // cannot tell yet: ask again
			continue
		}
		if now := r.Now(); now.Before(deadline) {
			// Not found, but it could still reach the matching engine.
			delay = max(deadline.Sub(now), resolveFirstDelay)
			continue
		}
		r.Log.Info().Msg(r.Venue + " order definitely not placed (" + r.Deadline + " passed)")
		return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Unavailable, Reason: messages.ReasonVenueError,
			Message: "order not placed: " + r.Venue + " did not take it (not found after its " + r.Deadline + ")", Err: lastErr}
	}
	ve := &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
		Message: "new order outcome still unknown after querying " + r.Venue, Err: lastErr}
	if lv := AsVenueError(lastErr); lv != nil {
		ve.Usage = lv.Usage
	}
	return executors.OrderUpdate{}, ve
}
