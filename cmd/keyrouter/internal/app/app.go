// Package app is one keyrouter process: an embedded NATS server or a
// connection to one, and any of the roles (router, executors), started
// with Start and stopped with Close. The command line builds one from its
// flags; tests and benchmarks build one directly.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/router"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

// App is one keyrouter process: an embedded NATS server or a connection to
// one, and any of the roles. Tests build an App and call Start and Close;
// main parses flags into one and calls Run.
type App struct {
	Config *configs.Config
	// NATSURL connects to an existing NATS; empty starts an embedded
	// server listening on Listen ("host:port"; port -1 picks a free one;
	// "" listens nowhere, for in-process use only).
	NATSURL string
	Listen  string
	// ConnectOptions are added to the App's own NATS connection:
	// credentials, TLS and the inbox prefix of its identity (see
	// natsconf.Credentials).
	ConnectOptions []nats.Option
	// DataDir holds the embedded server's JetStream files; a temporary
	// directory (removed on Close) if empty.
	DataDir string
	// RunRouter runs the router role; Keys lists the keys to execute (nil:
	// none; AllKeys: every key of the config).
	RunRouter bool
	Keys      []string
	// RouterOptions and WorkerOptions tune the roles (Key, VenueName and
	// QueueSize of WorkerOptions are set per key).
	RouterOptions router.Options
	WorkerOptions executors.Options
	Logger        zerolog.Logger
	// SimHook may adjust a simulated venue's simulator config (tests
	// inject faults with it).
	SimHook func(venue string, cfg *binancesim.Config)

	srv       *server.Server
	tmpDir    string
	nc        *nats.Conn
	ncClosed  chan struct{} // closed when nc is
	js        jetstream.JetStream
	buckets   router.Buckets
	router    *router.Router
	workers   map[string]*executors.Worker
	venues    map[string]executors.Venue
	exchanges map[string]*paper.Exchange
	sims      map[string]*simVenue
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	errMu     sync.Mutex
	err       error
}

// AllKeys as App.Keys executes every key of the config.
var AllKeys = []string{"*"}

// ClientURL is the URL clients connect to (the embedded server's, or
// NATSURL).
func (a *App) ClientURL() string {
	if a.srv != nil {
		return a.srv.ClientURL()
	}
	return a.NATSURL
}

// inProcessConn is a new client connection to the embedded server, without
// TCP.
func (a *App) InProcessConn() (*nats.Conn, error) {
	return nats.Connect("", nats.InProcessServer(a.srv))
}

// Conn is the App's own NATS connection.
func (a *App) Conn() *nats.Conn { return a.nc }

// Exchange returns the matching engine of venue id if the App runs it: a
// paper venue's, or a simulated Binance venue's.
func (a *App) Exchange(id string) *paper.Exchange {
	if s := a.sims[id]; s != nil {
		return s.srv.Exchange()
	}
	return a.exchanges[id]
}

// Simulator returns the Binance simulator of venue id, if the App runs one.
func (a *App) Simulator(id string) *binancesim.Server {
	if s := a.sims[id]; s != nil {
		return s.srv
	}
	return nil
}

// Venue returns the venue of a key this App executes.
func (a *App) Venue(key string) executors.Venue { return a.venues[key] }

// Worker returns the worker of a key this App executes.
func (a *App) Worker(key string) *executors.Worker { return a.workers[key] }

// Buckets returns the KV buckets the App provisioned (after Start).
func (a *App) Buckets() router.Buckets { return a.buckets }

// Router returns the App's router, if it runs one.
func (a *App) Router() *router.Router { return a.router }

// Start brings the App up and returns once every role is running.
func (a *App) Start(ctx context.Context) error {
	if err := a.connect(); err != nil {
		a.Close()
		return err
	}
	buckets, err := router.Provision(ctx, a.js, a.Config.Streams)
	if err != nil {
		a.Close()
		return err
	}
	a.buckets = buckets
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if err := a.startExecutors(runCtx); err != nil {
		a.Close()
		return err
	}
	if a.RunRouter {
		a.router = router.New(a.nc, a.js, a.buckets, a.Config, a.RouterOptions)
		a.spawn(runCtx, "router", a.router.Run)
	}
	return nil
}

func (a *App) spawn(ctx context.Context, name string, run func(context.Context) error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.errMu.Lock()
			if a.err == nil {
				a.err = fmt.Errorf("%s: %w", name, err)
			}
			a.errMu.Unlock()
			a.Logger.Error().Err(err).Str("component", name).Msg("component failed; stopping")
			a.cancel()
		}
	}()
}

func (a *App) connect() error {
	a.ncClosed = make(chan struct{})
	opts := []nats.Option{nats.Name("keyrouter"), nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(a.ncClosed) })}
	opts = append(opts, a.ConnectOptions...)
	if a.NATSURL == "" {
		dir := a.DataDir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "keyrouter-js-")
			if err != nil {
				return err
			}
			a.tmpDir, dir = tmp, tmp
		}
		sopts := &server.Options{
			JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
			ServerName: "keyrouter", DontListen: a.Listen == "",
		}
		if a.Listen != "" {
			host, port, err := splitHostPort(a.Listen)
			if err != nil {
				return err
			}
			sopts.Host, sopts.Port = host, port
		}
		srv, err := server.NewServer(sopts)
		if err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		go srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			srv.Shutdown()
			return fmt.Errorf("embedded NATS did not start listening on %s (port in use? use --nats-listen)", a.Listen)
		}
		a.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(a.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("connecting to NATS %s: %w", a.NATSURL, err)
	}
	a.nc = nc
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	a.js = js
	return nil
}

