package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
)

// Consumer names on ORDERS. New orders and cancels have a consumer each so
// a burst of new orders never delays a cancel.
const (
	ConsumerNew    = "router-new"
	ConsumerCancel = "router-cancel"
)

// Options tune a Router; zero values take the defaults.
type Options struct {
	// Workers bounds the intents handled at once (default 64). The
	// consumer pulls no more than that ahead, so a slow bus backs up into
	// ORDERS, never into memory.
	Workers int
	// AckWait is how long JetStream waits before redelivering an intent
	// the router took but did not finish (default 30s).
	AckWait time.Duration
	// HeartbeatTimeout: a key silent this long is down (default 3s).
	HeartbeatTimeout time.Duration
	Now              func() time.Time
	Logger           zerolog.Logger
	// Reload, if set, reads the config again for a reload request.
	Reload func() (*configs.Config, error)
	// ControlAccount, if set, is the only NATS account whose requests the
	// control service answers, as the server names it in Nats-Request-Info
	// (see caller.go); empty answers anyone who may publish on keyrouter.>.
	ControlAccount string
}

// Router routes intents to key partitions. Create with New, start with Run.
type Router struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	control jetstream.KeyValue
	cfg     atomic.Pointer[configs.Config]
	health  *Health
	book    *Book
	halts   *Halts
	opts    Options
	log     zerolog.Logger
	sem     chan struct{}
	wg      sync.WaitGroup

	followMu sync.Mutex
	follow   jetstream.ConsumeContext // reports, for the book; nil until needed
	runCtx   context.Context
}

// New returns a Router over the provisioned streams and buckets (see
// Provision).
func New(nc *nats.Conn, js jetstream.JetStream, b Buckets, cfg *configs.Config, opts Options) *Router {
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = cfg.Router.HeartbeatTimeout
	}
	r := &Router{nc: nc, js: js, kv: b.Orders, control: b.Control, opts: opts, log: opts.Logger.With().Str("role", "router").Logger(),
		health: NewHealth(opts.HeartbeatTimeout), book: NewBook(), halts: NewHalts(), sem: make(chan struct{}, opts.Workers)}
	r.cfg.Store(cfg)
	return r
}

// Reload replaces the config used for intents that arrive from now on.
func (r *Router) Reload(cfg *configs.Config) {
	r.cfg.Store(cfg)
	if err := r.followIfNeeded(); err != nil {
		r.log.Error().Err(err).Msg("following reports for max_open_notional")
	}
}

// followIfNeeded starts following the reports once a strategy has a
// max_open_notional limit (the book needs them; nothing else does).
func (r *Router) followIfNeeded() error {
	r.followMu.Lock()
	defer r.followMu.Unlock()
	if r.follow != nil || r.runCtx == nil {
		return nil
	}
	need := false
	for _, st := range r.cfg.Load().Strategies {
		need = need || st.Risk.MaxOpenNotional != ""
	}
	if !need {
		return nil
	}
	f, err := r.followReports(r.runCtx)
	if err != nil {
		return err
	}
	r.follow = f
	return nil
}

func (r *Router) stopFollowing() {
	r.followMu.Lock()
	defer r.followMu.Unlock()
	if r.follow != nil {
		r.follow.Stop()
		r.follow = nil
	}
}

// Health returns the router's view of the keys.
func (r *Router) Health() *Health { return r.health }

// view is what ChooseKey sees: health and load, the book, the halts.
type view struct {
	*Health
	*Book
	*Halts
}

