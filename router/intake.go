package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

func isNotFound(err error) bool { return errors.Is(err, jetstream.ErrMsgNotFound) }

// handleNew routes one intent from orders.new.<strategy>: it decodes it,
// decides (ChooseKey), and publishes its claim: the routed order on
// exec.<key>.new.<strategy>.<id>, or for a refused intent
// exec.~.new.<strategy>.<id> and its report. The claim is stored only if
// the order has none yet, so a re-sent intent is a duplicate for the
// dedupe horizon, and a redelivered one (same ORDERS sequence on the
// claim) is recognised and finished.
func (t *term) handleNew(ctx context.Context, m jetstream.Msg, tk *turn) {
	now := t.clock.Now()
	meta, err := m.Metadata()
	if err != nil {
		t.log.Error().Err(err).Str("subject", m.Subject()).Msg("intent without metadata dropped")
		_ = m.Term()
		return
	}
	seq := meta.Sequence.Stream
	strategy := strings.TrimPrefix(m.Subject(), messages.OrdersNewPrefix)
	in, err := messages.DecodeOrderIntent(m.Data(), strategy)
	if err != nil {
		rep := messages.RefusalOf(in.ClientOrderID, strategy, messages.KindRejected, messages.ReasonInvalid, err.Error())
		t.answer(ctx, m, tk, &rep, "invalid."+strconv.FormatUint(seq, 10))
		return
	}
	log := t.log.With().Str("strategy", strategy).Str("client_order_id", in.ClientOrderID).Logger()
	cfg := t.cfg.Load()
	d := ChooseKey(cfg, view{t.health, t.book, t.halts}, &in, now)
	if d.Reason == messages.ReasonUnknownStrategy {
		rep := messages.RefusalOf(in.ClientOrderID, strategy, messages.KindRejected, d.Reason, d.Message)
		t.answer(ctx, m, tk, &rep, "unknown."+strconv.FormatUint(seq, 10))
		return
	}
	eo := messages.ExecOrder{Intent: in, ReceivedAt: now, IntentSeq: seq, Routed: 1}
	key := d.Key
	if key == "" {
		key = messages.RefusedKey
		kind := messages.KindRejected
		if d.Reason == messages.ReasonExpired {
			kind = messages.KindExpired
		}
		eo.Refused = &messages.Refusal{Kind: kind, Reason: d.Reason, Message: d.Message}
	} else {
		// Counted before the publish, so the first report cannot come
		// back before the order is on the books.
		t.health.Sent(key, now)
		if cfg.Strategies[strategy].Risk.MaxOpenNotional.IsSet() {
			t.book.Add(strategy, in.ClientOrderID, in.Quantity, d.Notional)
		}
	}
	data := eo.AppendJSON(make([]byte, 0, 512))
	claim := bus.ClaimMsg(messages.ExecNewSubject(key, strategy, in.ClientOrderID), data, seq, 1)
	err = t.publish(ctx, tk, claim, jetstream.WithExpectLastSequenceForSubject(0, messages.ExecClaimSubjects(strategy, in.ClientOrderID)))
	if err != nil && key != messages.RefusedKey {
		t.health.Unsent(key)
		t.book.Remove(strategy, in.ClientOrderID)
	}
	switch {
	case err == nil:
		if eo.Refused != nil {
			t.answerRefused(ctx, m, nil, &eo)
			return
		}
		_ = m.Ack()
	case bus.IsConflict(err):
		t.claimed(ctx, m, &in, seq)
	default:
		log.Warn().Err(err).Msg("claim not stored")
		t.retry(m, "routing an intent", err)
	}
}

// claimed answers an intent whose order already has a claim: the
// redelivery of the intent that made it (finished: its refusal is
// answered again, a routed order is done), or a duplicate.
func (t *term) claimed(ctx context.Context, m jetstream.Msg, in *messages.OrderIntent, seq uint64) {
	c, ok, err := bus.LastClaim(ctx, t.exec, messages.ExecClaimSubjects(in.Strategy, in.ClientOrderID))
	switch {
	case err != nil:
		t.retry(m, "reading a claim", err)
		return
	case !ok:
		// The claim expired between the two reads (past the dedupe
		// horizon): the intent is routed afresh on its redelivery.
		t.retry(m, "claim vanished", fmt.Errorf("no claim of %s.%s", in.Strategy, in.ClientOrderID))
		return
	}
	if c.IntentSeq == seq {
		if c.Key == messages.RefusedKey {
			if eo, err := messages.DecodeExecOrder(c.Msg.Data); err == nil && eo.Refused != nil {
				t.answerRefused(ctx, m, nil, &eo)
				return
			}
		}
		_ = m.Ack()
		return
	}
	rep := messages.RefusalOf(in.ClientOrderID, in.Strategy, messages.KindRejected, messages.ReasonDuplicate,
		fmt.Sprintf("client_order_id %q was already used by strategy %s", in.ClientOrderID, in.Strategy))
	rep.Seq = 0 // not the order's own sequence: that belongs to the first intent
	t.answer(ctx, m, nil, &rep, "duplicate."+strconv.FormatUint(seq, 10))
}

