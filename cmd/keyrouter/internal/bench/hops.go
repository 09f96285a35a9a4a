package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Hops scenario: one strategy "bench" over o.Keys keys whose budgets are
// far above the demand; every intent is a market order answered by an
// accepted report. The baseline is raw JetStream doing the same three
// hops with no logic, on the same server in the same run.
func runHops(ctx context.Context, o Options) (*Result, error) {
	var keys []string
	for i := 1; i <= o.Keys; i++ {
		keys = append(keys, "bench-"+strconv.Itoa(i))
	}
	ka, nc, stop, err := start(ctx, o, keys, 100_000_000, 100_000, map[string]configs.Strategy{"bench": {Keys: keys}})
	if err != nil {
		return nil, err
	}
	defer stop()
	// keyrouter: intent on orders.new.bench → accepted on reports.bench.accepted.
	krD := newDriver(o, "keyrouter")
	krD.p.send = func(i int) error { return nc.Publish(messages.OrdersNewSubject("bench"), hopsIntent(i)) }
	if err := krD.p.receive(nc, "reports.bench.accepted"); err != nil {
		return nil, err
	}
	baseD := newDriver(o, "raw-nats")
	base, err := newBaseline(ctx, ka, baseD.p)
	if err != nil {
		return nil, err
	}
	defer base.close()
	krM, bM, err := measureBoth(ctx, krD, baseD, o)
	if err != nil {
		return nil, err
	}
	sleep(ctx, 200*time.Millisecond) // late duplicates show in this time
	lost, dups := krD.lostAndDuplicates()
	return &Result{
		Scenario: Hops, Intents: o.Intents, ThroughputPerS: krM.ThroughputPerS, LatencyUS: krM.LatencyUS,
		Baseline: &bM,
		Ratio: &Ratio{
			LatencyP50: round(krM.LatencyUS.P50/bM.LatencyUS.P50, 2),
			Throughput: round(krM.ThroughputPerS/bM.ThroughputPerS, 2),
		},
		Lost: &lost, Duplicates: &dups,
	}, nil
}

// pipe is a system under test: send publishes intent i, and the answer to
// it, received on a subscription, is handed to done (the driver's).
type pipe struct {
	send func(i int) error
	done func(i int)
}

// receive hands every answer on subject to p.done.
func (p *pipe) receive(nc *nats.Conn, subject string) error {
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		if i, ok := hopsID(m.Data); ok {
			p.done(i)
		}
	})
	if err != nil {
		return err
	}
	return sub.SetPendingLimits(-1, -1)
}

// driver measures one pipe: intents one at a time (latency), then many in
// flight (throughput), counting lost and duplicated answers.
type driver struct {
	p         *pipe
	o         Options
	label     string
	answered  chan struct{} // one per first answer; room for every intent in flight
	recording atomic.Bool
	next      int // the next intent's number (the driver's goroutine only)

	mu     sync.Mutex
	starts map[int]time.Time
	lat    []float64
	seen   map[int]bool
	dups   int
}

// newDriver returns a driver whose pipe the caller completes: its send
// and the subscription of its answers.
func newDriver(o Options, label string) *driver {
	d := &driver{o: o, label: label, starts: map[int]time.Time{}, seen: map[int]bool{},
		answered: make(chan struct{}, o.Inflight+1)}
	d.p = &pipe{done: d.done}
	return d
}

func (d *driver) done(i int) {
	now := time.Now()
	d.mu.Lock()
	if d.seen[i] {
		d.dups++
		d.mu.Unlock()
		return
	}
	d.seen[i] = true
	if t, ok := d.starts[i]; ok && d.recording.Load() {
		d.lat = append(d.lat, micros(now.Sub(t)))
	}
	d.mu.Unlock()
	d.answered <- struct{}{}
}

// wait waits for the next answer.
func (d *driver) wait(ctx context.Context) error {
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-d.answered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%s: no answer within 30s", d.label)
	}
}

// one sends one intent and waits for its answer, recording the latency.
func (d *driver) one(ctx context.Context, record bool) error {
	i := d.next
	d.next++
	d.recording.Store(record)
	d.mu.Lock()
	d.starts[i] = time.Now()
	d.mu.Unlock()
	if err := d.p.send(i); err != nil {
		return err
	}
	return d.wait(ctx)
}

func (d *driver) percentiles() Percentiles {
	d.mu.Lock()
	defer d.mu.Unlock()
	return percentiles(d.lat)
}

