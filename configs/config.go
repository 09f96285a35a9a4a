package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the default config.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Config is the whole configuration of a keyrouter deployment. Every role
// (router, executor) reads the same file; each uses its own part.
type Config struct {
	Venues     map[string]Venue    `yaml:"venues"`
	Keys       map[string]Key      `yaml:"keys"`
	Strategies map[string]Strategy `yaml:"strategies"`
	Streams    Streams             `yaml:"streams"`
	Router     Router              `yaml:"router"`
}

// Venue is an exchange keyrouter can reach.
type Venue struct {
	// Kind is the adapter: "paper" (the built-in simulated exchange, in
	// process), "binance" (Binance spot over its REST API and user data
	// stream) or "okx" (OKX v5 spot over its REST API and private
	// WebSocket; base_url, ws_url, recv_window as the expTime window,
	// timeout and simulate as for binance).
	Kind string `yaml:"kind"`
	// Binance: the REST root and the user data stream endpoint (defaults:
	// Binance production), the stream protocol (wsapi, the default, or
	// listenkey) and recvWindow of signed requests (default 5s).
	BaseURL    string        `yaml:"base_url"`
	WSURL      string        `yaml:"ws_url"`
	UserStream string        `yaml:"user_stream"`
	RecvWindow time.Duration `yaml:"recv_window"`
	// Timeout bounds one request to the venue (default 10s); past it the
	// outcome is unknown and the order is looked up before any resend.
	Timeout time.Duration `yaml:"timeout"`
	// Demo (okx) sends every request to OKX's demo trading (header
	// x-simulated-trading: 1); its WebSocket is then
	// wss://wspap.okx.com:8443/ws/v5/private unless ws_url says otherwise.
	Demo bool `yaml:"demo"`
	// Simulate (binance) starts keyrouter's Binance-compatible simulator
	// in process on loopback and points the venue at it: one account per
	// key's account, each key with a secret made at start unless the key
	// names one (secret_env/secret_file). For `keyrouter run` and tests.
	Simulate bool `yaml:"simulate"`
	// SimConfig optionally names a simulator config file (faults, limits,
	// balances); its accounts are replaced by the keys'.
	SimConfig string `yaml:"sim_config"`
	// Paper venue: seed of the price walk, tick interval, simulated
	// latency of each request, largest quantity of one fill.
	Seed    int64         `yaml:"seed"`
	Tick    time.Duration `yaml:"tick"`
	Latency time.Duration `yaml:"latency"`
	// MakerFee and TakerFee are the paper venue's fee rates on the
	// notional, as decimal strings (default 0.001 each, like Binance's
	// base tier).
	MakerFee string `yaml:"maker_fee"`
	TakerFee string `yaml:"taker_fee"`
}

// Key is one venue API key: a partition with its own executor and budget.
type Key struct {
	Venue string `yaml:"venue"`
	// Account groups keys of one venue account (limits with scope
	// "account" are shared among them).
	Account string `yaml:"account"`
	// APIKey is the key's public ID at the venue (not a secret).
	APIKey string `yaml:"api_key"`
	// KeyType is how requests are signed: hmac (default) or ed25519.
	KeyType string `yaml:"key_type"`
	// IP names the egress IP the key's requests leave from: limits with
	// an IP scope (Binance's request weight) are shared by the keys on one
	// IP (default "default").
	IP string `yaml:"ip"`
	// Preset fills Limits from the venue's published limits ("binance");
	// default for a binance key with no limits of its own.
	Preset string `yaml:"preset"`
	// SecretEnv or SecretFile name where the secret is; it is never in
	// this file. Only the executor serving this key loads it.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// PassphraseEnv or PassphraseFile name where an okx key's passphrase
	// (its second secret) is; loaded, like the secret, only by the
	// executor serving this key.
	PassphraseEnv  string `yaml:"passphrase_env"`
	PassphraseFile string `yaml:"passphrase_file"`
	// QueueSize bounds the orders waiting for budget; past it new orders
	// are rejected with rate_limited. Cancels have their own queue of
	// the same size.
	QueueSize int `yaml:"queue_size"`
	// Limits is the key's rate budget.
	Limits []Limit `yaml:"limits"`
	// Permissions restrict the symbols, sides, types, order size and open
	// orders of this key.
	Permissions Permissions `yaml:"permissions"`
	// VenueLimits are the limits the simulated (paper) venue enforces on
	// this key itself, returning rate-limit errors past them; default:
	// the same as Limits. Set them tighter to see throttling.
	VenueLimits []Limit `yaml:"venue_limits"`
}

