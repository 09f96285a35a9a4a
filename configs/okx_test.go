package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOKXKeys(t *testing.T) {
	c, err := Parse([]byte(`
venues: {okx: {kind: okx, recv_window: 2s}}
keys:
  o1: {venue: okx, account: sub1, api_key: k1, secret_env: S1, passphrase_env: P1}
  o2: {venue: okx, account: sub1, api_key: k2, secret_env: S2, passphrase_file: ` + filepath.Join(t.TempDir(), "p2") + `}
strategies: {s: {keys: [o1, o2]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if k := c.Keys["o1"]; k.Preset != "okx" || k.Account != "sub1" {
		t.Errorf("o1 = %+v, want the okx preset", k)
	}
	t.Setenv("P1", "pass-one")
	if p, err := c.LoadPassphrase("o1"); err != nil || string(p) != "pass-one" {
		t.Errorf("LoadPassphrase(o1) = %q, %v", p, err)
	}
	// A passphrase file readable by others is refused, naming the file
	// and never the passphrase.
	f := c.Keys["o2"].PassphraseFile
	if err := os.WriteFile(f, []byte("pass-two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadPassphrase("o2"); err == nil || !strings.Contains(err.Error(), "readable by group or others") || strings.Contains(err.Error(), "pass-two") {
		t.Errorf("world-readable passphrase file: %v", err)
	}
	os.Chmod(f, 0o600)
	if p, err := c.LoadPassphrase("o2"); err != nil || string(p) != "pass-two" {
		t.Errorf("LoadPassphrase(o2) = %q, %v", p, err)
	}
	t.Setenv("P1", "")
	if _, err := c.LoadPassphrase("o1"); err == nil || !strings.Contains(err.Error(), "P1") {
		t.Errorf("unset variable: %v", err)
	}
	c.Keys["o3"] = Key{Venue: "okx"}
	if _, err := c.LoadPassphrase("o3"); !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("no passphrase named: %v", err)
	}
}

func TestOKXValidation(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"no passphrase", `venues: {okx: {kind: okx}}
keys: {o: {venue: okx, api_key: k, secret_env: S}}`, "keys.o: an okx key needs api_key, secret_env or secret_file, and passphrase_env or passphrase_file"},
		{"both passphrase sources", `venues: {okx: {kind: okx, simulate: true}}
keys: {o: {venue: okx, passphrase_env: P, passphrase_file: f}}`, "keys.o: passphrase_env and passphrase_file are exclusive"},
		{"passphrase on binance", `venues: {b: {kind: binance, simulate: true}}
keys: {o: {venue: b, passphrase_env: P}}`, "keys.o: passphrase_env and passphrase_file are for okx keys"},
		{"user_stream", `venues: {okx: {kind: okx, simulate: true, user_stream: wsapi}}
keys: {o: {venue: okx}}`, "venues.okx.user_stream"},
		{"ed25519", `venues: {okx: {kind: okx, simulate: true}}
keys: {o: {venue: okx, key_type: ed25519}}`, "keys.o.key_type: okx keys are hmac"},
		{"simulate with urls", `venues: {okx: {kind: okx, simulate: true, base_url: "http://x"}}
keys: {o: {venue: okx}}`, "venues.okx: simulate serves its own URLs"},
		{"demo on binance", `venues: {b: {kind: binance, simulate: true, demo: true}}
keys: {o: {venue: b}}`, "venues.b.demo: is an okx setting"},
		{"unknown kind", `venues: {x: {kind: kraken}}
keys: {o: {venue: x}}`, "known: paper, binance, okx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml + "\nstrategies: {s: {keys: [o]}}\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Simulated keys need no credentials.
	if _, err := Parse([]byte("venues: {okx: {kind: okx, simulate: true}}\nkeys: {o: {venue: okx}}\nstrategies: {s: {keys: [o]}}\n")); err != nil {
		t.Errorf("simulated okx key: %v", err)
	}
}

// The README's two-venue example is a valid config.
func TestREADMETwoVenueExample(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## OKX spot")
	if !ok {
		t.Fatal("README has no OKX section")
	}
	_, block, ok := strings.Cut(sec, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in the README's OKX section")
	}
	c, err := Parse([]byte(block))
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if c.Venues["okx"].Kind != "okx" || c.Keys["okx-2"].PassphraseFile == "" || c.Keys["okx-1"].Preset != "okx" || c.Keys["bn-1"].Preset != "binance" {
		t.Errorf("README example parsed as %+v", c)
	}
}
