package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure a run.
type Options struct {
	Seed    int64
	Profile Profile
	Dir     string // the run's configs, data and logs
	Logf    func(format string, args ...any)
}

// Report is what a run did and found.
type Report struct {
	Plan   Plan
	Result Result
	Stats  binancesim.Stats
	Log    []string // what the suite did, when
	Exited []string // processes that exited without being killed

	Duration time.Duration
}

// runner carries a run's state.
type runner struct {
	opts  Options
	env   *Env
	js    jetstream.JetStream
	watch *Watcher
	start time.Time
	rng   *rand.Rand

	restarts sync.WaitGroup
	mu       sync.Mutex
	kills    []Kill
	log      []string
	routers  []RouterTakeover
}

func (r *runner) logf(format string, args ...any) {
	line := fmt.Sprintf("%+7.1fs  ", time.Since(r.start).Seconds()) + fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.log = append(r.log, line)
	r.mu.Unlock()
	r.opts.Logf("%s", line)
}

// Run sets the processes up, sends the load while disrupting them as the
// plan says, lets the system settle, and checks what the REPORTS stream
// and the venue's order log say.
func Run(ctx context.Context, bin Binaries, opts Options) (*Report, error) {
	began := time.Now()
	plan := NewPlan(opts.Seed, opts.Profile)
	r := &runner{opts: opts, start: time.Now(), rng: rand.New(rand.NewPCG(uint64(opts.Seed), 1))}
	rep := &Report{Plan: plan}
	r.logf("seed %d, profile %s: %d intents over %s; disruptions:", opts.Seed, opts.Profile.Name, len(plan.Intents), opts.Profile.Load)
	for _, ev := range plan.Events {
		r.logf("  planned %s", ev)
	}
	env, err := Setup(ctx, opts.Dir, bin, opts.Seed, r.logf)
	r.env = env
	defer func() {
		if env != nil {
			env.Close()
		}
	}()
	if err != nil {
		return rep, fmt.Errorf("setting up: %w", err)
	}
	r.logf("up: NATS %s, simulator %s (admin %s), routers r1 r2, executors %s", strings.Join(env.URLs, ","), env.SimURL, env.Admin, strings.Join(Keys, ","))

	nc, err := nats.Connect(strings.Join(env.URLs, ","), nats.Name("chaos"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return rep, err
	}
	defer nc.Close()
	if r.js, err = jetstream.New(nc); err != nil {
		return rep, err
	}
	if r.watch, err = WatchStatus(nc); err != nil {
		return rep, err
	}
	defer r.watch.Stop()
	coll, err := Collect(ctx, r.js)
	if err != nil {
		return rep, err
	}
	defer coll.Stop()
	for _, k := range Keys {
		if err := waitUntil(ctx, 30*time.Second, func() bool { _, ok := r.watch.Active(k, messages.KeyStatusHeartbeat+time.Second); return ok }); err != nil {
			return rep, fmt.Errorf("key %s: no active KeyStatus: %w", k, err)
		}
	}

	// The load and the disruptions, from one instant.
	r.start = time.Now()
	r.logf("load starts")
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		r.events(loadCtx, plan.Events)
	}()
	load := RunLoad(loadCtx, r.js, plan, r.start)
	r.logf("load sent; waiting for its last publishes and cancels")
	<-evDone
	records := load.Wait()
	r.restarts.Wait()
	if err := SetFaults(ctx, env.Admin, Calm); err != nil {
		r.logf("faults off: %v", err)
	}
	for _, p := range env.Procs() {
		if !p.Running() {
			r.logf("%s is down at the end of the load; starting it", p.Name)
			_ = p.Start()
		}
	}

	r.logf("settling (at most %s)", opts.Profile.Settle)
	settled := waitUntil(ctx, opts.Profile.Settle, func() bool { return r.settled(records, coll) })
	if settled != nil {
		r.logf("not settled after %s: checking what there is", opts.Profile.Settle)
	} else {
		r.logf("settled")
	}

	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	in := Input{Records: records, TakeoverMax: opts.Profile.TakeoverMax}
	// The cluster may be between leaders a moment longer (no responders):
	// read again until the deadline.
	for {
		if in.Reports, in.Undecodable, err = ReadReports(rctx, r.js); err == nil {
			break
		}
		r.logf("reading REPORTS: %v; again in 1s", err)
		select {
		case <-rctx.Done():
			return rep, fmt.Errorf("reading REPORTS: %w", err)
		case <-time.After(time.Second):
		}
	}
	if in.Venue, err = VenueLog(rctx, env.Admin); err != nil {
		return rep, fmt.Errorf("reading the venue's order log: %w", err)
	}
	if in.Stats, err = VenueStats(rctx, env.Admin); err != nil {
		return rep, fmt.Errorf("reading the venue's stats: %w", err)
	}
	r.mu.Lock()
	kills := append([]Kill{}, r.kills...)
	in.Routers = append([]RouterTakeover{}, r.routers...)
	r.mu.Unlock()
	in.Takeovers = Takeovers(kills, r.watch.Statuses(), takeoverDeadline)
	rep.Result = Check(in)
	rep.Stats = in.Stats
	rep.Exited = env.Exited()
	r.mu.Lock()
	rep.Log = append([]string{}, r.log...)
	r.mu.Unlock()
	rep.Duration = time.Since(began)
	return rep, nil
}