// Run consumes ORDERS until ctx is done, then stops pulling, finishes the
// intents in hand and returns.
func (r *Router) Run(ctx context.Context) error {
	sub, err := r.nc.Subscribe(messages.KeysPrefix+"*.status", func(m *nats.Msg) {
		var st messages.KeyStatus
		// Only the subject says whose status it is: with the generated
		// permissions only key K's executor may publish keys.K.status, so a
		// payload naming another key is a forgery.
		if err := json.Unmarshal(m.Data, &st); err == nil && st.Key != "" && m.Subject == messages.KeyStatusSubject(st.Key) {
			r.health.Observe(st, r.opts.Now())
		}
	})
	if err != nil {
		return fmt.Errorf("router: subscribing to key status: %w", err)
	}
	defer sub.Unsubscribe()
	if err := r.halts.Watch(ctx, r.control); err != nil {
		return fmt.Errorf("router: watching halts: %w", err)
	}
	if err := r.rebuildBook(ctx); err != nil {
		return fmt.Errorf("router: open orders: %w", err)
	}
	r.runCtx = ctx
	if err := r.followIfNeeded(); err != nil {
		return fmt.Errorf("router: following reports: %w", err)
	}
	defer r.stopFollowing()
	svc, err := r.serveControl()
	if err != nil {
		return fmt.Errorf("router: control service: %w", err)
	}
	defer svc.Stop()

	var ccs []jetstream.ConsumeContext
	for _, c := range []struct {
		name, filter string
		handle       func(context.Context, jetstream.Msg, *turn)
	}{
		{ConsumerNew, messages.OrdersNewPrefix + "*", r.handleNew},
		{ConsumerCancel, messages.OrdersCancelPrefix + "*", r.handleCancel},
		{ConsumerReroute, messages.OrdersReroutePrefix + "*", r.handleReroute},
	} {
		cons, err := r.js.CreateOrUpdateConsumer(ctx, messages.StreamOrders, jetstream.ConsumerConfig{
			Durable:       c.name,
			FilterSubject: c.filter,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       r.opts.AckWait,
			MaxAckPending: 4 * r.opts.Workers,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			return fmt.Errorf("router: consumer %s: %w", c.name, err)
		}
		handle := c.handle
		// One line per strategy: a strategy's intents keep their order, and
		// no strategy's publishes wait behind another's.
		seqs := map[string]*sequencer{}
		// Handlers run on their own context: shutdown stops the pulling,
		// not the intents already taken.
		work := context.WithoutCancel(ctx)
		cc, err := cons.Consume(func(m jetstream.Msg) {
			r.sem <- struct{}{}
			r.wg.Add(1)
			strategy := m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]
			seq := seqs[strategy]
			if seq == nil {
				seq = newSequencer()
				seqs[strategy] = seq
			}
			t := seq.ticket()
			go func() {
				defer func() { t.release(); <-r.sem; r.wg.Done() }()
				handle(work, m, t)
			}()
		}, jetstream.PullMaxMessages(r.opts.Workers), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) {
				r.log.Warn().Err(err).Str("consumer", c.name).Msg("consume error")
			}
		}))
		if err != nil {
			return fmt.Errorf("router: consuming %s: %w", c.name, err)
		}
		ccs = append(ccs, cc)
	}
	r.log.Info().Msg("router started")
	<-ctx.Done()
	for _, cc := range ccs {
		cc.Drain()
	}
	for _, cc := range ccs {
		<-cc.Closed()
	}
	r.wg.Wait()
	r.log.Info().Msg("router stopped")
	return nil
}

