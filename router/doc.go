// Package router takes intents from the ORDERS stream and hands each to an
// API-key partition: it decodes and validates them, checks the strategy may
// use the key or venue it asks for, dedupes on (strategy, client_order_id)
// with a KV create (no time window), chooses a key and publishes the order
// on exec.<key>.new. Cancels go to the key that holds the order. Anything
// it refuses gets a rejected (or expired, or cancel_rejected) report.
//
// The decisions are pure functions (ChooseKey) over the config and a
// HealthView; router.go is the glue to NATS. Provision creates the streams
// and bucket every role uses.
//
// A Router is started with Run, which returns when ctx is done and every
// intent in flight has been finished (acked or left for redelivery).
// Reload swaps the config atomically and is safe to call concurrently.
package router
