package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
)

// Keys scenario: o.Keys paper keys, each with its executor, beside a
// router on an embedded server. The server and the router start first
// (the base) and idle for keysBaseIdle (at most o.Duration); then the executors start (in this
// process, or with o.Procs > 0 in that many `keyrouter executor`
// processes over TCP, each serving a slice of the keys); start-up lasts
// until the router sees every key active. Then keysRounds rounds of one
// market order per key, pinned to it (strategies of keysPerStrategy keys
// each), and an idle interval of o.Duration over which CPU is measured;
// resident memory is read at its end. Every figure covers every process
// of the run; the base's are given apart, and mb_per_key is what the
// executors added, per key.
const (
	keysPerStrategy = 100
	keysRounds      = 3
	keysBaseIdle    = 3 * time.Second
	keysSettle      = 2 * time.Second
	keysRoundWait   = 2 * time.Minute
)

// KeysFigures are the keys scenario's own figures.
type KeysFigures struct {
	Keys int `json:"keys"`
	// Processes is the number of executor processes (0: the executors
	// ran in the bench's own process, beside the server and router).
	Processes int `json:"executor_processes"`
	// StartupS: executors started → every key active in the router's view.
	StartupS float64 `json:"startup_s"`
	// RSSMB is the resident memory of every process of the run after the
	// idle interval; BaseRSSMB the server's and router's before any
	// executor started; MBPerKey (RSSMB - BaseRSSMB) / Keys.
	RSSMB     float64 `json:"rss_mb"`
	BaseRSSMB float64 `json:"base_rss_mb"`
	MBPerKey  float64 `json:"mb_per_key"`
	// IdleCPUPct is the CPU every process used over the idle interval
	// (IdleS), in percent of one core; BaseIdleCPUPct the server's and
	// router's alone, before any executor started.
	IdleCPUPct     float64 `json:"idle_cpu_pct"`
	BaseIdleCPUPct float64 `json:"base_idle_cpu_pct"`
	IdleS          float64 `json:"idle_s"`
	// Rounds of one order per key; TradedKeys the keys with an accepted
	// order in every round; Rejected the first reports that were not
	// accepted, by reason.
	Rounds     int            `json:"rounds"`
	TradedKeys int            `json:"traded_keys"`
	Rejected   map[string]int `json:"rejected,omitempty"`
	// RejectedFirst is the first such report of each reason: its order
	// (strategy/client_order_id, r<round>-<n>), key and message.
	RejectedFirst map[string]string `json:"rejected_first,omitempty"`
	// Goroutines, HeapMB (Go heap in use), StackMB (goroutine stacks)
	// and GoSysMB (all the Go runtime took from the OS) of the bench's own
	// process at the end of the idle interval: where its RSS goes.
	Goroutines int     `json:"goroutines"`
	HeapMB     float64 `json:"heap_mb"`
	StackMB    float64 `json:"stack_mb"`
	GoSysMB    float64 `json:"go_sys_mb"`
	// PerProcess: each executor process's figures (with Processes > 0).
	PerProcess []ProcFigures `json:"per_process,omitempty"`
}

// ProcFigures are one executor process's figures in a keys run.
type ProcFigures struct {
	Keys       int     `json:"keys"`
	RSSMB      float64 `json:"rss_mb"`
	IdleCPUPct float64 `json:"idle_cpu_pct"`
}

func (f *KeysFigures) print(w io.Writer) {
	where := "in this process"
	if f.Processes > 0 {
		where = fmt.Sprintf("over %d executor processes", f.Processes)
	}
	fmt.Fprintf(w, "  %d keys %s: started in %.2fs, %d/%d traded in all %d rounds, rejected %v\n",
		f.Keys, where, f.StartupS, f.TradedKeys, f.Keys, f.Rounds, f.Rejected)
	for _, reason := range slices.Sorted(maps.Keys(f.RejectedFirst)) {
		fmt.Fprintf(w, "    first %s: %s\n", reason, f.RejectedFirst[reason])
	}
	fmt.Fprintf(w, "  RSS %.1f MB (server and router alone %.1f MB): %.3f MB per key; heap %.1f MB, stacks %.1f MB of %d goroutines, Go runtime %.1f MB in all\n",
		f.RSSMB, f.BaseRSSMB, f.MBPerKey, f.HeapMB, f.StackMB, f.Goroutines, f.GoSysMB)
	fmt.Fprintf(w, "  idle CPU %.2f%% of one core over %.0fs (server and router alone %.2f%%)\n",
		f.IdleCPUPct, f.IdleS, f.BaseIdleCPUPct)
	for i, p := range f.PerProcess {
		fmt.Fprintf(w, "    executor process %d: %d keys, RSS %.1f MB, idle CPU %.2f%%\n", i+1, p.Keys, p.RSSMB, p.IdleCPUPct)
	}
}

