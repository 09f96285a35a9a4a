package paper

import (
	"context"
	"errors"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// Step moves every symbol's reference price one tick of its seeded random
// walk (a relative move of at most Volatility, rounded to the tick size,
// never below one tick), then fills the resting orders the new price
// crosses.
func (x *Exchange) Step() {
	x.mu.Lock()
	defer x.mu.Unlock()
	now := x.clock()
	for _, b := range x.books {
		vol := b.spec.Volatility.InexactFloat64()
		// The float is only the step's size; the price stays decimal.
		rel := decimal.NewFromFloat((x.rng.Float64()*2 - 1) * vol)
		p := roundToTick(b.price.Add(b.price.Mul(rel)), b.spec.TickSize)
		if p.LessThan(b.spec.TickSize) {
			p = b.spec.TickSize
		}
		b.price = p
		x.match(b, now)
	}
}

// SetPrice sets symbol's reference price (rounded to the tick size) and
// fills the resting orders it crosses. An unknown symbol or a price below
// one tick is ignored. It is meant for tests.
func (x *Exchange) SetPrice(symbol string, p decimal.Decimal) {
	x.mu.Lock()
	defer x.mu.Unlock()
	b, ok := x.bySymbol[symbol]
	if !ok {
		return
	}
	p = roundToTick(p, b.spec.TickSize)
	if p.LessThan(b.spec.TickSize) {
		return
	}
	b.price = p
	x.match(b, x.clock())
}

// Run calls Step every interval until ctx ends, then returns nil.
func (x *Exchange) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return errors.New("paper: Run needs a positive interval")
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			x.Step()
		}
	}
}

func roundToTick(p, tick decimal.Decimal) decimal.Decimal {
	return p.Div(tick).Round(0).Mul(tick)
}

// match fills, as maker at their own price, the resting orders of b that
// its price crosses, at most MaxFillQty each. x.mu is held.
func (x *Exchange) match(b *book, now time.Time) {
	ref := b.price
	maxFill := b.spec.MaxFillQty
	kept := b.resting[:0]
	for _, o := range b.resting {
		crossed := o.req.Side == messages.Buy && ref.LessThanOrEqual(o.req.Price) ||
			o.req.Side == messages.Sell && ref.GreaterThanOrEqual(o.req.Price)
		if !crossed {
			kept = append(kept, o)
			continue
		}
		q := o.leaves()
		if maxFill.IsPositive() && maxFill.LessThan(q) {
			q = maxFill
		}
		from := len(o.fills)
		x.fill(o, q, o.req.Price, messages.Maker)
		o.updated = now
		if o.status == messages.StatusFilled {
			x.release(o)
			delete(o.acct.open, o) // and not kept in b.resting
		} else {
			kept = append(kept, o)
		}
		x.publish(o, from)
	}
	for i := len(kept); i < len(b.resting); i++ {
		b.resting[i] = nil
	}
	b.resting = kept
}

// Subscribe returns a channel of every state change of account's orders
// (acceptance, fills, cancel, expiry), each update with the fills of that
// event only, and a function that ends the subscription and closes the
// channel. The channel holds Config.SubscriberBuffer updates; when it is
// full the Exchange never waits: the update is dropped and counted
// (Dropped), and the subscriber recovers the order's state with Query or
// OpenOrders. For an account that does not exist (and cannot be created)
// the channel is closed at once.
func (x *Exchange) Subscribe(account string) (updates <-chan executors.OrderUpdate, unsubscribe func()) {
	s := &subscriber{ch: make(chan executors.OrderUpdate, x.subBuf)}
	return s.ch, x.subscribe(account, s)
}

// subscribeFunc is Subscribe with fn in place of the channel: fn is
// called with x.mu held, must not wait, and says whether it took the
// update (false: dropped and counted).
func (x *Exchange) subscribeFunc(account string, fn func(executors.OrderUpdate) bool) (unsubscribe func()) {
	return x.subscribe(account, &subscriber{fn: fn})
}

// subscribe adds s to account's subscribers (or closes it at once, for an
// account that cannot exist) and returns its unsubscribe.
func (x *Exchange) subscribe(account string, s *subscriber) (unsubscribe func()) {
	x.mu.Lock()
	defer x.mu.Unlock()
	a, err := x.account(account)
	if err != nil {
		s.close()
		return func() {}
	}
	x.nextSubID++
	id := x.nextSubID
	a.subs[id] = s
	return func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		if _, ok := a.subs[id]; ok {
			delete(a.subs, id)
			s.close()
		}
	}
}

func (s *subscriber) close() {
	if s.ch != nil {
		close(s.ch)
	}
}

// send hands u to s without waiting, and says whether it had room.
func (s *subscriber) send(u executors.OrderUpdate) bool {
	if s.ch != nil {
		select {
		case s.ch <- u:
			return true
		default:
			return false
		}
	}
	return s.fn(u)
}

// publish sends o's state, with the fills from index from on, to its
// account's subscribers without blocking. x.mu is held.
func (x *Exchange) publish(o *order, from int) {
	subs := o.acct.subs
	if len(subs) == 0 {
		return
	}
	u := o.updateFrom(from)
	for _, s := range subs {
		if !s.send(u) {
			s.dropped++
			x.dropped.Add(1)
		}
	}
}
