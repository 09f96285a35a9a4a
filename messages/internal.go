package messages

import "time"

// ExecOrder is the internal message on exec.<key>.new: an intent the router
// accepted for routing, with what the executor needs beside it. It is not
// part of the public contract; its JSON may change between versions of
// keyrouter that are deployed together.
type ExecOrder struct {
	Intent OrderIntent `json:"intent"`
	// ReceivedAt is when the router took the intent from ORDERS.
	ReceivedAt time.Time `json:"received_at"`
	// Routed counts how often the intent was handed to a key (1 at first).
	Routed int `json:"routed,omitempty"`
}

// ExecCancel is the internal message on exec.<key>.cancel.
type ExecCancel struct {
	Strategy      string    `json:"strategy"`
	ClientOrderID string    `json:"client_order_id"`
	ReceivedAt    time.Time `json:"received_at"`
}

// OrderKey is the order-state KV key of (strategy, client_order_id); both
// are subject-safe tokens, so the dot cannot be ambiguous.
func OrderKey(strategy, clientOrderID string) string {
	return strategy + "." + clientOrderID
}
