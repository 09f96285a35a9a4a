package executors

import "time"

// Metrics receives what only the worker itself can count; everything a
// key's reports and KeyStatus already say is counted from the bus by
// whoever watches it. Options.Metrics nil means NopMetrics. The methods
// are called from the worker's goroutines concurrently and must not block.
type Metrics interface {
	// Serving says the worker's consumers are bound (true, once at
	// start) or released (false, when Run returns).
	Serving(bool)
	// VenueRequest counts one request to the venue: op is OpPlace,
	// OpCancel or OpQuery, took its round trip, err its failure (nil: the
	// venue answered; a *VenueError says how it refused).
	VenueRequest(op string, took time.Duration, err error)
	// Takeover counts this worker becoming its key's active executor
	// after another one held it.
	Takeover()
	// BudgetLease counts a lease of units of a shared budget scope's
	// limit, granted after waiting took for it.
	BudgetLease(limit string, units int64, took time.Duration)
}

// Venue request kinds for Metrics.VenueRequest.
const (
	OpPlace  = "place"
	OpCancel = "cancel"
	OpQuery  = "query"
)

// NopMetrics counts nothing.
type NopMetrics struct{}

func (NopMetrics) Serving(bool)                              {}
func (NopMetrics) VenueRequest(string, time.Duration, error) {}
func (NopMetrics) Takeover()                                 {}
func (NopMetrics) BudgetLease(string, int64, time.Duration)  {}

var _ Metrics = NopMetrics{}