// handleNew routes one intent from orders.new.<strategy>.
func (r *Router) handleNew(ctx context.Context, m jetstream.Msg, t *turn) {
	now := r.opts.Now()
	strategy, _ := messages.StrategyFromSubject(m.Subject())
	in, err := messages.DecodeOrderIntent(m.Data(), strategy)
	if err != nil {
		in.Strategy = strategy
		r.reject(ctx, m, t, &in, messages.ReasonInvalid, err.Error(), 1)
		return
	}
	log := r.log.With().Str("strategy", strategy).Str("client_order_id", in.ClientOrderID).Logger()
	cfg := r.cfg.Load()
	d := ChooseKey(cfg, view{r.health, r.book, r.halts}, &in, now)
	if d.Reason == messages.ReasonUnknownStrategy {
		r.reject(ctx, m, t, &in, d.Reason, d.Message, 1)
		return
	}
	meta, err := m.Metadata()
	if err != nil {
		log.Error().Err(err).Msg("intent without metadata")
		_ = m.Term()
		return
	}
	rec := messages.OrderRecord{
		Strategy: strategy, ClientOrderID: in.ClientOrderID, Key: d.Key,
		IntentSeq: meta.Sequence.Stream, UpdatedAt: now,
	}
	if d.Key != "" {
		rec.Venue = cfg.Keys[d.Key].Venue
	} else {
		rec.Status, rec.Reason, rec.Message = messages.StatusRejected, d.Reason, d.Message
		if d.Reason == messages.ReasonExpired {
			rec.Status = messages.StatusExpired
		}
	}
	data, _ := json.Marshal(rec)
	kvKey := messages.OrderKey(strategy, in.ClientOrderID)
	if err := r.createRecord(ctx, kvKey, data); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			log.Warn().Err(err).Msg("order-state create failed; will retry")
			_ = m.NakWithDelay(100 * time.Millisecond)
			return
		}
		prev, gerr := r.getRecord(ctx, kvKey)
		if gerr != nil {
			log.Warn().Err(gerr).Msg("order-state read failed; will retry")
			_ = m.NakWithDelay(100 * time.Millisecond)
			return
		}
		if prev.IntentSeq != meta.Sequence.Stream {
			r.reject(ctx, m, t, &in, messages.ReasonDuplicate,
				fmt.Sprintf("client_order_id %q was already used by strategy %s", in.ClientOrderID, strategy), 0)
			return
		}
		// A redelivery of the message we recorded: finish what was begun.
		rec = prev
	}
	if rec.Key == "" {
		if rec.Status == messages.StatusExpired {
			r.report(ctx, m, t, &in, messages.KindExpired, messages.StatusExpired, rec.Reason, rec.Message, 1)
			return
		}
		r.reject(ctx, m, t, &in, rec.Reason, rec.Message, 1)
		return
	}
	eo, _ := json.Marshal(messages.ExecOrder{Intent: in, ReceivedAt: now, IntentSeq: meta.Sequence.Stream, Routed: 1})
	// Counted before the publish, so the first report cannot come back
	// before the order is on the books.
	r.health.Sent(rec.Key, r.opts.Now())
	if cfg.Strategies[strategy].Risk.MaxOpenNotional != "" {
		r.book.Add(strategy, in.ClientOrderID, in.Quantity, d.Notional)
	}
	if err := r.publishWait(ctx, t, &nats.Msg{Subject: messages.ExecNewSubject(rec.Key), Data: eo}, jetstream.WithMsgID(kvKey)); err != nil {
		log.Warn().Err(err).Str("key", rec.Key).Msg("publish to executor failed; will retry")
		r.health.Unsent(rec.Key)
		r.book.Remove(strategy, in.ClientOrderID)
		_ = m.NakWithDelay(100 * time.Millisecond)
		return
	}
	_ = m.Ack()
}

func (r *Router) getRecord(ctx context.Context, kvKey string) (messages.OrderRecord, error) {
	var rec messages.OrderRecord
	e, err := r.kv.Get(ctx, kvKey)
	if err != nil {
		return rec, err
	}
	err = json.Unmarshal(e.Value(), &rec)
	return rec, err
}

// handleCancel routes one cancel from orders.cancel.<strategy> to the key
// holding the order.
func (r *Router) handleCancel(ctx context.Context, m jetstream.Msg, t *turn) {
	strategy, _ := messages.StrategyFromSubject(m.Subject())
	c, err := messages.DecodeCancelIntent(m.Data(), strategy)
	c.Strategy = strategy
	cancelRejected := func(reason messages.Reason, msg string) {
		rep := messages.ExecutionReport{Kind: messages.KindCancelRejected, ClientOrderID: c.ClientOrderID,
			Strategy: strategy, Reason: reason, Message: msg}
		r.publishThenAck(ctx, m, t, &rep)
	}
	if err != nil {
		cancelRejected(messages.ReasonInvalid, err.Error())
		return
	}
	if _, ok := r.cfg.Load().Strategies[strategy]; !ok {
		cancelRejected(messages.ReasonUnknownStrategy, fmt.Sprintf("strategy %q is not configured", strategy))
		return
	}
	rec, err := r.getRecord(ctx, messages.OrderKey(strategy, c.ClientOrderID))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		cancelRejected(messages.ReasonUnknownOrder, fmt.Sprintf("strategy %s has no order %q", strategy, c.ClientOrderID))
		return
	case err != nil:
		r.log.Warn().Err(err).Msg("order-state read failed; will retry")
		_ = m.NakWithDelay(100 * time.Millisecond)
		return
	case rec.Key == "":
		cancelRejected(messages.ReasonTooLateToCancel, fmt.Sprintf("order %q was %s", c.ClientOrderID, rec.Status))
		return
	}
	meta, err := m.Metadata()
	if err != nil {
		_ = m.Term()
		return
	}
	data, _ := json.Marshal(messages.ExecCancel{Strategy: strategy, ClientOrderID: c.ClientOrderID, ReceivedAt: r.opts.Now()})
	if err := r.publishWait(ctx, t, &nats.Msg{Subject: messages.ExecCancelSubject(rec.Key), Data: data},
		jetstream.WithMsgID(fmt.Sprintf("cancel.%d", meta.Sequence.Stream))); err != nil {
		r.log.Warn().Err(err).Msg("publish cancel to executor failed; will retry")
		_ = m.NakWithDelay(100 * time.Millisecond)
		return
	}
	_ = m.Ack()
}

