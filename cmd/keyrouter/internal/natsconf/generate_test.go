package natsconf_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/natsconf"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGenerateKeepsSeedsAndAddsNewIdentities(t *testing.T) {
	dir := t.TempDir()
	o := natsconf.Options{Listen: "127.0.0.1:4222", StoreDir: "/data/js"}
	res, err := natsconf.Generate(parseConfig(t, testConfig), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"strategy-alpha", "strategy-beta", "router", "executor-alpha-1", "executor-beta-1", "operator", "monitor"}
	if !slices.Equal(res.Created, want) {
		t.Fatalf("created %v, want %v", res.Created, want)
	}
	seeds := map[string][]byte{}
	for _, id := range want {
		p := filepath.Join(dir, natsconf.NKeysDir, id+".nk")
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
		seeds[id] = readFile(t, p)
		if !bytes.HasPrefix(seeds[id], []byte("SU")) {
			t.Errorf("%s is not a user seed", p)
		}
	}

	// A strategy and a key more: nobody else's seed changes.
	cfg := parseConfig(t, strings.Replace(testConfig, "  beta-1: {venue: paper}\n", "  beta-1: {venue: paper}\n  gamma-1: {venue: paper}\n", 1)+
		"  gamma: {keys: [gamma-1, alpha-1]}\n")
	res, err = natsconf.Generate(cfg, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Created, []string{"strategy-gamma", "executor-gamma-1"}) {
		t.Fatalf("second run created %v", res.Created)
	}
	for id, seed := range seeds {
		if got := readFile(t, filepath.Join(dir, natsconf.NKeysDir, id+".nk")); !bytes.Equal(got, seed) {
			t.Errorf("the seed of %s changed on a re-run", id)
		}
	}
	accounts := string(readFile(t, filepath.Join(dir, natsconf.AccountsConfFile)))
	for _, s := range []string{`"orders.new.gamma"`, `"keys.gamma-1.status"`, `"reports.gamma.>"`} {
		if !strings.Contains(accounts, s) {
			t.Errorf("accounts.conf lacks %s after adding gamma", s)
		}
	}
	// alpha-1 is now in gamma's pool too: its executor may report to gamma.
	alpha1 := accounts[strings.Index(accounts, "# executor-alpha-1"):]
	alpha1 = alpha1[:strings.Index(alpha1, "# executor-beta-1")]
	if !strings.Contains(alpha1, `"reports.gamma.>"`) || strings.Contains(alpha1, `"reports.beta.>"`) {
		t.Errorf("executor-alpha-1's reports are not exactly alpha's and gamma's:\n%s", alpha1)
	}

	// Removing gamma leaves its files as orphans, out of the config.
	res, err = natsconf.Generate(parseConfig(t, testConfig), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Orphans, []string{"executor-gamma-1", "strategy-gamma"}) {
		t.Errorf("orphans %v", res.Orphans)
	}
	if strings.Contains(string(readFile(t, filepath.Join(dir, natsconf.AccountsConfFile))), "gamma") {
		t.Error("accounts.conf still names gamma")
	}
}

func TestGenerateUsesPublicKeysWhoseSeedIsElsewhere(t *testing.T) {
	dir := t.TempDir()
	o := natsconf.Options{}
	if _, err := natsconf.Generate(parseConfig(t, testConfig), dir, o); err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(dir, natsconf.NKeysDir, "strategy-alpha.nk")
	pub := strings.TrimSpace(string(readFile(t, filepath.Join(dir, natsconf.NKeysDir, "strategy-alpha.pub"))))
	if err := os.Remove(seed); err != nil {
		t.Fatal(err)
	}
	res, err := natsconf.Generate(parseConfig(t, testConfig), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created) != 0 {
		t.Fatalf("created %v with every public key present", res.Created)
	}
	if _, err := os.Stat(seed); err == nil {
		t.Fatal("a seed was made for an identity that has only a public key")
	}
	if !strings.Contains(string(readFile(t, filepath.Join(dir, natsconf.AccountsConfFile))), "nkey: "+pub) {
		t.Fatal("the kept public key is not in accounts.conf")
	}
}

func TestGenerateRefusesASeedOpenToOthers(t *testing.T) {
	dir := t.TempDir()
	if _, err := natsconf.Generate(parseConfig(t, testConfig), dir, natsconf.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, natsconf.NKeysDir, "router.nk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := natsconf.Generate(parseConfig(t, testConfig), dir, natsconf.Options{}); err == nil || !strings.Contains(err.Error(), "router.nk") {
		t.Fatalf("a world-readable seed was accepted (err %v)", err)
	}
}

