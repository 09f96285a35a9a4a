package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// RateLimitInfo is one entry of exchangeInfo's rateLimits.
type RateLimitInfo struct {
	RateLimitType string `json:"rateLimitType"` // REQUEST_WEIGHT, ORDERS, RAW_REQUESTS
	Interval      string `json:"interval"`      // SECOND, MINUTE, DAY
	IntervalNum   int    `json:"intervalNum"`
	Limit         int64  `json:"limit"`
}

// Name is the limit's name as Usage reports it: REQUEST_WEIGHT_1M,
// ORDERS_10S, ORDERS_1D, RAW_REQUESTS_5M.
func (r RateLimitInfo) Name() string {
	typ := r.RateLimitType
	if typ == "ORDERS" || typ == "ORDER" {
		typ = "ORDERS"
	}
	u := ""
	if r.Interval != "" {
		u = r.Interval[:1]
	}
	return fmt.Sprintf("%s_%d%s", typ, r.IntervalNum, u)
}

// Window is the limit's interval as a duration.
func (r RateLimitInfo) Window() time.Duration {
	unit := map[string]time.Duration{"SECOND": time.Second, "MINUTE": time.Minute, "HOUR": time.Hour, "DAY": 24 * time.Hour}[r.Interval]
	return time.Duration(r.IntervalNum) * unit
}

// symbolInfo is what the adapter keeps of one exchangeInfo symbol.
type symbolInfo struct {
	Symbol     string // BTCUSDT
	Contract   string // BTC-USDT
	Status     string
	OrderTypes map[string]bool
	Filters    map[string]map[string]any
}

type exchangeInfo struct {
	RateLimits []RateLimitInfo `json:"rateLimits"`
	Symbols    []struct {
		Symbol     string           `json:"symbol"`
		Status     string           `json:"status"`
		BaseAsset  string           `json:"baseAsset"`
		QuoteAsset string           `json:"quoteAsset"`
		OrderTypes []string         `json:"orderTypes"`
		Filters    []map[string]any `json:"filters"`
	} `json:"symbols"`
}

// loadExchangeInfo fetches GET /api/v3/exchangeInfo and replaces the symbol
// cache and rate limits.
func (v *Venue) loadExchangeInfo(ctx context.Context) error {
	r, err := v.do(ctx, http.MethodGet, "/api/v3/exchangeInfo", nil, public)
	if err != nil {
		return err
	}
	var ei exchangeInfo
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.UseNumber() // filter values stay exact text, never float64
	if err := dec.Decode(&ei); err != nil {
		return fmt.Errorf("binance: decoding exchangeInfo: %w", err)
	}
	byContract := make(map[string]*symbolInfo, len(ei.Symbols))
	byNative := make(map[string]*symbolInfo, len(ei.Symbols))
	for _, s := range ei.Symbols {
		si := &symbolInfo{
			Symbol:     s.Symbol,
			Contract:   s.BaseAsset + "-" + s.QuoteAsset,
			Status:     s.Status,
			OrderTypes: map[string]bool{},
			Filters:    map[string]map[string]any{},
		}
		for _, t := range s.OrderTypes {
			si.OrderTypes[t] = true
		}
		for _, f := range s.Filters {
			if ft, ok := f["filterType"].(string); ok {
				si.Filters[ft] = f
			}
		}
		byContract[si.Contract] = si
		byNative[si.Symbol] = si
	}
	v.mu.Lock()
	v.byContract, v.byNative = byContract, byNative
	v.rateLimits = append([]RateLimitInfo(nil), ei.RateLimits...)
	v.infoAt = v.cfg.Now()
	v.mu.Unlock()
	return nil
}

// RateLimits returns the rate limits from the last exchangeInfo, so a
// budget can be built from the venue's own numbers.
func (v *Venue) RateLimits() []RateLimitInfo {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return append([]RateLimitInfo(nil), v.rateLimits...)
}

func (v *Venue) symbol(contract string) (*symbolInfo, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	si, ok := v.byContract[contract]
	return si, ok
}

// contractOf maps BTCUSDT back to BTC-USDT (the native name if unknown).
func (v *Venue) contractOf(native string) string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if si, ok := v.byNative[native]; ok {
		return si.Contract
	}
	return native
}

// nativeOf maps BTC-USDT to BTCUSDT for requests that need no filter check
// (Query, Cancel): a symbol not in exchangeInfo is sent as BASEQUOTE.
func (v *Venue) nativeOf(contract string) string {
	if si, ok := v.symbol(contract); ok {
		return si.Symbol
	}
	return strings.ReplaceAll(contract, "-", "")
}

