package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

// ControlBucketConfig is the config of the CONTROL bucket (what is halted).
func ControlBucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: messages.BucketControl, Description: "keyrouter: halts",
		History: 1, Storage: jetstream.FileStorage, Replicas: replicas}
}

// Halts is the set of halts in force, kept in step with the CONTROL bucket
// by Watch. Safe for concurrent use.
type Halts struct {
	mu  sync.RWMutex
	set map[string]bool // CONTROL keys: all, strategy.<id>, key.<id>
}

// NewHalts returns an empty set.
func NewHalts() *Halts { return &Halts{set: map[string]bool{}} }

// HaltedStrategy reports whether strategy or everything is halted.
func (h *Halts) HaltedStrategy(strategy string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.set["all"] || h.set["strategy."+strategy]
}

// HaltedKey reports whether key or everything is halted.
func (h *Halts) HaltedKey(key string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.set["all"] || h.set["key."+key]
}

// Watch follows the bucket until ctx is done; it returns once the set is
// up to date, leaving a goroutine to follow changes.
func (h *Halts) Watch(ctx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	ready := make(chan struct{})
	go func() {
		defer w.Stop()
		once := sync.Once{}
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					once.Do(func() { close(ready) })
					continue
				}
				h.mu.Lock()
				if e.Operation() == jetstream.KeyValuePut {
					h.set[e.Key()] = true
				} else {
					delete(h.set, e.Key())
				}
				h.mu.Unlock()
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("router: CONTROL bucket did not answer in 10s")
	}
}

// serveControl runs the control service (halt, resume, reload) on the
// router's connection until the returned service is stopped. `nats micro
// ls` lists it.
func (r *Router) serveControl() (micro.Service, error) {
	svc, err := micro.AddService(r.nc, micro.Config{
		Name: messages.ControlService, Version: "0.1.0",
		Description: "keyrouter control: halt, resume, reload",
	})
	if err != nil {
		return nil, err
	}
	g := svc.AddGroup(messages.ControlService)
	for name, h := range map[string]micro.HandlerFunc{
		"halt":   func(req micro.Request) { r.haltRequest(req, true) },
		"resume": func(req micro.Request) { r.haltRequest(req, false) },
		"reload": r.reloadRequest,
	} {
		if err := g.AddEndpoint(name, h); err != nil {
			_ = svc.Stop()
			return nil, err
		}
	}
	return svc, nil
}

func (r *Router) haltRequest(req micro.Request, halt bool) {
	if !r.callerAllowed(req) {
		return
	}
	var hr messages.HaltRequest
	if err := json.Unmarshal(req.Data(), &hr); err != nil {
		_ = req.Error("400", "bad request: "+err.Error(), nil)
		return
	}
	k := hr.ControlKey()
	if k == "" {
		_ = req.Error("400", "name exactly one of all, strategy or key (valid IDs)", nil)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply := messages.ControlReply{OK: true}
	if halt {
		data, _ := json.Marshal(map[string]any{"reason": hr.Reason, "at": r.opts.Now().UTC()})
		if _, err := r.control.Put(ctx, k, data); err != nil {
			_ = req.Error("500", err.Error(), nil)
			return
		}
		reply.Halted = k
		r.halts.mu.Lock()
		r.halts.set[k] = true // in force here at once, not only when the watch sees it
		r.halts.mu.Unlock()
		r.log.Warn().Str("halt", k).Str("why", hr.Reason).Msg("halted")
		if hr.CancelOpen {
			n, err := r.cancelOpen(ctx, hr)
			reply.Canceled = n
			if err != nil {
				reply.Message = "halted, but canceling open orders failed: " + err.Error()
			}
		}
	} else {
		if err := r.control.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			_ = req.Error("500", err.Error(), nil)
			return
		}
		r.halts.mu.Lock()
		delete(r.halts.set, k)
		r.halts.mu.Unlock()
		reply.Resumed = k
		r.log.Info().Str("resume", k).Msg("resumed")
	}
	_ = req.RespondJSON(reply)
}

// cancelOpen sends a cancel for every open order the halt covers, to the
// key holding it, and returns how many it sent.
func (r *Router) cancelOpen(ctx context.Context, hr messages.HaltRequest) (int, error) {
	lister, err := r.kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return 0, nil
		}
		return 0, err
	}
	n := 0
	for k := range lister.Keys() {
		if hr.Strategy != "" && !strings.HasPrefix(k, hr.Strategy+".") {
			continue
		}
		rec, err := r.getRecord(ctx, k)
		if err != nil || rec.Key == "" || rec.Status.Terminal() || (hr.Key != "" && rec.Key != hr.Key) {
			continue
		}
		data, _ := json.Marshal(messages.ExecCancel{Strategy: rec.Strategy, ClientOrderID: rec.ClientOrderID, ReceivedAt: r.opts.Now()})
		if err := r.publishWait(ctx, nil, &nats.Msg{Subject: messages.ExecCancelSubject(rec.Key), Data: data}); err != nil {
			return n, fmt.Errorf("cancel of %s: %w", k, err)
		}
		n++
	}
	return n, nil
}

func (r *Router) reloadRequest(req micro.Request) {
	if !r.callerAllowed(req) {
		return
	}
	if r.opts.Reload == nil {
		_ = req.Error("501", "this router was started without a config file to reload", nil)
		return
	}
	cfg, err := r.opts.Reload()
	if err != nil {
		_ = req.Error("400", "config not reloaded: "+err.Error(), nil)
		return
	}
	r.Reload(cfg)
	r.log.Info().Msg("config reloaded on request")
	_ = req.RespondJSON(messages.ControlReply{OK: true, Message: fmt.Sprintf("%d keys, %d strategies", len(cfg.Keys), len(cfg.Strategies))})
}
