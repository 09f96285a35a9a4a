package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The venue's accounts, keys and strategies. k1 and k2 are two keys of one
// account (their ORDERS limit is shared); k3 is alone on another. Secrets
// are made per run and reach the processes by file (k1, k3) and by
// environment variable (k2), as a deployment would.
var Keys = []string{"k1", "k2", "k3"}

const k2SecretEnv = "CHAOS_K2_SECRET"

// SyncInterval is the JetStream fsync interval of the cluster's nodes. The
// suite SIGKILLs processes, not machines: what a killed node wrote is in
// the OS page cache and survives whatever the interval, and every stream
// and bucket has 3 replicas, so a lost node's data is on the other two.
// fsync cost on a shared 2-core CI box is what the setting changes here,
// not what the suite can observe; 1s keeps the cost low while bounding
// what an OS crash (not simulated) could lose on one node to a second.
const SyncInterval = "1s"

// Env is the suite's processes and files, all on loopback.
type Env struct {
	Dir    string // configs, secrets, data and logs
	Bin    Binaries
	NATS   []*Proc
	URLs   []string // client URLs of the NATS nodes
	Sim    *Proc
	SimURL string // Binance API
	Admin  string // simulator's admin API
	// Routers r1, r2; Executors per key, two each (<key>-a, <key>-b, so
	// KeyStatus.worker reads <key>@<key>-a).
	Routers   []*Proc
	Executors map[string][]*Proc
	Config    string // keyrouter's config file
	logf      func(string, ...any)

	mu     sync.Mutex
	exited []string // unexpected exits, for the summary
	closed bool
}

// Procs returns every process of the run.
func (e *Env) Procs() []*Proc {
	ps := append([]*Proc{}, e.NATS...)
	if e.Sim != nil {
		ps = append(ps, e.Sim)
	}
	ps = append(ps, e.Routers...)
	for _, k := range Keys {
		ps = append(ps, e.Executors[k]...)
	}
	return ps
}

