// Package binance is the Binance spot venue: one [Venue] per API key,
// implementing executors.Venue over Binance's REST API and user data
// stream.
//
// # Pointing a key at Binance
//
// Production and the spot testnet differ only in configuration:
//
//	production: Config{BaseURL: "https://api.binance.com",
//	                   WSURL:   "wss://ws-api.binance.com:443/ws-api/v3"}
//	testnet:    Config{BaseURL: "https://testnet.binance.vision",
//	                   WSURL:   "wss://ws-api.testnet.binance.vision/ws-api/v3"}
//
// (the constants DefaultBaseURL, DefaultWSAPIURL, TestnetBaseURL and
// TestnetWSAPIURL). Testnet keys are made at testnet.binance.vision and work
// nowhere else.
//
// # Key permissions
//
// Give the key "Enable Reading" and "Enable Spot & Margin Trading" only.
// Never enable withdrawals, internal transfer, margin or futures: keyrouter
// places, cancels and queries spot orders and reads its own trades, nothing
// more. Restrict the key to the executor hosts' IPs. HMAC keys (Secret is
// the secret key) and Ed25519 keys (KeyType "ed25519", Secret the PKCS#8 PEM
// private key or its raw 32-byte seed) both work; Binance recommends
// Ed25519.
//
// # Requests
//
// Signed requests carry timestamp and recvWindow and are signed over the
// exact string sent (HMAC-SHA256 as hex, Ed25519 as base64), with the key in
// X-MBX-APIKEY. The clock offset to Binance comes from GET /api/v3/time at
// New, every 10 minutes, and after a -1021. Symbols map BTC-USDT to BTCUSDT
// through GET /api/v3/exchangeInfo (cached, reloaded hourly and on an
// unknown symbol), and every order is checked against the symbol's filters
// before it is sent ([Venue.Check]), so an order Binance would refuse costs
// no rate budget. Every answer's X-MBX-USED-WEIGHT-1M,
// X-MBX-ORDER-COUNT-10S and X-MBX-ORDER-COUNT-1D become executors.Usage
// named REQUEST_WEIGHT_1M, ORDERS_10S and ORDERS_1D, the names of
// [RateLimitInfo.Name] and of the budget package's Binance preset.
//
// A new order whose outcome is unknown (timeout, 5XX) is never resent
// blind: Place asks for it by client ID, and resends once, with the same
// client ID, only when it is still not found after its timestamp+recvWindow
// has passed on Binance's clock (the matching engine refuses it after that).
//
// # User data stream
//
// Fills of resting orders come from the user data stream. By default it is
// the WebSocket API subscription userDataStream.subscribe.signature, which
// Binance documents as the current way and which works with HMAC and
// Ed25519 keys alike. The listenKey flow (POST /api/v3/userDataStream,
// /ws/<listenKey>, PUT every 30 minutes) is kept as UserStream
// "listenkey" for simulators: Binance deprecated it, and retired it on spot
// production. The stream reconnects with jittered backoff (a random wait
// in [b/2, b), b doubling from 100ms to 30s); while it is down, and
// once after every reconnect, tracked orders are polled with GET
// /api/v3/openOrders and GET /api/v3/order (+ myTrades for fills). Only
// orders of this Venue (its client IDs, all of which start with "kr") are
// forwarded.
//
// # Concurrency and lifecycle
//
// New starts three goroutines (stream, poller, refresher); Close stops and
// waits for them and then closes Updates. Place, Cancel and Query are meant
// for one worker goroutine at a time; Check, RateLimits, Usage and Updates
// are safe from any goroutine. Updates is bounded: when it is full the
// stream reader waits at most 50ms, then leaves the order to the poller,
// which delivers its full state (every fill so far) once there is room.
//
// # Secrets
//
// The secret is never logged, never put in an error, and Config prints it
// redacted. Errors of net/http, which quote the request URL and with it the
// signed query, are rewritten without the query. Log lines name a key by
// the first characters of its API key only.
package binance
