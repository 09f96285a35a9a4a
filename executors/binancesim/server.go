package binancesim

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors/internal/simkit"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/shopspring/decimal"
)

// Server is a Binance-spot-compatible exchange simulator. Its methods are
// safe for concurrent use.
type Server struct {
	cfg      Config
	now      func() time.Time
	x        *paper.Exchange
	keys     map[string]*verifier // by API key
	accounts map[string]bool
	lim      *limiter
	faults   *simkit.Injector
	streams  *streams
	routes   map[string]*route
	// symbols by wire name (BTCUSDT), and in config order.
	symbols    map[string]filters
	symbolList []filters
	// cancelIDs holds the client ID of the cancel of each canceled order
	// (cancelKey: account NUL venue order ID), for the stream's
	// executionReport.
	cancelIDs sync.Map

	// host serves the API and runs the goroutines; its Context ends at
	// Close, releasing held requests and streams.
	host *simkit.Host

	stats simkit.Counters[Stats]

	refusedMu sync.Mutex // guards refused
	// refused counts engine refusals per account, client ID and reason.
	refused map[string]map[string]map[string]int

	mu    sync.Mutex // guards below
	admin bool       // StartAdmin's
}

// Stats counts what the Server did, for tests (and GET /sim/stats of the
// admin API, with these JSON names).
type Stats struct {
	Requests    int64 `json:"requests"`     // every HTTP request, streams included
	Rejected429 int64 `json:"rejected_429"` // answers with status 429
	Banned418   int64 `json:"banned_418"`   // answers with status 418
	Errors5xx   int64 `json:"errors_5xx"`   // injected 5xx answers
	Timeouts    int64 `json:"timeouts"`     // requests held unanswered by fault injection
	// TimeoutsApplied counts the held requests that took effect anyway.
	TimeoutsApplied int64 `json:"timeouts_applied"`
	// OrdersPlaced counts, per account, new orders the engine accepted.
	OrdersPlaced map[string]int64 `json:"orders_placed"`
	// OrdersCounted counts, per account, new orders counted against the
	// ORDERS limits (accepted or refused by the engine).
	OrdersCounted map[string]int64 `json:"orders_counted"`
	// StreamDrops counts user data stream connections closed by fault
	// injection or because the client read too slowly.
	StreamDrops int64 `json:"stream_drops"`
}

// New builds a Server from cfg (defaults applied, then validated). It
// serves nothing until Start or Run, or until Handler is mounted; Close
// releases it in every case.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		now:      cfg.Now,
		keys:     map[string]*verifier{},
		accounts: map[string]bool{},
		lim:      newLimiter(cfg.RateLimits, cfg.Ban),
		faults:   simkit.NewInjector(cfg.Faults, cfg.Seed, 0x62696e616e636573),
		host:     simkit.NewHost(),
		refused:  map[string]map[string]map[string]int{},
	}
	s.stats.Count(func(st *Stats) { st.OrdersPlaced, st.OrdersCounted = map[string]int64{}, map[string]int64{} })
	accts := map[string]map[string]decimal.Decimal{}
	for _, a := range cfg.Accounts {
		s.accounts[a.ID] = true
		accts[a.ID], _ = simkit.Balances(a.ID, a.Balances) // checked by Validate
		for _, k := range a.Keys {
			v, err := buildKey(a.ID, k)
			if err != nil {
				return nil, err
			}
			s.keys[k.APIKey] = v
		}
	}
	x, err := cfg.Exchange(accts, func(pc *paper.Config) {
		pc.ReuseClosedClientIDs = true // Binance refuses an ID only while its order is open
	})
	if err != nil {
		return nil, fmt.Errorf("binancesim: %w", err)
	}
	s.x = x
	s.symbols = map[string]filters{}
	for _, sp := range x.Symbols() {
		f := symbolFilters(sp)
		s.symbols[f.wire] = f
		s.symbolList = append(s.symbolList, f)
	}
	s.routes = s.routeTable()
	s.streams = newStreams(s)
	for _, a := range cfg.Accounts {
		s.host.Follow(x, a.ID, s.streams.hub(a.ID).run)
	}
	return s, nil
}

// Exchange is the engine behind the Server; tests move prices with it.
func (s *Server) Exchange() *paper.Exchange { return s.x }

// Handler serves the REST API and the user data streams.
func (s *Server) Handler() http.Handler { return s }

// Start listens on addr (e.g. 127.0.0.1:0), serves in the background and
// moves prices every Config.PriceTick. It returns the base URL, e.g.
// http://127.0.0.1:41234 (the streams are at ws://127.0.0.1:41234/ws/...).
func (s *Server) Start(addr string) (string, error) {
	url, err := s.host.Open(addr, s, s.x, s.cfg.PriceTick)
	if err != nil {
		return "", fmt.Errorf("binancesim: %w", err)
	}
	return url, nil
}

// Run serves on addr until ctx ends, then closes the Server. It returns
// nil after a clean shutdown.
func (s *Server) Run(ctx context.Context, addr string) error { return s.host.Run(ctx, s, addr) }

// Close stops serving, releases held requests, closes the streams and
// waits for every goroutine of the Server.
func (s *Server) Close() error { return s.host.Close(s.streams.closeAll) }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	return s.stats.Read(func(st Stats) Stats {
		st.OrdersPlaced = maps.Clone(st.OrdersPlaced)
		st.OrdersCounted = maps.Clone(st.OrdersCounted)
		return st
	})
}

// RevokeKey makes apiKey answer -2015 from now on (enabled false) or
// accepts it again.
func (s *Server) RevokeKey(apiKey string, revoked bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[apiKey]
	if ok {
		k.enabled = !revoked
	}
	return ok
}
