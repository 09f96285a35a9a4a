package binancesim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors/internal/simkit"
)

// Config configures a Server. The zero value of every field but Accounts
// means its default (see DefaultConfig); LoadConfig reads one from YAML.
type Config struct {
	// Accounts are the exchange's accounts; at least one.
	Accounts []AccountConfig `yaml:"accounts"`
	// RateLimits are the limits served in exchangeInfo and enforced:
	// REQUEST_WEIGHT and RAW_REQUESTS per IP, ORDERS per account. Nil means
	// Binance's: REQUEST_WEIGHT 6000/1m, ORDERS 100/10s and 200000/1d,
	// RAW_REQUESTS 61000/5m.
	RateLimits []RateLimit `yaml:"rate_limits"`
	// Ban says when an IP that keeps hitting 429 gets banned (418).
	Ban BanConfig `yaml:"ban"`
	// Market: the symbols (wire form BASEQUOTE), price moves, fees,
	// faults (a user data stream counts as a stream), client addresses
	// and the clock (timestamps, recvWindow, limit windows, bans).
	simkit.Market `yaml:",inline"`
}

// AccountConfig is one account of the exchange.
type AccountConfig struct {
	ID string `yaml:"id"`
	// Balances are the starting free amounts per asset, as decimal strings.
	// Nil means unlimited (the engine lets balances go negative).
	Balances map[string]string `yaml:"balances"`
	Keys     []KeyConfig       `yaml:"keys"`
}

