package natsconf

import (
	"sort"
	"strings"

	"github.com/keyrouter/keyrouter/configs"
)

// Role is a kind of identity.
type Role string

// The roles. Strategy, router and executor identities are made per
// strategy and per key; operator and monitor are one each.
const (
	Strategy Role = "strategy"
	Router   Role = "router"
	Executor Role = "executor"
	Operator Role = "operator"
	Monitor  Role = "monitor"
)

// Accounts. Everything runs in KEYROUTER except the operator, whose
// requests reach the control service through an import: that is what
// makes the server stamp the caller's identity on them.
const (
	KeyrouterAccount = "KEYROUTER"
	OperatorAccount  = "OPERATOR"
	// OperatorJSAPIPrefix is where the operator reaches KEYROUTER's
	// JetStream API (jetstream.NewWithAPIPrefix): its own account has no
	// JetStream.
	OperatorJSAPIPrefix = "$JS.KEYROUTER.API"
)

// Dir is the direction of a permission.
type Dir int

// Publish and subscribe.
const (
	Pub Dir = iota
	Sub
)

// Rule is one line of a role's permissions.
type Rule struct {
	Role    Role
	Dir     Dir
	Subject string // with {s}, {k}, {inbox} placeholders
	Why     string
}

// ExportKind is a service (request/reply) or a stream.
type ExportKind int

// Export kinds.
const (
	Service ExportKind = iota
	Stream
)

// Export is a subject account KEYROUTER shares with account OPERATOR.
type Export struct {
	Kind    ExportKind
	Subject string // in KEYROUTER
	To      string // in OPERATOR; "" for the same subject
	Share   bool   // put the requester's identity in Nats-Request-Info
	Many    bool   // a request may get many replies (response_type stream)
	Why     string
}

// Identity is one NATS user of a keyrouter deployment.
type Identity struct {
	// Name is strategy-<s>, router, executor-<k>, operator or monitor:
	// the seed file is nkeys/<Name>.nk.
	Name string
	Role Role
	// Strategy is the strategy of a strategy identity.
	Strategy string
	// Key is the key of an executor identity; Strategies the strategies
	// whose pool holds it (the ones it may report to and hand back for).
	Key        string
	Strategies []string
}

// Account is the NATS account the identity belongs to.
func (id Identity) Account() string {
	if id.Role == Operator {
		return OperatorAccount
	}
	return KeyrouterAccount
}

// InboxPrefix is the identity's inbox prefix: its clients must use it
// (nats.CustomInboxPrefix), since it may subscribe to no other inbox.
func (id Identity) InboxPrefix() string { return InboxPrefix(id.Name) }

// InboxPrefix is the inbox prefix of the identity called name.
func InboxPrefix(name string) string { return "_INBOX_" + name }

// Identities returns every identity of cfg, in a stable order: strategies,
// router, executors, operator, monitor.
func Identities(cfg *configs.Config) []Identity {
	var out []Identity
	for _, s := range sorted(cfg.Strategies) {
		out = append(out, Identity{Name: "strategy-" + s, Role: Strategy, Strategy: s})
	}
	out = append(out, Identity{Name: "router", Role: Router})
	for _, k := range sorted(cfg.Keys) {
		var ss []string
		for _, s := range sorted(cfg.Strategies) {
			for _, pk := range cfg.Strategies[s].Keys {
				if pk == k {
					ss = append(ss, s)
					break
				}
			}
		}
		out = append(out, Identity{Name: "executor-" + k, Role: Executor, Key: k, Strategies: ss})
	}
	out = append(out, Identity{Name: "operator", Role: Operator}, Identity{Name: "monitor", Role: Monitor})
	return out
}

func sorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Line is one expanded permission of an identity.
type Line struct {
	Subject string
	Why     string
}

// Permissions returns what id may publish and subscribe to, expanded from
// the rules in roles.go (first occurrence of a subject kept).
func Permissions(id Identity) (pub, sub []Line) {
	seen := map[[2]string]bool{}
	for _, r := range rules {
		if r.Role != id.Role {
			continue
		}
		subject := strings.ReplaceAll(r.Subject, "{inbox}", id.InboxPrefix())
		subject = strings.ReplaceAll(subject, "{k}", id.Key)
		var subjects []string
		switch {
		case !strings.Contains(subject, "{s}"):
			subjects = []string{subject}
		case id.Role == Strategy:
			subjects = []string{strings.ReplaceAll(subject, "{s}", id.Strategy)}
		default:
			for _, s := range id.Strategies {
				subjects = append(subjects, strings.ReplaceAll(subject, "{s}", s))
			}
		}
		for _, s := range subjects {
			dir := "pub"
			if r.Dir == Sub {
				dir = "sub"
			}
			if seen[[2]string{dir, s}] {
				continue
			}
			seen[[2]string{dir, s}] = true
			l := Line{Subject: s, Why: r.Why}
			if r.Dir == Pub {
				pub = append(pub, l)
			} else {
				sub = append(sub, l)
			}
		}
	}
	return pub, sub
}
