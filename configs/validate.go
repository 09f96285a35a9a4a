package configs

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// badFunc records a problem at a path of the config.
type badFunc func(path, format string, args ...any)

const idRule = "must match ^[A-Za-z0-9_-]{1,64}$"

// Validate checks the whole config and returns ValidationErrors naming each
// problem's path, or nil. Limits are checked by building every key's rate
// budget as the executors do, so a config Validate accepts is one `run`
// can start.
func (c *Config) Validate() error {
	var errs ValidationErrors
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	for _, id := range sortedKeys(c.Venues) {
		validateVenue("venues."+id, id, c.Venues[id], bad)
	}
	if len(c.Keys) == 0 {
		bad("keys", "at least one key is required")
	}
	var sound []string // keys with no error of their own
	for _, id := range sortedKeys(c.Keys) {
		n := len(errs)
		c.validateKey("keys."+id, id, c.Keys[id], bad)
		if len(errs) == n {
			sound = append(sound, id)
		}
	}
	c.validateBudgets(sound, bad)
	if len(c.Strategies) == 0 {
		bad("strategies", "at least one strategy is required")
	}
	for _, id := range sortedKeys(c.Strategies) {
		c.validateStrategy("strategies."+id, id, c.Strategies[id], bad)
	}
	validateStreams(c.Streams, bad)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func validateVenue(p, id string, v Venue, bad badFunc) {
	if !messages.ValidID(id) {
		bad(p, "venue ID %s", idRule)
	}
	validateNotOKXVenue(p, v, bad)
	switch v.Kind {
	case "paper":
		if v.Tick < 0 || v.Latency < 0 {
			bad(p, "tick and latency must not be negative")
		}
		one := decimal.NewFromInt(1)
		for _, f := range []struct {
			name string
			fee  Decimal
		}{{"maker_fee", v.MakerFee}, {"taker_fee", v.TakerFee}} {
			if d := f.fee.Value(); d.IsNegative() || d.GreaterThanOrEqual(one) {
				bad(p+"."+f.name, "must be a decimal in [0, 1), got %s", d)
			}
		}
	case "binance":
		switch v.UserStream {
		case "", "wsapi", "listenkey":
		default:
			bad(p+".user_stream", "must be wsapi or listenkey, got %q", v.UserStream)
		}
		if v.RecvWindow < 0 || v.RecvWindow > time.Minute {
			bad(p+".recv_window", "must be at most 60s")
		}
		if v.Simulate && (v.BaseURL != "" || v.WSURL != "") {
			bad(p, "simulate serves its own URLs: leave base_url and ws_url empty")
		}
	case "okx":
		validateOKXVenue(p, v, bad)
	case "":
		bad(p+".kind", "required (paper, binance or okx)")
	default:
		bad(p+".kind", "unknown venue kind %q (known: paper, binance, okx)", v.Kind)
	}
}

func (c *Config) validateKey(p, id string, k Key, bad badFunc) {
	if !messages.ValidID(id) {
		bad(p, "key ID %s", idRule)
	}
	v, ok := c.Venues[k.Venue]
	if !ok {
		bad(p+".venue", "%q is not a configured venue", k.Venue)
	}
	if k.SecretEnv != "" && k.SecretFile != "" {
		bad(p, "secret_env and secret_file are exclusive")
	}
	if k.QueueSize < 1 {
		bad(p+".queue_size", "must be at least 1")
	}
	switch k.Preset {
	case "", "binance", "okx":
	default:
		bad(p+".preset", "unknown preset %q (known: binance, okx)", k.Preset)
	}
	if k.Preset != "" && len(k.Limits) > 0 {
		bad(p+".limits", "give limits or a preset, not both")
	}
	switch k.KeyType {
	case "", "hmac", "ed25519":
	default:
		bad(p+".key_type", "must be hmac or ed25519, got %q", k.KeyType)
	}
	if v.Kind == "binance" && !v.Simulate && (k.APIKey == "" || k.SecretEnv == "" && k.SecretFile == "") {
		bad(p, "a binance key needs api_key and secret_env or secret_file")
	}
	validateOKXKey(p, k, v, bad)
	for i, l := range k.Limits {
		validateLimit(fmt.Sprintf("%s.limits[%d]", p, i), l.budget(k), l, bad)
	}
	validatePermissions(p+".permissions", k.Permissions, bad)
	for i, l := range k.VenueLimits {
		lp := fmt.Sprintf("%s.venue_limits[%d]", p, i)
		if l.Shape != "fixed" {
			bad(lp+".shape", "the paper venue enforces fixed windows only, got %q", l.Shape)
			continue
		}
		validateLimit(lp, l.budget(k), l, bad)
	}
}

// validateLimit checks what is particular to the config's way of writing a
// limit (its class and scope words), then the limit itself as the budget
// package will take it.
func validateLimit(p string, bl budget.Limit, l Limit, bad badFunc) {
	for class := range l.Costs {
		switch class {
		case "new", "cancel", "amend", "query":
		default:
			bad(p+".costs."+class, "unknown operation class (new, cancel, amend, query)")
		}
	}
	for i, a := range l.AgeCosts {
		switch a.Class {
		case "", "cancel", "amend":
		default:
			bad(fmt.Sprintf("%s.age_costs[%d].class", p, i), "must be cancel or amend, got %q", a.Class)
		}
	}
	switch {
	case l.Scope == "key", l.Scope == "account", l.Scope == "symbol", strings.HasPrefix(l.Scope, "ip:") && len(l.Scope) > 3:
	default:
		bad(p+".scope", "must be key, account, symbol or ip:<id>, got %q", l.Scope)
		bl.Scope = budget.ScopeKey // to check the rest
	}
	if _, err := budget.New([]budget.Limit{bl}, budget.NewGroups()); err != nil {
		badLimit(p, err, bad)
	}
}

// badLimit reports a budget error of the limit at p, at the path of the
// field it names.
func badLimit(p string, err error, bad badFunc) {
	var le *budget.LimitError
	if !errors.As(err, &le) {
		bad(p, "%v", err)
		return
	}
	field, ok := limitFields[le.Field]
	if !ok {
		if rest, isAge := strings.CutPrefix(le.Field, "AgeCost"); isAge {
			field, ok = "age_costs"+rest, true
		}
	}
	if !ok {
		bad(p, "%s: %s", le.Field, le.Reason)
		return
	}
	bad(p+"."+field, "%s", le.Reason)
}

// limitFields are the YAML names of budget.Limit's fields.
var limitFields = map[string]string{
	"Name": "name", "Shape": "shape", "Max": "max", "Window": "window", "Rate": "rate",
	"Margin": "margin", "Scope": "scope", "Costs": "costs",
}

// validateBudgets builds the budgets of keys (each sound on its own) with
// one set of shared counters, as a process running every key does: a
// key's limits must have distinct names, and the keys sharing an account
// or IP scope must agree on each shared limit. The paper venue's limits
// of each key are built alike, on their own.
func (c *Config) validateBudgets(keys []string, bad badFunc) {
	groups := budget.NewGroups()
	for _, id := range keys {
		k, p := c.Keys[id], "keys."+id
		ls, err := k.BudgetLimits()
		if err != nil {
			bad(p+".preset", "%v", err)
			continue
		}
		if _, err := budget.New(ls, groups); err != nil {
			if k.Preset != "" {
				bad(p+".preset", "%v", err)
			} else {
				badLimit(limitPath(p+".limits", k.Limits, err), err, bad)
			}
		}
		if len(k.VenueLimits) > 0 {
			if _, err := budget.New(k.venueLimits(), budget.NewGroups()); err != nil {
				badLimit(limitPath(p+".venue_limits", k.VenueLimits, err), err, bad)
			}
		}
	}
}

// limitPath is the path of the limit a budget error names: for a name
// used twice, its second use.
func limitPath(p string, ls []Limit, err error) string {
	var le *budget.LimitError
	if !errors.As(err, &le) {
		return p
	}
	at := -1
	for i, l := range ls {
		if l.Name == le.Limit {
			at = i
			if le.Field != "Name" {
				break
			}
		}
	}
	if at < 0 {
		return p
	}
	return fmt.Sprintf("%s[%d]", p, at)
}

func validatePermissions(p string, pm Permissions, bad badFunc) {
	for i, g := range pm.Symbols {
		if _, err := path.Match(g, "BTC-USDT"); err != nil {
			bad(fmt.Sprintf("%s.symbols[%d]", p, i), "bad pattern %q: %v", g, err)
		}
	}
	for i, v := range pm.Sides {
		if v != "buy" && v != "sell" {
			bad(fmt.Sprintf("%s.sides[%d]", p, i), "must be buy or sell, got %q", v)
		}
	}
	for i, v := range pm.Types {
		if v != "limit" && v != "market" {
			bad(fmt.Sprintf("%s.types[%d]", p, i), "must be limit or market, got %q", v)
		}
	}
	if d, ok := pm.MaxNotional.Get(); ok && !d.IsPositive() {
		bad(p+".max_notional", "must be a positive decimal, got %s", d)
	}
	if pm.MaxOpenOrders < 0 {
		bad(p+".max_open_orders", "must not be negative")
	}
}

func (c *Config) validateStrategy(p, id string, s Strategy, bad badFunc) {
	if !messages.ValidID(id) {
		bad(p, "strategy ID %s", idRule)
	}
	if len(s.Keys) == 0 {
		bad(p+".keys", "at least one key is required")
	}
	switch policy, err := ParsePolicy(string(s.Policy)); {
	case err != nil:
		bad(p+".policy", "unknown policy %q (failover, pinned, sticky, least_loaded)", s.Policy)
	case policy == PolicyPinned && len(s.Keys) != 1:
		bad(p+".keys", "policy pinned takes exactly one key, got %d", len(s.Keys))
	}
	for _, r := range []struct {
		name string
		v    Decimal
	}{{"max_order_notional", s.Risk.MaxOrderNotional}, {"max_open_notional", s.Risk.MaxOpenNotional}, {"price_band", s.Risk.PriceBand}} {
		if d, ok := r.v.Get(); ok && !d.IsPositive() {
			bad(p+".risk."+r.name, "must be a positive decimal, got %s", d)
		}
	}
	seen := map[string]bool{}
	for i, k := range s.Keys {
		if _, ok := c.Keys[k]; !ok {
			bad(fmt.Sprintf("%s.keys[%d]", p, i), "%q is not a configured key", k)
		}
		if seen[k] {
			bad(fmt.Sprintf("%s.keys[%d]", p, i), "%q listed twice", k)
		}
		seen[k] = true
	}
}

func validateStreams(s Streams, bad badFunc) {
	if r := s.Replicas; r != 1 && r != 3 && r != 5 {
		bad("streams.replicas", "must be 1, 3 or 5, got %d", r)
	}
	if s.OrdersMaxAge < 0 || s.ReportsMaxAge < 0 || s.ReportsMaxBytes < 0 {
		bad("streams", "ages and sizes must not be negative")
	}
	if s.DedupeHorizon < s.OrdersMaxAge {
		bad("streams.dedupe_horizon", "must be at least orders_max_age (%v), so a redelivered intent finds its claim", s.OrdersMaxAge)
	}
}
