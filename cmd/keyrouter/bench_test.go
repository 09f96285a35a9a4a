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

// `keyrouter bench --scenario keys --procs N` runs the executors in N
// processes of this very program, each serving its slice of the keys, and
// gives each process's figures.
func TestBenchKeysOverProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Setenv("KEYROUTER_AS_MAIN", "1") // the executor processes are this test binary (TestMain)
	var out, errOut bytes.Buffer
	args := []string{"bench", "--scenario", "keys", "--keys", "5", "--procs", "2", "--duration", "1s", "--json"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var res struct {
		Lost int `json:"lost"`
		Keys struct {
			Processes  int `json:"executor_processes"`
			TradedKeys int `json:"traded_keys"`
			PerProcess []struct {
				Keys  int     `json:"keys"`
				RSSMB float64 `json:"rss_mb"`
			} `json:"per_process"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	k := res.Keys
	if k.Processes != 2 || k.TradedKeys != 5 || res.Lost != 0 || len(k.PerProcess) != 2 {
		t.Fatalf("got %+v (lost %d); want 5 keys traded over 2 processes, nothing lost", k, res.Lost)
	}
	if p := k.PerProcess; p[0].Keys+p[1].Keys != 5 || p[0].RSSMB <= 0 || p[1].RSSMB <= 0 {
		t.Errorf("per process %+v", p)
	}
}
