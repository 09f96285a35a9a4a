package simkit

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// Market is the part of a simulator's config that every simulator has:
// its market (symbols, price moves, fees) and how it behaves as a server
// (faults, client addresses, clock). A simulator's Config embeds it
// inline, so its YAML fields sit beside the simulator's own.
type Market struct {
	// Symbols are the tradable symbols; paper.DefaultSymbols if empty.
	Symbols []SymbolConfig `yaml:"symbols"`
	// PriceTick is how often the reference prices move (paper's Step);
	// zero: prices move only when a test moves them.
	PriceTick time.Duration `yaml:"price_tick"`
	// Seed seeds the price walk and the fault injection.
	Seed int64 `yaml:"seed"`
	// MakerFee and TakerFee are fee rates on the notional ("0.001" is
	// 0.1%); zero by default.
	MakerFee decimal.Decimal `yaml:"maker_fee"`
	TakerFee decimal.Decimal `yaml:"taker_fee"`
	// Faults injects failures for reliability tests.
	Faults Faults `yaml:"faults"`
	// TrustForwardedFor takes the client IP from the first
	// X-Forwarded-For address when present, so tests on loopback can act
	// as several IPs (limits per IP).
	TrustForwardedFor bool `yaml:"trust_forwarded_for"`
	// Now is the clock (timestamps, signature windows, limit windows,
	// engine times); time.Now if nil. Tests inject one.
	Now func() time.Time `yaml:"-"`
}

// SymbolConfig is one symbol in the engine's form BASE-QUOTE (each
// simulator says how it shows it on the wire).
type SymbolConfig struct {
	Symbol      string          `yaml:"symbol"`
	Price       decimal.Decimal `yaml:"price"`
	TickSize    decimal.Decimal `yaml:"tick_size"`
	StepSize    decimal.Decimal `yaml:"step_size"`
	MinQty      decimal.Decimal `yaml:"min_qty"`
	MaxQty      decimal.Decimal `yaml:"max_qty"`
	MinNotional decimal.Decimal `yaml:"min_notional"`
	Volatility  decimal.Decimal `yaml:"volatility"`
	MaxFillQty  decimal.Decimal `yaml:"max_fill_qty"`
}

// Validate reports the first problem of m (a field's YAML path first).
func (m Market) Validate() error {
	if err := m.Faults.Validate(); err != nil {
		return err
	}
	for i, s := range m.Symbols {
		if base, quote, ok := strings.Cut(s.Symbol, "-"); !ok || base == "" || quote == "" {
			return fmt.Errorf("symbols[%d]: symbol %q is not BASE-QUOTE", i, s.Symbol)
		}
	}
	return nil
}

// Exchange is a new matching engine of m's market, with accounts'
// balances (nil: any account, unlimited); extra adjusts the engine's
// config first.
func (m Market) Exchange(accounts map[string]map[string]decimal.Decimal, extra func(*paper.Config)) (*paper.Exchange, error) {
	cfg := paper.Config{
		Symbols: m.paperSymbols(), Seed: m.Seed, MakerFee: m.MakerFee, TakerFee: m.TakerFee,
		Accounts: accounts, Clock: m.Now, SubscriberBuffer: 1 << 14,
	}
	if extra != nil {
		extra(&cfg)
	}
	return paper.NewExchange(cfg)
}

func (m Market) paperSymbols() []paper.SymbolSpec {
	if len(m.Symbols) == 0 {
		return paper.DefaultSymbols()
	}
	out := make([]paper.SymbolSpec, len(m.Symbols))
	for i, s := range m.Symbols {
		base, quote, _ := strings.Cut(s.Symbol, "-")
		out[i] = paper.SymbolSpec{
			Symbol: s.Symbol, Base: base, Quote: quote, RefPrice: s.Price, TickSize: s.TickSize, StepSize: s.StepSize,
			MinQty: s.MinQty, MaxQty: s.MaxQty, MinNotional: s.MinNotional,
			Volatility: s.Volatility, MaxFillQty: s.MaxFillQty,
		}
	}
	return out
}

// Balances reads an account's starting balances (decimal strings by
// asset); nil stays nil (unlimited). name prefixes its errors, e.g.
// "accounts[0]".
func Balances(name string, m map[string]string) (map[string]decimal.Decimal, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]decimal.Decimal, len(m))
	for asset, v := range m {
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() {
			return nil, fmt.Errorf("%s.balances.%s: %q is not a decimal >= 0", name, asset, v)
		}
		out[asset] = d
	}
	return out, nil
}

// LoadYAML decodes the YAML file at path into cfg strictly (an unknown
// field is an error).
func LoadYAML(path string, cfg any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
