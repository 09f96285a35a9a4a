package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultConfig(t *testing.T) {
	c := Default()
	if got := c.StrategyKeys("alpha"); strings.Join(got, ",") != "alpha-1,alpha-2" {
		t.Errorf("alpha keys %v", got)
	}
	if got := c.StrategyKeys("beta"); strings.Join(got, ",") != "beta-1,beta-2" {
		t.Errorf("beta keys %v", got)
	}
	k := c.Keys["alpha-1"]
	if k.Venue != "binance" || k.QueueSize != DefaultQueueSize || k.Account != "alpha-1" || k.Preset != "binance" || k.IP != "default" {
		t.Errorf("alpha-1 = %+v", k)
	}
	if v := c.Venues["binance"]; v.Kind != "binance" || !v.Simulate || c.Streams.Replicas != 1 {
		t.Errorf("venue %+v streams %+v", v, c.Streams)
	}
	p, err := Parse([]byte("venues: {paper: {kind: paper}}\nkeys: {k: {venue: paper}}\nstrategies: {s: {keys: [k]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Venues["paper"].TakerFee.Value().Equal(DefaultPaperFee) || p.Venues["paper"].Tick != DefaultPaperTick || p.Keys["k"].Preset != "" {
		t.Errorf("paper defaults not applied: %+v %+v", p.Venues["paper"], p.Keys["k"])
	}
}

func TestUnknownFieldIsAnError(t *testing.T) {
	_, err := Parse([]byte("keys:\n  k:\n    venue: paper\n    queue_sise: 3\n"))
	if err == nil || !strings.Contains(err.Error(), "queue_sise") || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("got %v, want an error naming queue_sise at line 4", err)
	}
}

func TestValidationNamesEveryPath(t *testing.T) {
	_, err := Parse([]byte(`
venues:
  paper: {kind: paper, taker_fee: "2"}
  other: {kind: ftx}
  ok: {kind: paper}
keys:
  k1:
    venue: nowhere
    limits:
      - {name: a, shape: fixed, max: 0, window: 1s}
      - {name: b, shape: wobbly, max: 1}
      - {name: c, shape: fixed, max: 1, window: 1s, margin: 1.5, scope: planet, costs: {bogus: 1}}
      - {name: d, shape: sliding, max: 1}
  k2:
    venue: ok
    limits:
      - {name: a, shape: fixed, max: 1, window: 1s}
      - {name: a, shape: fixed, max: 2, window: 1s}
    venue_limits: [{name: v, shape: bucket, max: 1, rate: 1}]
strategies:
  s: {keys: [k1, k1, k9]}
streams: {replicas: 2}
`))
	var verrs ValidationErrors
	if !errors.As(err, &verrs) {
		t.Fatalf("got %v, want ValidationErrors", err)
	}
	text := err.Error()
	for _, want := range []string{
		"venues.other.kind", "venues.paper.taker_fee", "keys.k1.venue",
		"keys.k1.limits[0].max", "keys.k1.limits[1].shape", "keys.k1.limits[2].margin",
		"keys.k1.limits[2].scope", "keys.k1.limits[2].costs.bogus", "keys.k1.limits[3].window",
		"keys.k2.venue_limits[0].shape",
		"strategies.s.keys[1]", "strategies.s.keys[2]", "streams.replicas",
	} {
		if !strings.Contains(text, want+":") {
			t.Errorf("no error for %s in:\n%s", want, text)
		}
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(good, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(loose, []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KR_TEST_SECRET", "from-env")
	c, err := Parse([]byte(`
venues: {paper: {kind: paper}}
keys:
  env: {venue: paper, secret_env: KR_TEST_SECRET}
  unset: {venue: paper, secret_env: KR_TEST_NOT_SET}
  file: {venue: paper, secret_file: ` + good + `}
  loose: {venue: paper, secret_file: ` + loose + `}
  none: {venue: paper}
strategies: {s: {keys: [env]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, want, errText string }{
		{"env", "from-env", ""},
		{"file", "s3cret", ""},
		{"unset", "", "KR_TEST_NOT_SET is not set"},
		{"loose", "", "readable by group or others"},
		{"none", "", "no secret_env or secret_file"},
	} {
		got, err := c.LoadSecret(tc.key)
		if tc.errText == "" {
			if err != nil || string(got) != tc.want {
				t.Errorf("%s: got %q, %v; want %q", tc.key, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.errText) {
			t.Errorf("%s: got %v, want an error containing %q", tc.key, err, tc.errText)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the secret: %v", tc.key, err)
		}
	}
}
