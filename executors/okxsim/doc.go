// Package okxsim is an OKX-v5-compatible SPOT exchange simulator served
// over real HTTP and WebSocket, for testing keyrouter's OKX adapter (and
// anything else written against OKX's public v5 API) without the
// internet. Matching is paper.Exchange's (a reference price that moves;
// market, limit, post-only, IOC and FOK orders; partial fills; cancels).
//
// # Protocol
//
// REST, every answer OKX's envelope {"code","msg","data"}:
//
//	GET  /api/v5/public/time
//	GET  /api/v5/public/instruments?instType=SPOT[&instId=]   tickSz, lotSz, minSz, maxLmtSz, maxMktSz, state
//	GET  /api/v5/market/tickers?instType=SPOT, /market/ticker?instId=
//	POST /api/v5/trade/order                 instId, tdMode=cash, clOrdId, side, ordType, sz, px, tgtCcy; header expTime
//	POST /api/v5/trade/cancel-order          instId, ordId or clOrdId
//	POST /api/v5/trade/amend-order           counted, then refused (the engine cannot amend)
//	GET  /api/v5/trade/order?instId=&ordId=|clOrdId=
//	GET  /api/v5/trade/orders-pending, /trade/fills (paged by billId: after, before, limit)
//	GET  /api/v5/trade/account-rate-limit    accRateLimit of the sub-account
//
// Private requests carry OK-ACCESS-KEY (50103 missing, 50111 unknown or
// revoked), OK-ACCESS-PASSPHRASE (50104, 50105), OK-ACCESS-TIMESTAMP in
// ISO 8601 UTC with milliseconds (50107, 50112; more than 30 s from the
// server's clock 50102) and OK-ACCESS-SIGN, the base64 HMAC-SHA256 of
// timestamp + METHOD + request path with query + body (50106, 50113), all
// HTTP 401. A single-order refusal is HTTP 200, code "1", with sCode and
// sMsg in data[0]: 51016 duplicate clOrdId, 51000 parameter (px off
// tickSz among them), 51121 sz off lotSz, 51020 below minSz or the
// engine's minimum notional, 51203 above maxLmtSz, 51008 balance, 51139
// reduceOnly, 50037 expTime passed, 50061 sub-account limit; a cancel of
// an order that is unknown, filled or canceled 51400; a query of an
// unknown order code 51603.
//
// The private WebSocket is /ws/v5/private: "login" (apiKey, passphrase,
// timestamp in Unix seconds, sign over timestamp + "GET" +
// "/users/self/verify"; 60005, 60006, 60007, 60024 and the connection
// closes), "subscribe" to the orders channel (instType SPOT or ANY,
// optional instId; 60011 before login), text "ping" answered "pong", and
// a connection silent both ways for 30 s closed. Pushes are
// {"arg":{...,"uid"},"data":[...]}: one entry per fill (state
// partially_filled or filled, fillSz, fillPx, tradeId, fillFee negative,
// fillFeeCcy, execType T or M, accFillSz, avgPx), "live" for a new order
// that did not fill, and "canceled" with cancelSource 1 (user), 13 (FOK),
// 14 (IOC or market remainder) or 31 (post-only that would take). All the
// entries of one matching event go in one push. Every key of a
// sub-account sees every order of the sub-account.
//
// # Limits
//
// Counted in sliding windows over the instant a request arrives (Config.
// Limits; OKX's figures by default): place, cancel, amend and order
// details 60 per 2 s per sub-account and instrument, over them 50011 with
// HTTP 429; new and amended orders 1,000 per 2 s per sub-account
// (AccountConfig.AccRateLimit, also what account-rate-limit reports, and
// SetAccRateLimit), over it sCode 50061 with HTTP 200; orders pending and
// fills 60 per 2 s and account-rate-limit 1 per second per sub-account;
// instruments 20, time 10 and tickers 20 per 2 s per IP. A request refused
// by a limit counts against none. Tests shorten the windows through
// Config.Limits so a budget window passes in milliseconds.
//
// # Client order IDs
//
// As OKX documents, a clOrdId must be unique among the sub-account's
// pending (live or partially filled) orders only: once its order is
// filled or canceled the same clOrdId may be placed again, and a query by
// clOrdId returns the latest order with it. So a client that resends
// blind can make two orders; OrderLog records every order created, one
// entry per placement, and Duplicates lists the clOrdIds placed more than
// once, so tests can see a duplicate.
//
// # Faults
//
// Config.Faults: latency with jitter; 503 answers (50001) that did
// nothing; requests held until the client gives up that still take
// effect at a set rate (the outcome is unknown to the client; on Close
// they are answered 50004); private connections dropped, without a close
// frame, every N pushes.
//
// # Where the simulator differs from OKX
//
//   - Only SPOT, tdMode cash. Fees are charged in the quote currency
//     (OKX charges a buyer in the base currency), never rebated.
//   - The engine's minimum notional is enforced (51020) but published
//     nowhere: OKX's instruments have no such field. Tick size errors are
//     sCode 51000 "Parameter px error"; OKX's exact code is not documented.
//   - 50061 is answered in data[0].sCode (code "1"); OKX's docs list the
//     code with HTTP 200 but not where it appears.
//   - Windows slide over arrival times; OKX does not say how it counts.
//     account-rate-limit answers as for a user below VIP5 (fillRatio "").
//     WebSocket order entry, batch endpoints, amend and the 480 logins and
//     subscriptions per hour are not simulated.
//   - A fill's time is its order's last update; billId is the trade ID.
//
// # Use
//
//	srv, err := okxsim.New(okxsim.DefaultConfig())
//	url, err := srv.Start("127.0.0.1:0")   // ws: "ws"+url[4:]+"/ws/v5/private"
//	defer srv.Close()
//	srv.Exchange().SetPrice("BTC-USDT", p) // drive the market in tests
//
// Run(ctx, addr) serves until ctx ends (`keyrouter exchange-sim --venue
// okx`). Stats counts 50011s per limit, 50061s, faults, logins and
// orders; RevokeKey makes a key answer 50111 and closes its connections;
// Orders lists an account's orders by clOrdId. Config.Now injects the
// clock. Every method is safe for concurrent use; Close ends held
// requests and connections and waits for the Server's goroutines.
//
// Secrets: because this is a test exchange a secret and passphrase may be
// written inline in its config; secret_env and passphrase_env name
// environment variables instead. Neither ever appears in an error or an
// answer.
package okxsim
