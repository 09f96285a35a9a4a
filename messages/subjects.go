package messages

import "strings"

// Subject prefixes of the contract.
const (
	OrdersNewPrefix    = "orders.new."
	OrdersCancelPrefix = "orders.cancel."
	ReportsPrefix      = "reports."
	KeysPrefix         = "keys."
	ExecPrefix         = "exec."
)

// OrdersNewSubject is where strategy publishes its OrderIntents.
func OrdersNewSubject(strategy string) string { return OrdersNewPrefix + strategy }

// OrdersCancelSubject is where strategy publishes its CancelIntents.
func OrdersCancelSubject(strategy string) string { return OrdersCancelPrefix + strategy }

// OrdersReroutePrefix carries orders an executor hands back to the router
// (internal; inside the ORDERS stream so none is lost).
const OrdersReroutePrefix = "orders.reroute."

// OrdersRerouteSubject is where a key's executor hands back an unsent
// order of strategy for another key.
func OrdersRerouteSubject(strategy string) string { return OrdersReroutePrefix + strategy }

// ReportSubject is where keyrouter publishes strategy's reports of kind.
func ReportSubject(strategy string, kind ReportKind) string {
	return ReportsPrefix + strategy + "." + string(kind)
}

// ReportsWildcard matches every report of strategy.
func ReportsWildcard(strategy string) string { return ReportsPrefix + strategy + ".>" }

// KeyStatusSubject is where key's executor publishes its KeyStatus.
func KeyStatusSubject(key string) string { return KeysPrefix + key + ".status" }

// ExecNewSubject carries one order of strategy from the router to key's
// executor. A subject per order makes the message its own dedupe claim:
// the router publishes it only if no subject of ExecClaimSubjects(strategy,
// clientOrderID) has a message yet (or, moving the order to another key,
// only if the last one is still the claim it moves).
func ExecNewSubject(key, strategy, clientOrderID string) string {
	return ExecPrefix + key + ".new." + strategy + "." + clientOrderID
}

// ExecCancelSubject carries a cancel of one order of strategy to the key
// holding it.
func ExecCancelSubject(key, strategy, clientOrderID string) string {
	return ExecPrefix + key + ".cancel." + strategy + "." + clientOrderID
}

// ExecClaimSubjects matches every claim of (strategy, clientOrderID), on
// whichever key; the last message on it says where the order is.
func ExecClaimSubjects(strategy, clientOrderID string) string {
	return ExecPrefix + "*.new." + strategy + "." + clientOrderID
}

// ExecKeySubjects matches everything routed to key: its executor's
// partition.
func ExecKeySubjects(key string) string { return ExecPrefix + key + ".>" }

// RefusedKey stands in a claim's key token for an intent the router
// refused (it is not a valid key ID, so no key can have it). No executor
// reads these claims; they keep the client_order_id used.
const RefusedKey = "~"

// ExecSubject is an exec subject split into its tokens.
type ExecSubject struct {
	Key, Kind, Strategy, ClientOrderID string // Kind: "new" or "cancel"
}

// ParseExecSubject splits exec.<key>.<kind>.<strategy>.<client_order_id>;
// false if subject is not of that form.
func ParseExecSubject(subject string) (ExecSubject, bool) {
	rest, ok := strings.CutPrefix(subject, ExecPrefix)
	if !ok {
		return ExecSubject{}, false
	}
	t := strings.Split(rest, ".")
	if len(t) != 4 || (t[1] != "new" && t[1] != "cancel") || !ValidID(t[2]) || !ValidClientOrderID(t[3]) ||
		(t[0] != RefusedKey && !ValidID(t[0])) {
		return ExecSubject{}, false
	}
	return ExecSubject{Key: t[0], Kind: t[1], Strategy: t[2], ClientOrderID: t[3]}, true
}

// StrategyFromSubject returns the strategy token of an orders.new.<s> or
// orders.cancel.<s> subject, and false if the subject is neither or the
// token is not a valid ID.
func StrategyFromSubject(subject string) (string, bool) {
	var s string
	switch {
	case strings.HasPrefix(subject, OrdersNewPrefix):
		s = subject[len(OrdersNewPrefix):]
	case strings.HasPrefix(subject, OrdersCancelPrefix):
		s = subject[len(OrdersCancelPrefix):]
	default:
		return "", false
	}
	return s, ValidID(s)
}

// ValidID reports whether s is a valid strategy or key ID:
// ^[A-Za-z0-9_-]{1,64}$.
func ValidID(s string) bool { return validToken(s, 64) }

// ValidClientOrderID reports whether s is a valid client_order_id:
// ^[A-Za-z0-9_-]{1,36}$.
func ValidClientOrderID(s string) bool { return validToken(s, 36) }

func validToken(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
