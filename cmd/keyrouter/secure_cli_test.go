package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/natsconf"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// TestClientCommandsWithIdentities runs the client commands the way an
// operator would, each with the identity the generator made for it,
// against a server started from the generated config.
func TestClientCommandsWithIdentities(t *testing.T) {
	cfg, err := configs.Parse([]byte(`
venues: {paper: {kind: paper, seed: 1}}
keys: {alpha-1: {venue: paper}, beta-1: {venue: paper}}
strategies: {alpha: {keys: [alpha-1]}, beta: {keys: [beta-1]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "keyrouter.yaml")
	writeFile(t, cfgFile, "venues: {paper: {kind: paper, seed: 1}}\nkeys: {alpha-1: {venue: paper}, beta-1: {venue: paper}}\n"+
		"strategies: {alpha: {keys: [alpha-1]}, beta: {keys: [beta-1]}}\n")
	out := filepath.Join(dir, "nats")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"deploy", "nats-config", "--config", cfgFile, "--out", out, "--listen", "127.0.0.1:-1",
		"--store", filepath.Join(dir, "js")}, &stdout, &stderr); code != 0 {
		t.Fatalf("deploy nats-config: exit %d: %s", code, stderr.String())
	}
	opts, err := server.ProcessConfigFile(filepath.Join(out, natsconf.ServerConfFile))
	if err != nil {
		t.Fatal(err)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS did not start")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	url := srv.ClientURL()
	nkey := func(id string) string { return filepath.Join(out, natsconf.NKeysDir, id+".nk") }
	for _, role := range []struct {
		id     string
		router bool
		keys   []string
	}{{"router", true, nil}, {"executor-alpha-1", false, []string{"alpha-1"}}, {"executor-beta-1", false, []string{"beta-1"}}} {
		co, err := natsconf.Credentials{NKeyFile: nkey(role.id)}.Options()
		if err != nil {
			t.Fatal(err)
		}
		ka := &app.App{Config: cfg, NATSURL: url, ConnectOptions: co, RunRouter: role.router, Keys: role.keys,
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
		ka.RouterOptions.ControlAccount = natsconf.OperatorAccount
		if err := ka.Start(context.Background()); err != nil {
			t.Fatalf("%s: %v", role.id, err)
		}
		t.Cleanup(func() { _ = ka.Close() })
	}
	cli := func(args ...string) (int, string) {
		var o, e bytes.Buffer
		code := run(append(args, "--nats", url), &o, &e)
		return code, o.String() + e.String()
	}

	if code, out := cli("submit", "--nkey", nkey("strategy-alpha"), "--strategy", "alpha", "--id", "cli-1", "--follow"); code != 0 || !strings.Contains(out, "filled") {
		t.Fatalf("submit as alpha: exit %d\n%s", code, out)
	}
	if code, out := cli("submit", "--nkey", nkey("strategy-alpha"), "--strategy", "beta", "--id", "cli-2", "--timeout", "1s"); code == 0 {
		t.Fatalf("alpha submitted as beta: exit 0\n%s", out)
	}
	if code, out := cli("halt", "--nkey", nkey("strategy-alpha"), "--strategy", "beta", "--timeout", "1s"); code == 0 {
		t.Fatalf("alpha halted beta: exit 0\n%s", out)
	}
	// The operator: halt and resume, keys, tail (its account reaches
	// REPORTS through the imported API; tail finds the prefix itself).
	if code, out := cli("halt", "--nkey", nkey("operator"), "--strategy", "beta"); code != 0 || !strings.Contains(out, "halted strategy.beta") {
		t.Fatalf("operator halt: exit %d\n%s", code, out)
	}
	if code, out := cli("resume", "--nkey", nkey("operator"), "--strategy", "beta"); code != 0 || !strings.Contains(out, "resumed strategy.beta") {
		t.Fatalf("operator resume: exit %d\n%s", code, out)
	}
	if code, out := cli("keys", "--nkey", nkey("operator")); code != 0 || !strings.Contains(out, "alpha-1") {
		t.Fatalf("operator keys: exit %d\n%s", code, out)
	}
	if code, out := cli("tail", "--nkey", nkey("operator"), "--seq", "1", "-n", "1"); code != 0 || !strings.Contains(out, "cli-1") {
		t.Fatalf("operator tail: exit %d\n%s", code, out)
	}
	if code, out := cli("keys", "--nkey", nkey("monitor")); code != 0 || !strings.Contains(out, "beta-1") {
		t.Fatalf("monitor keys: exit %d\n%s", code, out)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
