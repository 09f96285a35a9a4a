package venuekit

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
)

// AsVenueError returns the *executors.VenueError in err's chain, or nil.
func AsVenueError(err error) *executors.VenueError {
	var ve *executors.VenueError
	if errors.As(err, &ve) {
		return ve
	}
	return nil
}

// IsCode reports whether err is a venue error with one of codes.
func IsCode(err error, codes ...string) bool {
	ve := AsVenueError(err)
	if ve == nil {
		return false
	}
	for _, c := range codes {
		if ve.Code == c {
			return true
		}
	}
	return false
}

// IsKind reports whether err is a venue error of kind k.
func IsKind(err error, k executors.ErrorKind) bool {
	ve := AsVenueError(err)
	return ve != nil && ve.Kind == k
}

// SafeError is a transport error whose text leaves out what must not be
// logged (a request's query, which may hold its signature). It unwraps
// to the cause, so errors.Is(err, context.DeadlineExceeded) still works.
type SafeError struct {
	Msg string
	Err error
}

func (e *SafeError) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *SafeError) Unwrap() error { return e.Err }

// Transport returns err with the URL net/http puts into an *url.Error's
// text cut at its query, and clean (e.g. removing a payload) applied to
// the rest of the text; an error with no URL gets clean only.
func Transport(err error, clean func(string) string) error {
	if clean == nil {
		clean = func(s string) string { return s }
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &SafeError{Msg: ue.Op + " " + StripQuery(ue.URL) + ": " + clean(ue.Err.Error()), Err: ue.Err}
	}
	return &SafeError{Msg: clean(err.Error()), Err: err}
}

// StripQuery is u without its query.
func StripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// KeyHint is what logs and strings show of an API key: enough to tell
// keys apart, not enough to use one.
func KeyHint(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:6] + "…"
}

// Secret is how a config's string shows a secret: "<none>" or
// "<redacted>".
func Secret(b []byte) string {
	if len(b) == 0 {
		return "<none>"
	}
	return "<redacted>"
}

// Redacted prints s, a config's redacted description, for every verb of
// fmt (%v, %+v, %#v, %s and %q, quoted): a config's Format method calls
// it with its String, so no verb prints a secret.
func Redacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s)
		return
	}
	_, _ = f.Write([]byte(s))
}

// Reject is a refusal of an order before anything is sent: a
// *executors.VenueError of Kind Rejected.
func Reject(r messages.Reason, code, msg string) *executors.VenueError {
	return &executors.VenueError{Kind: executors.Rejected, Reason: r, Code: code, Message: msg}
}

// FilterErr is an order a venue's filters (tick, step, minimum notional)
// refuse: invalid, code FILTER.
func FilterErr(format string, args ...any) *executors.VenueError {
	return Reject(messages.ReasonInvalid, "FILTER", fmt.Sprintf(format, args...))
}

// Check is a spot adapter's Check: it refuses what no spot venue takes
// (a reduce-only order: spot holds no position to reduce; a quantity
// that is not positive), then an order on a symbol the venue does not
// list (code, e.g. "SYMBOL"; after kick, which has the listing reloaded
// soon), then applies the venue's own rules to the symbol's listing.
// desc names the venue's market, e.g. "binance spot".
func Check[L any](o executors.Order, desc string, lookup func(symbol string) (L, bool), kick func(), code string, rules func(L, executors.Order) error) error {
	if o.ReduceOnly {
		return Reject(messages.ReasonInvalid, "UNSUPPORTED", "reduce_only is not supported on "+desc)
	}
	if !o.Quantity.IsPositive() {
		return Reject(messages.ReasonInvalid, "QUANTITY", "quantity must be positive")
	}
	l, ok := lookup(o.Symbol)
	if !ok {
		kick()
		return Reject(messages.ReasonInvalid, code, fmt.Sprintf("%s is not listed on %s", o.Symbol, desc))
	}
	return rules(l, o)
}
