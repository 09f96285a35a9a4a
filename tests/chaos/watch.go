package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Status is one KeyStatus as the suite received it.
type Status struct {
	At     time.Time // received
	Key    string
	Worker string // <key>@<instance>
	State  messages.KeyState
}

// Watcher records every KeyStatus (a core subscription: it may miss some
// while its NATS node is down, which only delays what it sees).
type Watcher struct {
	sub *nats.Subscription

	mu       sync.Mutex
	statuses []Status
}

// WatchStatus subscribes to keys.*.status.
func WatchStatus(nc *nats.Conn) (*Watcher, error) {
	w := &Watcher{}
	sub, err := nc.Subscribe(messages.KeysPrefix+"*.status", func(m *nats.Msg) {
		var st messages.KeyStatus
		if json.Unmarshal(m.Data, &st) != nil {
			return
		}
		w.mu.Lock()
		w.statuses = append(w.statuses, Status{At: time.Now(), Key: st.Key, Worker: st.Worker, State: st.State})
		w.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	w.sub = sub
	return w, nil
}

// Stop ends the subscription.
func (w *Watcher) Stop() { _ = w.sub.Unsubscribe() }

// Statuses returns everything received so far.
func (w *Watcher) Statuses() []Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Status{}, w.statuses...)
}

// Active returns the worker of the latest active KeyStatus of key received
// within the last d: the process serving it now.
func (w *Watcher) Active(key string, d time.Duration) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	since := time.Now().Add(-d)
	for i := len(w.statuses) - 1; i >= 0 && w.statuses[i].At.After(since); i-- {
		if st := w.statuses[i]; st.Key == key && st.State == messages.KeyActive {
			return st.Worker, true
		}
	}
	return "", false
}

// Kill is a SIGKILL of the active executor of a key.
type Kill struct {
	At     time.Time
	Key    string
	Worker string // the killed one's KeyStatus.worker
}

// Takeover is what followed a Kill: the first active KeyStatus of the key
// from another worker.
type Takeover struct {
	Kill
	By    string
	After time.Duration
	OK    bool // false: no other worker became active before the deadline
}

// Takeovers matches each kill with the first active KeyStatus of its key
// from another worker received after it, within deadline.
func Takeovers(kills []Kill, sts []Status, deadline time.Duration) []Takeover {
	out := make([]Takeover, 0, len(kills))
	for _, k := range kills {
		t := Takeover{Kill: k}
		for _, st := range sts {
			if st.Key != k.Key || st.Worker == k.Worker || st.State != messages.KeyActive || !st.At.After(k.At) {
				continue
			}
			if d := st.At.Sub(k.At); d <= deadline {
				t.By, t.After, t.OK = st.Worker, d, true
			}
			break
		}
		out = append(out, t)
	}
	return out
}

// RouterTakeover is what followed the SIGKILL of a router: when the
// router lease named a live holder (another router, or the killed one
// restarted: another process run). Leased is false when no lease named
// the killed router (none exists yet): nothing to time.
type RouterTakeover struct {
	At     time.Time
	Router string
	Leased bool
	By     string
	After  time.Duration
	OK     bool
}

func (t RouterTakeover) String() string {
	switch {
	case !t.Leased:
		return fmt.Sprintf("router %s killed at %s: no router lease named it (lease.router absent in CONTROL), so no takeover to time",
			t.Router, t.At.Format("15:04:05.000"))
	case !t.OK:
		return fmt.Sprintf("router %s killed at %s: no live router held the lease within %s", t.Router, t.At.Format("15:04:05.000"), takeoverDeadline)
	}
	return fmt.Sprintf("router %s killed at %s: lease taken by %s after %s", t.Router, t.At.Format("15:04:05.000"), t.By, t.After.Round(time.Millisecond))
}

// RouterLease returns the holder of the router lease (KV CONTROL, key
// lease.router, JSON {"holder": ..., "incarnation": ...}): the router's
// instance name and the process run that holds it; false when there is
// none.
func RouterLease(ctx context.Context, js jetstream.JetStream) (holder, incarnation string, ok bool) {
	kv, err := js.KeyValue(ctx, messages.BucketControl)
	if err != nil {
		return "", "", false
	}
	e, err := kv.Get(ctx, "lease.router")
	if err != nil {
		return "", "", false
	}
	var v struct {
		Holder      string `json:"holder"`
		Incarnation string `json:"incarnation"`
	}
	if json.Unmarshal(e.Value(), &v) != nil || v.Holder == "" {
		return "", "", false
	}
	return v.Holder, v.Incarnation, true
}

// StreamLeader is the server name of the leader of stream.
func StreamLeader(ctx context.Context, js jetstream.JetStream, stream string) (string, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", errors.New("no leader")
	}
	return info.Cluster.Leader, nil
}

// Collector follows the REPORTS stream with an ordered consumer, for
// deciding when the run has settled (the checks read the stream again).
type Collector struct {
	cc jetstream.ConsumeContext

	mu      sync.Mutex
	reports []messages.ExecutionReport
	last    time.Time
}

// Collect starts following REPORTS from its first message.
func Collect(ctx context.Context, js jetstream.JetStream) (*Collector, error) {
	cons, err := js.OrderedConsumer(ctx, messages.StreamReports, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	c := &Collector{last: time.Now()}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var r messages.ExecutionReport
		if json.Unmarshal(m.Data(), &r) != nil {
			return
		}
		c.mu.Lock()
		c.reports = append(c.reports, r)
		c.last = time.Now()
		c.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	c.cc = cc
	return c, nil
}

// Stop ends the consumer.
func (c *Collector) Stop() { c.cc.Stop() }

// Reports returns the reports so far and when the last one came.
func (c *Collector) Reports() ([]messages.ExecutionReport, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]messages.ExecutionReport{}, c.reports...), c.last
}

// ReadReports reads the whole REPORTS stream, up to its last message at
// the time of the call, with an ordered consumer. undecodable counts the
// messages that are not an ExecutionReport.
func ReadReports(ctx context.Context, js jetstream.JetStream) (reports []messages.ExecutionReport, undecodable int, err error) {
	s, err := js.Stream(ctx, messages.StreamReports)
	if err != nil {
		return nil, 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil, 0, nil
	}
	cons, err := js.OrderedConsumer(ctx, messages.StreamReports, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, 0, err
	}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return reports, undecodable, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var r messages.ExecutionReport
			if json.Unmarshal(m.Data(), &r) != nil {
				undecodable++
			} else {
				reports = append(reports, r)
			}
			meta, err := m.Metadata()
			if err != nil {
				return reports, undecodable, err
			}
			if meta.Sequence.Stream >= last {
				return reports, undecodable, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return reports, undecodable, err
		}
		if got == 0 {
			return reports, undecodable, fmt.Errorf("REPORTS: read %d messages, stream's last sequence %d not reached", len(reports)+undecodable, last)
		}
		if ctx.Err() != nil {
			return reports, undecodable, ctx.Err()
		}
	}
}
