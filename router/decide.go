package router

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// View is what the router knows besides the config when it decides where
// an intent goes: the keys' health and load, reference prices, the
// strategy's open notional, and what is halted.
type View interface {
	Candidate(key string, now time.Time) Candidate
	OpenOrders(key string) int
	Price(symbol string) (decimal.Decimal, bool)
	OpenNotional(strategy string) decimal.Decimal
	// HaltedStrategy reports a halt of the strategy or of everything;
	// HaltedKey a halt of the key.
	HaltedStrategy(strategy string) bool
	HaltedKey(key string) bool
	// Explain says what the view knows of a key, for a key_unavailable
	// refusal (Health.Explain).
	Explain(key string, now time.Time) string
	// EarliestNew says when the key could send one more new order at the
	// earliest, never later than it could (Health.EarliestNew); false if
	// nothing known holds it back.
	EarliestNew(key string, now time.Time) (time.Time, bool)
}

// Decision is where an intent goes: a Key, or a Reason it is refused.
// Notional is the intent's notional as the risk checks priced it (zero
// when unknown).
type Decision struct {
	Key      string
	Reason   messages.Reason
	Message  string
	Notional decimal.Decimal
}

func refuse(reason messages.Reason, format string, args ...any) Decision {
	return Decision{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ChooseKey decides which key takes in, or why none does, in this order:
// the strategy is configured; the intent has not expired; nothing it needs
// is halted; it may use the key or venue it asks for and some key of its
// pool permits its symbol, side, type, size and open orders (before any
// budget is spent: not_permitted); it passes the strategy's risk limits;
// then the strategy's policy picks among the usable keys; an intent with
// a deadline goes to the first of them whose budget could send it before
// the deadline (View.EarliestNew), and is refused expired at once if none
// could: its executor would only expire it, after one more stream write
// (the order's record) and a delivery and ack on the key's consumer. If
// none is usable, an intent with a deadline goes to the policy's first
// choice to wait there (its executor expires it if it cannot be sent in
// time); one without is refused with key_unavailable.
func ChooseKey(cfg *configs.Config, v View, in *messages.OrderIntent, now time.Time) Decision {
	st, ok := cfg.Strategies[in.Strategy]
	if !ok {
		return refuse(messages.ReasonUnknownStrategy, "strategy %q is not configured", in.Strategy)
	}
	if in.ExpiresAt != nil && !now.Before(*in.ExpiresAt) {
		return refuse(messages.ReasonExpired, "expires_at %s had passed when the intent arrived", in.ExpiresAt.Format(time.RFC3339Nano))
	}
	if v.HaltedStrategy(in.Strategy) {
		return refuse(messages.ReasonHalted, "strategy %s is halted", in.Strategy)
	}
	pool := st.Keys
	if in.Key != "" {
		if !slices.Contains(st.Keys, in.Key) {
			return refuse(messages.ReasonNotPermitted, "key %q is not one strategy %s may use", in.Key, in.Strategy)
		}
		pool = []string{in.Key}
	}
	notional, priced := notionalOf(v, in)
	// Scratch on the stack for pools of up to 16 keys (larger ones grow
	// onto the heap); the refusals below format copies, so these do not
	// escape.
	var allowedBuf, openBuf, rankBuf [16]string
	var candBuf [16]Candidate
	allowed := allowedBuf[:0]
	var why string
	for _, k := range pool {
		kc := cfg.Keys[k]
		if in.Venue != "" && kc.Venue != in.Venue {
			if why == "" {
				why = fmt.Sprintf("strategy %s may use no key of venue %q", in.Strategy, in.Venue)
			}
			continue
		}
		if msg := permits(kc.Permissions, k, in, notional, priced, v.OpenOrders(k)); msg != "" {
			if why == "" {
				why = msg
			}
			continue
		}
		allowed = append(allowed, k)
	}
	if len(allowed) == 0 {
		return refuse(messages.ReasonNotPermitted, "%s", why)
	}
	if msg := riskCheck(st.Risk, v, in, notional, priced); msg != "" {
		return refuse(messages.ReasonRisk, "%s", msg)
	}
	open := openBuf[:0]
	for _, k := range allowed {
		if !v.HaltedKey(k) {
			open = append(open, k)
		}
	}
	if len(open) == 0 {
		return refuse(messages.ReasonHalted, "every key the intent may use is halted (%v)", slices.Clone(allowed))
	}
	// The policy was checked when the config was loaded (Rank takes an
	// unset one as failover).
	policy := st.Policy
	cands := candBuf[:0]
	for _, k := range open {
		cands = append(cands, v.Candidate(k, now))
	}
	if ranked := AppendRank(rankBuf[:0], policy, cands, in.Symbol); len(ranked) > 0 {
		if in.ExpiresAt == nil {
			return Decision{Key: ranked[0], Notional: notional}
		}
		for _, k := range ranked {
			if at, ok := v.EarliestNew(k, now); !ok || at.Before(*in.ExpiresAt) {
				return Decision{Key: k, Notional: notional}
			}
		}
		return refuse(messages.ReasonExpired, "no key's budget can send it before its expires_at %s: %s",
			in.ExpiresAt.Format(time.RFC3339Nano), whenSendable(v, ranked, now))
	}
	if in.ExpiresAt != nil {
		for i := range cands {
			cands[i].Usable = true
		}
		if ranked := AppendRank(rankBuf[:0], policy, cands, in.Symbol); len(ranked) > 0 {
			return Decision{Key: ranked[0], Notional: notional}
		}
	}
	return refuse(messages.ReasonKeyUnavailable, "no usable key among [%s] and the intent has no expires_at to wait for", whyUnusable(v, open, now))
}

// notionalOf is quantity times the limit price, or times the reference
// price for a market order; false if no price is known.
func notionalOf(v View, in *messages.OrderIntent) (decimal.Decimal, bool) {
	if in.Price != nil {
		return in.Quantity.Mul(*in.Price), true
	}
	if p, ok := v.Price(in.Symbol); ok {
		return in.Quantity.Mul(p), true
	}
	return decimal.Zero, false
}

// permits returns why key k may not take in, or "".
func permits(pm configs.Permissions, k string, in *messages.OrderIntent, notional decimal.Decimal, priced bool, open int) string {
	if len(pm.Symbols) > 0 && !slices.ContainsFunc(pm.Symbols, func(g string) bool {
		ok, _ := path.Match(g, in.Symbol)
		return ok
	}) {
		return fmt.Sprintf("key %s may not trade %s (symbols %v)", k, in.Symbol, pm.Symbols)
	}
	if len(pm.Sides) > 0 && !slices.Contains(pm.Sides, string(in.Side)) {
		return fmt.Sprintf("key %s may not %s", k, in.Side)
	}
	if len(pm.Types) > 0 && !slices.Contains(pm.Types, string(in.Type)) {
		return fmt.Sprintf("key %s may not place %s orders", k, in.Type)
	}
	if max, ok := pm.MaxNotional.Get(); ok {
		if !priced {
			return fmt.Sprintf("key %s bounds order notional and there is no reference price for %s", k, in.Symbol)
		}
		if notional.GreaterThan(max) {
			return fmt.Sprintf("order notional %s is above key %s's max_notional %s", notional, k, max)
		}
	}
	if pm.MaxOpenOrders > 0 && open >= pm.MaxOpenOrders {
		return fmt.Sprintf("key %s has %d open orders, its max_open_orders", k, open)
	}
	return ""
}

// riskCheck returns why in breaks the strategy's risk limits, or "".
func riskCheck(r configs.Risk, v View, in *messages.OrderIntent, notional decimal.Decimal, priced bool) string {
	maxOrder, hasMaxOrder := r.MaxOrderNotional.Get()
	maxOpen, hasMaxOpen := r.MaxOpenNotional.Get()
	band, hasBand := r.PriceBand.Get()
	if (hasMaxOrder || hasMaxOpen) && !priced {
		return fmt.Sprintf("no reference price for %s to bound the notional of a market order", in.Symbol)
	}
	if hasMaxOrder && notional.GreaterThan(maxOrder) {
		return fmt.Sprintf("order notional %s is above max_order_notional %s", notional, maxOrder)
	}
	if hasMaxOpen {
		if open := v.OpenNotional(in.Strategy).Add(notional); open.GreaterThan(maxOpen) {
			return fmt.Sprintf("open notional would be %s, above max_open_notional %s", open, maxOpen)
		}
	}
	if hasBand && in.Price != nil {
		ref, ok := v.Price(in.Symbol)
		if !ok || !ref.IsPositive() {
			return fmt.Sprintf("no reference price for %s to check the price band", in.Symbol)
		}
		if dev := in.Price.Sub(ref).Abs().Div(ref); dev.GreaterThan(band) {
			return fmt.Sprintf("price %s is %s%% from the reference price %s, outside the band of %s%%",
				in.Price, dev.Mul(decimal.NewFromInt(100)).StringFixed(2), ref, band.Mul(decimal.NewFromInt(100)).String())
		}
	}
	return ""
}

// whyUnusable names each key with what v knows of it:
// "k1 (down, last status 4.2s ago) k2 (throttled, last status 0.3s ago)".
func whyUnusable(v View, keys []string, now time.Time) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteString(" (")
		b.WriteString(v.Explain(k, now))
		b.WriteByte(')')
	}
	return b.String()
}

// whenSendable says when each key could send one more new order at the
// earliest: "k1 in 1.24s, k2 in 0.98s".
func whenSendable(v View, keys []string, now time.Time) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		at, _ := v.EarliestNew(k, now)
		b.WriteString(k)
		b.WriteString(" in ")
		b.WriteString(at.Sub(now).Round(10 * time.Millisecond).String())
	}
	return b.String()
}
