package monitor

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
)

// maxPending bounds the intents waiting for their first report in the
// latency tracker; past it new intents go unmeasured (never unbounded
// memory for intents whose report never comes, e.g. those of a stopped
// router).
const maxPending = 100_000

// pendingMaxAge: an intent older than this without a report is forgotten.
const pendingMaxAge = 5 * time.Minute

// watchBus feeds the View and the bus-derived metrics from NATS until ctx
// is done: key statuses, intents (ORDERS, from now), reports (REPORTS,
// from now) and halts (CONTROL; nil skips them).
func (m *Monitor) watchBus(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, control jetstream.KeyValue) error {
	sub, err := nc.Subscribe(messages.KeysPrefix+"*.status", func(msg *nats.Msg) {
		var st messages.KeyStatus
		if json.Unmarshal(msg.Data, &st) == nil {
			m.view.ObserveStatus(st, m.now())
		}
	})
	if err != nil {
		return fmt.Errorf("monitor: subscribing to key status: %w", err)
	}
	stops := []func(){func() { _ = sub.Unsubscribe() }}
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	lat := &latency{pending: map[string]time.Time{}}
	intents, err := m.follow(ctx, js, messages.StreamOrders, []string{messages.OrdersNewPrefix + "*"}, func(msg jetstream.Msg) {
		strategy := msg.Subject()[len(messages.OrdersNewPrefix):]
		if !messages.ValidID(strategy) {
			return
		}
		m.metrics.intents.WithLabelValues(strategy).Inc()
		m.view.ObserveIntent(strategy, m.now())
		var in struct {
			ClientOrderID string `json:"client_order_id"`
		}
		if meta, err := msg.Metadata(); err == nil && json.Unmarshal(msg.Data(), &in) == nil && in.ClientOrderID != "" {
			lat.intent(strategy+"."+in.ClientOrderID, meta.Timestamp)
		}
	})
	if err != nil {
		stopAll()
		return err
	}
	stops = append(stops, intents)
	reports, err := m.follow(ctx, js, messages.StreamReports, nil, func(msg jetstream.Msg) {
		var r report
		if json.Unmarshal(msg.Data(), &r) != nil || r.Strategy == "" {
			return
		}
		m.metrics.observeReport(&r)
		m.view.ObserveReport(&r, m.now())
		switch r.Kind {
		case messages.KindAccepted, messages.KindRejected, messages.KindExpired:
			meta, err := msg.Metadata()
			if err != nil {
				return
			}
			if d, ok := lat.report(r.Strategy+"."+r.ClientOrderID, meta.Timestamp); ok && r.Kind == messages.KindAccepted {
				m.metrics.intentAccepted.WithLabelValues(r.Strategy).Observe(d.Seconds())
			}
		}
	})
	if err != nil {
		stopAll()
		return err
	}
	stops = append(stops, reports)
	if control != nil {
		w, err := control.WatchAll(ctx)
		if err != nil {
			stopAll()
			return fmt.Errorf("monitor: watching halts: %w", err)
		}
		stops = append(stops, func() { _ = w.Stop() })
		go func() {
			for e := range w.Updates() {
				if e == nil {
					continue
				}
				if e.Operation() != jetstream.KeyValuePut {
					m.view.SetHalt(e.Key(), nil)
					continue
				}
				var h Halt
				_ = json.Unmarshal(e.Value(), &h)
				m.view.SetHalt(e.Key(), &h)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		stopAll()
	}()
	return nil
}

// follow reads stream from now with an ordered consumer (it re-creates
// itself after a reconnect) and returns its stop.
func (m *Monitor) follow(ctx context.Context, js jetstream.JetStream, stream string, filters []string, f func(jetstream.Msg)) (func(), error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy, FilterSubjects: filters})
	if err != nil {
		return nil, fmt.Errorf("monitor: reading %s: %w", stream, err)
	}
	cc, err := cons.Consume(f, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) && !strings.Contains(err.Error(), "closed") {
			m.log.Debug().Err(err).Str("stream", stream).Msg("monitor: consume error")
		}
	}))
	if err != nil {
		return nil, fmt.Errorf("monitor: reading %s: %w", stream, err)
	}
	return cc.Stop, nil
}

// latency pairs an intent's ORDERS timestamp with its first report's
// REPORTS timestamp (both the NATS server's clock).
type latency struct {
	mu      sync.Mutex
	pending map[string]time.Time // strategy.client_order_id → stored at
	adds    int
}

func (l *latency) intent(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.adds++; l.adds%10_000 == 0 || len(l.pending) >= maxPending {
		for k, t := range l.pending {
			if at.Sub(t) > pendingMaxAge {
				delete(l.pending, k)
			}
		}
	}
	if len(l.pending) < maxPending {
		if _, dup := l.pending[id]; !dup {
			l.pending[id] = at
		}
	}
}

// report ends id's wait and returns how long it was, if it was tracked.
func (l *latency) report(id string, at time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.pending[id]
	if !ok {
		return 0, false
	}
	delete(l.pending, id)
	return max(at.Sub(t), 0), true
}

// pollLocal feeds the View from the process's own workers every second
// (processes that run executors but no router watch no bus statuses).
func (m *Monitor) pollLocal(ctx context.Context, statuses func() []messages.KeyStatus) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for _, st := range statuses() {
			m.view.ObserveStatus(st, m.now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
