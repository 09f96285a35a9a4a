package okxsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/internal/simkit"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/shopspring/decimal"
)

// Server is an OKX-v5-compatible SPOT exchange simulator. Its methods are
// safe for concurrent use.
type Server struct {
	cfg     Config
	now     func() time.Time
	x       *paper.Exchange
	lim     *limiter
	faults  *simkit.Injector
	routes  map[string]route
	symbols map[string]paper.SymbolSpec // by instId
	symList []paper.SymbolSpec          // in config order

	// host serves the API and runs the goroutines and connections; its
	// Context ends at Close, releasing held requests and streams.
	host *simkit.Host

	stats simkit.Counters[Stats]

	mu       sync.Mutex // guards everything below
	keys     map[string]*key
	accounts map[string]*account
	accList  []*account
	log      []Placement
	seq      uint64 // engine client IDs and sim-only order IDs
}

// account is one sub-account's state beyond the engine's.
type account struct {
	id, uid      string
	accRateLimit int64
	recs         map[string]*rec // by engine client ID
	byOrdID      map[string]*rec
	byClOrd      map[string]*rec // the latest order with each clOrdId
	hub          *hub
}

// Stats counts what the Server did, for tests.
type Stats struct {
	Requests int64 // every HTTP request, WebSocket upgrades included
	// Throttled50011 counts 50011 answers (HTTP 429), per limit: place,
	// cancel, amend, order_query, pending, fills, account_rate_limit,
	// instruments, time, tickers.
	Throttled50011 map[string]int64
	// SubAccount50061 counts new orders refused by the sub-account limit.
	SubAccount50061 int64
	Errors5xx       int64 // injected 503 answers
	Timeouts        int64 // requests held unanswered by fault injection
	// TimeoutsApplied counts the held requests that took effect anyway.
	TimeoutsApplied int64
	// OrdersPlaced counts, per sub-account, orders created (the order log).
	OrdersPlaced map[string]int64
	AuthFailures int64 // REST requests and logins refused for their credentials
	Logins       int64 // successful WebSocket logins
	StreamDrops  int64 // private connections closed by fault injection or a slow reader
}

// Rejected429 is the total of Throttled50011.
func (st Stats) Rejected429() int64 {
	var n int64
	for _, v := range st.Throttled50011 {
		n += v
	}
	return n
}

// Placement is one order the exchange created, in the order log.
type Placement struct {
	At      time.Time
	Account string
	APIKey  string
	ClOrdID string
	OrdID   string
	InstID  string
	Side    string
	OrdType string
	Sz, Px  string
	// Book is false for a post-only order canceled on arrival because it
	// would have taken liquidity (cancelSource 31): it never reached the
	// book.
	Book bool
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
		cfg: cfg, now: cfg.Now, lim: newLimiter(), faults: simkit.NewInjector(cfg.Faults, cfg.Seed, 0x6f6b7873696d), host: simkit.NewHost(),
		keys: map[string]*key{}, accounts: map[string]*account{}, symbols: map[string]paper.SymbolSpec{},
	}
	s.stats.Count(func(st *Stats) { st.Throttled50011, st.OrdersPlaced = map[string]int64{}, map[string]int64{} })
	balances := map[string]map[string]decimal.Decimal{}
	for _, a := range cfg.Accounts {
		balances[a.ID], _ = simkit.Balances(a.ID, a.Balances) // checked by Validate
		for _, kc := range a.Keys {
			name := fmt.Sprintf("okxsim: account %s key %s", a.ID, kc.APIKey)
			secret, err := resolve("secret", kc.Secret, kc.SecretEnv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			pass, err := resolve("passphrase", kc.Passphrase, kc.PassphraseEnv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			s.keys[kc.APIKey] = &key{account: a.ID, apiKey: kc.APIKey, secret: []byte(secret), passphrase: pass, enabled: !kc.Disabled}
		}
	}
	x, err := cfg.Exchange(balances, nil)
	if err != nil {
		return nil, fmt.Errorf("okxsim: %w", err)
	}
	s.x = x
	for _, sp := range x.Symbols() {
		s.symbols[sp.Symbol] = sp
		s.symList = append(s.symList, sp)
	}
	s.routes = s.routeTable()
	for _, a := range cfg.Accounts {
		acct := &account{
			id: a.ID, uid: a.UID, accRateLimit: a.AccRateLimit,
			recs: map[string]*rec{}, byOrdID: map[string]*rec{}, byClOrd: map[string]*rec{},
		}
		acct.hub = newHub(s, acct)
		s.accounts[a.ID] = acct
		s.accList = append(s.accList, acct)
		s.host.Follow(x, a.ID, acct.hub.run)
	}
	return s, nil
}

// Exchange is the engine behind the Server; tests move prices with it.
// Its client IDs are the simulator's own (one per order created), not
// clOrdIds: see Orders.
func (s *Server) Exchange() *paper.Exchange { return s.x }

// Handler serves the REST API and the private WebSocket.
func (s *Server) Handler() http.Handler { return s }

// Start listens on addr (e.g. 127.0.0.1:0), serves in the background and
// moves prices every Config.PriceTick. It returns the base URL, e.g.
// http://127.0.0.1:41234; the private WebSocket is at
// ws://127.0.0.1:41234/ws/v5/private.
func (s *Server) Start(addr string) (string, error) {
	url, err := s.host.Open(addr, s, s.x, s.cfg.PriceTick)
	if err != nil {
		return "", fmt.Errorf("okxsim: %w", err)
	}
	return url, nil
}

// Run serves on addr until ctx ends, then closes the Server. It returns
// nil after a clean shutdown.
func (s *Server) Run(ctx context.Context, addr string) error { return s.host.Run(ctx, s, addr) }

// Close stops serving, releases held requests, closes the WebSocket
// connections and waits for every goroutine of the Server.
func (s *Server) Close() error { return s.host.Close() }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	return s.stats.Read(func(st Stats) Stats {
		st.Throttled50011 = maps.Clone(st.Throttled50011)
		st.OrdersPlaced = maps.Clone(st.OrdersPlaced)
		return st
	})
}

