package okxsim

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/keyrouter/keyrouter/executors/internal/simkit"
)

// Config configures a Server. The zero value of every field but Accounts
// means its default (see DefaultConfig); LoadConfig reads one from YAML.
type Config struct {
	// Accounts are the exchange's sub-accounts (OKX user IDs); at least one.
	Accounts []AccountConfig `yaml:"accounts"`
	// Limits are the rate limits enforced; zero fields take OKX's figures
	// (DefaultLimits).
	Limits Limits `yaml:"limits"`
	// Market: the SPOT instruments (instId BASE-QUOTE), price moves,
	// fees, faults (the private WebSocket counts as a stream), client
	// addresses and the clock (timestamps, expTime, limit windows).
	simkit.Market `yaml:",inline"`
}

// AccountConfig is one sub-account: one OKX user ID, so one set of
// rate-limit counters shared by all its keys.
type AccountConfig struct {
	ID string `yaml:"id"`
	// UID is the user ID shown in pushes; made from the account's position
	// if empty.
	UID string `yaml:"uid"`
	// Balances are the starting free amounts per asset, as decimal strings.
	// Nil means unlimited.
	Balances map[string]string `yaml:"balances"`
	Keys     []KeyConfig       `yaml:"keys"`
	// AccRateLimit is the sub-account limit of new and amended orders per
	// Limits.SubAccountWindow, enforced (50061) and reported by GET
	// /api/v5/trade/account-rate-limit; 1000 (OKX's tier 1) if zero.
	AccRateLimit int64 `yaml:"acc_rate_limit"`
}

// KeyConfig is one API key of a sub-account. Because this is a test
// exchange, the secret and passphrase may be written inline; SecretEnv
// and PassphraseEnv name environment variables instead.
type KeyConfig struct {
	APIKey        string `yaml:"api_key"`
	Secret        string `yaml:"secret"`
	SecretEnv     string `yaml:"secret_env"`
	Passphrase    string `yaml:"passphrase"`
	PassphraseEnv string `yaml:"passphrase_env"`
	// Disabled keys are refused with 50111, like a deleted key.
	Disabled bool `yaml:"disabled"`
}

// SymbolConfig is one SPOT instrument, BASE-QUOTE (OKX's instId form).
// tickSz is TickSize, lotSz StepSize, minSz MinQty, maxLmtSz and maxMktSz
// MaxQty. MinNotional is enforced (51020) but not published: OKX's
// instruments carry no such field.
type SymbolConfig = simkit.SymbolConfig

// Limit is at most Max requests in any Window (a sliding window).
type Limit struct {
	Max    int64         `yaml:"max"`
	Window time.Duration `yaml:"window"`
}

// Limits are the enforced rate limits, each counted in a sliding window
// over the time requests arrive. Per instrument means per sub-account
// and instrument.
type Limits struct {
	// Place, Cancel, Amend and OrderQuery are per instrument: 60 per 2 s
	// (50011, HTTP 429, past them).
	Place      Limit `yaml:"place"`
	Cancel     Limit `yaml:"cancel"`
	Amend      Limit `yaml:"amend"`
	OrderQuery Limit `yaml:"order_query"`
	// SubAccountWindow is the window of the sub-account limit of new and
	// amended orders (its max is each account's AccRateLimit): 2 s.
	SubAccountWindow time.Duration `yaml:"sub_account_window"`
	// Pending, Fills and AccountRateLimit are per sub-account: orders
	// pending 60 per 2 s, fills 60 per 2 s, account-rate-limit 1 per 1 s.
	Pending          Limit `yaml:"pending"`
	Fills            Limit `yaml:"fills"`
	AccountRateLimit Limit `yaml:"account_rate_limit"`
	// Instruments, Time and Tickers are per IP: 20, 10 and 20 per 2 s.
	Instruments Limit `yaml:"instruments"`
	Time        Limit `yaml:"time"`
	Tickers     Limit `yaml:"tickers"`
}

// DefaultLimits are OKX's published figures.
func DefaultLimits() Limits {
	two := 2 * time.Second
	return Limits{
		Place: Limit{60, two}, Cancel: Limit{60, two}, Amend: Limit{60, two}, OrderQuery: Limit{60, two},
		SubAccountWindow: two,
		Pending:          Limit{60, two}, Fills: Limit{60, two}, AccountRateLimit: Limit{1, time.Second},
		Instruments: Limit{20, two}, Time: Limit{10, two}, Tickers: Limit{20, two},
	}
}

// DefaultAccRateLimit is the sub-account limit below VIP5 (tier 1).
const DefaultAccRateLimit = 1000

// Faults injects failures. Rates are probabilities in [0, 1], drawn from a
// generator seeded by Config.Seed. A path of Paths may name a method
// ("POST /api/v5/trade/order").
type Faults = simkit.Faults

