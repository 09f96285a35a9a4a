package messages

import (
	"time"

	"github.com/shopspring/decimal"
)

// ExecOrder is the internal message on exec.<key>.new: an intent the router
// accepted for routing, with what the executor needs beside it. It is not
// part of the public contract; its JSON may change between versions of
// keyrouter that are deployed together.
type ExecOrder struct {
	Intent OrderIntent `json:"intent"`
	// ReceivedAt is when the router took the intent from ORDERS.
	ReceivedAt time.Time `json:"received_at"`
	// IntentSeq is the ORDERS stream sequence of the intent's message.
	IntentSeq uint64 `json:"intent_seq"`
	// Routed counts how often the intent was handed to a key (1 at first).
	Routed int `json:"routed,omitempty"`
	// From is the key that handed the order back (on orders.reroute).
	From string `json:"from,omitempty"`
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

// OrderKey is the order-state KV key of (strategy, client_order_id); both
// are subject-safe tokens, so the dot cannot be ambiguous.
func OrderKey(strategy, clientOrderID string) string {
	return strategy + "." + clientOrderID
}

// Names of keyrouter's JetStream streams, consumers' stream and KV bucket.
const (
	StreamOrders  = "ORDERS"
	StreamExec    = "EXEC"
	StreamReports = "REPORTS"
	BucketOrders  = "ORDERSTATE"
	// BucketControl holds what is halted: keys "all", "strategy.<id>",
	// "key.<id>".
	BucketControl = "CONTROL"
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

// OrderRecord is the order-state KV value of (strategy, client_order_id):
// written by the router when it accepts the intent for routing (the
// permanent dedupe), then by the key's executor after each report. It maps
// the order to its key and venue order ID for cancel routing and recovery.
type OrderRecord struct {
	Strategy      string `json:"strategy"`
	ClientOrderID string `json:"client_order_id"`
	Key           string `json:"key"`
	Venue         string `json:"venue,omitempty"`
	// IntentSeq is the ORDERS stream sequence of the intent's message, so
	// a redelivery of that message is told apart from a re-sent intent.
	IntentSeq    uint64 `json:"intent_seq"`
	VenueOrderID string `json:"venue_order_id,omitempty"`
	// Status is empty until the venue has answered; rejected or expired
	// with Reason when the router refused the intent.
	Status      Status          `json:"status,omitempty"`
	Reason      Reason          `json:"reason,omitempty"`
	Message     string          `json:"message,omitempty"`
	CumQuantity decimal.Decimal `json:"cum_quantity"`
	AvgPrice    decimal.Decimal `json:"avg_price,omitzero"`
	// Seq is the seq of the last report published for the order.
	Seq       uint64       `json:"seq"`
	Intent    *OrderIntent `json:"intent,omitempty"`
	UpdatedAt time.Time    `json:"updated_at"`
}

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