// RevokeKey makes apiKey answer 50111 (and its WebSocket logins 60005)
// from now on, closing its logged-in connections, or accepts it again.
func (s *Server) RevokeKey(apiKey string, revoked bool) bool {
	s.mu.Lock()
	k, ok := s.keys[apiKey]
	if ok {
		k.enabled = !revoked
	}
	accts := append([]*account(nil), s.accList...)
	s.mu.Unlock()
	if ok && revoked {
		for _, a := range accts {
			a.hub.dropKey(apiKey)
		}
	}
	return ok
}

// SetFaults replaces the fault injection from now on.
func (s *Server) SetFaults(f Faults) { s.faults.Set(f) }

// SetAccRateLimit changes a sub-account's limit of new and amended orders
// (what account-rate-limit reports as accRateLimit) from now on.
func (s *Server) SetAccRateLimit(account string, n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[account]
	if ok && n > 0 {
		a.accRateLimit = n
	}
	return ok
}

// OrderLog returns every order the exchange created, in order: one entry
// per placement, so a clOrdId placed twice appears twice.
func (s *Server) OrderLog() []Placement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Placement(nil), s.log...)
}

// Duplicates returns, per sub-account and clOrdId, the number of orders
// created with it when more than one.
func (s *Server) Duplicates() map[string]int {
	n := map[string]int{}
	for _, p := range s.OrderLog() {
		n[p.Account+"/"+p.ClOrdID]++
	}
	for k, v := range n {
		if v < 2 {
			delete(n, k)
		}
	}
	return n
}

// Orders returns every order of a sub-account that reached the engine,
// oldest first, with its fills, named by clOrdId (ClientID) and ordId
// (VenueOrderID). A post-only order canceled on arrival never reached it.
func (s *Server) Orders(account string) []executors.OrderUpdate {
	infos := s.x.Orders(account, "", false)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[account]
	out := make([]executors.OrderUpdate, 0, len(infos))
	for _, in := range infos {
		u := in.OrderUpdate
		if a != nil {
			if r := a.recs[u.ClientID]; r != nil {
				u.ClientID = r.clOrdID
			}
		}
		out = append(out, u)
	}
	return out
}

// route is one REST endpoint.
type route struct {
	private bool
	handle  func(c *call) result
}

// call is one REST request being handled.
type call struct {
	r    *http.Request
	body string
	ip   string
	now  time.Time
	key  *key
	acct *account
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// ServeHTTP injects faults, authenticates private requests and handles
// them.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.Count(func(st *Stats) { st.Requests++ })
	if r.URL.Path == "/ws/v5/private" {
		s.serveWS(w, r)
		return
	}
	rt, ok := s.routes[r.Method+" "+r.URL.Path]
	if !ok {
		writeJSON(w, errNotFound())
		return
	}
	c := &call{r: r, ip: simkit.ClientIP(r, s.cfg.TrustForwardedFor)}
	if r.Method == http.MethodPost {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
			writeJSON(w, errContentType())
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(b) > maxBody {
			writeJSON(w, errJSON())
			return
		}
		c.body = string(b)
	}
	f := s.faults.Draw(r.Method, r.URL.Path)
	if !s.host.Sleep(r.Context(), f.Latency) {
		return
	}
	switch f.Kind {
	case simkit.Error5xx:
		s.stats.Count(func(st *Stats) { st.Errors5xx++ })
		writeJSON(w, errInternal())
		return
	case simkit.Timeout:
		s.stats.Count(func(st *Stats) { st.Timeouts++ })
		if f.Apply {
			s.stats.Count(func(st *Stats) { st.TimeoutsApplied++ })
			_ = s.process(c, rt)
		}
		if s.host.Hold(r) { // closing; else the client gave up: nothing to answer
			writeJSON(w, errEndpointTimeout())
		}
		return
	}
	writeJSON(w, s.process(c, rt))
}

// process authenticates c (for a private route) and runs its handler.
func (s *Server) process(c *call, rt route) result {
	c.now = s.now()
	if rt.private {
		k, fail := s.authREST(c.r, c.body, c.now)
		if fail != nil {
			s.stats.Count(func(st *Stats) { st.AuthFailures++ })
			return *fail
		}
		c.key = k
		s.mu.Lock()
		c.acct = s.accounts[k.account]
		s.mu.Unlock()
	}
	return rt.handle(c)
}

// limit counts c against one limit class in a scope; a full limit is a
// 50011 answer.
func (s *Server) limit(c *call, class, scope string, l Limit) *result {
	if s.lim.take(c.now, []string{class + "\x00" + scope}, []Limit{l}) < 0 {
		return nil
	}
	s.stats.Count(func(st *Stats) { st.Throttled50011[class]++ })
	e := errRateLimit()
	return &e
}

func writeJSON(w http.ResponseWriter, res result) {
	b, err := json.Marshal(res)
	if err != nil {
		res = fail(http.StatusInternalServerError, "50026", "System error. Try again later")
		b, _ = json.Marshal(res)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.status)
	_, _ = w.Write(b)
}
