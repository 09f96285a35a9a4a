package messages

import (
	"time"

	"github.com/shopspring/decimal"
)

// ExecOrder is the internal message on exec.<key>.new.<strategy>.<id>: an
// intent the router accepted for routing, with what the executor needs
// beside it; on exec.~.new.<strategy>.<id> an intent the router refused
// (Refused set). It is not part of the public contract; its JSON may change
// between versions of keyrouter that are deployed together.
type ExecOrder struct {
	Intent OrderIntent `json:"intent"`
	// ReceivedAt is when the router took the intent from ORDERS.
	ReceivedAt time.Time `json:"received_at"`
	// IntentSeq is the ORDERS stream sequence of the intent's message.
	IntentSeq uint64 `json:"intent_seq"`
	// Routed counts how often the intent was handed to a key (1 at first).
	Routed int `json:"routed,omitempty"`
	// From is the key that handed the order back (on orders.reroute), and
	// ClaimSeq the EXEC sequence of its claim there: the router moves the
	// order only while that claim is still the last.
	From     string `json:"from,omitempty"`
	ClaimSeq uint64 `json:"claim_seq,omitempty"`
	// Refused is why the router refused the intent (a RefusedKey claim).
	Refused *Refusal `json:"refused,omitempty"`
}

// Refusal is the router's answer to an intent it did not route: the first
// report's kind (rejected or expired), reason and message.
type Refusal struct {
	Kind    ReportKind `json:"kind"`
	Reason  Reason     `json:"reason"`
	Message string     `json:"message"`
}

// ExecCancel is the internal message on exec.<key>.cancel.
type ExecCancel struct {
	Strategy      string    `json:"strategy"`
	ClientOrderID string    `json:"client_order_id"`
	ReceivedAt    time.Time `json:"received_at"`
}

// OrderStateSubject is the subject the order-state bucket stores kvKey
// under (a KV write is a publish to it).
func OrderStateSubject(kvKey string) string { return "$KV." + BucketOrders + "." + kvKey }

// OrderKey is the name of (strategy, client_order_id) in maps and logs;
// both are subject-safe tokens, so the dot cannot be ambiguous.
func OrderKey(strategy, clientOrderID string) string {
	return strategy + "." + clientOrderID
}

// OrderStateKey is the order-state KV key of an order held by key. Only
// key's active executor writes it.
func OrderStateKey(key, strategy, clientOrderID string) string {
	return key + "." + strategy + "." + clientOrderID
}

// OrderStateKeys matches the order-state KV keys of key's orders (and not
// its lease).
func OrderStateKeys(key string) string { return key + ".*.*" }

// BudgetKey is the order-state KV key of key's own rate-budget counters,
// written by its active executor for the next one.
func BudgetKey(key string) string { return key + ".=budget" }

// LeaseKey is the order-state KV key of key's executor lease: the active
// executor's identity, whose revision every write before a Place checks.
func LeaseKey(key string) string { return key + ".=lease" }

// Names of keyrouter's JetStream streams, consumers' stream and KV bucket.
const (
	StreamOrders  = "ORDERS"
	StreamExec    = "EXEC"
	StreamReports = "REPORTS"
	BucketOrders  = "ORDERSTATE"
	// BucketControl holds what is halted: keys "all", "strategy.<id>",
	// "key.<id>".
	BucketControl = "CONTROL"
	// BucketBudgets holds the rate limits that keys in several processes
	// share (account and IP scopes).
	BucketBudgets = "BUDGETS"
	// ControlService is the name of the request/reply control service
	// (halt, resume, reload) and the prefix of its subjects.
	ControlService = "keyrouter"
)