// DefaultConfig has two sub-accounts, sub1 and sub2, each with one key
// ("sub1-key"/"sub2-key", secrets "sub1-secret"/"sub2-secret",
// passphrases "sub1-pass"/"sub2-pass") and large balances of BTC, ETH and
// USDT, the default symbols and OKX's limits.
func DefaultConfig() Config {
	bal := func() map[string]string {
		return map[string]string{"BTC": "1000", "ETH": "10000", "USDT": "100000000"}
	}
	return Config{
		Accounts: []AccountConfig{
			{ID: "sub1", Balances: bal(), Keys: []KeyConfig{{APIKey: "sub1-key", Secret: "sub1-secret", Passphrase: "sub1-pass"}}},
			{ID: "sub2", Balances: bal(), Keys: []KeyConfig{{APIKey: "sub2-key", Secret: "sub2-secret", Passphrase: "sub2-pass"}}},
		},
		Market: simkit.Market{Seed: 1},
	}
}

// LoadConfig reads a YAML config. Unknown fields are errors. Defaults are
// applied and the config validated by New.
func LoadConfig(path string) (Config, error) {
	var cfg Config
	if err := simkit.LoadYAML(path, &cfg); err != nil {
		return Config{}, fmt.Errorf("okxsim: %w", err)
	}
	return cfg, nil
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultLimits()
	l := &c.Limits
	for _, p := range []struct{ got, def *Limit }{
		{&l.Place, &d.Place}, {&l.Cancel, &d.Cancel}, {&l.Amend, &d.Amend}, {&l.OrderQuery, &d.OrderQuery},
		{&l.Pending, &d.Pending}, {&l.Fills, &d.Fills}, {&l.AccountRateLimit, &d.AccountRateLimit},
		{&l.Instruments, &d.Instruments}, {&l.Time, &d.Time}, {&l.Tickers, &d.Tickers},
	} {
		if p.got.Max == 0 {
			p.got.Max = p.def.Max
		}
		if p.got.Window == 0 {
			p.got.Window = p.def.Window
		}
	}
	if l.SubAccountWindow == 0 {
		l.SubAccountWindow = d.SubAccountWindow
	}
	accts := make([]AccountConfig, len(c.Accounts))
	copy(accts, c.Accounts)
	for i := range accts {
		if accts[i].AccRateLimit == 0 {
			accts[i].AccRateLimit = DefaultAccRateLimit
		}
		if accts[i].UID == "" {
			accts[i].UID = fmt.Sprintf("6144%08d", i+1)
		}
	}
	c.Accounts = accts
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first problem of a config with defaults applied.
func (c Config) Validate() error {
	if len(c.Accounts) == 0 {
		return errors.New("okxsim: no accounts")
	}
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, a := range c.Accounts {
		if a.ID == "" {
			return fmt.Errorf("okxsim: accounts[%d]: empty id", i)
		}
		if ids[a.ID] {
			return fmt.Errorf("okxsim: accounts[%d]: id %q repeated", i, a.ID)
		}
		ids[a.ID] = true
		if a.AccRateLimit < 0 {
			return fmt.Errorf("okxsim: accounts[%d].acc_rate_limit: must be > 0", i)
		}
		if _, err := simkit.Balances(fmt.Sprintf("accounts[%d]", i), a.Balances); err != nil {
			return fmt.Errorf("okxsim: %w", err)
		}
		for j, k := range a.Keys {
			if k.APIKey == "" {
				return fmt.Errorf("okxsim: accounts[%d].keys[%d]: empty api_key", i, j)
			}
			if keys[k.APIKey] {
				return fmt.Errorf("okxsim: accounts[%d].keys[%d]: api_key used twice", i, j)
			}
			keys[k.APIKey] = true
		}
	}
	l := c.Limits
	for name, lim := range map[string]Limit{
		"place": l.Place, "cancel": l.Cancel, "amend": l.Amend, "order_query": l.OrderQuery,
		"pending": l.Pending, "fills": l.Fills, "account_rate_limit": l.AccountRateLimit,
		"instruments": l.Instruments, "time": l.Time, "tickers": l.Tickers,
	} {
		if lim.Max <= 0 || lim.Window <= 0 {
			return fmt.Errorf("okxsim: limits.%s: max and window must be > 0", name)
		}
	}
	if l.SubAccountWindow <= 0 {
		return errors.New("okxsim: limits.sub_account_window must be > 0")
	}
	if err := c.Market.Validate(); err != nil {
		return fmt.Errorf("okxsim: %w", err)
	}
	for i, s := range c.Symbols {
		if !instIDRe.MatchString(s.Symbol) {
			return fmt.Errorf("okxsim: symbols[%d]: symbol %q is not BASE-QUOTE", i, s.Symbol)
		}
	}
	return nil
}

var instIDRe = regexp.MustCompile(`^[A-Z0-9]+-[A-Z0-9]+$`)

// resolve returns a key's secret or passphrase: inline, or from the
// environment variable named. Its errors never quote the value.
func resolve(what, inline, env string) (string, error) {
	if env != "" {
		if inline != "" {
			return "", fmt.Errorf("both %s and %s_env set", what, what)
		}
		v := os.Getenv(env)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty", env)
		}
		return v, nil
	}
	if inline == "" {
		return "", fmt.Errorf("no %s", what)
	}
	return inline, nil
}
