package natsconf_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/natsconf"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats-server/v2/server"
)

// internal are the subjects only keyrouter's own roles may write.
var internal = []string{
	"exec.>", "orders.reroute.>", "keys.*.status", "$KV.>", "keyrouter.>", "reports.>",
	"$JS.API.STREAM.>", "$JS.API.CONSUMER.CREATE.ORDERS.>", "$JS.API.CONSUMER.CREATE.EXEC.>",
	"$JS.API.CONSUMER.MSG.NEXT.ORDERS.*", "$JS.API.CONSUMER.MSG.NEXT.EXEC.*", "$JS.ACK.ORDERS.>", "$JS.ACK.EXEC.>",
}

// TestPermissionTableInvariants checks the table against the promises of
// issue 9, whatever lines are added to it later.
func TestPermissionTableInvariants(t *testing.T) {
	cfg := parseConfig(t, testConfig)
	ids := natsconf.Identities(cfg)
	byName := map[string]natsconf.Identity{}
	for _, id := range ids {
		byName[id.Name] = id
	}
	for _, id := range ids {
		pub, sub := natsconf.Permissions(id)
		if len(pub) == 0 || len(sub) == 0 {
			t.Errorf("%s: empty allow-list (an empty list would allow everything)", id.Name)
		}
		for _, l := range append(pub, sub...) {
			if !server.IsValidSubject(l.Subject) || strings.ContainsAny(l.Subject, "{}") {
				t.Errorf("%s: bad subject %q", id.Name, l.Subject)
			}
			if l.Why == "" {
				t.Errorf("%s: %q has no reason", id.Name, l.Subject)
			}
		}
		inbox := 0
		for _, l := range sub {
			if strings.HasPrefix(l.Subject, "_INBOX") {
				inbox++
				if l.Subject != id.InboxPrefix()+".>" {
					t.Errorf("%s subscribes to inbox %q, not only its own", id.Name, l.Subject)
				}
			}
		}
		if inbox != 1 && id.Role != natsconf.Monitor {
			t.Errorf("%s: %d inbox lines, want its own", id.Name, inbox)
		}
		// Nobody in KEYROUTER may publish the control subjects: every
		// control request must cross the import that stamps the caller.
		for _, l := range pub {
			if id.Account() == natsconf.KeyrouterAccount && server.SubjectsCollide(l.Subject, "keyrouter.>") {
				t.Errorf("%s (account %s) may publish %q: control requests would bypass the caller check", id.Name, id.Account(), l.Subject)
			}
		}
		switch id.Role {
		case natsconf.Strategy, natsconf.Monitor, natsconf.Operator:
			for _, l := range pub {
				for _, in := range internal {
					if in == "keyrouter.>" && id.Role == natsconf.Operator {
						continue
					}
					if server.SubjectsCollide(l.Subject, in) {
						t.Errorf("%s may publish %q, an internal subject (%s)", id.Name, l.Subject, in)
					}
				}
			}
		}
		if id.Role != natsconf.Strategy {
			continue
		}
		// A strategy touches nothing of another strategy's.
		for _, other := range ids {
			if other.Role != natsconf.Strategy || other.Name == id.Name {
				continue
			}
			s := other.Strategy
			theirs := []string{"orders.new." + s, "orders.cancel." + s, "reports." + s + ".>",
				"$JS.API.CONSUMER.CREATE.REPORTS.*.reports." + s + ".>", "$JS.API.CONSUMER.MSG.NEXT.REPORTS." + s,
				"$JS.API.CONSUMER.CREATE.REPORTS." + s, "$JS.API.CONSUMER.CREATE.REPORTS." + s + ".>",
				"$JS.ACK.REPORTS." + s + ".>", other.InboxPrefix() + ".>"}
			for _, l := range append(pub, sub...) {
				for _, th := range theirs {
					if server.SubjectsCollide(l.Subject, th) {
						t.Errorf("%s's %q reaches %s's %q", id.Name, l.Subject, other.Name, th)
					}
				}
			}
		}
	}
	// An executor speaks only for its own key and the strategies of its pools.
	ex := byName["executor-alpha-1"]
	pub, _ := natsconf.Permissions(ex)
	for _, l := range pub {
		for _, foreign := range []string{"keys.beta-1.status", "reports.beta.fill", "orders.reroute.beta", "$KV.ORDERSTATE.beta.x",
			"$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-beta-1-new", "$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-beta-1"} {
			if server.SubjectsCollide(l.Subject, foreign) {
				t.Errorf("executor-alpha-1 may publish %q (reaches %s)", l.Subject, foreign)
			}
		}
	}
}

// TestPermissionTableNamesKeyrouterStreams ties the table's literal
// stream and bucket names to the ones keyrouter uses.
func TestPermissionTableNamesKeyrouterStreams(t *testing.T) {
	src, err := os.ReadFile("roles.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{messages.StreamOrders, messages.StreamExec, messages.StreamReports,
		"KV_" + messages.BucketOrders, "KV_" + messages.BucketControl, "$KV." + messages.BucketOrders + ".",
		"$KV." + messages.BucketControl + ".", messages.ControlService + ".>"} {
		if !strings.Contains(string(src), name) {
			t.Errorf("roles.go never names %q", name)
		}
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	if _, err := natsconf.Generate(parseConfig(t, testConfig), dir, natsconf.Options{}); err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(dir, natsconf.NKeysDir, "strategy-alpha.nk")
	c := natsconf.Credentials{NKeyFile: seed}
	if got := c.Inbox(); got != "_INBOX_strategy-alpha" {
		t.Errorf("inbox %q from the seed file's name", got)
	}
	if got := (natsconf.Credentials{NKeyFile: seed, InboxPrefix: "_INBOX_x"}).Inbox(); got != "_INBOX_x" {
		t.Errorf("explicit inbox prefix not kept: %q", got)
	}
	if got := (natsconf.Credentials{CredsFile: "/x/operator.creds"}).Inbox(); got != "_INBOX_operator" {
		t.Errorf("inbox %q from a creds file's name", got)
	}
	if got := (natsconf.Credentials{}).Inbox(); got != "" {
		t.Errorf("inbox %q without credentials", got)
	}
	if _, err := c.Options(); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]natsconf.Credentials{
		"nkey and creds":     {NKeyFile: seed, CredsFile: seed},
		"missing seed":       {NKeyFile: filepath.Join(dir, "none.nk")},
		"cert without key":   {TLSCert: seed},
		"missing CA":         {TLSCA: filepath.Join(dir, "none.pem")},
		"not a seed":         {NKeyFile: filepath.Join(dir, natsconf.AccountsConfFile)},
		"seed open to other": {NKeyFile: openSeed(t, seed)},
	} {
		if _, err := bad.Options(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func openSeed(t *testing.T, seed string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "open.nk")
	if err := os.WriteFile(p, readFile(t, seed), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
