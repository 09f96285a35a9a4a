package executors

import (
	"context"
	"strings"
	"sync"

	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// Halts follows the halts that stop keys (CONTROL `all` and `key.<k>`)
// with one watch for the whole process, and tells each key's active term
// when its key's halt changes: a watch per key would cost a consumer on
// KV_CONTROL per key (the stream holds 1,000 by default) and a goroutine
// or three on each side.
//
// Create with NewHalts and start with Start (once); Follow is safe for
// concurrent use. Callbacks run one at a time, on the watch's goroutine
// or in Follow.
type Halts struct {
	kv jetstream.KeyValue

	deliver sync.Mutex // held while callbacks run: each sees changes in order

	mu     sync.Mutex
	set    map[string]bool // CONTROL keys of halts in force: "all", "key.<k>"
	follow map[string]map[int]func(bool)
	nextID int
}

// NewHalts returns the halts of the CONTROL bucket kv.
func NewHalts(kv jetstream.KeyValue) *Halts {
	return &Halts{kv: kv, set: map[string]bool{}, follow: map[string]map[int]func(bool){}}
}

// Start follows the halts until ctx ends; it returns once the halts in
// force are known.
func (h *Halts) Start(ctx context.Context) error {
	return bus.Watch(ctx, h.kv, []string{"all", "key.*"}, h.see)
}

func (h *Halts) see(u bus.Update) {
	h.deliver.Lock()
	defer h.deliver.Unlock()
	h.mu.Lock()
	if u.Value != nil {
		h.set[u.Key] = true
	} else {
		delete(h.set, u.Key)
	}
	type call struct {
		fn     func(bool)
		halted bool
	}
	var calls []call
	add := func(key string) {
		halted := h.haltedLocked(key)
		for _, fn := range h.follow[key] {
			calls = append(calls, call{fn, halted})
		}
	}
	if u.Key == "all" {
		for key := range h.follow {
			add(key)
		}
	} else if key, ok := strings.CutPrefix(u.Key, "key."); ok {
		add(key)
	}
	h.mu.Unlock()
	for _, c := range calls {
		c.fn(c.halted)
	}
}

func (h *Halts) haltedLocked(key string) bool { return h.set["all"] || h.set["key."+key] }

// Follow calls fn with whether key is halted now, then on every change,
// until stop is called.
func (h *Halts) Follow(key string, fn func(halted bool)) (stop func()) {
	h.deliver.Lock()
	defer h.deliver.Unlock()
	h.mu.Lock()
	id := h.nextID
	h.nextID++
	if h.follow[key] == nil {
		h.follow[key] = map[int]func(bool){}
	}
	h.follow[key][id] = fn
	halted := h.haltedLocked(key)
	h.mu.Unlock()
	fn(halted)
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.follow[key], id)
		if len(h.follow[key]) == 0 {
			delete(h.follow, key)
		}
	}
}