func splitHostPort(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: %w", s, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: bad port", s)
	}
	return host, port, nil
}

func (a *App) startExecutors(ctx context.Context) error {
	keys := a.Keys
	if len(keys) == 1 && keys[0] == "*" {
		keys = a.Config.KeyIDs()
	}
	a.workers = map[string]*executors.Worker{}
	a.venues = map[string]executors.Venue{}
	a.exchanges = map[string]*paper.Exchange{}
	a.sims = map[string]*simVenue{}
	groups := budget.NewGroups()
	paperGroups := map[string]*paper.LimitGroup{}
	for _, id := range keys {
		kc, ok := a.Config.Keys[id]
		if !ok {
			return fmt.Errorf("key %q is not in the config", id)
		}
		vc := a.Config.Venues[kc.Venue]
		var venue executors.Venue
		limits := budgetLimits(kc)
		var err error
		switch vc.Kind {
		case "paper":
			x := a.exchanges[kc.Venue]
			if x == nil {
				x, err = paper.NewExchange(paper.Config{Seed: vc.Seed,
					MakerFee: decimal.RequireFromString(vc.MakerFee), TakerFee: decimal.RequireFromString(vc.TakerFee)})
				if err != nil {
					return fmt.Errorf("venues.%s: %w", kc.Venue, err)
				}
				a.exchanges[kc.Venue] = x
				tick := vc.Tick
				a.spawn(ctx, "venue "+kc.Venue, func(ctx context.Context) error {
					err := x.Run(ctx, tick)
					if errors.Is(err, context.Canceled) {
						return nil
					}
					return err
				})
			}
			g := paperGroups[kc.Venue+"/"+kc.Account]
			if g == nil {
				g = paper.NewLimitGroup()
				paperGroups[kc.Venue+"/"+kc.Account] = g
			}
			venue = paper.NewVenue(x, kc.Account, paper.VenueOptions{Latency: vc.Latency, Limits: paperLimits(kc, g)})
		case "binance":
			if venue, limits, err = a.binanceVenue(ctx, id, kc); err != nil {
				return err
			}
		default:
			return fmt.Errorf("venues.%s: kind %q has no adapter", kc.Venue, vc.Kind)
		}
		a.venues[id] = venue
		b, err := budget.New(limits, groups)
		if err != nil {
			return fmt.Errorf("keys.%s.limits: %w", id, err)
		}
		wopts := a.WorkerOptions
		wopts.Key, wopts.VenueName, wopts.QueueSize, wopts.Logger = id, kc.Venue, kc.QueueSize, a.Logger
		w := executors.NewWorker(a.nc, a.js, a.buckets.Orders, a.buckets.Control, venue, b, wopts)
		a.workers[id] = w
		a.spawn(ctx, "executor "+id, w.Run)
	}
	return nil
}

// budgetLimits turns a key's configured limits into the budget's.
func budgetLimits(kc configs.Key) []budget.Limit {
	out := make([]budget.Limit, 0, len(kc.Limits))
	for _, l := range kc.Limits {
		bl := budget.Limit{
			Name: l.Name, Shape: budget.Shape(l.Shape), Max: l.Max, Window: l.Window,
			Rate: l.Rate, Margin: l.Margin, Scope: l.Scope, Costs: map[budget.Class]int64{},
		}
		if l.Scope == "account" {
			bl.Scope = "account:" + kc.Venue + "/" + kc.Account
		}
		for c, v := range l.Costs {
			bl.Costs[budget.Class(c)] = v
		}
		for _, a := range l.AgeCosts {
			bl.AgeCost = append(bl.AgeCost, budget.AgeStep{Class: budget.Class(a.Class), Under: a.Under, Cost: a.Cost})
		}
		out = append(out, bl)
	}
	return out
}

// paperLimits makes the simulated venue enforce a key's fixed-window
// limits itself, as a real venue would (account-scope ones shared through
// g).
func paperLimits(kc configs.Key, g *paper.LimitGroup) []paper.RateLimit {
	var out []paper.RateLimit
	limits := kc.Limits
	if kc.VenueLimits != nil {
		limits = kc.VenueLimits
	}
	for _, l := range limits {
		if l.Shape != "fixed" {
			continue
		}
		rl := paper.RateLimit{Name: l.Name, Max: l.Max, Window: l.Window}
		for c, cost := range l.Costs {
			if cost > 0 {
				rl.Classes = append(rl.Classes, c)
			}
		}
		if l.Scope == "account" {
			rl.Group = g
		}
		out = append(out, rl)
	}
	return out
}

// Wait blocks until a component fails or Close is called, and returns the
// first failure.
func (a *App) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-ctx.Done():
	case <-done:
	}
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}

// Close stops every role (each finishes what it has in hand), then the
// connection and the embedded server.
func (a *App) Close() error {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	for _, v := range a.venues {
		_ = v.Close()
	}
	for _, s := range a.sims {
		_ = s.srv.Close()
	}
	if a.nc != nil {
		if err := a.nc.Drain(); err == nil {
			<-a.ncClosed
		}
	}
	if a.srv != nil {
		a.srv.Shutdown()
		a.srv.WaitForShutdown()
	}
	if a.tmpDir != "" {
		_ = os.RemoveAll(a.tmpDir)
	}
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}
