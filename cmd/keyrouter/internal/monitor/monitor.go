package monitor

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

//go:embed web
var webFS embed.FS

// Options configure a Monitor; zero values take the defaults.
type Options struct {
	// Config names the keys and strategies the dashboard shows before
	// the bus says anything of them (nil: only what the bus names).
	Config *configs.Config
	// HeartbeatTimeout: a key silent this long shows down (default: the
	// config's router.heartbeat_timeout, else 3s).
	HeartbeatTimeout time.Duration
	// Dashboard serves the live dashboard at / (processes that run the
	// router); otherwise / answers 404.
	Dashboard bool
	// Keys, if not nil, limits the keys shown to these (an executor-only
	// process shows its own).
	Keys   []string
	Logger zerolog.Logger
	Now    func() time.Time
}

// Monitor is one process's metrics, health and dashboard. Create with
// New, serve with Listen, feed with Watch or WatchLocal, stop with Close.
type Monitor struct {
	opts    Options
	now     func() time.Time
	log     zerolog.Logger
	view    *View
	metrics *metrics
	health  *Health

	mu      sync.Mutex
	natsURL string
	srv     *http.Server
	ln      net.Listener
	stop    context.CancelFunc // ends the server's requests and the feeds
	ctx     context.Context
	wg      sync.WaitGroup
}

// SetAlive tells the key cards how to know that a worker's process is
// alive (View.SetAlive).
func (m *Monitor) SetAlive(alive func(worker string) bool) { m.view.SetAlive(alive) }

// New returns a Monitor; nothing runs until Listen or Watch.
func New(opts Options) *Monitor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HeartbeatTimeout <= 0 && opts.Config != nil {
		opts.HeartbeatTimeout = opts.Config.Router.HeartbeatTimeout
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Monitor{opts: opts, now: opts.Now, log: opts.Logger, view: NewView(opts.Config, opts.HeartbeatTimeout),
		metrics: newMetrics(), health: newHealth(opts.Now), ctx: ctx, stop: stop}
	if opts.Keys != nil {
		m.view.keepOnly(opts.Keys)
	}
	m.metrics.reg.MustRegister(newKeyCollector(m.view, m.now))
	return m
}

// View returns the view the dashboard shows.
func (m *Monitor) View() *View { return m.view }

// Health returns what /readyz answers from.
func (m *Monitor) Health() *Health { return m.health }

// Executor returns the metrics of key's worker; the process is not ready
// until that worker's consumers are bound.
func (m *Monitor) Executor(key, venue string) *ExecutorMetrics {
	m.health.expect("executor " + key)
	m.metrics.bound.WithLabelValues("executor", key).Set(0)
	return &ExecutorMetrics{key: key, venue: venue, m: m.metrics, health: m.health}
}

// Router returns the router's metrics; the process is not ready until
// the router's consumers are bound.
func (m *Monitor) Router() *RouterMetrics {
	m.health.expect("router")
	m.metrics.bound.WithLabelValues("router", "").Set(0)
	return &RouterMetrics{m: m.metrics, health: m.health}
}

// Connected tells the Monitor the process's NATS connection (readiness
// follows its status) and the URL clients use.
func (m *Monitor) Connected(nc *nats.Conn, clientURL string) {
	m.health.setConn(nc)
	m.mu.Lock()
	m.natsURL = clientURL
	m.mu.Unlock()
}

// Watch feeds the view from the bus (key statuses, intents, reports,
// halts) until Close. control may be nil.
func (m *Monitor) Watch(nc *nats.Conn, js jetstream.JetStream, control jetstream.KeyValue) error {
	return m.watchBus(m.ctx, nc, js, control)
}

// WatchLocal feeds the view from statuses, called every second, until
// Close: for a process whose executors' keys are all it shows.
func (m *Monitor) WatchLocal(statuses func() []messages.KeyStatus) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.pollLocal(m.ctx, statuses)
	}()
}

// Listen starts serving HTTP on addr ("host:port"; port 0 picks one).
func (m *Monitor) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok: alive")
	})
	mux.HandleFunc("GET /readyz", m.readyz)
	if m.opts.Dashboard {
		static, _ := fs.Sub(webFS, "web")
		mux.Handle("GET /", http.FileServerFS(static))
		mux.HandleFunc("GET /events", m.events)
		mux.HandleFunc("GET /api/snapshot", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(m.view.Snapshot(m.now()))
		})
	} else {
		mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no dashboard on this role (it is served by run and router); see /metrics, /healthz, /readyz", http.StatusNotFound)
		})
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return m.ctx }}
	m.mu.Lock()
	m.srv, m.ln = srv, ln
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error().Err(err).Msg("http server stopped")
		}
	}()
	return nil
}

// Addr is the address the HTTP server listens on ("" before Listen).
func (m *Monitor) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// URL is the HTTP server's root URL ("" before Listen).
func (m *Monitor) URL() string {
	if a := m.Addr(); a != "" {
		return "http://" + a + "/"
	}
	return ""
}

// Close stops the HTTP server (open event streams end) and the feeds.
func (m *Monitor) Close() error {
	m.stop()
	m.mu.Lock()
	srv := m.srv
	m.mu.Unlock()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(ctx)
		cancel()
	}
	m.wg.Wait()
	return err
}

func (m *Monitor) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, why := m.health.Ready()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, why)
}

// eventsEvery bounds how often a stream sends (at most), and
// eventsIdle how long it stays silent (at most) when nothing changed:
// the sparklines move every second.
const (
	eventsEvery = 250 * time.Millisecond
	eventsIdle  = time.Second
)

// events streams the view as server-sent events: an "info" event, then a
// "snapshot" event whenever the view changed (at most every 250 ms) and at
// least every second.
func (m *Monitor) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	send := func(event string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	m.mu.Lock()
	info := map[string]string{"nats": m.natsURL}
	m.mu.Unlock()
	if send("info", info) != nil {
		return
	}
	t := time.NewTicker(eventsEvery)
	defer t.Stop()
	var lastVersion uint64
	var lastSent time.Time
	for {
		if v := m.view.Version(); v != lastVersion || time.Since(lastSent) >= eventsIdle {
			if send("snapshot", m.view.Snapshot(m.now())) != nil {
				return
			}
			lastVersion, lastSent = v, time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
