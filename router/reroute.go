package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerReroute is the router's consumer of orders handed back by an
// executor whose key turned bad before it sent them.
const ConsumerReroute = "router-reroute"

// except makes one key unusable in a View.
type except struct {
	View
	key string
}

func (e except) Candidate(key string, now time.Time) Candidate {
	c := e.View.Candidate(key, now)
	if key == e.key {
		c.Usable = false
	}
	return c
}

// handleReroute routes a handed-back order to another key of its pool
// (exactly once: the executor took it out of its queue before handing it
// back, and the order-state record moves to the new key by compare and
// set). With no other usable key it goes back to wait at its key, which
// keeps it this time. It is refused only for what would refuse a new
// intent now (expired, halted, risk, permissions).
func (r *Router) handleReroute(ctx context.Context, m jetstream.Msg, t *turn) {
	var eo messages.ExecOrder
	if err := json.Unmarshal(m.Data(), &eo); err != nil || eo.Intent.ClientOrderID == "" {
		r.log.Error().Err(err).Msg("undecodable hand-back dropped")
		_ = m.Term()
		return
	}
	in := eo.Intent
	in.Strategy = strings.TrimPrefix(m.Subject(), messages.OrdersReroutePrefix)
	kvKey := messages.OrderKey(in.Strategy, in.ClientOrderID)
	log := r.log.With().Str("strategy", in.Strategy).Str("client_order_id", in.ClientOrderID).Str("from", eo.From).Logger()
	entry, err := r.kv.Get(ctx, kvKey)
	if err != nil {
		log.Warn().Err(err).Msg("order-state read failed; will retry")
		_ = m.NakWithDelay(100 * time.Millisecond)
		return
	}
	var rec messages.OrderRecord
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		_ = m.Term()
		return
	}
	if rec.Key != eo.From && rec.Key != "" {
		// Already moved (this is a redelivery): finish the publish.
		r.publishRouted(ctx, m, t, &eo, rec.Key, kvKey)
		return
	}
	r.book.Remove(in.Strategy, in.ClientOrderID)
	d := ChooseKey(r.cfg.Load(), except{view{r.health, r.book, r.halts}, eo.From}, &in, r.opts.Now())
	if d.Reason == messages.ReasonKeyUnavailable {
		// No other key can take it now: it goes back to wait at its key
		// (which keeps it this time), as it would have without a pool.
		d = Decision{Key: eo.From, Notional: d.Notional}
	}
	if d.Key == "" {
		rec.Key, rec.Status, rec.Reason, rec.Message = "", messages.StatusRejected, d.Reason, d.Message
		if d.Reason == messages.ReasonExpired {
			rec.Status = messages.StatusExpired
		}
		data, _ := json.Marshal(rec)
		if _, err := r.kv.Update(ctx, kvKey, data, entry.Revision()); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			_ = m.NakWithDelay(100 * time.Millisecond)
			return
		}
		if rec.Status == messages.StatusExpired {
			r.report(ctx, m, t, &in, messages.KindExpired, messages.StatusExpired, d.Reason, d.Message, 1)
			return
		}
		r.reject(ctx, m, t, &in, d.Reason, fmt.Sprintf("key %s turned unusable before sending it, and %s", eo.From, d.Message), 1)
		return
	}
	rec.Key, rec.Venue = d.Key, r.cfg.Load().Keys[d.Key].Venue
	data, _ := json.Marshal(rec)
	if _, err := r.kv.Update(ctx, kvKey, data, entry.Revision()); err != nil {
		log.Warn().Err(err).Msg("order-state update failed; will retry")
		_ = m.NakWithDelay(100 * time.Millisecond)
		return
	}
	r.book.Add(in.Strategy, in.ClientOrderID, in.Quantity, d.Notional)
	log.Info().Str("to", d.Key).Msg("order moved to another key")
	r.publishRouted(ctx, m, t, &eo, d.Key, kvKey)
}

func (r *Router) publishRouted(ctx context.Context, m jetstream.Msg, t *turn, eo *messages.ExecOrder, key, kvKey string) {
	eo.From = ""
	data, _ := json.Marshal(eo)
	r.health.Sent(key, r.opts.Now())
	if err := r.publishWait(ctx, t, &nats.Msg{Subject: messages.ExecNewSubject(key), Data: data},
		jetstream.WithMsgID(fmt.Sprintf("%s.r%d", kvKey, eo.Routed))); err != nil {
		r.health.Unsent(key)
		_ = m.NakWithDelay(100 * time.Millisecond)
		return
	}
	_ = m.Ack()
}
