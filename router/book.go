package router

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"
)

// Book is the notional of each strategy's orders that are routed and not
// yet closed, for the max_open_notional check. The router adds an order
// when it routes it and follows its reports; an order's notional is its
// leaves quantity at the price it was checked at. Safe for concurrent use.
type Book struct {
	mu     sync.Mutex
	orders map[string]bookEntry // by order-state key
	open   map[string]decimal.Decimal
}

type bookEntry struct {
	strategy string
	unit     decimal.Decimal // price per unit of quantity
	notional decimal.Decimal
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{orders: map[string]bookEntry{}, open: map[string]decimal.Decimal{}}
}

// Add records a routed order of quantity qty with notional n.
func (b *Book) Add(strategy, clientOrderID string, qty, n decimal.Decimal) {
	if !n.IsPositive() || !qty.IsPositive() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := messages.OrderKey(strategy, clientOrderID)
	if _, ok := b.orders[k]; ok {
		return
	}
	b.orders[k] = bookEntry{strategy: strategy, unit: n.Div(qty), notional: n}
	b.open[strategy] = b.open[strategy].Add(n)
}

// Holds reports whether the order is on the book.
func (b *Book) Holds(strategy, clientOrderID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.orders[messages.OrderKey(strategy, clientOrderID)]
	return ok
}

// Update follows a report of an order on the book: a closed order leaves
// it, an open one counts its leaves quantity (a JSON decimal string).
func (b *Book) Update(strategy, clientOrderID string, status messages.Status, leaves json.RawMessage) {
	var lq decimal.Decimal
	if !status.Terminal() {
		if err := lq.UnmarshalJSON(leaves); err != nil {
			return
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := messages.OrderKey(strategy, clientOrderID)
	e, ok := b.orders[k]
	if !ok {
		return
	}
	n := lq.Mul(e.unit)
	b.open[e.strategy] = b.open[e.strategy].Sub(e.notional).Add(n)
	if status.Terminal() {
		delete(b.orders, k)
		return
	}
	e.notional = n
	b.orders[k] = e
}

// OpenNotional returns strategy's open notional.
func (b *Book) OpenNotional(strategy string) decimal.Decimal {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open[strategy]
}

// Remove takes an order out of the book (its routing failed).
func (b *Book) Remove(strategy, clientOrderID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := messages.OrderKey(strategy, clientOrderID)
	if e, ok := b.orders[k]; ok {
		b.open[e.strategy] = b.open[e.strategy].Sub(e.notional)
		delete(b.orders, k)
	}
}

// bookReport is the part of an ExecutionReport the book follows.
type bookReport struct {
	Kind          messages.ReportKind `json:"kind"`
	Strategy      string              `json:"strategy"`
	ClientOrderID string              `json:"client_order_id"`
	Status        messages.Status     `json:"status"`
	Leaves        json.RawMessage     `json:"leaves_quantity"`
}

// followIfNeeded starts following the reports once a strategy has a
// max_open_notional limit (the book needs them; nothing else does).
func (t *term) followIfNeeded() error {
	need := false
	for _, st := range t.cfg.Load().Strategies {
		need = need || st.Risk.MaxOpenNotional.IsSet()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !need || t.follow != nil {
		return nil
	}
	// From now, with an ordered consumer: none is missed while the
	// router is active. Only what the counts need is decoded: a full
	// decode of every report would be the router's largest cost.
	cons, err := t.js.OrderedConsumer(t.ctx, messages.StreamReports, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return err
	}
	t.follow, err = cons.Consume(func(m jetstream.Msg) {
		var rep bookReport
		if json.Unmarshal(m.Data(), &rep) != nil {
			return
		}
		if rep.Kind != messages.KindCancelRejected && t.book.Holds(rep.Strategy, rep.ClientOrderID) {
			t.book.Update(rep.Strategy, rep.ClientOrderID, rep.Status, rep.Leaves)
		}
	})
	return err
}

// rebuildBook puts the orders the executors hold at the venue on the book
// at their limit price (an open market order, which has none, is left
// out): a router taking over starts from what is open.
func (t *term) rebuildBook(ctx context.Context) error {
	t.book.Reset()
	return bus.ScanLast(ctx, t.js, "KV_"+messages.BucketOrders, messages.OrderStateSubject("*.*.*"), func(m jetstream.Msg) error {
		rec, err := messages.DecodeOrderRecord(m.Data())
		if err != nil || rec.Intent == nil || rec.Intent.Price == nil ||
			(rec.Phase != messages.PhaseOpen && rec.Phase != messages.PhaseSending) {
			return nil
		}
		leaves := rec.Intent.Quantity.Sub(rec.CumQuantity)
		t.book.Add(rec.Strategy, rec.ClientOrderID, leaves, leaves.Mul(*rec.Intent.Price))
		return nil
	})
}

// Reset empties the book.
func (b *Book) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.orders)
	clear(b.open)
}