// keyName is the i-th key (0-based) of a keys run; keyStrategy the
// strategy that may use it.
func keyName(i int) string     { return "k" + strconv.Itoa(i+1) }
func keyStrategy(i int) string { return "s" + strconv.Itoa(i/keysPerStrategy+1) }

// keysConfigYAML is the config of a keys run: one paper venue whose prices
// stand still, n keys of 100 orders per second, strategies of
// keysPerStrategy keys each.
func keysConfigYAML(n int) []byte {
	var b strings.Builder
	b.WriteString("venues:\n  paper: {kind: paper, seed: 1, tick: 1h}\nkeys:\n")
	for i := range n {
		fmt.Fprintf(&b, "  %s: {venue: paper, limits: [{name: orders_1s, shape: fixed, max: 100, window: 1s}]}\n", keyName(i))
	}
	b.WriteString("strategies:\n")
	for i := 0; i < n; i += keysPerStrategy {
		fmt.Fprintf(&b, "  %s:\n    keys: [", keyStrategy(i))
		for j := i; j < min(n, i+keysPerStrategy); j++ {
			if j > i {
				b.WriteString(", ")
			}
			b.WriteString(keyName(j))
		}
		b.WriteString("]\n")
	}
	return []byte(b.String())
}

func runKeys(ctx context.Context, o Options) (*Result, error) {
	if o.Procs > 0 && o.Executable == "" {
		return nil, fmt.Errorf("keys over executor processes needs the keyrouter executable")
	}
	if o.Procs > o.Keys {
		return nil, fmt.Errorf("more executor processes (%d) than keys (%d)", o.Procs, o.Keys)
	}
	text := keysConfigYAML(o.Keys)
	cfg, err := configs.Parse(text)
	if err != nil {
		return nil, err
	}
	base := &app.App{Config: cfg, RunRouter: true, Logger: o.Logger, Sync: o.Sync}
	if o.Procs > 0 {
		base.Listen = "127.0.0.1:-1"
	}
	if err := base.Start(ctx); err != nil {
		return nil, err
	}
	defer base.Close()
	nc, err := base.InProcessConn()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var t keysTally
	if err := t.follow(nc, o.Keys); err != nil {
		return nil, err
	}
	f := &KeysFigures{Keys: o.Keys, Processes: o.Procs, Rounds: keysRounds}

	baseFor := min(keysBaseIdle, o.Duration)
	// Memory the process freed before (another run's, in a test binary)
	// goes back to the system first, so that it counts in neither figure.
	debug.FreeOSMemory()
	o.progress("bench keys: server and router alone, idle for %v", baseFor)
	baseIdle, err := measureIdle(ctx, baseFor, nil)
	if err != nil {
		return nil, err
	}
	f.BaseIdleCPUPct, f.BaseRSSMB = baseIdle.cpuPct, mb(baseIdle.rss)

	begin := time.Now()
	ex := &executorSet{o: o}
	defer ex.stop()
	if err := ex.start(ctx, base, cfg, text); err != nil {
		return nil, err
	}
	if err := waitActive(ctx, o, base, ex); err != nil {
		return nil, err
	}
	f.StartupS = round(time.Since(begin).Seconds(), 2)

	tradeBegin := time.Now()
	for r := range keysRounds {
		if err := t.round(ctx, o, nc, r); err != nil {
			return nil, err
		}
	}
	tradeTook := time.Since(tradeBegin)

	o.progress("bench keys: %d keys traded; settling for %v", o.Keys, keysSettle)
	if !sleep(ctx, keysSettle) {
		return nil, ctx.Err()
	}
	o.progress("bench keys: idle for %v", o.Duration)
	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return nil, err
		}
	}
	idle, err := measureIdle(ctx, o.Duration, ex.pids())
	if o.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	f.IdleS = round(o.Duration.Seconds(), 1)
	f.IdleCPUPct, f.RSSMB = idle.cpuPct, mb(idle.rss)
	f.MBPerKey = round((float64(idle.rss)/(1<<20)-f.BaseRSSMB)/float64(o.Keys), 3)
	for i, p := range idle.each {
		f.PerProcess = append(f.PerProcess, ProcFigures{Keys: len(ex.slices[i]), RSSMB: mb(p.RSS), IdleCPUPct: cpuPct(p.CPU, o.Duration)})
	}
	if o.HeapProfile != nil {
		runtime.GC()
		if err := pprof.WriteHeapProfile(o.HeapProfile); err != nil {
			return nil, err
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.Goroutines, f.HeapMB = runtime.NumGoroutine(), mb(int64(ms.HeapInuse))
	f.StackMB, f.GoSysMB = mb(int64(ms.StackInuse)), mb(int64(ms.Sys))

	res := t.result(f, tradeTook)
	res.Keys = f
	return res, nil
}

// executorSet is the executors of a keys run: an App in this process, or
// child processes.
type executorSet struct {
	o      Options
	app    *app.App
	dir    string
	cmds   []*exec.Cmd
	slices [][]string // keys of each process
}

func (e *executorSet) start(ctx context.Context, base *app.App, cfg *configs.Config, text []byte) error {
	if e.o.Procs == 0 {
		// Connected without TCP, as the executors of `keyrouter run` are.
		e.app = &app.App{Config: cfg, NATSURL: "nats://in-process", ConnectOptions: []nats.Option{base.InProcessOption()},
			Keys: app.AllKeys, Logger: e.o.Logger}
		return e.app.Start(ctx)
	}
	var err error
	if e.dir, err = os.MkdirTemp("", "keyrouter-bench-keys-"); err != nil {
		return err
	}
	path := filepath.Join(e.dir, "config.yaml")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		return err
	}
	e.slices = make([][]string, e.o.Procs)
	for i := range e.o.Keys {
		p := i * e.o.Procs / e.o.Keys // contiguous slices
		e.slices[p] = append(e.slices[p], keyName(i))
	}
	for p, keys := range e.slices {
		logf, err := os.Create(filepath.Join(e.dir, "executor-"+strconv.Itoa(p+1)+".log"))
		if err != nil {
			return err
		}
		cmd := exec.Command(e.o.Executable, "executor", "--nats", base.ClientURL(), "--config", path,
			"--key", strings.Join(keys, ","), "--log-level", "warn", "--log-format", "json",
			"--instance", "bench-executor-"+strconv.Itoa(p+1))
		cmd.Stdout, cmd.Stderr = logf, logf
		err = cmd.Start()
		logf.Close() // the child has its own descriptor
		if err != nil {
			return fmt.Errorf("starting executor process %d: %w", p+1, err)
		}
		e.cmds = append(e.cmds, cmd)
	}
	return nil
}

