package executors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxRoutes bounds how often one order is handed to a key: once by the
// router, once more after its first key turned bad.
const maxRoutes = 2

// handBackQueued takes the new orders waiting in the queue out of it and
// hands each back to the router (orders.reroute.<strategy>) to go to
// another key of its pool: the order leaves this queue under the lock
// before anything is published, so it is never sent by both keys. An
// order pinned to this key, or already moved once, stays; if the key is
// halted, those are rejected with halted.
func (w *Worker) handBackQueued(ctx context.Context) {
	w.mu.Lock()
	halted := w.state == messages.KeyHalted
	moved := w.newQ.removeIf(func(it *item) bool {
		return !it.inDoubt && (halted || it.order.intent.Key == "" && it.route < maxRoutes)
	})
	for _, it := range moved {
		w.dropLocked(it.order)
	}
	w.mu.Unlock()
	for _, it := range moved {
		if it.order.intent.Key != "" || it.route >= maxRoutes {
			w.refuse(ctx, it, messages.ReasonHalted, fmt.Sprintf("key %s is halted", w.opts.Key))
			continue
		}
		w.postSem <- struct{}{}
		w.post.Add(1)
		go func() {
			defer func() { <-w.postSem; w.post.Done() }()
			w.reroute(ctx, it)
		}()
	}
}

// reroute publishes it on orders.reroute.<strategy> and acks its message
// once that is stored; on failure the message is nak'ed and comes back
// here.
func (w *Worker) reroute(ctx context.Context, it *item) {
	in := it.order.intent
	data, _ := json.Marshal(messages.ExecOrder{Intent: in, ReceivedAt: w.now(), IntentSeq: it.order.intentSeq,
		Routed: it.route + 1, From: w.opts.Key})
	m := nats.NewMsg(messages.OrdersRerouteSubject(in.Strategy))
	m.Data = data
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := w.js.PublishMsg(ctx, m, jetstream.WithMsgID(fmt.Sprintf("reroute.%s.%d", it.order.kvKey, it.route+1))); err != nil {
		w.log.Warn().Err(err).Str("client_order_id", in.ClientOrderID).Msg("hand-back failed; the order will be redelivered")
		_ = it.msg.NakWithDelay(time.Second)
		return
	}
	w.log.Info().Str("client_order_id", in.ClientOrderID).Str("strategy", in.Strategy).Msg("order handed back for another key")
	_ = it.msg.Ack()
}

// forwardCancel sends a cancel to the key that now holds the order (it
// was moved there from this key).
func (w *Worker) forwardCancel(ctx context.Context, it *item, holder string) {
	data, _ := json.Marshal(it.cancel)
	meta, err := it.msg.Metadata()
	id := ""
	if err == nil {
		id = fmt.Sprintf("cancel.fwd.%d", meta.Sequence.Stream)
	}
	opts := []jetstream.PublishOpt{}
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	if _, err := w.js.Publish(ctx, messages.ExecCancelSubject(holder), data, opts...); err != nil {
		w.requeue(it, time.Second)
		return
	}
	_ = it.msg.Ack()
}

// watchHalts follows the CONTROL bucket's halts of this key and of
// everything: a halt turns the key halted (queued orders go back to the
// router or are rejected; cancels still go out), a resume active again.
func (w *Worker) watchHalts(ctx context.Context) error {
	watch, err := w.ctl.WatchFiltered(ctx, []string{"all", "key." + w.opts.Key})
	if err != nil {
		return err
	}
	set := map[string]bool{}
	ready := make(chan struct{})
	go func() {
		defer watch.Stop()
		initial := true
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-watch.Updates():
				if !ok {
					return
				}
				if e == nil {
					initial = false
					close(ready)
				} else if e.Operation() == jetstream.KeyValuePut {
					set[e.Key()] = true
				} else {
					delete(set, e.Key())
				}
				if initial {
					continue
				}
				w.applyHalt(len(set) > 0)
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("CONTROL bucket did not answer in 10s")
	}
}

func (w *Worker) applyHalt(halted bool) {
	w.mu.Lock()
	state := w.state
	w.mu.Unlock()
	switch {
	case halted && state != messages.KeyHalted:
		w.setState(messages.KeyHalted, time.Time{}, "halted by the control service")
	case !halted && state == messages.KeyHalted:
		w.setState(messages.KeyActive, time.Time{}, "")
	}
}
