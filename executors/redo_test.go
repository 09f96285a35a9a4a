package executors

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/keyrouter/keyrouter/router/bus/clocktest"
	"github.com/rs/zerolog"
)

// recMsg is a message that records what was done with it.
type recMsg struct {
	mu   sync.Mutex
	done []string
}

func (m *recMsg) did(s string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done = append(m.done, s)
	return nil
}
func (m *recMsg) Ack() error                       { return m.did("ack") }
func (m *recMsg) Nak() error                       { return m.did("nak") }
func (m *recMsg) NakWithDelay(time.Duration) error { return m.did("nak") }
func (m *recMsg) InProgress() error                { return m.did("progress") }
func (m *recMsg) Term() error                      { return m.did("term") }
func (m *recMsg) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.done) == 0 {
		return ""
	}
	return m.done[len(m.done)-1]
}

// An order given back to be redone (its local decision not stored) stays
// so when its redelivery cannot read its record: its cancel, redelivered
// meanwhile, keeps waiting for it rather than being answered
// too_late_to_cancel as if the order had closed. (Chaos short run, seed 1:
// the order's read failed during a NATS node's restart, its cancel was
// answered "already closed", and the order was then placed and left
// open.)
func TestRedoneOrderStaysRedoneWhenItsRecordCannotBeRead(t *testing.T) {
	srv := bustest.Server(t)
	nc, js := bustest.JetStream(t, srv)
	nc.Close() // every read of the bus fails
	w := &Worker{opts: Options{Key: "k", QueueSize: 10, MaxDeliver: 50}, js: js, log: zerolog.Nop(), budget: testCore(t, 10).budget}
	tm := newTerm(w, nil)
	in := messages.OrderIntent{ClientOrderID: "o", Strategy: "s", Symbol: "BTC-USDT", Side: messages.Buy, Type: messages.Limit}
	o := newOrder("k", &messages.ExecOrder{Intent: in, Routed: 1}, 7)
	tm.redoing[o.kvKey] = true // its local decision was not stored: given back

	om := &recMsg{}
	o.msg = om
	tm.admit(context.Background(), o, true, false)
	if om.last() != "nak" {
		t.Fatalf("the order's message: %v, want it given back (nak)", om.done)
	}
	if !tm.redoing[o.kvKey] {
		t.Fatal("the order is no longer being redone after its record could not be read")
	}
	cm := &recMsg{}
	tm.takeCancel(context.Background(), messages.ExecSubject{Key: "k", Kind: "cancel", Strategy: "s", ClientOrderID: "o"}, 8, cm)
	if cm.last() != "nak" {
		t.Fatalf("the cancel: %v, want it to wait for its order (nak)", cm.done)
	}
}

// cancelSpy is a Venue that counts its Cancels (nothing else is called).
type cancelSpy struct {
	Venue
	cancels int
}

func (v *cancelSpy) Cancel(context.Context, string, string) (OrderUpdate, error) {
	v.cancels++
	return OrderUpdate{}, ErrUnknownOrder
}

// A cancel of an order whose decision without the venue is being stored
// (deciding: never sent) is answered from that order's record, as for a
// closed one, not sent to the venue, which would answer unknown_order.
func TestCancelOfADecidingOrderIsNotSentToTheVenue(t *testing.T) {
	srv := bustest.Server(t)
	nc, js := bustest.JetStream(t, srv)
	nc.Close() // the record cannot be read: the cancel is given back
	spy := &cancelSpy{}
	w := &Worker{opts: Options{Key: "k", QueueSize: 10, MaxDeliver: 50, Metrics: NopMetrics{}}, js: js, log: zerolog.Nop(),
		budget: testCore(t, 10).budget, venue: spy, clock: clocktest.New(t0)}
	tm := newTerm(w, nil)
	tm.vctx = context.Background()
	o := newItem("o").order
	tm.c.decide(o)
	cm := &recMsg{}
	cr := &cancelReq{strategy: "s", clientOrderID: "o", seq: 8, msg: cm}
	tm.handledCancels[cr.seq] = cr
	tm.sendCancel(context.Background(), &item{cancel: cr})
	if spy.cancels != 0 {
		t.Fatalf("the venue was asked to cancel an order never sent (%d)", spy.cancels)
	}
	if cm.last() != "nak" {
		t.Fatalf("the cancel: %v, want it given back until the order's record can be read", cm.done)
	}
}
