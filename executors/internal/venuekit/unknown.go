package venuekit

import (
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
)

// ClockMargin covers the clock offset's error when deciding that the
// venue must have dropped a request past its deadline.
const ClockMargin = 250 * time.Millisecond

// Unknown is the error of a new order whose request had no clear answer
// (a timeout, a 5XX): the order may or may not be at the venue. A venue
// refuses an order arriving after a deadline the request carries
// (Binance: its timestamp plus recvWindow; OKX: its expTime), so asking
// the venue is definite only once that instant (plus ClockMargin) has
// passed; RetryAfter says when that is on this machine's clock (deadline
// is on the venue's clock, venueNow reads it). The adapter does not ask
// nor resend itself: the worker asks the venue then, inside the key's
// budget, without holding up the key's other orders meanwhile.
func Unknown(venue, name string, first error, deadline time.Time, venueNow func() time.Time) error {
	ve := &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
		Message: venue + " new order outcome unknown: ask the venue after its " + name + " has passed", Err: first,
		RetryAfter: time.Now().Add(deadline.Add(ClockMargin).Sub(venueNow()))}
	if lv := AsVenueError(first); lv != nil {
		ve.Usage, ve.Code = lv.Usage, lv.Code
	}
	return ve
}
