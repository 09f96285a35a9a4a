// Package okx is the OKX v5 SPOT venue: one [Venue] per API key,
// implementing executors.Venue (with executors.Checker and
// executors.Pricer) over OKX's REST API and private WebSocket.
//
// # Pointing a key at OKX
//
//	production: Config{BaseURL: "https://openapi.okx.com", WSURL: "wss://ws.okx.com:8443/ws/v5/private"}
//	demo:       Config{BaseURL: "https://openapi.okx.com", WSURL: "wss://wspap.okx.com:8443/ws/v5/private", Demo: true}
//
// (DefaultBaseURL, DefaultWSURL, DemoWSURL; Demo adds the header
// x-simulated-trading: 1). US, AU and EU users have their own domains.
// The account must be in a mode where SPOT orders take tdMode "cash"
// (spot mode or futures mode).
//
// # Key permissions
//
// Give the key "Read" and "Trade" only, never "Withdraw", and bind it to
// the executor hosts' IPs (OKX deletes unbound trading keys after 14 days
// unused). Secret signs every request; Passphrase, chosen when the key
// was made, is a second secret sent with each request.
//
// # Requests
//
// Private requests carry OK-ACCESS-KEY, OK-ACCESS-PASSPHRASE,
// OK-ACCESS-TIMESTAMP (ISO 8601 UTC with milliseconds, on OKX's clock:
// the offset comes from GET /api/v5/public/time at New, every 10 minutes
// and after a 50102) and OK-ACCESS-SIGN, the base64 HMAC-SHA256 of
// timestamp + method + request path (with a GET's query) + JSON body.
// The instruments come from GET /api/v5/public/instruments?instType=SPOT
// (reloaded hourly and on an unknown instrument, at most once a minute);
// every order is checked against tickSz, lotSz, minSz, maxLmtSz/maxMktSz
// and state before it is sent ([Venue.Check]), so an order OKX would
// refuse costs no rate budget. OKX's instId is keyrouter's symbol form.
//
// Orders are placed, canceled and looked up by clOrdId (keyrouter's
// executors.VenueClientID, 32 characters of [0-9a-v]: within OKX's 1 to
// 32 alphanumerics). A new order carries expTime = now + ExpWindow: OKX
// does not process it later. When its outcome is unknown (timeout, a 5XX,
// 50001, 50004, 50026) it is never resent blind: Place says the outcome is
// unknown, with the instant its expTime passes on this machine's clock,
// and the worker asks OKX by clOrdId then, sending it again (with the same
// clOrdId, inside the key's budget) only if it is not there. OKX lets a
// clOrdId be used again once its order is closed, so a Venue also
// remembers the client IDs it placed and answers a second Place of one
// with the first order's state instead of sending it.
//
// OKX's answer to a new order holds only its ID. Its state and the fills
// that happened at once come from the first push of it on the orders
// channel (Place registers for it before sending), or from GET
// /api/v5/trade/order and /trade/fills when the channel is down or says
// nothing within PushWait. Cancel likewise waits for the push showing the
// order canceled. A post-only order that would have taken liquidity is
// taken and canceled by OKX (cancelSource 31): Place reports it as a
// refusal. An IOC, FOK or market remainder canceled by OKX is expired.
//
// # Errors and limits
//
// 50011 (HTTP 429, a per-instrument limit) and 50061 (the sub-account's
// limit of new and amended orders, shared by every key of the
// sub-account; the error says so) are Throttled, with RetryAfter a 2 s
// window (plus budget.OKXWindowGuard) ahead since OKX gives none; a 50061
// also reports the sub-account as full (Usage SUBACCOUNT_ORDERS_2S at
// accRateLimit), which the budget takes as the venue's count. A refused
// key (50100, 50105, 50110, 50111, 50113, 50119, 50120, any other 401 ...)
// is KeyInvalid. 51603 is ErrUnknownOrder; 51400 on a cancel is resolved
// by a query into ErrTooLateToCancel or ErrUnknownOrder; parameter and
// instrument-rule refusals (51000, 51020, 51121, 51203 ...) are reason
// invalid.
//
// OKX reports no usage: every Place answer carries this key's own counts
// of its new orders in the last 2 s, as Usage PLACE_2S:<instrument> and
// SUBACCOUNT_ORDERS_2S (never more than what OKX counts for the
// sub-account, so feeding them to a budget can only agree with it). The
// sub-account limit itself is read from GET
// /api/v5/trade/account-rate-limit (accRateLimit) at New and every
// RateLimitRefresh ([Venue.AccountRateLimit]); the budget preset
// budget.OKX takes its maximum from it.
//
// # Private WebSocket
//
// The stream logs in (timestamp in seconds, sign over timestamp + "GET" +
// "/users/self/verify"), subscribes to the orders channel for SPOT, sends
// "ping" after 20 s without a message and reconnects with jittered
// backoff (executors/internal/venuekit.Reconnect). While
// it is down, and once after every reconnect, tracked orders are polled
// with GET /api/v5/trade/orders-pending and /trade/order (+ /trade/fills).
// Every key of a sub-account receives the sub-account's orders; only
// orders of this Venue (tracked, or with a keyrouter client ID) are
// forwarded.
//
// # Concurrency and lifecycle
//
// New starts three goroutines (stream, poller, refresher); Close stops
// and waits for them and then closes Updates. Place, Cancel and Query are
// meant for one worker goroutine at a time; Check, Prices,
// AccountRateLimit, StreamUp and Updates are safe from any goroutine.
// Updates is bounded: when it is full the stream reader waits at most
// 50ms, then leaves the order to the poller, which delivers its full
// state once there is room.
//
// # Secrets
//
// The secret and the passphrase travel only in request headers and the
// login message; they are never logged, never put in an error, and Config
// prints them redacted. Log lines name a key by the first characters of
// its API key only.
//
// # Where this differs from OKX, or assumes
//
// OKX does not document whether its 2 s windows slide or are fixed, nor
// where 50061 appears (top-level code or sCode): both forms are read.
// OKX's docs state that spot orders are exempt from the fill-ratio
// sub-account limit; keyrouter's preset applies the sub-account limit to
// them anyway (it can only hold orders back, never draw a refusal). Fills
// are read from /trade/fills, which covers the last 3 days.
package okx