func (r *Router) reject(ctx context.Context, m jetstream.Msg, t *turn, in *messages.OrderIntent, reason messages.Reason, msg string, seq uint64) {
	r.report(ctx, m, t, in, messages.KindRejected, messages.StatusRejected, reason, msg, seq)
}

func (r *Router) report(ctx context.Context, m jetstream.Msg, t *turn, in *messages.OrderIntent, kind messages.ReportKind, status messages.Status, reason messages.Reason, msg string, seq uint64) {
	rep := messages.NewReport(in, kind, status)
	rep.Reason, rep.Message, rep.Seq = reason, msg, seq
	rep.LeavesQuantity = decimalZero
	r.publishThenAck(ctx, m, t, &rep)
}

// publishThenAck publishes a report and acks the intent only once the
// report is stored; on failure the intent is redelivered.
func (r *Router) publishThenAck(ctx context.Context, m jetstream.Msg, t *turn, rep *messages.ExecutionReport) {
	rep.TS = r.opts.Now().UTC()
	data := rep.AppendJSON(nil)
	if err := r.publishWait(ctx, t, &nats.Msg{Subject: messages.ReportSubject(rep.Strategy, rep.Kind), Data: data}); err != nil {
		r.log.Warn().Err(err).Msg("publishing report failed; will retry")
		_ = m.NakWithDelay(100 * time.Millisecond)
		return
	}
	r.log.Debug().Str("strategy", rep.Strategy).Str("client_order_id", rep.ClientOrderID).
		Str("kind", string(rep.Kind)).Str("reason", string(rep.Reason)).Msg("report")
	_ = m.Ack()
}

var decimalZero = decimal.Zero

// bookReport is the part of an ExecutionReport the router follows.
type bookReport struct {
	Kind          messages.ReportKind `json:"kind"`
	Strategy      string              `json:"strategy"`
	ClientOrderID string              `json:"client_order_id"`
	Key           string              `json:"key"`
	Status        messages.Status     `json:"status"`
	Leaves        json.RawMessage     `json:"leaves_quantity"`
	Seq           uint64              `json:"seq"`
}

// followReports feeds the reports of the orders on the book to it. It
// reads the REPORTS stream (from now) with an ordered consumer, so none is
// missed while the router runs.
func (r *Router) followReports(ctx context.Context) (jetstream.ConsumeContext, error) {
	cons, err := r.js.OrderedConsumer(ctx, messages.StreamReports, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, err
	}
	return cons.Consume(func(m jetstream.Msg) {
		// Only what the counts need: a full decode (decimals and all) of
		// every report would be the router's largest cost.
		var rep bookReport
		if json.Unmarshal(m.Data(), &rep) != nil {
			return
		}
		if rep.Kind != messages.KindCancelRejected && r.book.Holds(rep.Strategy, rep.ClientOrderID) {
			r.book.Update(rep.Strategy, rep.ClientOrderID, rep.Status, rep.Leaves)
		}
	})
}

// rebuildBook puts the open orders of the order-state bucket on the book
// at their limit price (an open market order, which has none, is left out).
func (r *Router) rebuildBook(ctx context.Context) error {
	lister, err := r.kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil
		}
		return err
	}
	for k := range lister.Keys() {
		rec, err := r.getRecord(ctx, k)
		if err != nil || rec.Key == "" || rec.Intent == nil || rec.Intent.Price == nil || rec.Status.Terminal() {
			continue
		}
		leaves := rec.Intent.Quantity.Sub(rec.CumQuantity)
		r.book.Add(rec.Strategy, rec.ClientOrderID, leaves, leaves.Mul(*rec.Intent.Price))
	}
	return nil
}
