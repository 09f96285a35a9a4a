package simkit

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Faults injects failures into a simulator for reliability tests.
type Faults struct {
	// Latency is added before each request is handled, plus a uniform
	// random part of up to LatencyJitter.
	Latency       time.Duration `yaml:"latency"`
	LatencyJitter time.Duration `yaml:"latency_jitter"`
	// Error5xxRate answers a request 503 without acting on it.
	Error5xxRate float64 `yaml:"error_5xx_rate"`
	// TimeoutRate holds a request unanswered until the client gives up (or
	// the server closes). Such a request still takes effect with
	// probability TimeoutAppliesRate, so its outcome is unknown to the
	// client.
	TimeoutRate        float64 `yaml:"timeout_rate"`
	TimeoutAppliesRate float64 `yaml:"timeout_applies_rate"`
	// DropStreamEvery closes a stream connection (a user data stream, a
	// private WebSocket), without a close frame, after every so many
	// events sent on it; 0 never.
	DropStreamEvery int `yaml:"drop_stream_every"`
	// Paths limits the 5xx and timeout faults to these URL paths, each of
	// any method ("/api/v3/order") or of one ("POST /api/v5/trade/order");
	// empty means every /api/ path.
	Paths []string `yaml:"paths"`
}

// Validate reports the first problem of f, naming its field
// ("faults.<field>: ...").
func (f Faults) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"error_5xx_rate", f.Error5xxRate}, {"timeout_rate", f.TimeoutRate}, {"timeout_applies_rate", f.TimeoutAppliesRate}} {
		if r.v < 0 || r.v > 1 {
			return fmt.Errorf("faults.%s: %v is not in [0, 1]", r.name, r.v)
		}
	}
	if f.Error5xxRate+f.TimeoutRate > 1 {
		return errors.New("faults: error_5xx_rate + timeout_rate > 1")
	}
	if f.Latency < 0 || f.LatencyJitter < 0 || f.DropStreamEvery < 0 {
		return errors.New("faults: latency, latency_jitter and drop_stream_every must be >= 0")
	}
	return nil
}

// FaultKind is the failure a request gets.
type FaultKind int

// The kinds of fault.
const (
	NoFault FaultKind = iota
	Error5xx
	Timeout
)

// Fault is what happens to one request.
type Fault struct {
	Kind    FaultKind
	Latency time.Duration
	Apply   bool // for a Timeout: the request still takes effect
}

// Injector draws each request's fault from one seeded generator, so a run
// of sequential requests is reproducible.
type Injector struct {
	mu  sync.Mutex // guards cfg and rng
	cfg Faults     // replaced whole by Set
	rng *rand.Rand
}

// NewInjector returns an Injector of cfg whose generator is PCG seeded
// with seed and stream (a constant of each simulator, so two simulators
// with one seed draw differently).
func NewInjector(cfg Faults, seed int64, stream uint64) *Injector {
	return &Injector{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(seed), stream))}
}

// Faults returns the faults injected now.
func (i *Injector) Faults() Faults {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.cfg
}

// Set replaces the faults injected from now on.
func (i *Injector) Set(cfg Faults) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cfg = cfg
}

// Draw returns the fault of a request.
func (i *Injector) Draw(method, path string) Fault {
	i.mu.Lock()
	defer i.mu.Unlock()
	c := &i.cfg
	out := Fault{Latency: c.Latency}
	if c.LatencyJitter == 0 && c.Error5xxRate == 0 && c.TimeoutRate == 0 {
		return out
	}
	if c.LatencyJitter > 0 {
		out.Latency += time.Duration(i.rng.Int64N(int64(c.LatencyJitter) + 1))
	}
	if !i.applies(method, path) {
		return out
	}
	switch u := i.rng.Float64(); {
	case u < c.Error5xxRate:
		out.Kind = Error5xx
	case u < c.Error5xxRate+c.TimeoutRate:
		out.Kind = Timeout
		out.Apply = i.rng.Float64() < c.TimeoutAppliesRate
	}
	return out
}

func (i *Injector) applies(method, path string) bool {
	if len(i.cfg.Paths) == 0 {
		return strings.HasPrefix(path, "/api/")
	}
	return slices.Contains(i.cfg.Paths, path) || slices.Contains(i.cfg.Paths, method+" "+path)
}
