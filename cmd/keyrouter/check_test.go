package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `check` refuses what `run` would refuse, at the limit's path: here a
// sliding window the budget cannot hold exactly.
func TestCheckRefusesWhatRunRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	cfg := "venues: {p: {kind: paper}}\nkeys: {k: {venue: p, limits: [{name: s, shape: sliding, max: 100000000, window: 1s}]}}\nstrategies: {s: {keys: [k]}}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", path}, &out, &errOut); code != 1 {
		t.Fatalf("check exited %d (stdout %q), want 1", code, out.String())
	}
	if want := "keys.k.limits[0].max: 100000000 too large for an exact sliding window"; !strings.Contains(errOut.String(), want) {
		t.Errorf("check said %q, want it to contain %q", errOut.String(), want)
	}
}
