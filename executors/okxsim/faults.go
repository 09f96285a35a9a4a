package okxsim

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

type faultKind int

const (
	faultNone faultKind = iota
	fault5xx
	faultTimeout
)

// fault is what happens to one request.
type fault struct {
	kind    faultKind
	latency time.Duration
	apply   bool // for a timeout: the request still takes effect
}

// faults draws each request's fault from one seeded generator, so a run
// of sequential requests is reproducible.
type faults struct {
	mu  sync.Mutex // guards cfg and rng
	cfg Faults
	rng *rand.Rand
}

func (f *faults) set(cfg Faults) {
	f.mu.Lock()
	f.cfg = cfg
	f.mu.Unlock()
}

func (f *faults) dropEvery() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg.DropStreamEvery
}

func newFaults(cfg Faults, seed int64) *faults {
	return &faults{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(seed), 0x6f6b7873696d))}
}

func (f *faults) draw(method, path string) fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &f.cfg
	out := fault{latency: c.Latency}
	if c.LatencyJitter == 0 && c.Error5xxRate == 0 && c.TimeoutRate == 0 {
		return out
	}
	if c.LatencyJitter > 0 {
		out.latency += time.Duration(f.rng.Int64N(int64(c.LatencyJitter) + 1))
	}
	if !f.applies(method, path) {
		return out
	}
	switch u := f.rng.Float64(); {
	case u < c.Error5xxRate:
		out.kind = fault5xx
	case u < c.Error5xxRate+c.TimeoutRate:
		out.kind = faultTimeout
		out.apply = f.rng.Float64() < c.TimeoutAppliesRate
	}
	return out
}

// applies reports whether the request is subject to faults: Paths lists
// paths (any method) or "METHOD path".
func (f *faults) applies(method, path string) bool {
	if len(f.cfg.Paths) == 0 {
		return strings.HasPrefix(path, "/api/")
	}
	return slices.Contains(f.cfg.Paths, path) || slices.Contains(f.cfg.Paths, method+" "+path)
}
