package budget

import (
	"fmt"
	"strings"
	"time"
)

// Names of the Binance spot limits, as Observe expects them.
const (
	BinanceRequestWeight = "REQUEST_WEIGHT_1M"
	BinanceOrders10s     = "ORDERS_10S"
	BinanceOrders1d      = "ORDERS_1D"
	BinanceRawRequests   = "RAW_REQUESTS_5M"
)

// Binance returns the Binance spot REST limits of a key whose account is
// account and whose requests leave from IP ip. Request weight and raw
// requests are counted per IP, orders per account, so keys sharing either
// share those counters through Groups.
//
// Figures as published by Binance (developers.binance.com,
// binance-spot-api-docs: rest-api/limits, enums "Rate limiters", and the
// rateLimits of GET /api/v3/exchangeInfo):
//
//	REQUEST_WEIGHT  MINUTE x1  6000    (per IP; header X-MBX-USED-WEIGHT-1M)
//	ORDERS          SECOND x10 100     (per account; X-MBX-ORDER-COUNT-10S)
//	ORDERS          DAY    x1  200000  (per account; X-MBX-ORDER-COUNT-1D)
//	RAW_REQUESTS    MINUTE x5  61000   (per IP)
//
// Weights: POST /api/v3/order 1 (and 1 ORDERS), DELETE /api/v3/order 1
// (no ORDERS), POST /api/v3/order/cancelReplace 1 (and 1 ORDERS, counted
// as amend), GET /api/v3/order 4, GET /api/v3/exchangeInfo 20. Every
// request is one raw request. Windows are aligned to the clock (UTC), so
// the day resets at 00:00 UTC.
//
// Binance decrements the ORDERS counts when orders fill ("unfilled order
// count"); the budget does not model that (it is conservative) and learns
// the venue's lower count only as time passes, never through Observe.
func Binance(ip, account string) []Limit {
	ipScope, acctScope := "ip:"+ip, "account:"+account
	return []Limit{
		{
			Name: BinanceRequestWeight, Shape: Fixed, Max: 6000, Window: time.Minute,
			Costs: map[Class]int64{ClassNew: 1, ClassCancel: 1, ClassAmend: 1, ClassQuery: 4},
			Endpoints: map[string]int64{
				"POST /api/v3/order":               1,
				"DELETE /api/v3/order":             1,
				"POST /api/v3/order/cancelReplace": 1,
				"GET /api/v3/order":                4,
				"GET /api/v3/exchangeInfo":         20,
			},
			Scope: ipScope,
		},
		{
			Name: BinanceOrders10s, Shape: Fixed, Max: 100, Window: 10 * time.Second,
			Costs: map[Class]int64{ClassNew: 1, ClassAmend: 1}, Scope: acctScope,
		},
		{
			Name: BinanceOrders1d, Shape: Fixed, Max: 200000, Window: 24 * time.Hour,
			Costs: map[Class]int64{ClassNew: 1, ClassAmend: 1}, Scope: acctScope,
		},
		{
			Name: BinanceRawRequests, Shape: Fixed, Max: 61000, Window: 5 * time.Minute,
			Costs: map[Class]int64{ClassNew: 1, ClassCancel: 1, ClassAmend: 1, ClassQuery: 1}, Scope: ipScope,
		},
	}
}

// BinanceHeaderLimit maps a Binance response header carrying usage to the
// limit Observe expects: X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S and
// X-MBX-ORDER-COUNT-1D (case-insensitive).
func BinanceHeaderLimit(header string) (string, bool) {
	switch strings.ToUpper(header) {
	case "X-MBX-USED-WEIGHT-1M", "X-MBX-USED-WEIGHT":
		return BinanceRequestWeight, true
	case "X-MBX-ORDER-COUNT-10S":
		return BinanceOrders10s, true
	case "X-MBX-ORDER-COUNT-1D":
		return BinanceOrders1d, true
	}
	return "", false
}

// Names of the OKX v5 limits, as the OKX adapter's errors and Usage name
// them (a per-instrument one as NAME:INSTRUMENT).
const (
	OKXPlace      = "PLACE_2S"
	OKXCancel     = "CANCEL_2S"
	OKXAmend      = "AMEND_2S"
	OKXOrderQuery = "ORDER_QUERY_2S"
	OKXSubAccount = "SUBACCOUNT_ORDERS_2S"
)

