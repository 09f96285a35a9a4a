package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// `keyrouter bench` takes its flags, ends with the JSON object, and writes
// no progress line when stderr is not a terminal.
func TestBenchCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"bench", "--scenario", "hops", "--intents", "200", "--latency-intents", "20", "--inflight", "16", "--json"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var res struct {
		Scenario string `json:"scenario"`
		Intents  int    `json:"intents"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Scenario != "hops" || res.Intents != 200 {
		t.Errorf("last line %q: %+v, %v; want the JSON object of a hops run of 200 intents", lines[len(lines)-1], res, err)
	}
	if strings.Contains(errOut.String(), "\r") {
		t.Errorf("progress written to a stderr that is no terminal: %q", errOut.String())
	}
	if code := run([]string{"bench", "--scenario", "nope"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), `unknown scenario "nope"`) {
		t.Errorf("unknown scenario: exit %d, %q", code, errOut.String())
	}
}
