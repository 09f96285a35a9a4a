package router

// Metrics receives what only the router itself can count; intents and
// reports are counted from the bus by whoever watches it. Options.Metrics
// nil means NopMetrics. The methods must not block.
type Metrics interface {
	// Serving says the router's consumers are bound (true, once at start)
	// or released (false, when Run returns).
	Serving(bool)
	// Takeover counts this router becoming the active one after another
	// one held the lease.
	Takeover()
}

// NopMetrics counts nothing.
type NopMetrics struct{}

func (NopMetrics) Serving(bool) {}
func (NopMetrics) Takeover()    {}

var _ Metrics = NopMetrics{}