// Limit is one rate limit of a key's budget.
type Limit struct {
	Name   string        `yaml:"name"`
	Shape  string        `yaml:"shape"` // fixed, sliding, bucket, decay
	Max    int64         `yaml:"max"`
	Window time.Duration `yaml:"window"`
	// Rate is tokens per second for bucket, decrease per second for decay.
	Rate float64 `yaml:"rate"`
	// Costs per operation class (new, cancel, amend, query); a class not
	// listed costs nothing. Default: new 1, cancel 1.
	Costs map[string]int64 `yaml:"costs"`
	// Scope: key (default), account, ip:<id>, symbol.
	Scope  string  `yaml:"scope"`
	Margin float64 `yaml:"margin"`
	// AgeCosts add cost to an operation on a young order: the first step
	// whose `under` exceeds the order's age applies (Kraken charges +8 to
	// cancel an order under 5 s old, falling to +1 by 300 s).
	AgeCosts []AgeCost `yaml:"age_costs"`
}

// AgeCost is one step of a limit's cost by order age.
type AgeCost struct {
	Class string        `yaml:"class"` // default cancel
	Under time.Duration `yaml:"under"`
	Cost  int64         `yaml:"cost"`
}

// Strategy is a configured strategy: the pool of keys it may use, how it
// picks among them, and its pre-trade risk limits.
type Strategy struct {
	// Keys the strategy may use, in order of preference.
	Keys []string `yaml:"keys"`
	// Policy picks a key of the pool for each intent: failover (default:
	// the first usable key of the list), pinned (one key, owned), sticky
	// (each symbol always on the same key), least_loaded (the key with the
	// most headroom now).
	Policy string `yaml:"policy"`
	Risk   Risk   `yaml:"risk"`
}

// Risk is a strategy's pre-trade risk limits; empty means none. Amounts
// are decimal strings in the quote asset; PriceBand is a fraction.
type Risk struct {
	// MaxOrderNotional bounds quantity times price (for a market order,
	// the venue's reference price) of one order.
	MaxOrderNotional string `yaml:"max_order_notional"`
	// MaxOpenNotional bounds the notional of the strategy's orders that
	// are routed and not yet closed, this one included.
	MaxOpenNotional string `yaml:"max_open_notional"`
	// PriceBand refuses a limit price further than this fraction from the
	// venue's reference price (the fat-finger guard), e.g. "0.05".
	PriceBand string `yaml:"price_band"`
}

// Permissions restrict what a key may be used for; empty means no
// restriction.
type Permissions struct {
	// Symbols are glob patterns (path.Match: BTC-*, *-USDT).
	Symbols       []string `yaml:"symbols"`
	Sides         []string `yaml:"sides"`
	Types         []string `yaml:"types"`
	MaxNotional   string   `yaml:"max_notional"`
	MaxOpenOrders int      `yaml:"max_open_orders"`
}

// Router configures the router role.
type Router struct {
	// HeartbeatTimeout: a key whose executor has been silent this long is
	// down (default 3s).
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
}

// Streams configures the JetStream streams and KV bucket.
type Streams struct {
	// Replicas of every stream: 1 on a single server, 3 on a cluster.
	Replicas int `yaml:"replicas"`
	// OrdersMaxAge and ReportsMaxAge bound how long intents and reports
	// are kept.
	OrdersMaxAge  time.Duration `yaml:"orders_max_age"`
	ReportsMaxAge time.Duration `yaml:"reports_max_age"`
	// ReportsMaxBytes bounds the REPORTS stream (oldest dropped).
	ReportsMaxBytes int64 `yaml:"reports_max_bytes"`
	// DedupeHorizon is how long a (strategy, client_order_id) stays
	// used: a re-sent intent is a duplicate for this long after the
	// first, and routed orders are kept in EXEC as long. At least
	// OrdersMaxAge, so a redelivered intent always finds its claim.
	DedupeHorizon time.Duration `yaml:"dedupe_horizon"`
}

// Defaults of fields left empty.
const (
	DefaultQueueSize        = 1024
	DefaultReplicas         = 1
	DefaultOrdersMaxAge     = 7 * 24 * time.Hour
	DefaultReportsMaxAge    = 7 * 24 * time.Hour
	DefaultReportsMaxBytes  = 1 << 30
	DefaultDedupeHorizon    = 7 * 24 * time.Hour
	DefaultPaperTick        = 100 * time.Millisecond
	DefaultPaperFee         = "0.001"
	DefaultHeartbeatTimeout = 3 * time.Second
)

// Default returns the default config: strategies alpha and beta, each
// allowed two keys on the built-in simulated venue.
func Default() *Config {
	c, err := Parse(defaultYAML)
	if err != nil {
		panic("configs: default config is invalid: " + err.Error())
	}
	return c
}

