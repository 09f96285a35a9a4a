package configs

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// Decimal is a decimal number of the config (a fee rate, a notional),
// decoded once at load. YAML may write it as a string ("0.001") or a
// number (0.001); either way it is read from its literal text, never
// through float64. The zero value is unset, as is an empty string.
type Decimal struct {
	d   decimal.Decimal
	set bool
}

// NewDecimal returns d as a set Decimal (configs written in Go).
func NewDecimal(d decimal.Decimal) Decimal { return Decimal{d: d, set: true} }

// Get returns the value and whether it is set.
func (d Decimal) Get() (decimal.Decimal, bool) { return d.d, d.set }

// Value returns the value, zero if unset.
func (d Decimal) Value() decimal.Decimal { return d.d }

// IsSet reports whether the config gives a value.
func (d Decimal) IsSet() bool { return d.set }

// String is the value's decimal text, "" if unset.
func (d Decimal) String() string {
	if !d.set {
		return ""
	}
	return d.d.String()
}

// UnmarshalYAML reads a scalar's literal text as a decimal.
func (d *Decimal) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a decimal, got a %s", n.Line, kindName(n.Kind))}}
	}
	if n.Value == "" || n.Tag == "!!null" {
		*d = Decimal{}
		return nil
	}
	v, err := decimal.NewFromString(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a decimal", n.Line, n.Value)}}
	}
	*d = NewDecimal(v)
	return nil
}

// MarshalYAML writes the value as a string (nothing if unset).
func (d Decimal) MarshalYAML() (any, error) { return d.String(), nil }

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	}
	return "non-scalar"
}

// Policy picks a key of a strategy's pool for each intent; the router
// ranks the pool by it (router.Rank).
type Policy string

// Key-selection policies.
const (
	// PolicyFailover takes the pool in order: the next key takes over
	// while the ones before it are unusable. The default.
	PolicyFailover Policy = "failover"
	// PolicyPinned sends every intent to the pool's only key: the
	// strategy owns it, and nothing else is tried when it is unusable.
	PolicyPinned Policy = "pinned"
	// PolicySticky sends each symbol always to the same key of the pool
	// (keys that are sub-accounts: a position lives on one account).
	PolicySticky Policy = "sticky"
	// PolicyLeastLoaded sends each intent to the key with the most free
	// capacity now (keys that share one account).
	PolicyLeastLoaded Policy = "least_loaded"
)

// ErrUnknownPolicy is returned by ParsePolicy for a name it does not know.
var ErrUnknownPolicy = errors.New("configs: unknown key policy")

// ParsePolicy returns the policy named s; "" means failover.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case "":
		return PolicyFailover, nil
	case PolicyPinned, PolicySticky, PolicyLeastLoaded, PolicyFailover:
		return p, nil
	}
	return "", fmt.Errorf("%w %q: want one of %s, %s, %s or %s (empty means %s)", ErrUnknownPolicy, s,
		PolicyPinned, PolicySticky, PolicyLeastLoaded, PolicyFailover, PolicyFailover)
}