// Check reports whether Binance would accept o under the symbol's filters,
// without sending anything: a refusal costs no rate budget. It returns nil
// or a *executors.VenueError of Kind Rejected. Safe for concurrent use.
func (v *Venue) Check(o executors.Order) error {
	return venuekit.Check(o, "binance spot", v.symbol, v.kickInfoRefresh, "SYMBOL", checkOrder)
}

// checkOrder is the pure filter check of filters.md.
func checkOrder(si *symbolInfo, o executors.Order) error {
	if si.Status != "" && si.Status != "TRADING" {
		return venuekit.Reject(messages.ReasonVenueRejected, "SYMBOL_STATUS", fmt.Sprintf("symbol %s is %s, not TRADING", si.Symbol, si.Status))
	}
	bt := binanceType(o)
	if len(si.OrderTypes) > 0 && !si.OrderTypes[bt] {
		return venuekit.Reject(messages.ReasonInvalid, "ORDER_TYPE", fmt.Sprintf("order type %s is not allowed on %s", bt, si.Symbol))
	}
	market := o.Type == messages.Market
	if market && o.TimeInForce == messages.FOK {
		return venuekit.Reject(messages.ReasonInvalid, "UNSUPPORTED", "market orders cannot be FOK on binance spot")
	}
	if !market {
		if !o.Price.IsPositive() {
			return venuekit.Reject(messages.ReasonInvalid, "PRICE", "limit price must be positive")
		}
		if f, ok := si.Filters["PRICE_FILTER"]; ok {
			minP, maxP, tick := dec(f, "minPrice"), dec(f, "maxPrice"), dec(f, "tickSize")
			if minP.IsPositive() && o.Price.LessThan(minP) {
				return venuekit.FilterErr("PRICE_FILTER: price %s below minPrice %s", o.Price, minP)
			}
			if maxP.IsPositive() && o.Price.GreaterThan(maxP) {
				return venuekit.FilterErr("PRICE_FILTER: price %s above maxPrice %s", o.Price, maxP)
			}
			if tick.IsPositive() && !o.Price.Mod(tick).IsZero() {
				return venuekit.FilterErr("PRICE_FILTER: price %s is not a multiple of tickSize %s", o.Price, tick)
			}
		}
	}
	lots := []string{"LOT_SIZE"}
	if market {
		lots = append(lots, "MARKET_LOT_SIZE")
	}
	for _, name := range lots {
		f, ok := si.Filters[name]
		if !ok {
			continue
		}
		minQ, maxQ, step := dec(f, "minQty"), dec(f, "maxQty"), dec(f, "stepSize")
		if minQ.IsPositive() && o.Quantity.LessThan(minQ) {
			return venuekit.FilterErr("%s: quantity %s below minQty %s", name, o.Quantity, minQ)
		}
		if maxQ.IsPositive() && o.Quantity.GreaterThan(maxQ) {
			return venuekit.FilterErr("%s: quantity %s above maxQty %s", name, o.Quantity, maxQ)
		}
		if step.IsPositive() && !o.Quantity.Mod(step).IsZero() {
			return venuekit.FilterErr("%s: quantity %s is not a multiple of stepSize %s", name, o.Quantity, step)
		}
	}
	// A market order's notional uses the venue's average price, which is
	// not known here: Binance checks it.
	if !market {
		notional := o.Price.Mul(o.Quantity)
		if f, ok := si.Filters["MIN_NOTIONAL"]; ok {
			if m := dec(f, "minNotional"); m.IsPositive() && notional.LessThan(m) {
				return venuekit.FilterErr("MIN_NOTIONAL: notional %s below minNotional %s", notional, m)
			}
		}
		if f, ok := si.Filters["NOTIONAL"]; ok {
			if m := dec(f, "minNotional"); m.IsPositive() && notional.LessThan(m) {
				return venuekit.FilterErr("NOTIONAL: notional %s below minNotional %s", notional, m)
			}
			if m := dec(f, "maxNotional"); m.IsPositive() && notional.GreaterThan(m) {
				return venuekit.FilterErr("NOTIONAL: notional %s above maxNotional %s", notional, m)
			}
		}
	}
	return nil
}

// dec reads a filter field (a JSON string or number) exactly; absent or
// unparseable is zero, which filters.md defines as "rule disabled".
func dec(f map[string]any, k string) decimal.Decimal {
	var s string
	switch x := f[k].(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	default:
		return decimal.Zero
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero
	}
	return d
}

// binanceType is the Binance order type of o.
func binanceType(o executors.Order) string {
	switch {
	case o.Type == messages.Market:
		return "MARKET"
	case o.PostOnly:
		return "LIMIT_MAKER"
	}
	return "LIMIT"
}

// kickInfoRefresh asks the refresher to reload exchangeInfo soon (a symbol
// may have been listed since); it never blocks.
func (v *Venue) kickInfoRefresh() {
	select {
	case v.infoKick <- struct{}{}:
	default:
	}
}