// ByName finds a process by name.
func (e *Env) ByName(name string) *Proc {
	for _, p := range e.Procs() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func secret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Setup writes the configs into dir and starts everything: the NATS
// cluster, the simulator, a router (which provisions the streams), then
// the second router and the executors. It returns when each is ready.
func Setup(ctx context.Context, dir string, bin Binaries, seed int64, logf func(string, ...any)) (*Env, error) {
	e := &Env{Dir: dir, Bin: bin, Executors: map[string][]*Proc{}, logf: logf}
	secrets := map[string]string{}
	for _, k := range Keys {
		secrets[k] = secret()
		if k != "k2" {
			if err := os.WriteFile(filepath.Join(dir, k+".secret"), []byte(secrets[k]+"\n"), 0o600); err != nil {
				return e, err
			}
		}
	}
	k2env := k2SecretEnv + "=" + secrets["k2"]

	if err := e.startNATS(); err != nil {
		return e, err
	}
	if err := e.startSim(seed, k2env); err != nil {
		return e, err
	}
	e.Config = filepath.Join(dir, "keyrouter.yaml")
	if err := os.WriteFile(e.Config, []byte(keyrouterConfig(dir, e.SimURL)), 0o600); err != nil {
		return e, err
	}
	nats := strings.Join(e.URLs, ",")
	role := func(name string, env []string, args ...string) *Proc {
		p := &Proc{
			Name: name, Path: bin.Keyrouter, Env: env, Log: filepath.Join(dir, name+".log"),
			Args:  append(args, "--config", e.Config, "--nats", nats, "--instance", name),
			Ready: "keyrouter running", OnExit: e.restartLater,
		}
		return p
	}
	for _, name := range []string{"r1", "r2"} {
		e.Routers = append(e.Routers, role(name, nil, "router"))
	}
	for _, k := range Keys {
		var env []string
		if k == "k2" {
			env = []string{k2env}
		}
		for _, s := range []string{"a", "b"} {
			e.Executors[k] = append(e.Executors[k], role(k+"-"+s, env, "executor", "--key", k))
		}
	}
	// r1 first: it provisions the streams and buckets, which the others
	// then find as they are.
	if err := e.Routers[0].Start(); err != nil {
		return e, err
	}
	if err := e.Routers[0].WaitReady(60 * time.Second); err != nil {
		return e, err
	}
	rest := []*Proc{e.Routers[1]}
	for _, k := range Keys {
		rest = append(rest, e.Executors[k]...)
	}
	for _, p := range rest {
		if err := p.Start(); err != nil {
			return e, err
		}
	}
	for _, p := range rest {
		if err := p.WaitReady(60 * time.Second); err != nil {
			return e, err
		}
	}
	return e, nil
}

func (e *Env) startNATS() error {
	var client, cluster, monitor [3]int
	for i := range 3 {
		for _, p := range []*int{&client[i], &cluster[i], &monitor[i]} {
			port, err := freePort()
			if err != nil {
				return err
			}
			*p = port
		}
	}
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", cluster[i]))
	}
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		conf := filepath.Join(e.Dir, name+".conf")
		body := fmt.Sprintf(`# chaos suite: node %s of a 3-node cluster on loopback
server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
  # See SyncInterval in tests/chaos/setup.go.
  sync_interval: %s
}
cluster {
  name: chaos
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, name, name, client[i], monitor[i], filepath.Join(e.Dir, "js-"+name), SyncInterval, cluster[i], strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return err
		}
		e.URLs = append(e.URLs, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
		e.NATS = append(e.NATS, &Proc{
			Name: name, Path: e.Bin.NATSServer, Args: []string{"-c", conf},
			Log: filepath.Join(e.Dir, name+".log"), Ready: "Server is ready", OnExit: e.restartLater,
		})
	}
	for _, p := range e.NATS {
		if err := p.Start(); err != nil {
			return err
		}
	}
	for _, p := range e.NATS {
		if err := p.WaitReady(30 * time.Second); err != nil {
			return err
		}
	}
	// JetStream answers once the cluster has a meta leader.
	nc, err := nats.Connect(strings.Join(e.URLs, ","))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("JetStream not available on the cluster after 30s: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var simURLs = regexp.MustCompile(`(?s)serving Binance spot protocol on (http://\S+).*admin API on (http://\S+)`)

func (e *Env) startSim(seed int64, k2env string) error {
	conf := filepath.Join(e.Dir, "sim.yaml")
	if err := os.WriteFile(conf, []byte(simConfig(e.Dir, seed)), 0o600); err != nil {
		return err
	}
	e.Sim = &Proc{
		Name: "sim", Path: e.Bin.Keyrouter, Env: []string{k2env}, Log: filepath.Join(e.Dir, "sim.log"),
		Args:  []string{"exchange-sim", "--config", conf, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"},
		Ready: "admin API on",
	}
	if err := e.Sim.Start(); err != nil {
		return err
	}
	if err := e.Sim.WaitReady(30 * time.Second); err != nil {
		return err
	}
	m := simURLs.FindStringSubmatch(e.Sim.Tail(tailLines))
	if m == nil {
		return fmt.Errorf("simulator URLs not found in its output:\n%s", e.Sim.Tail(10))
	}
	e.SimURL, e.Admin = m[1], m[2]
	return nil
}

// restartLater is every Proc's OnExit: a process that exits on its own is
// noted and started again after a second, as a supervisor would.
func (e *Env) restartLater(p *Proc, err error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.exited = append(e.exited, fmt.Sprintf("%s exited on its own (%v) at %s; last lines:\n%s",
		p.Name, err, time.Now().Format("15:04:05.000"), p.Tail(8)))
	e.mu.Unlock()
	e.logf("%s exited on its own (%v); starting it again in 1s", p.Name, err)
	time.AfterFunc(time.Second, func() {
		e.mu.Lock()
		closed := e.closed
		e.mu.Unlock()
		if !closed && !p.Running() {
			if err := p.Start(); err != nil {
				e.logf("restarting %s: %v", p.Name, err)
			}
		}
	})
}

// Exited lists the processes that exited without being killed.
func (e *Env) Exited() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string{}, e.exited...)
}

// Close stops every process: keyrouter's first (SIGTERM, then SIGKILL
// after 10s), then the simulator and the NATS nodes.
func (e *Env) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	var wg sync.WaitGroup
	stop := func(ps []*Proc) {
		for _, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.Stop(10 * time.Second); err != nil && err != errNotRunning {
					e.logf("stopping %s: %v", p.Name, err)
				}
			}()
		}
		wg.Wait()
	}
	var roles []*Proc
	roles = append(roles, e.Routers...)
	for _, k := range Keys {
		roles = append(roles, e.Executors[k]...)
	}
	stop(roles)
	if e.Sim != nil {
		stop([]*Proc{e.Sim})
	}
	stop(e.NATS)
}

