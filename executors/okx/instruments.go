package okx

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// instrument is what the adapter keeps of one SPOT instrument. OKX's
// instId is keyrouter's symbol form already (BTC-USDT).
type instrument struct {
	ID       string
	State    string // live, suspend, preopen, test
	TickSz   decimal.Decimal
	LotSz    decimal.Decimal
	MinSz    decimal.Decimal
	MaxLmtSz decimal.Decimal // zero: no bound known
	MaxMktSz decimal.Decimal
}

// loadInstruments fetches GET /api/v5/public/instruments?instType=SPOT and
// replaces the cache.
func (v *Venue) loadInstruments(ctx context.Context) error {
	r, err := v.do(ctx, request{method: http.MethodGet, path: "/api/v5/public/instruments",
		query: url.Values{"instType": {"SPOT"}}})
	if err != nil {
		return err
	}
	var list []struct {
		InstID   string `json:"instId"`
		State    string `json:"state"`
		TickSz   string `json:"tickSz"`
		LotSz    string `json:"lotSz"`
		MinSz    string `json:"minSz"`
		MaxLmtSz string `json:"maxLmtSz"`
		MaxMktSz string `json:"maxMktSz"`
	}
	if err := json.Unmarshal(r.data, &list); err != nil {
		return fmt.Errorf("okx: decoding instruments: %w", err)
	}
	m := make(map[string]*instrument, len(list))
	for _, it := range list {
		in := &instrument{ID: it.InstID, State: it.State}
		var bad bool
		for _, f := range []struct {
			s string
			d *decimal.Decimal
		}{{it.TickSz, &in.TickSz}, {it.LotSz, &in.LotSz}, {it.MinSz, &in.MinSz}, {it.MaxLmtSz, &in.MaxLmtSz}, {it.MaxMktSz, &in.MaxMktSz}} {
			if f.s == "" {
				continue
			}
			d, err := decimal.NewFromString(f.s)
			if err != nil {
				bad = true
				break
			}
			*f.d = d
		}
		if bad || it.InstID == "" {
			v.log.Warn().Str("instrument", it.InstID).Msg("okx instrument with unreadable rules skipped")
			continue
		}
		m[in.ID] = in
	}
	v.mu.Lock()
	v.instruments = m
	v.infoAt = v.cfg.Now()
	v.mu.Unlock()
	return nil
}

func (v *Venue) instrument(id string) (*instrument, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	in, ok := v.instruments[id]
	return in, ok
}

// Check reports whether OKX would accept o under the instrument's rules
// (tickSz, lotSz, minSz, maxLmtSz/maxMktSz, state), without sending
// anything: a refusal costs no rate budget. It returns nil or a
// *executors.VenueError of Kind Rejected. Safe for concurrent use.
func (v *Venue) Check(o executors.Order) error {
	return venuekit.Check(o, "okx spot", v.instrument, v.kickInfo, "INSTRUMENT", checkOrder)
}

// checkOrder is the pure check of an order against an instrument.
func checkOrder(in *instrument, o executors.Order) error {
	if in.State != "" && in.State != "live" {
		return venuekit.Reject(messages.ReasonVenueRejected, "INSTRUMENT_STATE", fmt.Sprintf("instrument %s is %s, not live", in.ID, in.State))
	}
	if _, err := ordType(o); err != nil {
		return err
	}
	market := o.Type == messages.Market
	if !market {
		if !o.Price.IsPositive() {
			return venuekit.Reject(messages.ReasonInvalid, "PRICE", "limit price must be positive")
		}
		if in.TickSz.IsPositive() && !o.Price.Mod(in.TickSz).IsZero() {
			return venuekit.FilterErr("tickSz: price %s is not a multiple of %s", o.Price, in.TickSz)
		}
	}
	if in.LotSz.IsPositive() && !o.Quantity.Mod(in.LotSz).IsZero() {
		return venuekit.FilterErr("lotSz: quantity %s is not a multiple of %s", o.Quantity, in.LotSz)
	}
	if in.MinSz.IsPositive() && o.Quantity.LessThan(in.MinSz) {
		return venuekit.FilterErr("minSz: quantity %s is below %s", o.Quantity, in.MinSz)
	}
	maxSz, name := in.MaxLmtSz, "maxLmtSz"
	if market {
		maxSz, name = in.MaxMktSz, "maxMktSz"
	}
	if maxSz.IsPositive() && o.Quantity.GreaterThan(maxSz) {
		return venuekit.FilterErr("%s: quantity %s is above %s", name, o.Quantity, maxSz)
	}
	return nil
}

// ordType is OKX's ordType of o: market, limit, post_only, ioc or fok.
func ordType(o executors.Order) (string, error) {
	switch o.Type {
	case messages.Market:
		if o.PostOnly {
			return "", venuekit.Reject(messages.ReasonInvalid, "UNSUPPORTED", "a market order cannot be post-only")
		}
		if o.TimeInForce == messages.FOK {
			return "", venuekit.Reject(messages.ReasonInvalid, "UNSUPPORTED", "okx has no fill-or-kill market order (use a fok limit order)")
		}
		return "market", nil
	case messages.Limit:
		switch {
		case o.PostOnly && o.TimeInForce != "" && o.TimeInForce != messages.GTC:
			return "", venuekit.Reject(messages.ReasonInvalid, "UNSUPPORTED", "a post-only order must be gtc")
		case o.PostOnly:
			return "post_only", nil
		case o.TimeInForce == messages.IOC:
			return "ioc", nil
		case o.TimeInForce == messages.FOK:
			return "fok", nil
		}
		return "limit", nil
	}
	return "", venuekit.Reject(messages.ReasonInvalid, "UNSUPPORTED", fmt.Sprintf("order type %q", o.Type))
}

// kickInfo asks the refresher to reload instruments soon (one may have
// been listed since); it never blocks.
func (v *Venue) kickInfo() {
	select {
	case v.infoKick <- struct{}{}:
	default:
	}
}

// loadPrices reads GET /api/v5/market/tickers?instType=SPOT: the last
// price of every instrument is its reference price.
func (v *Venue) loadPrices(ctx context.Context) error {
	r, err := v.do(ctx, request{method: http.MethodGet, path: "/api/v5/market/tickers",
		query: url.Values{"instType": {"SPOT"}}})
	if err != nil {
		return err
	}
	var ts []struct {
		InstID string `json:"instId"`
		Last   string `json:"last"`
	}
	if err := json.Unmarshal(r.data, &ts); err != nil {
		return fmt.Errorf("okx: decoding tickers: %w", err)
	}
	p := make(map[string]decimal.Decimal, len(ts))
	for _, t := range ts {
		if d, err := decimal.NewFromString(t.Last); err == nil && d.IsPositive() && strings.Contains(t.InstID, "-") {
			p[t.InstID] = d
		}
	}
	v.mu.Lock()
	v.prices = p
	v.mu.Unlock()
	return nil
}

// Prices returns the last prices read from the tickers (every
// Config.PriceRefresh), for KeyStatus and the router's risk checks.
func (v *Venue) Prices() map[string]decimal.Decimal {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make(map[string]decimal.Decimal, len(v.prices))
	for k, p := range v.prices {
		out[k] = p
	}
	return out
}
