// Package paper is a simulated exchange: a multi-account matching engine
// (Exchange) and an executors.Venue for one API key over it (Venue), used by
// `keyrouter run`, the benchmark and the tests. Another package may wrap an
// Exchange in a venue's wire protocol (e.g. a Binance-style HTTP simulator).
//
// # Exchange
//
//	x, err := paper.NewExchange(paper.Config{Symbols: paper.DefaultSymbols(), Seed: 1})
//	u, err := x.Place("acct", executors.Order{...})   // answer: new, partially_filled, filled, expired
//	u, err  = x.Cancel("acct", "BTC-USDT", clientID)  // ErrUnknownOrder / ErrTooLateToCancel (+ last state)
//	u, err  = x.Query("acct", "BTC-USDT", clientID)   // all fills so far
//	x.OpenOrders("acct", "")  x.AllOrders("acct", "BTC-USDT")  x.Orders("acct", "", true)
//	x.Info("acct", "BTC-USDT", clientID)  x.LookupVenueID("acct", "BTC-USDT", "42")
//	x.InfoByVenueID("acct", "BTC-USDT", "42")  x.CancelByVenueID("acct", "BTC-USDT", "42")
//	ch, unsubscribe := x.Subscribe("acct")           // every state change of the account's orders
//	x.Step()  x.SetPrice("BTC-USDT", p)  x.Price("BTC-USDT")  x.Run(ctx, 100*time.Millisecond)
//	x.Balances("acct")  x.Holdings("acct")  x.AddAccount("acct2", nil)
//	x.Spec("BTC-USDT")  x.Symbols()  x.Dropped()
//
// The market is one reference price per symbol, moved by Step (a seeded
// random walk of at most SymbolSpec.Volatility per tick, rounded to the tick
// size) or by SetPrice. There is no order book between accounts: every order
// trades against the simulated market.
//
//   - A market order fills at once, in full, at the reference price as
//     taker, in fills of at most SymbolSpec.MaxFillQty each.
//   - A limit order that is marketable on arrival (buy: price >= reference;
//     sell: price <= reference) takes at most MaxFillQty at once at the
//     reference price as taker; the rest rests (GTC) or expires (IOC). A FOK
//     order fills in full at once or expires with nothing filled.
//   - A post-only order that would be marketable is rejected (WOULD_CROSS).
//   - A resting limit order fills as maker at its own price when a price
//     move crosses it (buy: reference <= price; sell: reference >= price),
//     at most MaxFillQty per tick, so a large order fills over several ticks.
//
// Fills carry unique numeric trade IDs, a fee in the quote asset (MakerFee
// or TakerFee times the notional, rounded down to 8 decimals) and the
// liquidity. Venue order IDs are numeric strings, increasing.
//
// Place checks the symbol's filters (tick, step, min/max quantity, min
// notional; the reference price is the notional's price for market orders)
// and the balance; a refusal is a *executors.VenueError of Kind Rejected and
// Reason venue_rejected with Code FILTER, DUPLICATE_CLIENT_ID,
// INSUFFICIENT_BALANCE, WOULD_CROSS, UNKNOWN_SYMBOL or INVALID. A refused
// order is not stored. By default a client ID is never accepted twice by an
// account: the ID of every accepted order stays taken for the Exchange's
// life. With Config.ReuseClosedClientIDs (how Binance behaves) an ID is
// refused only while an order with it is open; once that order is closed
// the ID places a new, separate order, lookups by client ID find the
// newest one, and InfoByVenueID and CancelByVenueID name an older one.
//
// Balances: with Config.Accounts nil every account is accepted and
// unlimited; otherwise only the listed accounts (and those added with
// AddAccount) exist, and an account whose balance map is nil is unlimited.
// A buy locks quote (quantity × limit or reference price × (1 + the larger
// fee)), a sell locks base; fills move the amounts, cancel and expiry
// release the rest. Unlimited accounts lock nothing but still keep their
// (possibly negative) balances, so Balances shows their position.
//
// # Venue
//
// NewVenue wraps an Exchange account as an executors.Venue named "paper",
// in process, with optional simulated latency and the venue's own rate
// limits (fixed windows, per Venue or shared through a *LimitGroup). A
// request over a limit gets a Throttled *executors.VenueError (Code 429,
// RetryAfter the start of the next window); every successful answer carries
// the Usage of each limit. Updates carries the account's events for the
// orders placed (or queried while open) through this Venue, so several keys
// of one account each see their own; VenueOptions.AllAccountOrders lifts the
// filter.
//
// # Concurrency
//
// Every method of Exchange and Venue is safe for concurrent use. An
// Exchange holds one mutex; nothing it does under that mutex blocks (a full
// subscriber channel loses the event, counted by Dropped). Run ticks until
// its context ends; an Exchange needs no Close. A Venue runs one goroutine
// forwarding its updates, ended by Close.
package paper
