package natsconf_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/natsconf"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

// reportsOf collects the reports a core subscription receives.
type reportsOf struct {
	mu  sync.Mutex
	got []messages.ExecutionReport
}

func subscribeReports(t *testing.T, nc *nats.Conn, subject string) *reportsOf {
	t.Helper()
	r := &reportsOf{}
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var rep messages.ExecutionReport
		if json.Unmarshal(m.Data, &rep) == nil {
			r.mu.Lock()
			r.got = append(r.got, rep)
			r.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *reportsOf) find(id string, f func(messages.ExecutionReport) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rep := range r.got {
		if rep.ClientOrderID == id && f(rep) {
			return true
		}
	}
	return false
}

func marketBuy(id string) []byte {
	return fmt.Appendf(nil, `{"client_order_id":%q,"symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`, id)
}

// TestSecuredBus runs keyrouter's roles, each as its own identity with
// TLS on, against a server started from the generated config, and checks
// what each identity may and may not do.
func TestSecuredBus(t *testing.T) {
	b := startBus(t, parseConfig(t, testConfig))
	b.startKeyrouter(router.Options{ControlAccount: natsconf.OperatorAccount})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	alpha, alphaErrs := b.connect("strategy-alpha")
	alphaJS, err := jetstream.New(alpha)
	if err != nil {
		t.Fatal(err)
	}
	// The router's own connection, to look at the streams.
	routerNC, _ := b.connect("router")
	routerJS, err := jetstream.New(routerNC)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("alpha's intents become fills", func(t *testing.T) {
		reps := subscribeReports(t, alpha, "reports.alpha.>")
		// JetStream publish: the stored-ack comes back on alpha's inbox.
		if _, err := alphaJS.Publish(ctx, "orders.new.alpha", marketBuy("sec-js-1")); err != nil {
			t.Fatalf("JetStream publish of alpha's own intent: %v", err)
		}
		// Plain publish.
		if err := alpha.Publish("orders.new.alpha", marketBuy("sec-plain-1")); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"sec-js-1", "sec-plain-1"} {
			bustest.WaitFor(t, id+" filled", func() bool {
				return reps.find(id, func(r messages.ExecutionReport) bool {
					return r.Kind == messages.KindFill && r.Status == messages.StatusFilled
				})
			})
		}
		// Its durable consumer on REPORTS, named after itself and filtered
		// to its own reports, replays them.
		cons, err := alphaJS.CreateOrUpdateConsumer(ctx, messages.StreamReports, jetstream.ConsumerConfig{
			Durable: "alpha", FilterSubject: "reports.alpha.>", AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			t.Fatalf("alpha's durable on REPORTS: %v", err)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack: %v", err)
			}
			n++
		}
		if n != 1 || batch.Error() != nil {
			t.Fatalf("fetched %d reports from alpha's durable (err %v), want 1", n, batch.Error())
		}
		if _, err := alphaJS.Consumer(ctx, messages.StreamReports, "alpha"); err != nil {
			t.Fatalf("consumer info of alpha's durable: %v", err)
		}
		// A resting order, then its cancel.
		if _, err := alphaJS.Publish(ctx, "orders.new.alpha",
			[]byte(`{"client_order_id":"sec-rest-1","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.01","price":"1000"}`)); err != nil {
			t.Fatal(err)
		}
		bustest.WaitFor(t, "sec-rest-1 accepted", func() bool {
			return reps.find("sec-rest-1", func(r messages.ExecutionReport) bool { return r.Kind == messages.KindAccepted })
		})
		if _, err := alphaJS.Publish(ctx, "orders.cancel.alpha", []byte(`{"client_order_id":"sec-rest-1"}`)); err != nil {
			t.Fatal(err)
		}
		bustest.WaitFor(t, "sec-rest-1 canceled", func() bool {
			return reps.find("sec-rest-1", func(r messages.ExecutionReport) bool { return r.Kind == messages.KindCanceled })
		})
		alphaErrs.none(t)
		b.roleErrs.none(t)
	})

	t.Run("alpha is refused what is not its own", func(t *testing.T) {
		for _, subject := range []string{
			"orders.new.beta", "orders.cancel.beta",
			"exec.alpha-1.new", "exec.beta-1.cancel", "exec.alpha-1.new.alpha.x1",
			"keys.alpha-1.status", "keys.beta-1.status",
			"orders.reroute.alpha", "orders.reroute.beta",
			"$KV.ORDERSTATE.alpha.x1", "$KV.ORDERSTATE.alpha-1.alpha.x1", "$KV.CONTROL.all", "$KV.CONTROL.strategy.beta",
			"reports.alpha.fill", "reports.beta.fill",
			"$JS.API.STREAM.DELETE.ORDERS", "$JS.API.STREAM.PURGE.REPORTS",
		} {
			if err := alpha.Publish(subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			alphaErrs.expect(t, "Publish to", subject)
		}
		for _, subject := range []string{"reports.beta.>", "reports.>", "keys.*.status", "_INBOX.>", "_INBOX_strategy-beta.>", "exec.>", "orders.>"} {
			if _, err := alpha.SubscribeSync(subject); err != nil {
				t.Fatal(err)
			}
			alphaErrs.expect(t, "Subscription to", subject)
		}
		// Nothing alpha sent on beta's subject reached ORDERS.
		if err := alpha.Flush(); err != nil {
			t.Fatal(err)
		}
		st, err := routerJS.Stream(ctx, messages.StreamOrders)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter("orders.*.beta"))
		if err != nil {
			t.Fatal(err)
		}
		if len(info.State.Subjects) != 0 {
			t.Fatalf("ORDERS holds %v after alpha's refused publishes", info.State.Subjects)
		}
	})

	t.Run("alpha cannot read beta's reports through JetStream", func(t *testing.T) {
		// A consumer filtered to beta's reports, under alpha's name or beta's.
		for _, subject := range []string{
			"$JS.API.CONSUMER.CREATE.REPORTS.alpha.reports.beta.>",
			"$JS.API.CONSUMER.CREATE.REPORTS.beta.reports.beta.>",
			"$JS.API.CONSUMER.CREATE.REPORTS.alpha",
			"$JS.API.CONSUMER.MSG.NEXT.REPORTS.beta",
			"$JS.API.DIRECT.GET.REPORTS",
			"$JS.API.STREAM.MSG.GET.REPORTS",
		} {
			if err := alpha.Publish(subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			alphaErrs.expect(t, "Publish to", subject)
		}
		// And the jetstream client's own call is refused too (it then
		// waits for an answer that never comes: bound it).
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := alphaJS.CreateOrUpdateConsumer(short, messages.StreamReports, jetstream.ConsumerConfig{
			Durable: "alpha", FilterSubject: "reports.beta.>",
		})
		if err == nil {
			t.Fatal("alpha created a consumer on beta's reports")
		}
		alphaErrs.expect(t, "Publish to", "$JS.API.CONSUMER.CREATE.REPORTS.alpha.reports.beta.>")
	})

	t.Run("the control service refuses alpha", func(t *testing.T) {
		_, err := alpha.Request("keyrouter.halt", []byte(`{"strategy":"beta"}`), 500*time.Millisecond)
		if err == nil {
			t.Fatal("alpha's halt request was answered")
		}
		alphaErrs.expect(t, "Publish to", "keyrouter.halt")
		kv, err := routerJS.KeyValue(ctx, messages.BucketControl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Get(ctx, "strategy.beta"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("strategy.beta halt record after alpha's request: err %v", err)
		}
	})

	t.Run("the operator halts and resumes", func(t *testing.T) {
		op, opErrs := b.connect("operator")
		for _, verb := range []string{"halt", "resume"} {
			m, err := op.Request("keyrouter."+verb, []byte(`{"strategy":"beta"}`), 10*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", verb, err)
			}
			if e := m.Header.Get(micro.ErrorHeader); e != "" {
				t.Fatalf("%s refused: %s", verb, e)
			}
			var reply messages.ControlReply
			if err := json.Unmarshal(m.Data, &reply); err != nil || !reply.OK {
				t.Fatalf("%s reply %s (%v)", verb, m.Data, err)
			}
		}
		// What `keyrouter keys` and `keyrouter tail` need.
		statuses, err := op.SubscribeSync("keys.*.status")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := statuses.NextMsg(10 * time.Second); err != nil {
			t.Fatalf("operator heard no key status: %v", err)
		}
		js, err := jetstream.NewWithAPIPrefix(op, natsconf.OperatorJSAPIPrefix)
		if err != nil {
			t.Fatal(err)
		}
		oc, err := js.OrderedConsumer(ctx, messages.StreamReports, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("operator's ordered consumer on REPORTS: %v", err)
		}
		m, err := oc.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("operator tailed nothing: %v", err)
		}
		if _, err := m.Metadata(); err != nil {
			t.Fatal(err)
		}
		opErrs.none(t)
		// The operator writes nothing but control requests.
		for _, subject := range []string{"orders.new.alpha", "exec.alpha-1.new", "$KV.CONTROL.all"} {
			if err := op.Publish(subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			opErrs.expect(t, "Publish to", subject)
		}
	})

	t.Run("the monitor reads and writes nothing", func(t *testing.T) {
		mon, monErrs := b.connect("monitor")
		statuses, err := mon.SubscribeSync("keys.*.status")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := statuses.NextMsg(10 * time.Second); err != nil {
			t.Fatalf("monitor heard no key status: %v", err)
		}
		if _, err := mon.SubscribeSync("reports.>"); err != nil {
			t.Fatal(err)
		}
		if err := mon.Flush(); err != nil {
			t.Fatal(err)
		}
		monErrs.none(t)
		for _, subject := range []string{"orders.new.alpha", "keyrouter.halt", "keys.alpha-1.status", "$JS.API.CONSUMER.CREATE.REPORTS.x"} {
			if err := mon.Publish(subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			monErrs.expect(t, "Publish to", subject)
		}
	})

	t.Run("an executor speaks only for its key and its strategies", func(t *testing.T) {
		ex, exErrs := b.connect("executor-alpha-1")
		for _, subject := range []string{
			"keys.beta-1.status", "reports.beta.fill", "orders.reroute.beta", "exec.beta-1.new",
			"orders.new.alpha", "$KV.ORDERSTATE.beta.x1", "$KV.CONTROL.all",
			"$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-beta-1-new", "$JS.API.CONSUMER.CREATE.EXEC.exec-alpha-1-new.exec.beta-1.new",
		} {
			if err := ex.Publish(subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			exErrs.expect(t, "Publish to", subject)
		}
		if _, err := ex.SubscribeSync("reports.>"); err != nil {
			t.Fatal(err)
		}
		exErrs.expect(t, "Subscription to", "reports.>")
	})

	// Through all of it, keyrouter's own roles were refused nothing.
	b.roleErrs.none(t)
}

// TestControlServiceChecksTheCaller shows the router reading the caller
// from the header the server stamps: a router that takes control requests
// only from another account refuses the operator.
func TestControlServiceChecksTheCaller(t *testing.T) {
	b := startBus(t, parseConfig(t, testConfig))
	b.startRole("router", func(a *app.App) { a.RunRouter, a.RouterOptions = true, router.Options{ControlAccount: "SOMEONE_ELSE"} })
	op, _ := b.connect("operator")
	var m *nats.Msg
	bustest.WaitFor(t, "the control service", func() bool {
		var err error
		m, err = op.Request("keyrouter.halt", []byte(`{"all":true}`), 10*time.Second)
		if err != nil && !errors.Is(err, nats.ErrNoResponders) {
			t.Fatal(err)
		}
		return err == nil
	})
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "403" {
		t.Fatalf("halt from account %s answered %q (code %q), want 403", natsconf.OperatorAccount, m.Data, code)
	}
}

// TestRouterIgnoresAStatusForAnotherKey: executor-alpha-1 may publish only
// keys.alpha-1.status; a status on it naming beta-1 is ignored.
func TestRouterIgnoresAStatusForAnotherKey(t *testing.T) {
	b := startBus(t, parseConfig(t, testConfig))
	rt := b.startRole("router", func(a *app.App) { a.RunRouter = true })
	ex, exErrs := b.connect("executor-alpha-1")
	publish := func(key string, state messages.KeyState) {
		data, _ := json.Marshal(messages.KeyStatus{Key: key, Venue: "paper", State: state, TS: time.Now().UTC()})
		if err := ex.Publish("keys.alpha-1.status", data); err != nil {
			t.Fatal(err)
		}
	}
	// The router takes the subscription's messages in order: once it has
	// seen the second, it has judged the first.
	publish("beta-1", messages.KeyBanned)
	publish("alpha-1", messages.KeyThrottled)
	bustest.WaitFor(t, "the router to see alpha-1's status", func() bool {
		s, _ := rt.Router().Health().State("alpha-1", time.Now())
		return s == messages.KeyThrottled
	})
	if s, heard := rt.Router().Health().State("beta-1", time.Now()); heard || s == messages.KeyBanned {
		t.Fatalf("beta-1 is %s (heard %v) after a status for it on keys.alpha-1.status", s, heard)
	}
	exErrs.none(t)
}