// OKX's published figures, and the guard keyrouter adds to its windows.
const (
	// OKXPerInstrument is the place, cancel, amend and order-details
	// limit per user ID and instrument, per OKXWindow.
	OKXPerInstrument = 60
	// OKXSubAccountDefault is the sub-account limit of new and amended
	// orders per OKXWindow below VIP5; GET /api/v5/trade/account-rate-limit
	// (accRateLimit) gives the key's own.
	OKXSubAccountDefault = 1000
	OKXWindow            = 2 * time.Second
	// OKXWindowGuard lengthens every OKX window: OKX counts a request when
	// it arrives, the budget when it is sent, so a request that spends
	// longer in flight than a later one could land in a window the budget
	// thought it had left. 100ms in 2s costs 5% of the rate. (40ms drew a
	// 50061 from the simulator with two keys of a sub-account sending at
	// its limit on a busy machine under the race detector: a request's
	// time in flight varies by more than that there, as it can over a
	// network.)
	OKXWindowGuard = 100 * time.Millisecond
)

// OKX returns the OKX v5 trading limits of a key of sub-account account.
// OKX counts private requests per user ID, and a sub-account is one user
// ID: every key of one sub-account draws on the same counters, so every
// limit here is scoped to "account:<account>", the per-instrument ones
// with one counter per instrument (PerSymbol).
//
// Figures as published by OKX (www.okx.com/docs-v5/en: "Rate Limits",
// "Trading-related APIs", "Sub-account rate limit", POST /api/v5/trade/order,
// cancel-order, amend-order, GET /api/v5/trade/order):
//
//	PLACE_2S              60 per 2 s   per user ID and instrument (place order)
//	CANCEL_2S             60 per 2 s   per user ID and instrument (cancel order)
//	AMEND_2S              60 per 2 s   per user ID and instrument (amend order)
//	ORDER_QUERY_2S        60 per 2 s   per user ID and instrument (order details)
//	SUBACCOUNT_ORDERS_2S  1000 per 2 s per sub-account, new and amended orders
//
// Place, cancel and amend limits are independent of each other and shared
// between REST and WebSocket order entry; batch endpoints count each
// order. Over a per-instrument limit OKX answers 50011 (HTTP 429), over
// the sub-account limit 50061. From VIP5 the sub-account limit follows
// the fill ratio (1,000 to 10,000) and is published by GET
// /api/v5/trade/account-rate-limit as accRateLimit: the caller replaces
// SUBACCOUNT_ORDERS_2S's Max with it (the OKX adapter reads it at start
// and on a schedule). OKX does not say whether its windows slide or are
// fixed; they are modelled as sliding, which is safe under either, and
// each is OKXWindowGuard longer than OKX's.
//
// OKX's fill-ratio section says spot orders are exempt from the
// sub-account limit; this preset applies it to spot orders anyway (it can
// only hold back orders above accRateLimit per 2 s, never draw a refusal).
func OKX(account string) []Limit {
	scope := "account:" + account
	w := OKXWindow + OKXWindowGuard
	per := func(name string, c Class) Limit {
		return Limit{Name: name, Shape: Sliding, Max: OKXPerInstrument, Window: w,
			Costs: map[Class]int64{c: 1}, Scope: scope, PerSymbol: true}
	}
	return []Limit{
		per(OKXPlace, ClassNew),
		per(OKXCancel, ClassCancel),
		per(OKXAmend, ClassAmend),
		per(OKXOrderQuery, ClassQuery),
		{Name: OKXSubAccount, Shape: Sliding, Max: OKXSubAccountDefault, Window: w,
			Costs: map[Class]int64{ClassNew: 1, ClassAmend: 1}, Scope: scope},
	}
}

// PresetOptions parameterise Preset.
type PresetOptions struct {
	Account string // account (UID) id, for account-scoped limits
	IP      string // egress IP id, for IP-scoped limits
	Tier    string // venue tier where limits depend on it (kraken: starter, intermediate, pro)
}

