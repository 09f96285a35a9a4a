package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
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
	// notional (default 0.001 each, like Binance's base tier).
	MakerFee Decimal `yaml:"maker_fee"`
	TakerFee Decimal `yaml:"taker_fee"`
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
	// this key itself, returning rate-limit errors past them: fixed
	// windows only; default: the fixed ones of Limits. Set them tighter
	// to see throttling.
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
	// most headroom now). Checked and defaulted at load.
	Policy Policy `yaml:"policy"`
	Risk   Risk   `yaml:"risk"`
}

// Risk is a strategy's pre-trade risk limits; an unset one is no limit.
// Amounts are in the quote asset; PriceBand is a fraction.
type Risk struct {
	// MaxOrderNotional bounds quantity times price (for a market order,
	// the venue's reference price) of one order.
	MaxOrderNotional Decimal `yaml:"max_order_notional"`
	// MaxOpenNotional bounds the notional of the strategy's orders that
	// are routed and not yet closed, this one included.
	MaxOpenNotional Decimal `yaml:"max_open_notional"`
	// PriceBand refuses a limit price further than this fraction from the
	// venue's reference price (the fat-finger guard), e.g. "0.05".
	PriceBand Decimal `yaml:"price_band"`
}

// Permissions restrict what a key may be used for; empty means no
// restriction.
type Permissions struct {
	// Symbols are glob patterns (path.Match: BTC-*, *-USDT).
	Symbols       []string `yaml:"symbols"`
	Sides         []string `yaml:"sides"`
	Types         []string `yaml:"types"`
	MaxNotional   Decimal  `yaml:"max_notional"`
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
	DefaultHeartbeatTimeout = 3 * time.Second
)

// DefaultPaperFee is a simulated venue's maker and taker fee rate.
var DefaultPaperFee = decimal.New(1, -3)

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
	return New(c)
}

// New fills the defaults of a config written in Go and validates it, as
// Parse does for one read from YAML. The returned config shares c's maps.
func New(c Config) (*Config, error) {
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
			if !v.MakerFee.IsSet() {
				v.MakerFee = NewDecimal(DefaultPaperFee)
			}
			if !v.TakerFee.IsSet() {
				v.TakerFee = NewDecimal(DefaultPaperFee)
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
	for id, st := range c.Strategies {
		if st.Policy == "" {
			st.Policy = PolicyFailover
			c.Strategies[id] = st
		}
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