func TestRenderIsStableAndLoads(t *testing.T) {
	cfg := parseConfig(t, testConfig)
	pubs := map[string]string{}
	dir := t.TempDir()
	if _, err := natsconf.Generate(cfg, dir, natsconf.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range natsconf.Identities(cfg) {
		pubs[id.Name] = strings.TrimSpace(string(readFile(t, filepath.Join(dir, natsconf.NKeysDir, id.Name+".pub"))))
	}
	o := natsconf.Options{Listen: "127.0.0.1:4222", StoreDir: "/js", Cluster: "kr", Routes: []string{"nats://a:6222", "nats://b:6222"},
		TLS: natsconf.TLS{CA: "/tls/ca.pem", Cert: "/tls/server.pem", Key: "/tls/server-key.pem"}}
	s1, a1, err := natsconf.Render(cfg, pubs, o)
	if err != nil {
		t.Fatal(err)
	}
	s2, a2, err := natsconf.Render(cfg, pubs, o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s1, s2) || !bytes.Equal(a1, a2) {
		t.Fatal("the same inputs rendered different files")
	}
	// The server's own loader takes it (TLS files aside): a single-server
	// variant, so no TLS and no $SERVER_NAME are needed.
	o.Cluster, o.Routes, o.TLS = "", nil, natsconf.TLS{}
	out := t.TempDir()
	if _, err := natsconf.Generate(cfg, out, o); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(filepath.Join(out, natsconf.ServerConfFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(opts.Nkeys), len(natsconf.Identities(cfg)); got != want {
		t.Errorf("%d nkey users, want %d", got, want)
	}
	for _, u := range opts.Nkeys {
		if u.Account == nil || u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil {
			t.Errorf("user %s has no account or no publish and subscribe allow-lists", u.Nkey)
			continue
		}
		if len(u.Permissions.Publish.Deny) > 0 || len(u.Permissions.Subscribe.Deny) > 0 {
			t.Errorf("user %s has deny-lists: allow-lists only", u.Nkey)
		}
	}
	// Clustered: names the cluster, its routes and TLS on both sides.
	for _, want := range []string{`name: "kr"`, `"nats://b:6222"`, "server_name: $SERVER_NAME", `ca_file: "/tls/ca.pem"`, "verify: true"} {
		if !bytes.Contains(s1, []byte(want)) {
			t.Errorf("clustered server config lacks %q", want)
		}
	}
	if n := bytes.Count(s1, []byte("tls {")); n != 2 {
		t.Errorf("%d tls blocks, want 2 (clients and routes)", n)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	for name, o := range map[string]natsconf.Options{
		"routes without a cluster": {Routes: []string{"nats://a:6222"}},
		"cluster without routes":   {Cluster: "kr"},
		"bad listen":               {Listen: "4222"},
		"cert without key":         {TLS: natsconf.TLS{CA: "ca", Cert: "c"}},
		"verify without a CA":      {TLS: natsconf.TLS{Cert: "c", Key: "k"}},
	} {
		if _, err := natsconf.Generate(parseConfig(t, testConfig), t.TempDir(), o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestReloadAddsAStrategy follows the runbook's "add a strategy" on a
// running system: add it to the config, run the generator again, reload the
// server and the router. The new strategy trades at once (through a key
// whose executor gains the right to report to it), running roles are not
// disturbed, and nobody else's seed changes.
func TestReloadAddsAStrategy(t *testing.T) {
	b := startBus(t, parseConfig(t, testConfig))
	rt := b.startKeyrouter(router.Options{})
	alpha, alphaErrs := b.connect("strategy-alpha")
	seed := readFile(t, filepath.Join(b.dir, natsconf.NKeysDir, "strategy-alpha.nk"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	trade := func(nc *nats.Conn, strategy, id string) {
		t.Helper()
		reps := subscribeReports(t, nc, "reports."+strategy+".>")
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := js.Publish(ctx, "orders.new."+strategy, marketBuy(id))
		if err != nil {
			t.Fatalf("%s's intent: %v", strategy, err)
		}
		if ack.Stream != messages.StreamOrders {
			t.Fatalf("stored in %q", ack.Stream)
		}
		bustest.WaitFor(t, id+" filled", func() bool {
			return reps.find(id, func(r messages.ExecutionReport) bool { return r.Status == messages.StatusFilled })
		})
	}
	trade(alpha, "alpha", "before-reload")

	if _, err := os.Stat(filepath.Join(b.dir, natsconf.NKeysDir, "strategy-gamma.nk")); err == nil {
		t.Fatal("gamma exists before it is configured")
	}
	b.cfg = parseConfig(t, testConfig+"  gamma: {keys: [beta-1]}\n")
	if res := b.generate(); !slices.Equal(res.Created, []string{"strategy-gamma"}) {
		t.Fatalf("created %v", res.Created)
	}
	if err := b.srv.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	rt.Router().Reload(b.cfg) // what `keyrouter reload` asks of the router
	if !bytes.Equal(seed, readFile(t, filepath.Join(b.dir, natsconf.NKeysDir, "strategy-alpha.nk"))) {
		t.Fatal("alpha's seed changed")
	}
	gamma, gammaErrs := b.connect("strategy-gamma")
	trade(gamma, "gamma", "gamma-first")
	gammaErrs.none(t)
	trade(alpha, "alpha", "after-reload")
	b.roleErrs.none(t)
	// alpha's connection lived through the reload and is still alpha.
	if err := alpha.Publish("orders.new.gamma", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	alphaErrs.expect(t, "Publish to", "orders.new.gamma")

	// A leaked seed: rotating it and reloading cuts the old one off at once.
	o := b.options(b.srv.Addr().String())
	o.Rotate = []string{"strategy-alpha"}
	if _, err := natsconf.Generate(b.cfg, b.dir, o); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	bustest.WaitFor(t, "the old alpha connection to be dropped", func() bool { return !alpha.IsConnected() })
	b.connect("strategy-alpha") // with the new seed
}

func TestGenerateRotates(t *testing.T) {
	dir := t.TempDir()
	cfg := parseConfig(t, testConfig)
	if _, err := natsconf.Generate(cfg, dir, natsconf.Options{}); err != nil {
		t.Fatal(err)
	}
	seed := func(id string) []byte { return readFile(t, filepath.Join(dir, natsconf.NKeysDir, id+".nk")) }
	router, op := seed("router"), seed("operator")
	res, err := natsconf.Generate(cfg, dir, natsconf.Options{Rotate: []string{"operator"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Created, []string{"operator"}) || bytes.Equal(seed("operator"), op) || !bytes.Equal(seed("router"), router) {
		t.Fatalf("rotating the operator: created %v", res.Created)
	}
	if _, err := natsconf.Generate(cfg, dir, natsconf.Options{Rotate: []string{"nobody"}}); err == nil {
		t.Fatal("rotating an unknown identity was accepted")
	}
}