// Load reads, decodes, defaults and validates the config at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML strictly (an unknown field is an error), fills
// defaults and validates.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyDefaults() {
	if c.Router.HeartbeatTimeout == 0 {
		c.Router.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.Streams.Replicas == 0 {
		c.Streams.Replicas = DefaultReplicas
	}
	if c.Streams.OrdersMaxAge == 0 {
		c.Streams.OrdersMaxAge = DefaultOrdersMaxAge
	}
	if c.Streams.ReportsMaxAge == 0 {
		c.Streams.ReportsMaxAge = DefaultReportsMaxAge
	}
	if c.Streams.ReportsMaxBytes == 0 {
		c.Streams.ReportsMaxBytes = DefaultReportsMaxBytes
	}
	if c.Streams.DedupeHorizon == 0 {
		c.Streams.DedupeHorizon = max(DefaultDedupeHorizon, c.Streams.OrdersMaxAge)
	}
	for id, v := range c.Venues {
		if v.Kind == "paper" {
			if v.Tick == 0 {
				v.Tick = DefaultPaperTick
			}
			if v.MakerFee == "" {
				v.MakerFee = DefaultPaperFee
			}
			if v.TakerFee == "" {
				v.TakerFee = DefaultPaperFee
			}
		}
		c.Venues[id] = v
	}
	for id, k := range c.Keys {
		if k.QueueSize == 0 {
			k.QueueSize = DefaultQueueSize
		}
		if k.Account == "" {
			k.Account = id
		}
		if k.IP == "" {
			k.IP = "default"
		}
		if kind := c.Venues[k.Venue].Kind; k.Preset == "" && len(k.Limits) == 0 && (kind == "binance" || kind == "okx") {
			k.Preset = kind
		}
		for _, ls := range [][]Limit{k.Limits, k.VenueLimits} {
			for i := range ls {
				l := &ls[i]
				if l.Scope == "" {
					l.Scope = "key"
				}
				if l.Costs == nil {
					l.Costs = map[string]int64{"new": 1, "cancel": 1}
				}
			}
		}
		c.Keys[id] = k
	}
}

// ValidationErrors lists every problem of a config, each with its path.
type ValidationErrors []error