// throughput sends o.Intents with o.Inflight in flight and returns the
// rate of answers.
func (d *driver) throughput(ctx context.Context) (float64, error) {
	d.recording.Store(false)
	begin := time.Now()
	first := d.next
	inflight, sent, got := 0, 0, 0
	for got < d.o.Intents {
		for inflight < d.o.Inflight && sent < d.o.Intents {
			if err := d.p.send(first + sent); err != nil {
				return 0, err
			}
			sent++
			inflight++
		}
		if err := d.wait(ctx); err != nil {
			return 0, err
		}
		got++
		inflight--
		if got%1000 == 0 {
			d.o.progress("bench %-9s throughput %6d/%d", d.label, got, d.o.Intents)
		}
	}
	d.next += d.o.Intents
	return round(float64(d.o.Intents)/time.Since(begin).Seconds(), 0), nil
}

// lostAndDuplicates counts intents never answered and answers repeated.
func (d *driver) lostAndDuplicates() (lost, dups int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := 0; i < d.next; i++ {
		if !d.seen[i] {
			lost++
		}
	}
	return lost, d.dups
}

// measureBoth measures keyrouter and the baseline in one run: warm-up,
// then the one-at-a-time latency samples alternate between the two, so
// both see the same machine at the same moments; then each throughput.
func measureBoth(ctx context.Context, kr, base *driver, o Options) (krM, baseM Measure, err error) {
	for range 200 {
		if err = kr.one(ctx, false); err != nil {
			return
		}
		if err = base.one(ctx, false); err != nil {
			return
		}
	}
	for k := 0; k < o.LatencyIntents; k++ {
		if err = kr.one(ctx, true); err != nil {
			return
		}
		if err = base.one(ctx, true); err != nil {
			return
		}
		if k%100 == 0 {
			o.progress("bench latency, alternating  %6d/%d", k, o.LatencyIntents)
		}
	}
	krM = Measure{Intents: o.Intents, LatencyUS: kr.percentiles()}
	baseM = Measure{Intents: o.Intents, LatencyUS: base.percentiles()}
	if krM.ThroughputPerS, err = kr.throughput(ctx); err != nil {
		return
	}
	baseM.ThroughputPerS, err = base.throughput(ctx)
	return
}

// baseline is raw JetStream doing the same three hops with no logic: the
// client publishes to stream BENCH1; a consumer takes it and republishes
// to BENCH2 (acking once stored); another takes that to BENCH3; the
// client receives it. Same server, same storage, same kind of consumers.
type baseline struct {
	ccs   []jetstream.ConsumeContext
	nc    *nats.Conn // the client's
	hopNC *nats.Conn // the hops'
}

func (b *baseline) close() {
	for _, cc := range b.ccs {
		cc.Stop()
	}
	if b.nc != nil {
		b.nc.Close()
	}
	b.hopNC.Close()
}

// newBaseline sets up the baseline's hops and completes p with its ends.
func newBaseline(ctx context.Context, ka *app.App, p *pipe) (*baseline, error) {
	hopNC, err := ka.InProcessConn()
	if err != nil {
		return nil, err
	}
	b := &baseline{hopNC: hopNC}
	if err := b.hops(ctx); err != nil {
		b.close()
		return nil, err
	}
	if b.nc, err = ka.InProcessConn(); err != nil {
		b.close()
		return nil, err
	}
	p.send = func(i int) error { return b.nc.Publish("bench1.x", hopsIntent(i)) }
	if err := p.receive(b.nc, "bench3.>"); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// hops creates the three streams and the two consumers that republish.
func (b *baseline) hops(ctx context.Context) error {
	js, err := jetstream.New(b.hopNC, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	for i := 1; i <= 3; i++ {
		n := strconv.Itoa(i)
		if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH" + n, Subjects: []string{"bench" + n + ".>"},
			Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy}); err != nil {
			return err
		}
	}
	for i := 1; i <= 2; i++ {
		next := "bench" + strconv.Itoa(i+1) + ".x"
		cons, err := js.CreateOrUpdateConsumer(ctx, "BENCH"+strconv.Itoa(i), jetstream.ConsumerConfig{
			Durable: "hop", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10000})
		if err != nil {
			return err
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			f, err := js.PublishAsync(next, m.Data())
			if err != nil {
				_ = m.Nak()
				return
			}
			go func() {
				select {
				case <-f.Ok():
					_ = m.Ack()
				case <-f.Err():
					_ = m.Nak()
				}
			}()
		}, jetstream.PullMaxMessages(512))
		if err != nil {
			return err
		}
		b.ccs = append(b.ccs, cc)
	}
	return nil
}

// hopsIntent is intent i of a hops run; both systems carry it.
func hopsIntent(i int) []byte {
	return []byte(`{"client_order_id":"b` + strconv.Itoa(i) + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
}

// hopsID reads i back from an intent or a report of it.
func hopsID(data []byte) (int, bool) {
	var r struct {
		ID string `json:"client_order_id"`
	}
	if json.Unmarshal(data, &r) != nil || len(r.ID) < 2 {
		return 0, false
	}
	i, err := strconv.Atoi(r.ID[1:])
	return i, err == nil
}
