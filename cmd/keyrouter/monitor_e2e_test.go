package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// monitorConfig: alpha spreads over two keys, whose budget use stays in
// view for 10 s after each order (sliding windows, not aligned to the
// clock); beta's first key is one the venue holds to 5 orders an hour
// while its budget allows 200, so a burst on beta draws a 429 and turns
// beta-1 throttled until the hour ends (beta-2 takes over). An hour, so
// that no test needs to wait for the start of a window: a burst would
// cross the venue's window boundary, and the throttle end there, only in
// its last moments.
const monitorConfig = `
venues: {paper: {kind: paper, seed: 1, tick: 100ms}}
keys:
  alpha-1: {venue: paper, limits: [{name: orders_10s, shape: sliding, max: 200, window: 10s}]}
  alpha-2: {venue: paper, limits: [{name: orders_10s, shape: sliding, max: 200, window: 10s}]}
  beta-1:
    venue: paper
    limits: [{name: orders_10s, shape: fixed, max: 200, window: 10s}]
    venue_limits: [{name: orders_1h, shape: fixed, max: 5, window: 1h}]
  beta-2: {venue: paper, limits: [{name: orders_10s, shape: fixed, max: 200, window: 10s}]}
strategies:
  alpha: {keys: [alpha-1, alpha-2], policy: least_loaded}
  beta: {keys: [beta-1, beta-2], policy: failover}
`

func withHTTP(ka *app.App) { ka.HTTPListen = "127.0.0.1:0" }

// series names one Prometheus series as the text format writes it
// (labels sorted by name).
func series(name string, labels ...string) string {
	type kv struct{ k, v string }
	var ls []kv
	for i := 0; i+1 < len(labels); i += 2 {
		ls = append(ls, kv{labels[i], labels[i+1]})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].k < ls[j].k })
	var b strings.Builder
	b.WriteString(name)
	if len(ls) > 0 {
		b.WriteByte('{')
		for i, l := range ls {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%q", l.k, l.v)
		}
		b.WriteByte('}')
	}
	return b.String()
}

