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
// order may still be in flight. Only then is the order sent again, once,
// with the same client ID.
type Unknown struct {
	Venue string         // in log lines
	Log   zerolog.Logger // with the order's client ID
	// Now is the venue's clock.
	Now func() time.Time
	// Query looks the order up; an error wrapping
	// executors.ErrUnknownOrder if the venue does not have it.
	Query func(context.Context) (executors.OrderUpdate, error)
	// Found makes Place's answer of the order found (nil: the order as
	// found).
	Found func(executors.OrderUpdate) (executors.OrderUpdate, error)
	// Resend sends the order again with the same client ID and returns
	// the deadline the new request carries.
	Resend func(context.Context) (executors.OrderUpdate, time.Time, error)
	// Duplicate says the resend was refused because the venue has the
	// client ID after all: look again.
	Duplicate func(error) bool
	// Resync re-reads the clock offset when the resend was refused for
	// the clock (nil: never).
	Resync func(context.Context, error)
}

// Resolve asks the venue until it can say what became of the order whose
// request carried deadline and failed with first.
func (r Unknown) Resolve(ctx context.Context, deadline time.Time, first error) (executors.OrderUpdate, error) {
	lastErr := first
	deadline = deadline.Add(ClockMargin)
	resent := false
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
		if resent {
			return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Unavailable, Reason: messages.ReasonVenueError,
				Message: "order not placed: " + r.Venue + " did not take it (sent twice, not found)", Err: lastErr}
		}
		resent = true
		r.Log.Info().Msg(r.Venue + " order definitely not placed; resending once with the same client ID")
		u, at, err := r.Resend(ctx)
		switch {
		case err == nil:
			return u, nil
		case r.Duplicate(err):
			delay = resolveFirstDelay
			continue
		case IsKind(err, executors.Unknown):
			lastErr, deadline, delay = err, at.Add(ClockMargin), resolveFirstDelay
			continue
		case r.Resync != nil:
			r.Resync(ctx, err)
		}
		return u, err
	}
	ve := &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
		Message: "new order outcome still unknown after querying " + r.Venue, Err: lastErr}
	if lv := AsVenueError(lastErr); lv != nil {
		ve.Usage = lv.Usage
	}
	return executors.OrderUpdate{}, ve
}
