package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

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

// Watch follows the bucket's halts until ctx is done; it returns once the
// set is up to date, leaving a goroutine to follow changes.
func (h *Halts) Watch(ctx context.Context, kv jetstream.KeyValue) error {
	return bus.Watch(ctx, kv, []string{"all", "strategy.*", "key.*"}, func(u bus.Update) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if u.Value != nil {
			h.set[u.Key] = true
		} else {
			delete(h.set, u.Key)
		}
	})
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
	ctx, cancel := bus.Bounded(context.Background())
	defer cancel()
	reply := messages.ControlReply{OK: true}
	if halt {
		data, _ := json.Marshal(map[string]any{"reason": hr.Reason, "at": r.clock.Now().UTC()})
		if _, err := r.b.Control.Put(ctx, k, data); err != nil {
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
		if err := r.b.Control.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
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
	var open []messages.OrderRecord
	filter := "*.*.*"
	if hr.Key != "" {
		filter = messages.OrderStateKeys(hr.Key)
	}
	err := bus.ScanLast(ctx, r.js, "KV_"+messages.BucketOrders, messages.OrderStateSubject(filter), func(m jetstream.Msg) error {
		rec, err := messages.DecodeOrderRecord(m.Data())
		if err == nil && rec.Phase == messages.PhaseOpen &&
			(hr.Strategy == "" || rec.Strategy == hr.Strategy) {
			open = append(open, rec)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var fs []jetstream.PubAckFuture
	stamp := strconv.FormatInt(r.clock.Now().UnixNano(), 10)
	for _, rec := range open {
		data, _ := json.Marshal(messages.ExecCancel{Strategy: rec.Strategy, ClientOrderID: rec.ClientOrderID, ReceivedAt: r.clock.Now()})
		m := nats.NewMsg(messages.ExecCancelSubject(rec.Key, rec.Strategy, rec.ClientOrderID))
		m.Data = data
		m.Header.Set(nats.MsgIdHdr, "cancel-open."+stamp+"."+rec.Key+"."+rec.Strategy+"."+rec.ClientOrderID)
		f, err := r.js.PublishMsgAsync(m)
		if err != nil {
			return len(fs), err
		}
		fs = append(fs, f)
	}
	return len(fs), bus.AwaitAll(ctx, fs)
}

// reloadKey is where a reload request is written in CONTROL: every router
// follows it and reads its config file again.
const reloadKey = "reload"

// reloadRequest asks every router to read its config again: this one at
// once (its answer says whether the file is valid), the others through
// the CONTROL bucket.
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
	ctx, cancel := bus.Bounded(context.Background())
	defer cancel()
	data, _ := json.Marshal(map[string]any{"at": r.clock.Now().UTC(), "by": r.leases.Instance()})
	if _, err := r.b.Control.Put(ctx, reloadKey, data); err != nil {
		_ = req.Error("500", "reloaded here, but not announced to the other routers: "+err.Error(), nil)
		return
	}
	r.Reload(cfg)
	r.log.Info().Msg("config reloaded on request")
	_ = req.RespondJSON(messages.ControlReply{OK: true, Message: fmt.Sprintf("%d keys, %d strategies; every router reloads", len(cfg.Keys), len(cfg.Strategies))})
}

// watchReloads reads the config again whenever a reload is requested
// (through any router).
func (r *Router) watchReloads(ctx context.Context) error {
	if r.opts.Reload == nil {
		return nil
	}
	return bus.Watch(ctx, r.b.Control, []string{reloadKey}, func(u bus.Update) {
		if u.Initial || u.Value == nil {
			return // a request from before this router started
		}
		cfg, err := r.opts.Reload()
		if err != nil {
			r.log.Error().Err(err).Msg("reload requested, config not reloaded")
			return
		}
		r.Reload(cfg)
		r.log.Info().Msg("config reloaded (requested through the control service)")
	})
}