// scrape reads /metrics into series → value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// get returns the status code and body of base+path.
func get(t *testing.T, base, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// flow publishes market intents of strategy at about perSecond until
// stop is called (bounded: at most 10 minutes' worth).
func flow(t *testing.T, nc *nats.Conn, strategy string, perSecond int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		prefix := strconv.FormatInt(time.Now().UnixNano(), 36)
		for i := 0; i < perSecond*600; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_ = nc.Publish(messages.OrdersNewSubject(strategy), []byte(marketIntentBTC(fmt.Sprintf("%s-%s-%d", strategy, prefix, i))))
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// burst publishes n market intents of strategy at once.
func burst(t *testing.T, c *client, strategy, prefix string, n int) {
	t.Helper()
	for i := range n {
		c.submit(strategy, marketIntentBTC(fmt.Sprintf("%s%d", prefix, i)))
	}
}

// While orders flow, the named series move: orders sent and fills grow,
// budget used is above zero, intents and their accepted latency are
// counted; a key the venue throttles shows throttled with its 429 counted.
func TestMetricsWhileOrdersFlow(t *testing.T) {
	ka := testApp(t, parseConfig(t, monitorConfig), withHTTP)
	base := ka.HTTPURL()
	c := newClient(t, ka)
	stop := flow(t, c.nc, "alpha", 40)
	defer stop()

	sent1 := series("keyrouter_orders_sent_total", "key", "alpha-1", "venue", "paper")
	sent2 := series("keyrouter_orders_sent_total", "key", "alpha-2", "venue", "paper")
	fills := series("keyrouter_fills_total", "key", "alpha-1", "strategy", "alpha", "venue", "paper")
	used := series("keyrouter_key_budget_used", "key", "alpha-1", "limit", "orders_10s", "venue", "paper")
	var first map[string]float64
	bustest.WaitFor(t, "orders sent, fills and budget used on alpha-1", func() bool {
		first = scrape(t, base)
		return first[sent1] > 0 && first[fills] > 0 && first[used] > 0
	})
	bustest.WaitFor(t, "orders sent and fills to grow", func() bool {
		m := scrape(t, base)
		return m[sent1] > first[sent1] && m[fills] > first[fills]
	})
	m := scrape(t, base)
	if m[sent2] == 0 {
		t.Errorf("%s = 0: least_loaded should spread alpha over both keys", sent2)
	}
	if got := m[series("keyrouter_intents_total", "strategy", "alpha")]; got == 0 {
		t.Errorf("keyrouter_intents_total{strategy=alpha} = 0")
	}
	if got := m[series("keyrouter_intent_accepted_seconds_count", "strategy", "alpha")]; got == 0 {
		t.Errorf("keyrouter_intent_accepted_seconds_count{strategy=alpha} = 0")
	}
	if got := m[series("keyrouter_key_budget_max", "key", "alpha-1", "limit", "orders_10s", "venue", "paper")]; got != 200 {
		t.Errorf("budget max of alpha-1 = %v, want 200", got)
	}
	if got := m[series("keyrouter_key_state", "key", "alpha-1", "state", "active", "venue", "paper")]; got != 1 {
		t.Errorf("alpha-1 active = %v, want 1", got)
	}
	if got := m[series("keyrouter_consumers_bound", "role", "router", "key", "")]; got != 1 {
		t.Errorf("router consumers bound = %v, want 1", got)
	}

	// beta-1's venue takes 5 orders an hour: the 6th draws a 429.
	burst(t, c, "beta", "b", 8)
	throttled := series("keyrouter_key_state", "key", "beta-1", "state", "throttled", "venue", "paper")
	bustest.WaitFor(t, "beta-1 throttled in /metrics", func() bool {
		return scrape(t, base)[throttled] == 1
	})
	m = scrape(t, base)
	if got := m[series("keyrouter_venue_429_total", "key", "beta-1", "venue", "paper")]; got < 1 {
		t.Errorf("beta-1's 429s = %v, want at least 1", got)
	}
	if got := m[series("keyrouter_key_state", "key", "beta-1", "state", "active", "venue", "paper")]; got != 0 {
		t.Errorf("beta-1 active = %v while throttled, want 0", got)
	}
	for _, line := range []string{"client_order_id", `key="alpha-1-`} {
		for s := range m {
			if strings.Contains(s, line) {
				t.Fatalf("series %s carries an order's ID", s)
			}
		}
	}
}

// /readyz answers 503 until the roles' consumers are bound, 200 once they
// are, 503 while NATS is gone and 200 again when it is back.
func TestReadyz(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	url := srv.ClientURL()
	port := srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { srv.Shutdown() })

	cfg := parseConfig(t, `
venues: {binance: {kind: binance, simulate: true}}
keys: {k1: {venue: binance}}
strategies: {s: {keys: [k1]}}
`)
	var ka *app.App
	var early struct {
		code int
		body string
	}
	ka = testApp(t, cfg, withHTTP, func(a *app.App) {
		a.NATSURL = url
		// The simulator starts while Start brings the executors up: the
		// listener is open, nothing is bound yet.
		a.SimHook = func(string, *binancesim.Config) {
			early.code, early.body = get(t, a.HTTPURL(), "readyz")
		}
	})
	if early.code != http.StatusServiceUnavailable || !strings.Contains(early.body, "not bound") {
		t.Errorf("readyz before the consumers are bound: %d %q, want 503 naming what is not bound", early.code, early.body)
	}
	base := ka.HTTPURL()
	var body string
	bustest.WaitFor(t, "readyz 200", func() bool {
		var code int
		code, body = get(t, base, "readyz")
		return code == http.StatusOK
	})
	if !strings.Contains(body, "router") || !strings.Contains(body, "executor k1") {
		t.Errorf("readyz body %q, want the bound roles named", body)
	}
	if code, _ := get(t, base, "healthz"); code != http.StatusOK {
		t.Errorf("healthz %d, want 200", code)
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	bustest.WaitFor(t, "readyz 503 with NATS gone", func() bool {
		code, b := get(t, base, "readyz")
		body = b
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "NATS") || strings.Count(strings.TrimSpace(body), "\n") != 0 {
		t.Errorf("readyz with NATS gone: %q, want one line about NATS", body)
	}
	if code, _ := get(t, base, "healthz"); code != http.StatusOK {
		t.Errorf("healthz with NATS gone: %d, want 200 (the process is alive)", code)
	}

	// NATS back on the same port and store: ready again.
	srv2, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: opts.StoreDir, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv2.Start()
	t.Cleanup(func() { srv2.Shutdown() })
	bustest.WaitFor(t, "readyz 200 with NATS back", func() bool {
		code, _ := get(t, base, "readyz")
		return code == http.StatusOK
	})
}

// An executor-only process serves /metrics and /readyz for its own keys,
// and no dashboard.
func TestExecutorOnlyProcessServesMetrics(t *testing.T) {
	cfg := parseConfig(t, monitorConfig)
	shared := testApp(t, cfg, func(a *app.App) { a.Keys = nil; a.Listen = "127.0.0.1:-1" }) // NATS and the router
	ka := testApp(t, cfg, withHTTP, func(a *app.App) {
		a.NATSURL, a.RunRouter, a.Keys = shared.ClientURL(), false, []string{"alpha-1"}
	})
	base := ka.HTTPURL()
	bustest.WaitFor(t, "readyz 200", func() bool {
		code, _ := get(t, base, "readyz")
		return code == http.StatusOK
	})
	bustest.WaitFor(t, "alpha-1's gauges", func() bool {
		return scrape(t, base)[series("keyrouter_key_state", "key", "alpha-1", "state", "active", "venue", "paper")] == 1
	})
	m := scrape(t, base)
	if _, ok := m[series("keyrouter_key_state", "key", "alpha-2", "state", "unknown", "venue", "paper")]; ok {
		t.Errorf("an executor of alpha-1 exports alpha-2's state")
	}
	if code, _ := get(t, base, ""); code != http.StatusNotFound {
		t.Errorf("GET / on an executor: %d, want 404 (no dashboard)", code)
	}
}
