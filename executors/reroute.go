package executors

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go"
)

// handBack gives an unsent order back to the router (orders.reroute.<s>)
// to go to another key of its pool. Exactly once: the order left the
// queue under the lock before anything is published; its record here
// says handed_back first (fenced), so no worker of this key sends it
// again; the router moves its claim only while the claim is still this
// key's.
func (t *term) handBack(ctx context.Context, it *item) {
	o := it.order
	o.mu.Lock()
	snap := o.snap()
	o.phase = messages.PhaseHandedBack
	if err := t.writeRecord(ctx, o, t.clock.Now()); err != nil {
		o.rollback(snap)
		o.mu.Unlock()
		t.log.Warn().Err(err).Str("client_order_id", o.intent.ClientOrderID).Msg("hand-back not recorded; the order will be redelivered")
		t.mu.Lock()
		m := o.msg
		o.msg = nil
		t.mu.Unlock()
		if m != nil {
			_ = m.NakWithDelay(time.Second)
		}
		return
	}
	o.mu.Unlock()
	t.publishReroute(ctx, o)
}

// publishReroute hands o back to the router and then acks its exec
// message; on failure the message is redelivered, and its record
// (handed_back) makes the redelivery publish again.
func (t *term) publishReroute(ctx context.Context, o *order) {
	in := o.intent
	eo := messages.ExecOrder{Intent: in, ReceivedAt: o.received, IntentSeq: o.intentSeq,
		Routed: o.route + 1, From: t.opts.Key, ClaimSeq: o.claimSeq}
	data := eo.AppendJSON(make([]byte, 0, 512))
	m := nats.NewMsg(messages.OrdersRerouteSubject(in.Strategy))
	m.Data = data
	m.Header.Set(nats.MsgIdHdr, "reroute."+o.kvKey+"."+strconv.Itoa(o.route+1))
	f, err := t.js.PublishMsgAsync(m)
	if err == nil {
		_, err = bus.Await(ctx, f)
	}
	t.mu.Lock()
	msg := o.msg
	if err == nil {
		o.msg, o.sendDone = nil, true
	}
	t.c.forget(o)
	t.mu.Unlock()
	if err != nil {
		t.log.Warn().Err(err).Str("client_order_id", in.ClientOrderID).Msg("hand-back failed; the order will be redelivered")
		if msg != nil {
			_ = msg.NakWithDelay(time.Second)
		}
		return
	}
	t.log.Info().Str("client_order_id", in.ClientOrderID).Str("strategy", in.Strategy).Msg("order handed back for another key")
	ack(msg)
}

// forwardCancel sends a cancel on to the key that now holds the order (it
// was handed back from this key and moved there).
func (t *term) forwardCancel(ctx context.Context, cr *cancelReq, holder string) {
	data, _ := json.Marshal(messages.ExecCancel{Strategy: cr.strategy, ClientOrderID: cr.clientOrderID, ReceivedAt: t.clock.Now()})
	m := nats.NewMsg(messages.ExecCancelSubject(holder, cr.strategy, cr.clientOrderID))
	m.Data = data
	m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("cancel.fwd.%s.%d", t.opts.Key, cr.seq))
	t.answerCancel(ctx, cr, m)
}