// answerRefused publishes the first report of a refused intent (its
// claim says why) and acks m.
func (t *term) answerRefused(ctx context.Context, m jetstream.Msg, tk *turn, eo *messages.ExecOrder) {
	rep := messages.NewReport(&eo.Intent, eo.Refused.Kind, messages.StatusRejected)
	if eo.Refused.Kind == messages.KindExpired {
		rep.Status = messages.StatusExpired
	}
	rep.Reason, rep.Message, rep.Seq = eo.Refused.Reason, eo.Refused.Message, 1
	rep.LeavesQuantity = decimal.Zero
	t.answer(ctx, m, tk, &rep, reportID(eo.Intent.Strategy, eo.Intent.ClientOrderID, 1))
}

// reportID is the Nats-Msg-Id of an order's report with seq (the
// executors' scheme: a report published twice is stored once).
func reportID(strategy, clientOrderID string, seq uint64) string {
	return strategy + "." + clientOrderID + "." + strconv.FormatUint(seq, 10)
}

// answer publishes rep (with message ID id) and acks m once it is stored;
// on failure m is redelivered (or dropped with a log on its last
// delivery).
func (t *term) answer(ctx context.Context, m jetstream.Msg, tk *turn, rep *messages.ExecutionReport, id string) {
	rep.TS = t.clock.Now().UTC()
	rep.Clip()
	msg := nats.NewMsg(messages.ReportSubject(rep.Strategy, rep.Kind))
	msg.Data = rep.AppendJSON(nil)
	msg.Header.Set(nats.MsgIdHdr, id)
	if err := t.publish(ctx, tk, msg); err != nil {
		t.retry(m, "publishing a report", err)
		return
	}
	t.log.Debug().Str("strategy", rep.Strategy).Str("client_order_id", rep.ClientOrderID).
		Str("kind", string(rep.Kind)).Str("reason", string(rep.Reason)).Msg("report")
	_ = m.Ack()
}

// publish publishes m with the asynchronous publisher and waits until
// JetStream stored it (at most bus.Timeout). With a turn, the publish is
// issued in the turn's place in line, and the turn passed on before
// waiting for the ack.
func (t *term) publish(ctx context.Context, tk *turn, m *nats.Msg, opts ...jetstream.PublishOpt) error {
	if tk != nil {
		tk.wait()
	}
	f, err := t.js.PublishMsgAsync(m, opts...)
	tk.release()
	if err != nil {
		return err
	}
	_, err = bus.Await(ctx, f)
	return err
}

