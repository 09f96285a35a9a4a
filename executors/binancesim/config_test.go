package binancesim_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

const yamlConfig = `
accounts:
  - id: main
    balances: {USDT: "1000", BTC: "0.5"}
    keys:
      - api_key: main-key
        secret: main-secret   # inline: allowed because this is a test exchange
      - api_key: main-key-2
        type: hmac
        secret_env: BINANCESIM_YAML_SECRET
symbols:
  - symbol: BTC-USDT
    price: "60000"
    tick_size: "0.01"
    step_size: "0.00001"
    min_qty: "0.00001"
    max_qty: "100"
    min_notional: "5"
    volatility: "0.001"
    max_fill_qty: "1"
rate_limits:
  - {type: REQUEST_WEIGHT, interval: MINUTE, interval_num: 1, limit: 100}
  - {type: ORDERS, interval: SECOND, interval_num: 10, limit: 5}
ban: {after: 3, first: 1m, max: 1h}
price_tick: 50ms
seed: 42
maker_fee: "0.001"
taker_fee: "0.001"
faults:
  latency: 1ms
  latency_jitter: 1ms
  error_5xx_rate: 0
  timeout_rate: 0
  timeout_applies_rate: 0.5
  drop_stream_every: 0
trust_forwarded_for: false
`

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sim.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	t.Setenv("BINANCESIM_YAML_SECRET", "env-secret")
	cfg, err := binancesim.LoadConfig(writeFile(t, yamlConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PriceTick != 50*time.Millisecond || cfg.Ban.First != time.Minute || cfg.Symbols[0].MaxFillQty.String() != "1" ||
		cfg.Faults.TimeoutAppliesRate != 0.5 || cfg.Accounts[0].Balances["BTC"] != "0.5" {
		t.Fatalf("got %+v", cfg)
	}
	_, base := start(t, cfg)
	c := newClient(t, base, "main-key-2", "env-secret", nil)
	bal := accountBalances(t, c)
	if bal["BTC"].Free != "0.50000000" || bal["USDT"].Free != "1000.00000000" {
		t.Fatalf("balances: got %+v", bal)
	}
	a := c.public(http.MethodGet, "/api/v3/exchangeInfo", nil)
	var info struct{ RateLimits []map[string]any }
	a.decode(t, &info)
	if len(info.RateLimits) != 2 {
		t.Fatalf("rateLimits: got %+v", info.RateLimits)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown field", "accounts: []\nbogus: 1\n", "bogus"},
		{"unknown nested field", "accounts:\n  - id: a\n    keyz: []\n", "keyz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := binancesim.LoadConfig(writeFile(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		edit func(*binancesim.Config)
	}{
		{"no accounts", func(c *binancesim.Config) { c.Accounts = nil }},
		{"bad balance", func(c *binancesim.Config) { c.Accounts[0].Balances["BTC"] = "lots" }},
		{"no secret", func(c *binancesim.Config) { c.Accounts[0].Keys[0].Secret = "" }},
		{"key twice", func(c *binancesim.Config) { c.Accounts[1].Keys[0].APIKey = "acct1-key" }},
		{"bad limit", func(c *binancesim.Config) { c.RateLimits[0].Interval = "WEEK" }},
		{"bad rate", func(c *binancesim.Config) { c.Faults.Error5xxRate = 2 }},
		{"bad key type", func(c *binancesim.Config) { c.Accounts[0].Keys[0].Type = "dsa" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := binancesim.DefaultConfig()
			tc.edit(&cfg)
			if srv, err := binancesim.New(cfg); err == nil {
				srv.Close()
				t.Fatal("New: got nil error")
			}
		})
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	cfg := binancesim.DefaultConfig()
	cfg.Accounts[0].Keys[0].Type = "ed25519" // with a secret and no public key
	_, err := binancesim.New(cfg)
	if err == nil || strings.Contains(err.Error(), "acct1-secret") {
		t.Fatalf("got %v", err)
	}
}

func TestRun(t *testing.T) {
	cfg := binancesim.DefaultConfig()
	cfg.PriceTick = time.Millisecond
	srv, err := binancesim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, "127.0.0.1:0") }()
	start := srv.Exchange().Price("BTC-USDT")
	bustest.WaitFor(t, "the price to move", func() bool { return !srv.Exchange().Price("BTC-USDT").Equal(start) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestExampleConfigFile(t *testing.T) {
	t.Setenv("BINANCESIM_ACCT2_SECRET", "acct2-secret")
	cfg, err := binancesim.LoadConfig(filepath.Join("testdata", "sim.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, base := start(t, cfg)
	for _, k := range []string{"acct1", "acct2"} {
		c := newClient(t, base, k+"-key", k+"-secret", nil)
		if b := accountBalances(t, c)["BTC"]; b.Free != "1000.00000000" {
			t.Fatalf("%s BTC: got %+v", k, b)
		}
	}
}
