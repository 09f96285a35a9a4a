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
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/monitor"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/run"
	"github.com/rs/zerolog"
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
	// Sync is how often the embedded server flushes JetStream's files to
	// disk: SyncAlways after every write (nothing acked is lost in an OS
	// crash, at a cost keyrouter bench measures), a positive interval (an
	// OS crash may lose what was acked in the last interval; a process
	// crash loses nothing either way), or 0 for NATS's own default (2
	// minutes).
	Sync time.Duration
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
	// Instance names this process among keyrouter's processes (leases
	// and KeyStatus.worker); default: host-pid-n. A restart under the same
	// name takes its leases back at once.
	Instance string
	// LeaseTTL: a process silent this long loses its leases to a standby
	// (default bus.DefaultLeaseTTL).
	LeaseTTL time.Duration
	// Clock drives leases, the router, executors and paper venues
	// (tests); default the wall clock.
	Clock bus.Clock
	// HTTPListen, if set, serves /metrics, /healthz, /readyz and (with
	// RunRouter) the dashboard on this address ("host:port"; port 0 picks
	// one). The listener opens first, so /readyz answers while the roles
	// start.
	HTTPListen string

	srv       *server.Server
	mon       *monitor.Monitor
	tmpDir    string
	nc        *nats.Conn
	ncClosed  chan struct{} // closed when nc is
	js        jetstream.JetStream
	buckets   bus.Buckets
	leases    *bus.Leases
	router    *router.Router
	workers   map[string]*executors.Worker
	venues    map[string]executors.Venue
	exchanges map[string]*paper.Exchange
	sims      map[string]*simVenue
	group     run.Group
	cancel    context.CancelFunc
	done      chan struct{} // closed when every component has stopped
	err       error         // the first component failure, set before done
}

// SyncAlways as App.Sync flushes after every write.
const SyncAlways time.Duration = -1

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

// InProcessOption connects a client (or another App, through its
// ConnectOptions and any NATSURL) to the embedded server without TCP.
func (a *App) InProcessOption() nats.Option { return nats.InProcessServer(a.srv) }

// Conn is the App's own NATS connection.
func (a *App) Conn() *nats.Conn { return a.nc }