// pids are the executor processes' (nil in process).
func (e *executorSet) pids() []int {
	var out []int
	for _, c := range e.cmds {
		out = append(out, c.Process.Pid)
	}
	return out
}

// exited returns an error if an executor process has ended.
func (e *executorSet) exited() error {
	for i, c := range e.cmds {
		if c.ProcessState != nil || syscall.Kill(c.Process.Pid, 0) != nil {
			return fmt.Errorf("executor process %d ended (its log: %s)", i+1, filepath.Join(e.dir, "executor-"+strconv.Itoa(i+1)+".log"))
		}
	}
	return nil
}

// stop stops the executors: the App, or each process with SIGTERM (they
// drain), killed if it has not ended within 30s.
func (e *executorSet) stop() {
	if e.app != nil {
		e.app.Close()
	}
	var wg sync.WaitGroup
	for _, c := range e.cmds {
		wg.Go(func() {
			_ = c.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = c.Process.Kill()
				<-done
			}
		})
	}
	wg.Wait()
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

// waitActive waits until the router sees every key active.
func waitActive(ctx context.Context, o Options, base *app.App, ex *executorSet) error {
	h := base.Router().Health()
	within := 2*time.Minute + time.Duration(o.Keys)*20*time.Millisecond
	deadline := time.Now().Add(within)
	for {
		n := 0
		now := time.Now()
		for i := range o.Keys {
			if s, seen := h.State(keyName(i), now); seen && s == messages.KeyActive {
				n++
			}
		}
		if n == o.Keys {
			return nil
		}
		o.progress("bench keys: %d/%d keys active", n, o.Keys)
		if err := ex.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d keys active after %v", n, o.Keys, within)
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// idleUsage is what the run's processes used over an idle interval.
type idleUsage struct {
	cpuPct float64     // every process, % of one core
	rss    int64       // every process, at the end
	each   []procUsage // each executor process: CPU over the interval, RSS at the end
}

// measureIdle measures this process and pids over d.
func measureIdle(ctx context.Context, d time.Duration, pids []int) (idleUsage, error) {
	before, err := usages(pids)
	if err != nil {
		return idleUsage{}, err
	}
	begin := time.Now()
	if !sleep(ctx, d) {
		return idleUsage{}, ctx.Err()
	}
	after, err := usages(pids)
	if err != nil {
		return idleUsage{}, err
	}
	wall := time.Since(begin)
	var u idleUsage
	var cpu time.Duration
	for i := range after {
		cpu += after[i].CPU - before[i].CPU
		u.rss += after[i].RSS
		if i > 0 {
			u.each = append(u.each, procUsage{CPU: after[i].CPU - before[i].CPU, RSS: after[i].RSS})
		}
	}
	u.cpuPct = cpuPct(cpu, wall)
	return u, nil
}

// usages are this process's usage, then each of pids'.
func usages(pids []int) ([]procUsage, error) {
	self, err := selfUsage()
	if err != nil {
		return nil, err
	}
	out := []procUsage{self}
	for _, pid := range pids {
		u, err := pidUsage(pid)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// keysTally sends the rounds of a keys run and counts their reports.
type keysTally struct {
	keys   int
	window chan struct{} // a token per intent in flight

	mu       sync.Mutex
	sentAt   map[string]time.Time // by strategy/client_order_id
	first    map[string]int       // first reports by strategy/client_order_id
	accepted map[string]int       // accepted orders by key
	rejected map[string]int       // first reports other than accepted, by reason
	sample   map[string]string    // the first of each reason: order, key, message
	lat      []float64
}

// follow counts the first reports of every intent.
func (t *keysTally) follow(nc *nats.Conn, keys int) error {
	t.keys = keys
	t.sentAt, t.first, t.accepted, t.rejected = map[string]time.Time{}, map[string]int{}, map[string]int{}, map[string]int{}
	t.sample = map[string]string{}
	sub, err := nc.Subscribe(messages.ReportsPrefix+">", func(m *nats.Msg) {
		var r messages.ExecutionReport
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		now := time.Now()
		id := r.Strategy + "/" + r.ClientOrderID
		t.mu.Lock()
		defer t.mu.Unlock()
		switch r.Kind {
		case messages.KindAccepted:
			t.accepted[r.Key]++
			if at, ok := t.sentAt[id]; ok {
				t.lat = append(t.lat, micros(now.Sub(at)))
			}
		case messages.KindRejected, messages.KindExpired:
			t.rejected[string(r.Reason)]++
			if _, ok := t.sample[string(r.Reason)]; !ok {
				t.sample[string(r.Reason)] = id + " on " + r.Key + ": " + r.Message
			}
		default:
			return
		}
		t.first[id]++
		if t.first[id] == 1 && t.window != nil {
			<-t.window
		}
	})
	if err != nil {
		return err
	}
	return sub.SetPendingLimits(-1, -1)
}

// round sends one market order per key, at most o.Inflight unanswered,
// and waits for every first report.
func (t *keysTally) round(ctx context.Context, o Options, nc *nats.Conn, r int) error {
	t.mu.Lock()
	if t.window == nil {
		t.window = make(chan struct{}, o.Inflight)
	}
	t.mu.Unlock()
	for i := range t.keys {
		select {
		case t.window <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(keysRoundWait):
			return fmt.Errorf("round %d: no report for %v", r+1, keysRoundWait)
		}
		s, id := keyStrategy(i), "r"+strconv.Itoa(r+1)+"-"+strconv.Itoa(i+1)
		t.mu.Lock()
		t.sentAt[s+"/"+id] = time.Now()
		t.mu.Unlock()
		data := `{"client_order_id":"` + id + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001","key":"` + keyName(i) + `"}`
		if err := nc.Publish(messages.OrdersNewSubject(s), []byte(data)); err != nil {
			return err
		}
		if i%500 == 0 {
			o.progress("bench keys: round %d of %d, %d/%d orders sent", r+1, keysRounds, i, t.keys)
		}
	}
	want := (r + 1) * t.keys
	if !poll(ctx, keysRoundWait, func() bool { return t.answered() >= want }) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("round %d: %d of %d intents answered", r+1, t.answered(), want)
	}
	return nil
}

func (t *keysTally) answered() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.first)
}

func (t *keysTally) result(f *KeysFigures, took time.Duration) *Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	sent := keysRounds * t.keys
	for _, n := range t.accepted {
		if n >= keysRounds {
			f.TradedKeys++
		}
	}
	if len(t.rejected) > 0 {
		f.Rejected, f.RejectedFirst = t.rejected, t.sample
	}
	lost, dups := lostAndDuplicates(sent, t.first)
	return &Result{
		Scenario: Keys, Intents: sent,
		ThroughputPerS: round(float64(sent)/took.Seconds(), 0),
		LatencyUS:      percentiles(t.lat),
		Lost:           &lost, Duplicates: &dups,
	}
}