func (v ValidationErrors) Error() string {
	s := make([]string, len(v))
	for i, e := range v {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Validate checks the whole config and returns ValidationErrors naming each
// problem's path, or nil.
func (c *Config) Validate() error {
	var errs ValidationErrors
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	for _, id := range sortedKeys(c.Venues) {
		v, p := c.Venues[id], "venues."+id
		if !validID(id) {
			bad(p, "venue ID must match ^[A-Za-z0-9_-]{1,64}$")
		}
		validateNotOKXVenue(p, v, bad)
		switch v.Kind {
		case "paper":
			if v.Tick < 0 || v.Latency < 0 {
				bad(p, "tick and latency must not be negative")
			}
			for name, f := range map[string]string{"maker_fee": v.MakerFee, "taker_fee": v.TakerFee} {
				if d, err := decimal.NewFromString(f); err != nil || d.IsNegative() || d.GreaterThanOrEqual(decimal.NewFromInt(1)) {
					bad(p+"."+name, "must be a decimal in [0, 1), got %q", f)
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
	if len(c.Keys) == 0 {
		bad("keys", "at least one key is required")
	}
	for _, id := range sortedKeys(c.Keys) {
		k, p := c.Keys[id], "keys."+id
		if !validID(id) {
			bad(p, "key ID must match ^[A-Za-z0-9_-]{1,64}$")
		}
		if _, ok := c.Venues[k.Venue]; !ok {
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
		if v := c.Venues[k.Venue]; v.Kind == "binance" && !v.Simulate && (k.APIKey == "" || k.SecretEnv == "" && k.SecretFile == "") {
			bad(p, "a binance key needs api_key and secret_env or secret_file")
		}
		validateOKXKey(p, k, c.Venues[k.Venue], bad)
		names := map[string]bool{}
		for i, l := range k.Limits {
			lp := fmt.Sprintf("%s.limits[%d]", p, i)
			if l.Name == "" {
				bad(lp+".name", "required")
			} else if names[l.Name] {
				bad(lp+".name", "duplicate limit name %q", l.Name)
			}
			names[l.Name] = true
			validateLimit(lp, l, bad)
		}
		validatePermissions(p+".permissions", k.Permissions, bad)
		for i, l := range k.VenueLimits {
			validateLimit(fmt.Sprintf("%s.venue_limits[%d]", p, i), l, bad)
		}
	}
	if len(c.Strategies) == 0 {
		bad("strategies", "at least one strategy is required")
	}
	for _, id := range sortedKeys(c.Strategies) {
		s, p := c.Strategies[id], "strategies."+id
		if !validID(id) {
			bad(p, "strategy ID must match ^[A-Za-z0-9_-]{1,64}$")
		}
		if len(s.Keys) == 0 {
			bad(p+".keys", "at least one key is required")
		}
		switch s.Policy {
		case "", "failover", "sticky", "least_loaded":
		case "pinned":
			if len(s.Keys) != 1 {
				bad(p+".keys", "policy pinned takes exactly one key, got %d", len(s.Keys))
			}
		default:
			bad(p+".policy", "unknown policy %q (failover, pinned, sticky, least_loaded)", s.Policy)
		}
		for name, v := range map[string]string{"max_order_notional": s.Risk.MaxOrderNotional, "max_open_notional": s.Risk.MaxOpenNotional, "price_band": s.Risk.PriceBand} {
			if v == "" {
				continue
			}
			if d, err := decimal.NewFromString(v); err != nil || !d.IsPositive() {
				bad(p+".risk."+name, "must be a positive decimal, got %q", v)
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
	if r := c.Streams.Replicas; r != 1 && r != 3 && r != 5 {
		bad("streams.replicas", "must be 1, 3 or 5, got %d", r)
	}
	if c.Streams.OrdersMaxAge < 0 || c.Streams.ReportsMaxAge < 0 || c.Streams.ReportsMaxBytes < 0 {
		bad("streams", "ages and sizes must not be negative")
	}
	if c.Streams.DedupeHorizon < c.Streams.OrdersMaxAge {
		bad("streams.dedupe_horizon", "must be at least orders_max_age (%v), so a redelivered intent finds its claim", c.Streams.OrdersMaxAge)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func validatePermissions(p string, pm Permissions, bad func(string, string, ...any)) {
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
	if pm.MaxNotional != "" {
		if d, err := decimal.NewFromString(pm.MaxNotional); err != nil || !d.IsPositive() {
			bad(p+".max_notional", "must be a positive decimal, got %q", pm.MaxNotional)
		}
	}
	if pm.MaxOpenOrders < 0 {
		bad(p+".max_open_orders", "must not be negative")
	}
}

func validateLimit(p string, l Limit, bad func(string, string, ...any)) {
	switch l.Shape {
	case "fixed", "sliding":
		if l.Window <= 0 {
			bad(p+".window", "required and positive for shape %s", l.Shape)
		}
	case "bucket", "decay":
		if l.Rate <= 0 {
			bad(p+".rate", "required and positive for shape %s", l.Shape)
		}
	case "":
		bad(p+".shape", "required (fixed, sliding, bucket or decay)")
	default:
		bad(p+".shape", "unknown shape %q (fixed, sliding, bucket or decay)", l.Shape)
	}
	if l.Max < 1 {
		bad(p+".max", "must be at least 1")
	}
	if l.Margin < 0 || l.Margin >= 1 {
		bad(p+".margin", "must be in [0, 1)")
	}
	for class, cost := range l.Costs {
		switch class {
		case "new", "cancel", "amend", "query":
		default:
			bad(p+".costs."+class, "unknown operation class (new, cancel, amend, query)")
		}
		if cost < 0 {
			bad(p+".costs."+class, "must not be negative")
		}
	}
	for i, a := range l.AgeCosts {
		ap := fmt.Sprintf("%s.age_costs[%d]", p, i)
		if a.Under <= 0 || a.Cost < 0 {
			bad(ap, "needs under > 0 and cost >= 0")
		}
		switch a.Class {
		case "", "cancel", "amend":
		default:
			bad(ap+".class", "must be cancel or amend, got %q", a.Class)
		}
	}
	switch {
	case l.Scope == "key", l.Scope == "account", l.Scope == "symbol", strings.HasPrefix(l.Scope, "ip:") && len(l.Scope) > 3:
	default:
		bad(p+".scope", "must be key, account, symbol or ip:<id>, got %q", l.Scope)
	}
}

// StrategyKeys returns the keys strategy may use, or nil if the strategy is
// not configured.
func (c *Config) StrategyKeys(strategy string) []string {
	return c.Strategies[strategy].Keys
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// KeyIDs returns the configured key IDs in sorted order.
func (c *Config) KeyIDs() []string { return sortedKeys(c.Keys) }

func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// Dec parses a validated decimal string of the config; "" is zero and
// false.
func Dec(s string) (decimal.Decimal, bool) {
	if s == "" {
		return decimal.Zero, false
	}
	d, err := decimal.NewFromString(s)
	return d, err == nil
}