// Preset returns the limits of a venue by name: "binance" and "okx"
// (checked figures, see Binance and OKX), and the documented default-tier
// shapes of "bybit", "coinbase" and "kraken". Figures other than Binance's
// and OKX's are defaults of the venues' public docs; check them against
// the key's tier before relying on them.
func Preset(name string, o PresetOptions) ([]Limit, error) {
	switch strings.ToLower(name) {
	case "binance":
		return Binance(o.IP, o.Account), nil
	case "bybit":
		// v5 trade endpoints: per-UID limits per endpoint per second,
		// counted over a rolling second; 600 requests per 5 s per IP.
		return []Limit{
			{Name: "ORDER_CREATE_1S", Shape: Sliding, Max: 10, Window: time.Second, Costs: map[Class]int64{ClassNew: 1}},
			{Name: "ORDER_AMEND_1S", Shape: Sliding, Max: 10, Window: time.Second, Costs: map[Class]int64{ClassAmend: 1}},
			{Name: "ORDER_CANCEL_1S", Shape: Sliding, Max: 10, Window: time.Second, Costs: map[Class]int64{ClassCancel: 1}},
			{Name: "ORDER_QUERY_1S", Shape: Sliding, Max: 50, Window: time.Second, Costs: map[Class]int64{ClassQuery: 1}},
			{Name: "IP_5S", Shape: Sliding, Max: 600, Window: 5 * time.Second,
				Costs: map[Class]int64{ClassNew: 1, ClassCancel: 1, ClassAmend: 1, ClassQuery: 1}, Scope: "ip:" + o.IP},
		}, nil
	case "okx":
		return OKX(o.Account), nil
	case "coinbase":
		// Exchange REST private endpoints: 15 requests per second, bursts to 30.
		return []Limit{
			{Name: "PRIVATE", Shape: Bucket, Max: 30, Rate: 15,
				Costs: map[Class]int64{ClassNew: 1, ClassCancel: 1, ClassAmend: 1, ClassQuery: 1}},
		}, nil
	case "kraken":
		var restMax, tradeMax int64
		var restDecay, tradeDecay float64
		switch strings.ToLower(o.Tier) {
		case "", "starter":
			restMax, restDecay, tradeMax, tradeDecay = 15, 0.33, 60, 1
		case "intermediate":
			restMax, restDecay, tradeMax, tradeDecay = 20, 0.5, 125, 2.34
		case "pro":
			restMax, restDecay, tradeMax, tradeDecay = 20, 1, 180, 3.75
		default:
			return nil, fmt.Errorf("budget: kraken tier %q: want starter, intermediate or pro", o.Tier)
		}
		return []Limit{
			// REST call counter: AddOrder and CancelOrder are not counted here.
			{Name: "REST_COUNTER", Shape: Decay, Max: restMax, Rate: restDecay, Costs: map[Class]int64{ClassQuery: 1}},
			// Trading engine counter per pair: +1 per new order and amend,
			// plus a penalty for canceling or amending a young order.
			{Name: "TRADE_COUNTER", Shape: Decay, Max: tradeMax, Rate: tradeDecay, Scope: ScopeSymbol,
				Costs: map[Class]int64{ClassNew: 1, ClassAmend: 1},
				AgeCost: []AgeStep{
					{Class: ClassCancel, Under: 5 * time.Second, Cost: 8},
					{Class: ClassCancel, Under: 10 * time.Second, Cost: 6},
					{Class: ClassCancel, Under: 15 * time.Second, Cost: 5},
					{Class: ClassCancel, Under: 45 * time.Second, Cost: 4},
					{Class: ClassCancel, Under: 90 * time.Second, Cost: 2},
					{Class: ClassCancel, Under: 300 * time.Second, Cost: 1},
					{Class: ClassAmend, Under: 5 * time.Second, Cost: 3},
					{Class: ClassAmend, Under: 10 * time.Second, Cost: 2},
					{Class: ClassAmend, Under: 15 * time.Second, Cost: 1},
				}},
		}, nil
	}
	return nil, fmt.Errorf("budget: unknown preset %q (binance, bybit, okx, coinbase, kraken)", name)
}