// handleCancel routes one cancel from orders.cancel.<strategy> to the key
// holding the order. A cancel published after its order's intent was
// stored always finds the order: if the intent has no claim yet, the
// cancel waits until every intent stored before it was handled.
func (t *term) handleCancel(ctx context.Context, m jetstream.Msg, tk *turn) {
	tk.release() // cancels of different orders need no common order
	meta, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	seq := meta.Sequence.Stream
	strategy := strings.TrimPrefix(m.Subject(), messages.OrdersCancelPrefix)
	c, err := messages.DecodeCancelIntent(m.Data(), strategy)
	reject := func(reason messages.Reason, msg string) {
		rep := messages.RefusalOf(c.ClientOrderID, strategy, messages.KindCancelRejected, reason, msg)
		t.answer(ctx, m, nil, &rep, "cancel."+strconv.FormatUint(seq, 10))
	}
	if err != nil {
		c.ClientOrderID = ""
		reject(messages.ReasonInvalid, err.Error())
		return
	}
	if _, ok := t.cfg.Load().Strategies[strategy]; !ok {
		reject(messages.ReasonUnknownStrategy, fmt.Sprintf("strategy %q is not configured", strategy))
		return
	}
	subjects := messages.ExecClaimSubjects(strategy, c.ClientOrderID)
	claim, found, err := bus.LastClaim(ctx, t.exec, subjects)
	for err == nil && !found {
		// No claim: its intent may be stored before this cancel and not
		// yet handled. Wait for those, then look again.
		var done bool
		if done, err = t.intentsHandled(ctx, strategy, seq); err != nil || done {
			if err == nil {
				claim, found, err = bus.LastClaim(ctx, t.exec, subjects)
			}
			break
		}
		_ = m.InProgress()
		// A poll of the bus, not a decision by time: on the wall clock
		// (the intents it waits for take real time to handle).
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	switch {
	case err != nil:
		t.retry(m, "finding a cancel's order", err)
	case !found:
		reject(messages.ReasonUnknownOrder, fmt.Sprintf("strategy %s has no order %q", strategy, c.ClientOrderID))
	case claim.Key == messages.RefusedKey:
		reject(messages.ReasonTooLateToCancel, fmt.Sprintf("order %q was not accepted", c.ClientOrderID))
	default:
		data, _ := json.Marshal(messages.ExecCancel{Strategy: strategy, ClientOrderID: c.ClientOrderID, ReceivedAt: t.clock.Now()})
		msg := nats.NewMsg(messages.ExecCancelSubject(claim.Key, strategy, c.ClientOrderID))
		msg.Data = data
		msg.Header.Set(nats.MsgIdHdr, "cancel."+strconv.FormatUint(seq, 10))
		if err := t.publish(ctx, nil, msg); err != nil {
			t.retry(m, "publishing a cancel", err)
			return
		}
		_ = m.Ack()
	}
}

// intentsHandled reports whether every intent of strategy stored before
// ORDERS sequence before has been handled (acked): the first message past
// the consumer's ack floor is the first not yet acked.
func (t *term) intentsHandled(ctx context.Context, strategy string, before uint64) (bool, error) {
	ctx, cancel := bus.Bounded(ctx)
	defer cancel()
	cons, err := t.js.Consumer(ctx, messages.StreamOrders, ConsumerNew(strategy))
	if err != nil {
		return false, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return false, err
	}
	if info.AckFloor.Stream >= before {
		return true, nil
	}
	first, err := t.orders.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(messages.OrdersNewSubject(strategy)))
	if err != nil {
		if isNotFound(err) {
			return true, nil
		}
		return false, err
	}
	return first.Sequence > before, nil
}

// handleReroute moves an order its executor handed back (unsent: its key
// turned unusable) to another key of its pool: exactly once, because the
// new claim is stored only while the old one is the last. With no other
// usable key it goes back to wait at its key, which keeps it this time.
// It is refused only for what would refuse a new intent now (expired,
// halted, risk, permissions). The claim must be the handing key's, so a
// hand-back from anyone else changes nothing.
func (t *term) handleReroute(ctx context.Context, m jetstream.Msg, tk *turn) {
	strategy := strings.TrimPrefix(m.Subject(), messages.OrdersReroutePrefix)
	eo, err := messages.DecodeExecOrder(m.Data())
	if err != nil || eo.Intent.ClientOrderID == "" || eo.Intent.Strategy != strategy || eo.ClaimSeq == 0 {
		t.log.Error().Err(err).Str("subject", m.Subject()).Msg("undecodable hand-back dropped")
		_ = m.Term()
		return
	}
	in := eo.Intent
	log := t.log.With().Str("strategy", strategy).Str("client_order_id", in.ClientOrderID).Str("from", eo.From).Logger()
	subjects := messages.ExecClaimSubjects(strategy, in.ClientOrderID)
	claim, found, err := bus.LastClaim(ctx, t.exec, subjects)
	switch {
	case err != nil:
		t.retry(m, "reading a claim", err)
		return
	case !found || claim.Seq != eo.ClaimSeq || claim.Key != eo.From:
		if found && claim.Seq == eo.ClaimSeq {
			log.Warn().Str("holder", claim.Key).Msg("hand-back names a key that does not hold the order; ignored")
		}
		_ = m.Ack() // moved already (a redelivery), or not the holder's to give
		return
	}
	t.book.Remove(strategy, in.ClientOrderID)
	now := t.clock.Now()
	d := ChooseKey(t.cfg.Load(), except{view{t.health, t.book, t.halts}, eo.From}, &in, now)
	if d.Reason == messages.ReasonKeyUnavailable {
		d = Decision{Key: eo.From, Notional: d.Notional}
	}
	key := d.Key
	out := messages.ExecOrder{Intent: in, ReceivedAt: eo.ReceivedAt, IntentSeq: eo.IntentSeq, Routed: eo.Routed}
	if key == "" {
		key = messages.RefusedKey
		kind := messages.KindRejected
		if d.Reason == messages.ReasonExpired {
			kind = messages.KindExpired
		}
		out.Refused = &messages.Refusal{Kind: kind, Reason: d.Reason,
			Message: fmt.Sprintf("key %s turned unusable before sending it, and %s", eo.From, d.Message)}
	} else {
		t.health.Sent(key, now)
	}
	data := out.AppendJSON(make([]byte, 0, 512))
	msg := bus.ClaimMsg(messages.ExecNewSubject(key, strategy, in.ClientOrderID), data, eo.IntentSeq, eo.Routed)
	err = t.publish(ctx, tk, msg, jetstream.WithExpectLastSequenceForSubject(eo.ClaimSeq, subjects))
	switch {
	case err == nil:
		if out.Refused != nil {
			t.answerRefused(ctx, m, nil, &out)
			return
		}
		if d.Notional.IsPositive() {
			t.book.Add(strategy, in.ClientOrderID, in.Quantity, d.Notional)
		}
		log.Info().Str("to", key).Msg("order moved to another key")
		_ = m.Ack()
	case bus.IsConflict(err):
		_ = m.Ack() // moved meanwhile
	default:
		if key != messages.RefusedKey {
			t.health.Unsent(key)
		}
		t.retry(m, "moving an order", err)
	}
}

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