// Exchange returns the matching engine of venue id if the App runs it: a
// paper venue's, or a simulated Binance venue's.
func (a *App) Exchange(id string) *paper.Exchange {
	if s := a.sims[id]; s != nil {
		return s.exchange()
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
func (a *App) Buckets() bus.Buckets { return a.buckets }

// Leases returns the App's lease view (after Start).
func (a *App) Leases() *bus.Leases { return a.leases }

// Router returns the App's router, if it runs one.
func (a *App) Router() *router.Router { return a.router }

// Monitor returns the App's metrics, health and dashboard, if HTTPListen
// is set (after Start, or inside SimHook during it).
func (a *App) Monitor() *monitor.Monitor { return a.mon }

// HTTPURL is the root URL of the App's HTTP listener ("" without one).
func (a *App) HTTPURL() string {
	if a.mon == nil {
		return ""
	}
	return a.mon.URL()
}

// keyIDs are the keys this App executes.
func (a *App) keyIDs() []string {
	if len(a.Keys) == 1 && a.Keys[0] == "*" {
		return a.Config.KeyIDs()
	}
	return a.Keys
}

// Start brings the App up and returns once every role is running (an
// executor standing by for its key's lease counts as running).
func (a *App) Start(ctx context.Context) error {
	if err := a.startMonitor(); err != nil {
		a.Close()
		return err
	}
	if err := a.connect(); err != nil {
		a.Close()
		return err
	}
	if a.mon != nil {
		url := a.ClientURL()
		if a.NATSURL == "" && a.Listen == "" {
			url = "" // an embedded server without a listener: in-process clients only
		}
		a.mon.Connected(a.nc, url)
	}
	buckets, err := bus.Provision(ctx, a.js, a.Config.Streams)
	if err != nil {
		a.Close()
		return err
	}
	a.buckets = buckets
	if a.Instance == "" {
		a.Instance = defaultInstance()
	}
	if a.Clock == nil {
		a.Clock = bus.RealClock
	}
	role := "executor"
	if a.RunRouter {
		role = "router"
	}
	a.leases, err = bus.NewLeases(buckets.Control, bus.LeaseOptions{Instance: a.Instance, Role: role, TTL: a.LeaseTTL, Clock: a.Clock, Logger: a.Logger})
	if err != nil {
		a.Close()
		return err
	}
	if a.mon != nil {
		a.mon.SetAlive(func(worker string) bool {
			_, instance, ok := strings.Cut(worker, "@")
			return ok && a.leases.Alive(instance)
		})
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if err := a.leases.Start(runCtx); err != nil {
		a.Close()
		return err
	}
	if err := a.startExecutors(runCtx); err != nil {
		a.Close()
		return err
	}
	if a.RunRouter {
		ro := a.RouterOptions
		ro.Logger = a.Logger
		if ro.Clock == nil {
			ro.Clock = a.Clock
		}
		a.router = router.New(a.nc, a.js, a.buckets, a.leases, a.Config, ro)
		a.add(runCtx, "router", a.router.Run)
	}
	a.done = make(chan struct{})
	go func() {
		a.err = a.group.Run()
		close(a.done)
	}()
	return a.watchMonitor()
}

// startMonitor opens the HTTP listener and hands the roles their metrics
// (before anything else, so /readyz says what the process waits for).
func (a *App) startMonitor() error {
	if a.HTTPListen == "" {
		return nil
	}
	opts := monitor.Options{Config: a.Config, Dashboard: a.RunRouter, Logger: a.Logger}
	if !a.RunRouter {
		opts.Keys = a.keyIDs() // it sees only its own keys
	}
	a.mon = monitor.New(opts)
	if err := a.mon.Listen(a.HTTPListen); err != nil {
		return err
	}
	if a.RunRouter && a.RouterOptions.Metrics == nil {
		a.RouterOptions.Metrics = a.mon.Router()
	}
	return nil
}

// watchMonitor feeds the monitor: from the bus where the router runs
// (every key, every report), else from this process's own workers.
func (a *App) watchMonitor() error {
	switch {
	case a.mon == nil:
		return nil
	case a.RunRouter:
		if err := a.mon.Watch(a.nc, a.js, a.buckets.Control); err != nil {
			a.Close()
			return err
		}
	case len(a.workers) > 0:
		a.mon.WatchLocal(func() []messages.KeyStatus {
			out := make([]messages.KeyStatus, 0, len(a.workers))
			for _, w := range a.workers {
				out = append(out, w.Status())
			}
			return out
		})
	}
	return nil
}

// add runs a component in the App's group: the first one to return stops
// the others (oklog/run), and an error is the App's failure.
func (a *App) add(ctx context.Context, name string, run func(context.Context) error) {
	a.group.Add(func() error {
		err := run(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			a.Logger.Error().Err(err).Str("component", name).Msg("component failed; stopping")
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}, func(error) { a.cancel() })
}

var instances atomic.Int64

// defaultInstance is host-pid-n: unique among processes and among the
// Apps of one process.
func defaultInstance() string {
	host, _ := os.Hostname()
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return fmt.Sprintf("%s-%d-%d", b, os.Getpid(), instances.Add(1))
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
			SyncInterval: max(a.Sync, 0), SyncAlways: a.Sync == SyncAlways,
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
	keys := a.keyIDs()
	metrics := map[string]executors.Metrics{}
	for _, id := range keys {
		if kc, ok := a.Config.Keys[id]; ok && a.mon != nil && a.WorkerOptions.Metrics == nil {
			metrics[id] = a.mon.Executor(id, kc.Venue) // expected before any venue starts
		}
	}
	a.workers = map[string]*executors.Worker{}
	a.venues = map[string]executors.Venue{}
	a.exchanges = map[string]*paper.Exchange{}
	a.sims = map[string]*simVenue{}
	// Limits shared by keys (account, IP) are counted in the BUDGETS
	// bucket: keys of one account may run in several processes.
	var sharesMetrics executors.Metrics
	for _, m := range metrics {
		sharesMetrics = m
		break
	}
	shares := executors.NewShares(a.buckets.Budgets, a.Clock, a.Logger, sharesMetrics)
	groups := shares.Groups()
	if len(keys) > 0 {
		a.add(ctx, "shares", shares.Run)
	}
	// One watch of the keys' halts for the whole process.
	var halts *executors.Halts
	if len(keys) > 0 {
		halts = executors.NewHalts(a.buckets.Control)
		if err := halts.Start(ctx); err != nil {
			return fmt.Errorf("watching halts: %w", err)
		}
	}
	// One status ticker for every key of the process: one timer, not one
	// per key.
	ticker := executors.NewStatusTicker(a.Clock, a.WorkerOptions.StatusEvery)
	paperGroups := map[string]*paper.LimitGroup{}
	for _, id := range keys {
		kc, ok := a.Config.Keys[id]
		if !ok {
			return fmt.Errorf("key %q is not in the config", id)
		}
		vc := a.Config.Venues[kc.Venue]
		var venue executors.Venue
		limits, err := kc.BudgetLimits()
		if err != nil {
			return fmt.Errorf("keys.%s: %w", id, err)
		}
		switch vc.Kind {
		case "paper":
			if venue, err = a.paperVenue(ctx, id, kc, paperGroups); err != nil {
				return err
			}
		case "binance":
			if venue, limits, err = a.binanceVenue(ctx, id, kc); err != nil {
				return err
			}
		case "okx":
			if venue, limits, err = a.okxVenue(ctx, id, kc); err != nil {
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
		if wopts.Clock == nil {
			wopts.Clock = a.Clock
		}
		wopts.Shares, wopts.Halts, wopts.Ticker = shares, halts, ticker
		if m := metrics[id]; m != nil {
			wopts.Metrics = m
		}
		w := executors.NewWorker(a.nc, a.js, a.buckets, a.leases, venue, executors.FromBudget(b), wopts)
		a.workers[id] = w
		a.add(ctx, "executor "+id, w.Run)
	}
	return nil
}

// Wait blocks until a component fails or ctx ends, and returns the first
// failure.
func (a *App) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-a.done:
		return a.err
	}
}

// Close stops every role (each finishes what it has in hand and releases
// its leases, so standbys take over at once), then the connection and the
// embedded server.
func (a *App) Close() error {
	if a.cancel != nil {
		a.cancel()
	}
	if a.done != nil {
		<-a.done
	}
	if a.leases != nil {
		select {
		case <-a.leases.Done():
		case <-time.After(2 * bus.Timeout):
		}
	}
	if a.mon != nil {
		if err := a.mon.Close(); err != nil {
			a.Logger.Warn().Err(err).Msg("closing the http listener")
		}
	}
	for _, v := range a.venues {
		_ = v.Close()
	}
	for _, s := range a.sims {
		_ = s.close()
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
	if a.done != nil {
		return a.err
	}
	return nil
}
