package configs

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Policy
	}{
		{"", PolicyFailover},
		{"pinned", PolicyPinned},
		{"sticky", PolicySticky},
		{"least_loaded", PolicyLeastLoaded},
		{"failover", PolicyFailover},
	} {
		got, err := ParsePolicy(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"Sticky", "round_robin", "least-loaded", " pinned"} {
		got, err := ParsePolicy(in)
		if !errors.Is(err, ErrUnknownPolicy) {
			t.Errorf("ParsePolicy(%q) = %q, %v; want ErrUnknownPolicy", in, got, err)
			continue
		}
		for _, name := range []string{"pinned", "sticky", "least_loaded", "failover"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("ParsePolicy(%q) error %q does not name %s", in, err, name)
			}
		}
	}
}

// Decimals are read once, at load, from their literal text: as strings or
// numbers; an empty one is unset; one that is not a decimal fails the
// load naming its line.
func TestDecimalsDecodeAtLoad(t *testing.T) {
	c, err := Parse([]byte(`
venues: {p: {kind: paper, maker_fee: 0.0002, taker_fee: "0.00075"}}
keys: {k: {venue: p, permissions: {max_notional: ""}}}
strategies: {s: {keys: [k], risk: {max_order_notional: 100000.000000000000000001}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	v := c.Venues["p"]
	if v.MakerFee.String() != "0.0002" || v.TakerFee.String() != "0.00075" {
		t.Errorf("fees %s and %s, want 0.0002 and 0.00075", v.MakerFee, v.TakerFee)
	}
	if c.Keys["k"].Permissions.MaxNotional.IsSet() {
		t.Errorf("max_notional \"\" is set: %s", c.Keys["k"].Permissions.MaxNotional)
	}
	if got := c.Strategies["s"].Risk.MaxOrderNotional.String(); got != "100000.000000000000000001" {
		t.Errorf("max_order_notional %s: read through a float64?", got)
	}
	if c.Strategies["s"].Policy != PolicyFailover {
		t.Errorf("policy %q, want the default %q", c.Strategies["s"].Policy, PolicyFailover)
	}
	_, err = Parse([]byte("venues: {p: {kind: paper}}\nkeys: {k: {venue: p}}\nstrategies:\n  s:\n    keys: [k]\n    risk: {price_band: 5%}\n"))
	if err == nil || !strings.Contains(err.Error(), `line 6: "5%" is not a decimal`) {
		t.Errorf("got %v, want an error naming line 6", err)
	}
}