// KeyConfig is one API key of an account.
//
// Because this is a test exchange, an HMAC secret may be written inline
// (Secret); SecretEnv names an environment variable holding it instead,
// and SecretFile a file (its content, surrounding white space trimmed),
// which is what a shared config file should use.
type KeyConfig struct {
	APIKey string `yaml:"api_key"`
	// Type is hmac (default), ed25519 or rsa.
	Type       string `yaml:"type"`
	Secret     string `yaml:"secret"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// PublicKey is the PEM (or base64 DER) public key of an ed25519 or rsa
	// key; the client signs with the private half.
	PublicKey string `yaml:"public_key"`
	// Disabled keys are refused with -2015, like a revoked key.
	Disabled bool `yaml:"disabled"`
}

// SymbolConfig is one symbol; Symbol is the engine form BASE-QUOTE, and
// the wire form is BASEQUOTE.
type SymbolConfig = simkit.SymbolConfig

// Faults injects failures. Rates are probabilities in [0, 1], drawn from a
// generator seeded by Config.Seed.
type Faults = simkit.Faults

// RateLimit is one entry of exchangeInfo's rateLimits.
type RateLimit struct {
	// Type is REQUEST_WEIGHT, ORDERS or RAW_REQUESTS.
	Type string `yaml:"type"`
	// Interval is SECOND, MINUTE, HOUR or DAY.
	Interval    string `yaml:"interval"`
	IntervalNum int    `yaml:"interval_num"`
	Limit       int64  `yaml:"limit"`
}

// Window is the length of the limit's fixed window.
func (l RateLimit) Window() time.Duration {
	return time.Duration(l.IntervalNum) * intervalUnit[l.Interval]
}

// suffix is the header suffix, e.g. "1M" or "10S".
func (l RateLimit) suffix() string {
	return fmt.Sprintf("%d%s", l.IntervalNum, l.Interval[:1])
}

var intervalUnit = map[string]time.Duration{
	"SECOND": time.Second, "MINUTE": time.Minute, "HOUR": time.Hour, "DAY": 24 * time.Hour,
}

// BanConfig says when and for how long an IP is banned.
type BanConfig struct {
	// After is how many further 429s an IP may get, after its first one and
	// before that 429's Retry-After has passed, before it is banned; 2 if 0.
	After int `yaml:"after"`
	// First is the first ban's length (2m if 0); each later ban of the IP
	// doubles it, up to Max (72h if 0).
	First time.Duration `yaml:"first"`
	Max   time.Duration `yaml:"max"`
}

// DefaultRateLimits are Binance's spot limits.
func DefaultRateLimits() []RateLimit {
	return []RateLimit{
		{Type: "REQUEST_WEIGHT", Interval: "MINUTE", IntervalNum: 1, Limit: 6000},
		{Type: "ORDERS", Interval: "SECOND", IntervalNum: 10, Limit: 100},
		{Type: "ORDERS", Interval: "DAY", IntervalNum: 1, Limit: 200000},
		{Type: "RAW_REQUESTS", Interval: "MINUTE", IntervalNum: 5, Limit: 61000},
	}
}

// DefaultConfig has two accounts, acct1 and acct2, each with one HMAC key
// (api keys "acct1-key"/"acct2-key", secrets "acct1-secret"/"acct2-secret")
// and large balances of BTC, ETH and USDT, the default symbols and limits.
func DefaultConfig() Config {
	bal := func() map[string]string {
		return map[string]string{"BTC": "1000", "ETH": "10000", "USDT": "100000000"}
	}
	return Config{
		Accounts: []AccountConfig{
			{ID: "acct1", Balances: bal(), Keys: []KeyConfig{{APIKey: "acct1-key", Secret: "acct1-secret"}}},
			{ID: "acct2", Balances: bal(), Keys: []KeyConfig{{APIKey: "acct2-key", Secret: "acct2-secret"}}},
		},
		RateLimits: DefaultRateLimits(),
		Market:     simkit.Market{Seed: 1},
	}
}

// LoadConfig reads a YAML config. Unknown fields are errors. Defaults are
// applied and the config validated by New.
func LoadConfig(path string) (Config, error) {
	var cfg Config
	if err := simkit.LoadYAML(path, &cfg); err != nil {
		return Config{}, fmt.Errorf("binancesim: %w", err)
	}
	return cfg, nil
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.RateLimits == nil {
		c.RateLimits = DefaultRateLimits()
	}
	if c.Ban.After == 0 {
		c.Ban.After = 2
	}
	if c.Ban.First == 0 {
		c.Ban.First = 2 * time.Minute
	}
	if c.Ban.Max == 0 {
		c.Ban.Max = 72 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first problem of a config with defaults applied.
func (c Config) Validate() error {
	if len(c.Accounts) == 0 {
		return errors.New("binancesim: no accounts")
	}
	ids := map[string]bool{}
	keys := map[string]bool{}
	for i, a := range c.Accounts {
		if a.ID == "" {
			return fmt.Errorf("binancesim: accounts[%d]: empty id", i)
		}
		if ids[a.ID] {
			return fmt.Errorf("binancesim: accounts[%d]: id %q repeated", i, a.ID)
		}
		ids[a.ID] = true
		if _, err := simkit.Balances(fmt.Sprintf("accounts[%d]", i), a.Balances); err != nil {
			return fmt.Errorf("binancesim: %w", err)
		}
		for j, k := range a.Keys {
			if k.APIKey == "" {
				return fmt.Errorf("binancesim: accounts[%d].keys[%d]: empty api_key", i, j)
			}
			if keys[k.APIKey] {
				return fmt.Errorf("binancesim: accounts[%d].keys[%d]: api_key used twice", i, j)
			}
			keys[k.APIKey] = true
			switch k.Type {
			case "", "hmac", "ed25519", "rsa":
			default:
				return fmt.Errorf("binancesim: accounts[%d].keys[%d].type: %q is not hmac, ed25519 or rsa", i, j, k.Type)
			}
		}
	}
	for i, l := range c.RateLimits {
		switch l.Type {
		case "REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS":
		default:
			return fmt.Errorf("binancesim: rate_limits[%d].type: %q is not REQUEST_WEIGHT, ORDERS or RAW_REQUESTS", i, l.Type)
		}
		if _, ok := intervalUnit[l.Interval]; !ok {
			return fmt.Errorf("binancesim: rate_limits[%d].interval: %q is not SECOND, MINUTE, HOUR or DAY", i, l.Interval)
		}
		if l.IntervalNum <= 0 || l.Limit <= 0 {
			return fmt.Errorf("binancesim: rate_limits[%d]: interval_num and limit must be > 0", i)
		}
	}
	if c.Ban.After < 0 || c.Ban.First < 0 || c.Ban.Max < c.Ban.First {
		return errors.New("binancesim: ban: after and first must be >= 0 and max >= first")
	}
	if err := c.Market.Validate(); err != nil {
		return fmt.Errorf("binancesim: %w", err)
	}
	return nil
}

// verifier checks one key's signatures.
type verifier struct {
	account string
	apiKey  string
	kind    string // hmac, ed25519, rsa
	secret  []byte
	pub     crypto.PublicKey
	enabled bool
}

// buildKey resolves a key's secret or public key.
func buildKey(account string, k KeyConfig) (*verifier, error) {
	v := &verifier{account: account, apiKey: k.APIKey, kind: k.Type, enabled: !k.Disabled}
	if v.kind == "" {
		v.kind = "hmac"
	}
	name := fmt.Sprintf("binancesim: account %s key %s", account, k.APIKey)
	switch v.kind {
	case "hmac":
		secret := k.Secret
		set := 0
		for _, v := range []string{k.Secret, k.SecretEnv, k.SecretFile} {
			if v != "" {
				set++
			}
		}
		if set > 1 {
			return nil, fmt.Errorf("%s: give one of secret, secret_env and secret_file", name)
		}
		switch {
		case k.SecretEnv != "":
			secret = os.Getenv(k.SecretEnv)
			if secret == "" {
				// The variable's name is no secret; its value never appears.
				return nil, fmt.Errorf("%s: environment variable %s is empty", name, k.SecretEnv)
			}
		case k.SecretFile != "":
			b, err := os.ReadFile(k.SecretFile)
			if err != nil {
				// The error names the file, never its content.
				return nil, fmt.Errorf("%s: secret_file: %w", name, err)
			}
			if secret = strings.TrimSpace(string(b)); secret == "" {
				return nil, fmt.Errorf("%s: secret_file %s is empty", name, k.SecretFile)
			}
		}
		if secret == "" {
			return nil, fmt.Errorf("%s: no secret", name)
		}
		v.secret = []byte(secret)
	default:
		pub, err := parsePublicKey(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("%s: public_key: %w", name, err)
		}
		switch pub.(type) {
		case ed25519.PublicKey:
			if v.kind != "ed25519" {
				return nil, fmt.Errorf("%s: public_key is ed25519, type is %s", name, v.kind)
			}
		case *rsa.PublicKey:
			if v.kind != "rsa" {
				return nil, fmt.Errorf("%s: public_key is rsa, type is %s", name, v.kind)
			}
		default:
			return nil, fmt.Errorf("%s: unsupported public key type %T", name, pub)
		}
		v.pub = pub
	}
	return v, nil
}

func parsePublicKey(s string) (crypto.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("missing")
	}
	var der []byte
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		der = blk.Bytes
	} else {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("neither PEM nor base64")
		}
		if len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
		der = b
	}
	return x509.ParsePKIXPublicKey(der)
}