// HaltRequest asks the control service to halt or resume: everything, a
// strategy or a key. With CancelOpen a halt also cancels the resting
// orders it covers.
type HaltRequest struct {
	All        bool   `json:"all,omitempty"`
	Strategy   string `json:"strategy,omitempty"`
	Key        string `json:"key,omitempty"`
	CancelOpen bool   `json:"cancel_open,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// ControlKey is the CONTROL bucket key of what r names, or "" if it names
// nothing or more than one thing.
func (r HaltRequest) ControlKey() string {
	n := 0
	k := ""
	if r.All {
		n, k = n+1, "all"
	}
	if r.Strategy != "" {
		n, k = n+1, "strategy."+r.Strategy
	}
	if r.Key != "" {
		n, k = n+1, "key."+r.Key
	}
	if n != 1 || (r.Strategy != "" && !ValidID(r.Strategy)) || (r.Key != "" && !ValidID(r.Key)) {
		return ""
	}
	return k
}

// ControlReply is the control service's answer.
type ControlReply struct {
	OK       bool   `json:"ok"`
	Halted   string `json:"halted,omitempty"`
	Resumed  string `json:"resumed,omitempty"`
	Canceled int    `json:"canceled,omitempty"`
	Message  string `json:"message,omitempty"`
}

// OrderRecord is the order-state KV value of an order held by a key (see
// OrderStateKey), written by that key's active executor only, each write
// fenced by the key's lease: before every Place (PhaseSending) and after
// each batch of reports. It is what a standby that takes over the key
// needs: which orders may be at the venue, what was reported of them.
type OrderRecord struct {
	Strategy      string `json:"strategy"`
	ClientOrderID string `json:"client_order_id"`
	Key           string `json:"key"`
	Venue         string `json:"venue,omitempty"`
	// IntentSeq is the ORDERS stream sequence of the intent's message;
	// Route the claim's ExecOrder.Routed.
	IntentSeq uint64 `json:"intent_seq"`
	Route     int    `json:"route,omitempty"`
	Phase     string `json:"phase"`
	// SendingAt is when the last Place was about to be sent.
	SendingAt    time.Time `json:"sending_at,omitzero"`
	VenueOrderID string    `json:"venue_order_id,omitempty"`
	// Status is the order's status as last reported ("" before the venue
	// answered).
	Status      Status          `json:"status,omitempty"`
	CumQuantity decimal.Decimal `json:"cum_quantity"`
	AvgPrice    decimal.Decimal `json:"avg_price,omitzero"`
	// Trades are the venue trade IDs already reported, so a successor
	// reports each fill once.
	Trades []string `json:"trades,omitempty"`
	// Seq is the seq of the last report published for the order.
	Seq       uint64       `json:"seq"`
	Intent    *OrderIntent `json:"intent,omitempty"`
	UpdatedAt time.Time    `json:"updated_at"`
	// Reports are the reports of a decision made without the venue (the
	// order refused, expired or canceled before it was sent, or rejected
	// by the venue), stored in the record before they are published:
	// whoever finds the record publishes them again (their message IDs
	// make that a no-op if they were stored) and never sends the order.
	Reports []ExecutionReport `json:"reports,omitempty"`
	// CancelSeq is the EXEC sequence of the cancel those reports answer
	// (an order canceled before it was sent).
	CancelSeq uint64 `json:"cancel_seq,omitempty"`
}

// Phases of an order at its key's executor (OrderRecord.Phase).
const (
	// PhaseSending is written before every Place: from then on the order
	// may be at the venue, so a successor asks the venue before sending.
	PhaseSending = "sending"
	// PhaseOpen: the venue has the order and it is not closed.
	PhaseOpen = "open"
	// PhaseDone: closed (Status says how); the record expires after a
	// while.
	PhaseDone = "done"
	// PhaseHandedBack: the order left this key unsent, handed back to the
	// router for another key of its pool (Route says which claim).
	PhaseHandedBack = "handed_back"
)

// NewReport returns a report of kind on the order of in, with the intent's
// fields echoed and leaves_quantity the whole quantity.
func NewReport(in *OrderIntent, kind ReportKind, status Status) ExecutionReport {
	return ExecutionReport{
		Kind:           kind,
		ClientOrderID:  in.ClientOrderID,
		Strategy:       in.Strategy,
		Symbol:         in.Symbol,
		Side:           in.Side,
		Type:           in.Type,
		Quantity:       in.Quantity,
		Price:          in.Price,
		Tags:           in.Tags,
		Status:         status,
		LeavesQuantity: in.Quantity,
	}
}