// findStrays looks for intents and cancels on subjects of strategies the
// config does not know, and points the stray line at them: they are
// answered unknown_strategy, not left unanswered.
func (t *term) findStrays(ctx context.Context) error {
	ctx, cancel := bus.Bounded(ctx)
	defer cancel()
	info, err := t.orders.Info(ctx, jetstream.WithSubjectFilter("orders.*.*"))
	if err != nil {
		return err
	}
	cfg := t.cfg.Load()
	var strays []string
	for subj := range info.State.Subjects {
		s, ok := messages.StrategyFromSubject(subj)
		if _, known := cfg.Strategies[s]; ok && known {
			continue
		}
		if strings.HasPrefix(subj, messages.OrdersReroutePrefix) {
			continue
		}
		strays = append(strays, subj)
	}
	slices.Sort(strays)
	t.mu.Lock()
	same := slices.Equal(strays, t.stray)
	old := t.lines[ConsumerStray]
	t.mu.Unlock()
	if same || len(strays) == 0 {
		return nil
	}
	if old != nil {
		old.cc.Drain()
		<-old.cc.Closed()
		t.mu.Lock()
		delete(t.lines, ConsumerStray)
		t.mu.Unlock()
	}
	cfgc := t.consumerConfig(ConsumerStray)
	cfgc.FilterSubjects = strays
	if err := t.startLine(cfgc, t.handleStray); err != nil {
		return err
	}
	t.mu.Lock()
	t.stray = strays
	t.mu.Unlock()
	t.log.Info().Strs("subjects", strays).Msg("answering intents of unconfigured strategies")
	return nil
}

// handleStray answers a message of a strategy the config does not know:
// unknown_strategy. A strategy a reload added has its own line from the
// sequence its line starts at; what came before is the stray line's.
func (t *term) handleStray(ctx context.Context, m jetstream.Msg, tk *turn) {
	tk.release()
	meta, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	if start, ok := t.lineStart(m.Subject()); ok && meta.Sequence.Stream >= start {
		_ = m.Ack() // its strategy's line has it
		return
	}
	seq := strconv.FormatUint(meta.Sequence.Stream, 10)
	strategy := m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]
	msg := fmt.Sprintf("strategy %q is not configured", strategy)
	if strings.HasPrefix(m.Subject(), messages.OrdersNewPrefix) {
		in, _ := messages.DecodeOrderIntent(m.Data(), strategy)
		rep := messages.RefusalOf(in.ClientOrderID, strategy, messages.KindRejected, messages.ReasonUnknownStrategy, msg)
		t.answer(ctx, m, nil, &rep, "unknown."+seq)
		return
	}
	c, _ := messages.DecodeCancelIntent(m.Data(), strategy)
	rep := messages.RefusalOf(c.ClientOrderID, strategy, messages.KindCancelRejected, messages.ReasonUnknownStrategy, msg)
	t.answer(ctx, m, nil, &rep, "cancel."+seq)
}