// settled: every stored intent has a first report, every stored cancel an
// answer, and no report came for 2 s.
func (r *runner) settled(records []*Record, coll *Collector) bool {
	reports, last := coll.Reports()
	if time.Since(last) < 2*time.Second {
		return false
	}
	firsts, answered := map[string]bool{}, map[string]bool{}
	for _, x := range reports {
		k := x.Strategy + "/" + x.ClientOrderID
		if first(x) {
			firsts[k] = true
		}
		if x.Kind == messages.KindCanceled || x.Kind == messages.KindCancelRejected {
			answered[k] = true
		}
	}
	for _, rec := range records {
		if !rec.Acked.IsZero() && !firsts[rec.Key()] {
			return false
		}
		if rec.Cancel != nil && !rec.Cancel.Acked.IsZero() && !answered[rec.Key()] {
			return false
		}
	}
	return true
}

func waitUntil(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

// events runs the disruptions at their times.
func (r *runner) events(ctx context.Context, evs []Event) {
	routerKills := 0
	for _, ev := range evs {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(r.start.Add(ev.At))):
		}
		switch ev.Kind {
		case FaultsOn:
			r.logf("faults on: %s", Harsh)
			if err := SetFaults(ctx, r.env.Admin, Harsh); err != nil {
				r.logf("faults on: %v", err)
			}
		case FaultsOff:
			r.logf("faults off")
			if err := SetFaults(ctx, r.env.Admin, Calm); err != nil {
				r.logf("faults off: %v", err)
			}
		case KillExecutor:
			// An idle key reports every KeyStatusHeartbeat.
			worker, ok := r.watch.Active(ev.Key, messages.KeyStatusHeartbeat+time.Second)
			if !ok {
				r.logf("kill executor of %s: no active KeyStatus in the last 6s; skipped", ev.Key)
				continue
			}
			p := r.env.ByName(strings.TrimPrefix(worker, ev.Key+"@"))
			if p == nil || !p.Running() {
				r.logf("kill executor of %s: active worker %s is no running process of the suite; skipped", ev.Key, worker)
				continue
			}
			at := time.Now()
			r.kill(p, ev.Pause, "active executor of "+ev.Key+" ("+worker+")")
			r.mu.Lock()
			r.kills = append(r.kills, Kill{At: at, Key: ev.Key, Worker: worker})
			r.mu.Unlock()
		case KillRouter:
			lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			holder, incarnation, leased := RouterLease(lctx, r.js)
			cancel()
			name := holder
			if !leased {
				// No router lease yet (today's routers all consume): the
				// first kill takes r1, the next r2, and so on.
				name = r.env.Routers[routerKills%len(r.env.Routers)].Name
			}
			routerKills++
			p := r.env.ByName(name)
			if p == nil || !p.Running() {
				r.logf("kill router: %s (lease %v) is no running router; skipped", name, leased)
				continue
			}
			at := time.Now()
			r.kill(p, ev.Pause, fmt.Sprintf("router %s (lease holder: %v)", name, leased))
			if !leased {
				r.noteRouter(RouterTakeover{At: at, Router: name})
				continue
			}
			r.restarts.Add(1)
			go func() {
				defer r.restarts.Done()
				t := RouterTakeover{At: at, Router: name, Leased: true}
				err := waitUntil(ctx, takeoverDeadline, func() bool {
					h, inc, ok := RouterLease(ctx, r.js)
					t.By, t.After = h, time.Since(at)
					return ok && inc != incarnation
				})
				t.OK = err == nil
				r.noteRouter(t)
			}()
		case KillNode:
			lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			leader, err := StreamLeader(lctx, r.js, ev.Stream)
			cancel()
			p := r.env.ByName(leader)
			if err != nil || p == nil {
				p = r.env.NATS[r.rng.IntN(len(r.env.NATS))]
				r.logf("leader of %s unknown (%v): killing %s", ev.Stream, err, p.Name)
			}
			r.kill(p, ev.Pause, "NATS node "+p.Name+" (leader of "+ev.Stream+")")
		}
	}
}

func (r *runner) noteRouter(t RouterTakeover) {
	r.mu.Lock()
	r.routers = append(r.routers, t)
	r.mu.Unlock()
	r.logf("%s", t)
}

// kill SIGKILLs p and starts it again after pause.
func (r *runner) kill(p *Proc, pause time.Duration, what string) {
	pid := p.Pid()
	if err := p.Kill(); err != nil {
		r.logf("SIGKILL %s: %v", what, err)
		return
	}
	r.logf("SIGKILL %s, pid %d; restart in %s", what, pid, pause)
	r.restarts.Add(1)
	time.AfterFunc(pause, func() {
		defer r.restarts.Done()
		if p.Running() {
			return
		}
		if err := p.Start(); err != nil {
			r.logf("restarting %s: %v", p.Name, err)
			return
		}
		if err := p.WaitReady(60 * time.Second); err != nil {
			r.logf("restarted %s: %v", p.Name, err)
			return
		}
		r.logf("%s back (pid %d)", p.Name, p.Pid())
	})
}
