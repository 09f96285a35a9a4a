// Package venuekit is what keyrouter's remote venue adapters (binance,
// okx) share: matching a venue's errors (IsCode, IsKind), keeping secrets
// and signatures out of texts (KeyHint, Redacted, SafeError), and keeping
// a stream connected with jittered backoff (Reconnect).
//
// It holds no state between calls; everything is safe for concurrent use.
package venuekit
