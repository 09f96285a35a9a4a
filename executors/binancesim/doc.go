// Package binancesim is a Binance-spot-compatible exchange simulator served
// over real HTTP, for testing keyrouter's Binance adapter (and anything
// else written against Binance's public spot API) without the internet.
//
// It speaks the documented protocol: the REST endpoints under /api/v3
// (ping, time, exchangeInfo, ticker/price, order [POST, DELETE, GET],
// order/test, openOrders, allOrders, myTrades, account, rateLimit/order,
// userDataStream [POST, PUT, DELETE]) and the user data stream, which
// pushes executionReport and outboundAccountPosition events two ways: the
// listenKey stream at /ws/<listenKey> (or /stream?streams=<listenKey>), and
// the WebSocket API at /ws-api/v3 with userDataStream.subscribe.signature
// (events as {"subscriptionId":N,"event":{...}}), userDataStream.unsubscribe,
// ping and time. Symbols are BTCUSDT on the wire and BTC-USDT in the engine;
// an order's newClientOrderId is the engine's client ID. A CANCELED
// executionReport carries the cancel request's ID in "c" and the order's in
// "C", as Binance's does.
//
// # Behaviour
//
//   - Accounts, each with API keys (HMAC secrets, or ed25519/RSA public
//     keys) and balances that orders lock and fills move.
//   - SIGNED requests: X-MBX-APIKEY (-2014/-2015, HTTP 401), timestamp in
//     ms or µs and recvWindow (default 5000, at most 60000, up to three
//     decimals; -1021, -1131), checked again just before the engine, and
//     the signature over totalParams: the query string concatenated with
//     the body exactly as sent, without the signature parameter (-1022).
//   - Filters PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE and NOTIONAL (-1013
//     "Filter failure: X"); engine refusals as -2010 ("Duplicate order
//     sent.", "Account has insufficient balance for requested action.");
//     a cancel of an unknown or closed order -2011 "Unknown order sent.";
//     a query of an unknown one -2013.
//   - Client order IDs as on Binance: a newClientOrderId is refused
//     (-2010 "Duplicate order sent.") only while an order of the account
//     with that ID is open. Binance's spot REST docs (rest-api.md, POST
//     /api/v3/order, checked 2026-07): "A unique id among open orders.
//     Automatically generated if not sent. Orders with the same
//     newClientOrderID can be accepted only when the previous one is
//     filled, otherwise the order will be rejected"; order lists say
//     "filled or completely expired". The simulator frees the ID once the
//     order is closed in any way (filled, canceled, expired): a second
//     placement after that is a second order, which is what a router that
//     re-sends a closed order causes on the real venue. A query or cancel
//     by origClientOrderId alone names the newest order with the ID (at
//     most one is open; Binance does not document which it picks); by
//     orderId, exactly that order (with both, they must agree, as
//     documented).
//   - Limits in fixed windows aligned to the clock (index UnixNano/window):
//     REQUEST_WEIGHT and RAW_REQUESTS per IP, charged for every request;
//     ORDERS per account, charged only for new orders let through.
//     X-MBX-USED-WEIGHT-1M on every answer and X-MBX-ORDER-COUNT-10S/-1D on
//     every answer to an authenticated request. Over a limit: 429 with
//     Retry-After (seconds to the window's end) and -1003 or -1015. An IP
//     that gets more than Ban.After further 429s before its Retry-After has
//     passed is banned: 418 with Retry-After until the ban ends, 2 minutes
//     doubling per ban up to 3 days.
//   - Matching is paper.Exchange's: a reference price that moves (Step,
//     SetPrice or Config.PriceTick), market and limit orders, GTC/IOC/FOK,
//     LIMIT_MAKER, partial fills, cancels.
//   - Faults from Config.Faults: latency with jitter, 503 answers that did
//     nothing, requests held until the client gives up that still take
//     effect at a set rate (so the outcome is unknown to the client), and
//     stream connections dropped every N events.
//
// Where the simulator differs from Binance: a -1015 answer also carries
// Retry-After.
//
// # Order log and admin API
//
// OrderLog lists, per account and client order ID, every placement: the
// orders accepted (venue order ID, symbol, side, type, quantity, price,
// status, cum quantity, fills with trade IDs) and the placements refused by
// reason, so a test sees an ID placed twice however the orders ended;
// Reused picks the IDs with more than one order. StartAdmin (keyrouter
// exchange-sim --admin ADDR) serves the same to other processes on a
// listener of its own, never on the Binance API's address:
//
//	GET /sim/orders   the order log; ?account=, ?client_order_id=, ?reused=true
//	GET /sim/stats    Stats: requests, rejected_429, banned_418, errors_5xx, ...
//	GET /sim/faults   the fault injection in force
//	PUT /sim/faults   replace it (JSON or YAML, the config's field names)
//
// SetFaults does the last in process.
//
// # Use
//
//	srv, err := binancesim.New(binancesim.DefaultConfig())
//	url, err := srv.Start("127.0.0.1:0")   // or mount srv.Handler()
//	defer srv.Close()
//	srv.Exchange().SetPrice("BTC-USDT", p) // drive the market in tests
//
// Run(ctx, addr) serves until ctx ends;
// testdata/sim.yaml is an example config for LoadConfig. Stats counts
// 429s, 418s, injected faults and orders per account; RevokeKey makes a
// key answer -2015, like a revoked one. Config.Now injects the clock and
// Config.TrustForwardedFor lets loopback tests act as several IPs.
//
// Every method is safe for concurrent use. Start serves in the background
// and ticks prices; with Handler alone, prices move only when the caller
// moves them. Close ends held requests and stream connections and waits
// for the Server's goroutines.
//
// Secrets: because this is a test exchange an HMAC secret may be written
// inline in its config; secret_env names an environment variable instead,
// secret_file a file. Secrets never appear in errors or answers.
package binancesim
