package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

// exchange-sim with a config file (accounts and a secret from a file) and
// --admin serves the Binance API and, on another port, the admin API, and
// prints both URLs.
func TestExchangeSimAdmin(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "k1.secret")
	conf := filepath.Join(dir, "sim.yaml")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("accounts: [{id: a1, keys: [{api_key: k1, secret_file: "+secret+"}]}]\nfaults: {latency: 1ms}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bustest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- exchangeSim(ctx, []string{"--config", conf, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, &stderr)
	}()
	re := regexp.MustCompile(`(?s)serving Binance spot protocol on (http://\S+)\n.*admin API on (http://\S+)\n`)
	var m []string
	bustest.WaitFor(t, "the URLs on stderr", func() bool { m = re.FindStringSubmatch(stderr.String()); return m != nil })
	get := func(url string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := get(m[1] + "/api/v3/ping"); code != http.StatusOK {
		t.Fatalf("ping: %d %s", code, b)
	}
	code, b := get(m[2] + "/sim/faults")
	var f map[string]any
	if code != http.StatusOK || json.Unmarshal(b, &f) != nil || f["latency"] != "1ms" {
		t.Fatalf("/sim/faults: %d %s; want the config's latency 1ms", code, b)
	}
	if code, b := get(m[2] + "/sim/stats"); code != http.StatusOK {
		t.Fatalf("/sim/stats: %d %s", code, b)
	}
	if code, _ := get(m[1] + "/sim/stats"); code != http.StatusNotFound {
		t.Errorf("/sim/stats on the Binance address: got %d, want 404", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("exchange-sim: %v", err)
	}
}
