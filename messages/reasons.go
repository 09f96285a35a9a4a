package messages

// Reason is the code of a rejection, expiry or refused cancel.
type Reason string

// Reason codes of the public contract.
const (
	ReasonInvalid         Reason = "invalid"
	ReasonDuplicate       Reason = "duplicate"
	ReasonUnknownStrategy Reason = "unknown_strategy"
	ReasonNotPermitted    Reason = "not_permitted"
	ReasonRisk            Reason = "risk"
	ReasonHalted          Reason = "halted"
	ReasonExpired         Reason = "expired"
	ReasonRateLimited     Reason = "rate_limited"
	ReasonKeyUnavailable  Reason = "key_unavailable"
	ReasonVenueRejected   Reason = "venue_rejected"
	ReasonVenueError      Reason = "venue_error"
	ReasonUnknownOrder    Reason = "unknown_order"
	ReasonTooLateToCancel Reason = "too_late_to_cancel"
)

// Reasons lists every reason code.
var Reasons = []Reason{
	ReasonInvalid, ReasonDuplicate, ReasonUnknownStrategy, ReasonNotPermitted,
	ReasonRisk, ReasonHalted, ReasonExpired, ReasonRateLimited,
	ReasonKeyUnavailable, ReasonVenueRejected, ReasonVenueError,
	ReasonUnknownOrder, ReasonTooLateToCancel,
}
