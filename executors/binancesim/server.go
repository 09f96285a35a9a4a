package binancesim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

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
	faults   *faults
	streams  *streams
	routes   map[string]*route
	// symbols by wire name (BTCUSDT), and in config order.
	symbols    map[string]filters
	symbolList []filters
	// cancelIDs holds the client ID of the cancel of each canceled order
	// (cancelKey: account NUL venue order ID), for the stream's
	// executionReport.
	cancelIDs sync.Map

	ctx    context.Context // ends at Close: releases held requests and streams
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines

	statsMu sync.Mutex // guards stats and refused
	stats   Stats
	// refused counts engine refusals per account, client ID and reason.
	refused map[string]map[string]map[string]int

	mu     sync.Mutex // guards below
	hs     *http.Server
	admin  *http.Server // StartAdmin's
	closed bool
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
		faults:   newFaults(cfg.Faults, cfg.Seed),
		stats:    Stats{OrdersPlaced: map[string]int64{}, OrdersCounted: map[string]int64{}},
		refused:  map[string]map[string]map[string]int{},
	}
	accts := map[string]map[string]decimal.Decimal{}
	for _, a := range cfg.Accounts {
		s.accounts[a.ID] = true
		var bal map[string]decimal.Decimal
		if a.Balances != nil {
			bal = map[string]decimal.Decimal{}
			for asset, v := range a.Balances {
				bal[asset] = decimal.RequireFromString(v) // checked by Validate
			}
		}
		accts[a.ID] = bal
		for _, k := range a.Keys {
			v, err := buildKey(a.ID, k)
			if err != nil {
				return nil, err
			}
			s.keys[k.APIKey] = v
		}
	}
	x, err := paper.NewExchange(paper.Config{
		Symbols: cfg.paperSymbols(), Seed: cfg.Seed,
		MakerFee: cfg.MakerFee, TakerFee: cfg.TakerFee,
		Accounts: accts, Clock: cfg.Now, SubscriberBuffer: 1 << 14,
		ReuseClosedClientIDs: true, // Binance refuses an ID only while its order is open
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
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes = s.routeTable()
	s.streams = newStreams(s)
	for _, a := range cfg.Accounts {
		h := s.streams.hub(a.ID)
		// Subscribe now, so no event of an order placed after New is missed.
		updates, unsubscribe := x.Subscribe(a.ID)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer unsubscribe()
			h.run(s.ctx, updates)
		}()
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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("binancesim: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.hs != nil {
		ln.Close()
		return "", errors.New("binancesim: server closed or already started")
	}
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.hs.Serve(ln) // ends with ErrServerClosed at Close
	}()
	if s.cfg.PriceTick > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.x.Run(s.ctx, s.cfg.PriceTick)
		}()
	}
	return "http://" + ln.Addr().String(), nil
}

// Run serves on addr until ctx ends, then closes the Server. It returns
// nil after a clean shutdown.
func (s *Server) Run(ctx context.Context, addr string) error {
	if _, err := s.Start(addr); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	return s.Close()
}

// Close stops serving, releases held requests, closes the streams and
// waits for every goroutine of the Server.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	hs, admin := s.hs, s.admin
	s.mu.Unlock()
	s.cancel()
	var err error
	if hs != nil {
		err = hs.Close()
	}
	if admin != nil {
		_ = admin.Close()
	}
	s.streams.closeAll()
	s.wg.Wait()
	return err
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.OrdersPlaced = make(map[string]int64, len(s.stats.OrdersPlaced))
	for k, v := range s.stats.OrdersPlaced {
		st.OrdersPlaced[k] = v
	}
	st.OrdersCounted = make(map[string]int64, len(s.stats.OrdersCounted))
	for k, v := range s.stats.OrdersCounted {
		st.OrdersCounted[k] = v
	}
	return st
}

func (s *Server) count(f func(st *Stats)) {
	s.statsMu.Lock()
	f(&s.stats)
	s.statsMu.Unlock()
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
