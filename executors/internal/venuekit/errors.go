package venuekit

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/keyrouter/keyrouter/executors"
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