// keyrouterConfig is the config every router and executor reads: the
// binance venue is the simulator process, secrets come from files and the
// environment.
func keyrouterConfig(dir, simURL string) string {
	ws := "ws" + strings.TrimPrefix(simURL, "http") + "/ws-api/v3"
	return fmt.Sprintf(`# chaos suite: keyrouter on a 3-node cluster, trading on the simulator.
venues:
  binance:
    kind: binance
    base_url: %s
    ws_url: %s
    # A request held by the simulator's timeout fault is given up after
    # this; its outcome is then unknown to the executor.
    timeout: 2s
keys:
  k1: {venue: binance, account: acct1, api_key: chaos-k1, secret_file: %s}
  k2: {venue: binance, account: acct1, api_key: chaos-k2, secret_env: %s}
  k3: {venue: binance, account: acct2, api_key: chaos-k3, secret_file: %s}
strategies:
  s1: {keys: [k1, k2], policy: least_loaded}
  s2: {keys: [k3], policy: pinned}
streams:
  replicas: 3
router:
  heartbeat_timeout: 3s
`, simURL, ws, filepath.Join(dir, "k1.secret"), k2SecretEnv, filepath.Join(dir, "k3.secret"))
}

// AccountLimit is the simulator's ORDERS limit per account and 10 s: the
// load's bursts on s1 go past it, so only a budget shared by every
// executor of the account keeps the venue from answering 429.
const AccountLimit = 50

// simConfig is the simulator's: the accounts and keys of keyrouterConfig
// (unlimited balances), two symbols with known prices, a tight ORDERS
// limit, no bans (every process shares 127.0.0.1: a ban would stop all
// keys and the run could not settle; the 429s it would follow are counted
// anyway), and a little latency. Harsher faults are switched on through
// the admin API during the run.
func simConfig(dir string, seed int64) string {
	return fmt.Sprintf(`# chaos suite: the venue.
accounts:
  - id: acct1
    keys:
      - {api_key: chaos-k1, secret_file: %s}
      - {api_key: chaos-k2, secret_env: %s}
  - id: acct2
    keys:
      - {api_key: chaos-k3, secret_file: %s}
symbols:
  - {symbol: BTC-USDT, price: "60000", tick_size: "0.01", step_size: "0.00001", min_qty: "0.00001", max_qty: "9000", min_notional: "5", volatility: "0.0003", max_fill_qty: "0.5"}
  - {symbol: ETH-USDT, price: "3000", tick_size: "0.01", step_size: "0.0001", min_qty: "0.0001", max_qty: "90000", min_notional: "5", volatility: "0.0003", max_fill_qty: "5"}
rate_limits:
  - {type: REQUEST_WEIGHT, interval: MINUTE, interval_num: 1, limit: 6000}
  - {type: ORDERS, interval: SECOND, interval_num: 10, limit: %d}
  - {type: ORDERS, interval: DAY, interval_num: 1, limit: 200000}
  - {type: RAW_REQUESTS, interval: MINUTE, interval_num: 5, limit: 61000}
ban: {after: 1000000}
price_tick: 100ms
seed: %d
maker_fee: "0.001"
taker_fee: "0.001"
faults:
  latency: 1ms
  latency_jitter: 4ms
`, filepath.Join(dir, "k1.secret"), k2SecretEnv, filepath.Join(dir, "k3.secret"), AccountLimit, seed)
}
