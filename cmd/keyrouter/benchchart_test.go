package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `keyrouter bench chart` draws the RSS chart from saved `bench --json`
// outputs, skipping their human-readable lines.
func TestBenchChartCommand(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"a.txt": "scenario keys: 0 intents\n" + `{"scenario":"keys","keys":{"keys":100,"rss_mb":50,"base_rss_mb":30}}` + "\n",
		"b.txt": `{"scenario":"keys","keys":{"keys":1000,"rss_mb":250,"base_rss_mb":30}}` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "rss.svg")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bench", "chart", "--out", out, filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")}, &stdout, &stderr); code != 0 {
		t.Fatalf("bench chart exited %d: %s", code, stderr.String())
	}
	svg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// 100 keys at x 110, 1,000 at 470; 50 MB and 250 MB of 500 at y 319 and 195.
	if !strings.HasPrefix(string(svg), "<svg ") || !strings.Contains(string(svg), `points="110,319 470,195"`) {
		t.Errorf("the chart has no RSS line through (100, 50 MB) and (1000, 250 MB):\n%s", svg)
	}
	if code := run([]string{"bench", "chart", filepath.Join(dir, "missing.txt")}, &stdout, &stderr); code == 0 {
		t.Error("a missing file: exit 0")
	}
	if code := run([]string{"bench", "chart", "--chart", "nope", filepath.Join(dir, "a.txt")}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), `unknown chart "nope"`) {
		t.Errorf("an unknown chart: exit %d, %q", code, stderr.String())
	}
}
