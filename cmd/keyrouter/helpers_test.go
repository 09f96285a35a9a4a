package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// testApp starts the whole system on an embedded server that listens
// nowhere (clients connect in process) and stops it when the test ends.
func testApp(t *testing.T, cfg *configs.Config, mutate ...func(*app.App)) *app.App {
	t.Helper()
	if cfg == nil {
		cfg = configs.Default()
	}
	ka := &app.App{Config: cfg, RunRouter: true, Keys: app.AllKeys, DataDir: t.TempDir(), Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
	for _, m := range mutate {
		m(ka)
	}
	if err := ka.Start(context.Background()); err != nil {
		t.Fatalf("starting keyrouter: %v", err)
	}
	t.Cleanup(func() {
		if err := ka.Close(); err != nil {
			t.Errorf("closing keyrouter: %v", err)
		}
	})
	return ka
}

// client is a strategy's view: it publishes intents and collects every
// report from the REPORTS stream (so none can be missed).
type client struct {
	t   *testing.T
	nc  *nats.Conn
	js  jetstream.JetStream
	mu  sync.Mutex
	got []messages.ExecutionReport
	raw [][]byte
}

func newClient(t *testing.T, ka *app.App) *client {
	t.Helper()
	nc, err := ka.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, js: js}
	cons, err := js.OrderedConsumer(context.Background(), messages.StreamReports, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var r messages.ExecutionReport
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Errorf("undecodable report %s: %v", m.Data(), err)
			return
		}
		c.mu.Lock()
		c.got = append(c.got, r)
		c.raw = append(c.raw, m.Data())
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return c
}

// publish sends data on subject through JetStream (stored ack).
func (c *client) publish(subject string, data string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.js.Publish(ctx, subject, []byte(data)); err != nil {
		c.t.Fatalf("publish %s: %v", subject, err)
	}
}

func (c *client) submit(strategy, intent string) {
	c.publish(messages.OrdersNewSubject(strategy), intent)
}

func (c *client) cancel(strategy, id string) {
	c.publish(messages.OrdersCancelSubject(strategy), fmt.Sprintf(`{"client_order_id":%q}`, id))
}

// reports returns the reports of (strategy, id) so far, in stream order.
func (c *client) reports(strategy, id string) []messages.ExecutionReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []messages.ExecutionReport
	for _, r := range c.got {
		if r.Strategy == strategy && r.ClientOrderID == id {
			out = append(out, r)
		}
	}
	return out
}

// waitReport waits for a report of (strategy, id) matching f and returns it.
func (c *client) waitReport(strategy, id string, what string, f func(messages.ExecutionReport) bool) messages.ExecutionReport {
	c.t.Helper()
	var got *messages.ExecutionReport
	var seen []messages.ExecutionReport
	defer func() {
		if got == nil { // WaitFor failed the test
			c.t.Logf("%s/%s has reports %v", strategy, id, kinds(seen))
		}
	}()
	bustest.WaitFor(c.t, what+" of "+strategy+"/"+id, func() bool {
		seen = c.reports(strategy, id)
		for i := range seen {
			if f(seen[i]) {
				got = &seen[i]
				return true
			}
		}
		return false
	})
	return *got
}

func (c *client) waitKind(strategy, id string, kind messages.ReportKind) messages.ExecutionReport {
	c.t.Helper()
	return c.waitReport(strategy, id, string(kind), func(r messages.ExecutionReport) bool { return r.Kind == kind })
}

func kinds(rs []messages.ExecutionReport) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s#%d", r.Kind, r.Seq))
	}
	return out
}

// checkSeq asserts an order's reports are numbered 1, 2, 3 ... in order.
func checkSeq(t *testing.T, rs []messages.ExecutionReport) {
	t.Helper()
	for i, r := range rs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("report %d of %s has seq %d, want %d (all: %v)", i, r.ClientOrderID, r.Seq, i+1, kinds(rs))
		}
	}
}
