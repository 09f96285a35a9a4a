package binancesim

import (
	"encoding/json"
	"net/http"
	"sort"

	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/shopspring/decimal"
)

// routeTable lists the endpoints with Binance's weights.
func (s *Server) routeTable() map[string]*route {
	openOrdersWeight := func(p *params) int64 {
		if p != nil && p.get("symbol") != "" {
			return 6
		}
		return 80
	}
	tickerWeight := func(p *params) int64 {
		if p != nil && p.get("symbol") != "" {
			return 2
		}
		return 4
	}
	myTradesWeight := func(p *params) int64 {
		if p != nil && p.get("orderId") != "" {
			return 5
		}
		return 20
	}
	return map[string]*route{
		"GET /api/v3/ping":              {sec: public, weight: weight(1), handle: func(*call) (any, *apiError) { return struct{}{}, nil }},
		"GET /api/v3/time":              {sec: public, weight: weight(1), handle: s.serverTime},
		"GET /api/v3/exchangeInfo":      {sec: public, weight: weight(20), handle: s.exchangeInfo},
		"GET /api/v3/ticker/price":      {sec: public, weight: tickerWeight, handle: s.tickerPrice},
		"POST /api/v3/order":            {sec: signedRq, weight: weight(1), newOrder: true, handle: s.newOrder},
		"POST /api/v3/order/test":       {sec: signedRq, weight: weight(1), handle: s.testOrder},
		"DELETE /api/v3/order":          {sec: signedRq, weight: weight(1), handle: s.cancelOrder},
		"GET /api/v3/order":             {sec: signedRq, weight: weight(4), handle: s.queryOrder},
		"GET /api/v3/openOrders":        {sec: signedRq, weight: openOrdersWeight, handle: s.openOrders},
		"GET /api/v3/allOrders":         {sec: signedRq, weight: weight(20), handle: s.allOrders},
		"GET /api/v3/account":           {sec: signedRq, weight: weight(20), handle: s.account},
		"GET /api/v3/myTrades":          {sec: signedRq, weight: myTradesWeight, handle: s.myTrades},
		"GET /api/v3/rateLimit/order":   {sec: signedRq, weight: weight(40), handle: s.orderRateLimit},
		"POST /api/v3/userDataStream":   {sec: apiKey, weight: weight(2), handle: s.startStream},
		"PUT /api/v3/userDataStream":    {sec: apiKey, weight: weight(2), handle: s.keepStream},
		"DELETE /api/v3/userDataStream": {sec: apiKey, weight: weight(2), handle: s.closeStream},
	}
}

func (s *Server) serverTime(*call) (any, *apiError) {
	return map[string]int64{"serverTime": ms(s.now())}, nil
}

func (s *Server) rateLimitsJSON() []map[string]any {
	out := make([]map[string]any, 0, len(s.cfg.RateLimits))
	for _, l := range s.cfg.RateLimits {
		out = append(out, map[string]any{
			"rateLimitType": l.Type, "interval": l.Interval, "intervalNum": l.IntervalNum, "limit": l.Limit,
		})
	}
	return out
}

func (s *Server) exchangeInfo(c *call) (any, *apiError) {
	var want []string
	if sym := c.p.get("symbol"); sym != "" {
		want = []string{sym}
	} else if syms := c.p.get("symbols"); syms != "" {
		if err := json.Unmarshal([]byte(syms), &want); err != nil {
			return nil, newErr(http.StatusBadRequest, -1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.")
		}
	}
	syms := make([]symbolJSON, 0, len(s.symbolList))
	if want == nil {
		for _, f := range s.symbolList {
			syms = append(syms, f.symbolJSON())
		}
	} else {
		for _, w := range want {
			f, ok := s.symbols[w]
			if !ok {
				return nil, errBadSymbol()
			}
			syms = append(syms, f.symbolJSON())
		}
	}
	return map[string]any{
		"timezone": "UTC", "serverTime": ms(s.now()), "rateLimits": s.rateLimitsJSON(),
		"exchangeFilters": []any{}, "symbols": syms,
	}, nil
}

func (s *Server) tickerPrice(c *call) (any, *apiError) {
	type tick struct {
		Symbol string `json:"symbol"`
		Price  string `json:"price"`
	}
	if sym := c.p.get("symbol"); sym != "" {
		f, ok := s.symbols[sym]
		if !ok {
			return nil, errBadSymbol()
		}
		return tick{f.wire, dec8(s.x.Price(f.engine))}, nil
	}
	out := make([]tick, 0, len(s.symbolList))
	for _, f := range s.symbolList {
		out = append(out, tick{f.wire, dec8(s.x.Price(f.engine))})
	}
	return out, nil
}

type balanceJSON struct {
	Asset  string `json:"asset"`
	Free   string `json:"free"`
	Locked string `json:"locked"`
}

// balancesJSON lists the account's assets: every asset of a symbol and
// every asset it holds, sorted.
func (s *Server) balancesJSON(acct string, omitZero bool) []balanceJSON {
	have := map[string]paper.Holding{}
	for _, h := range s.x.Holdings(acct) {
		have[h.Asset] = h
	}
	for _, f := range s.symbolList {
		for _, a := range []string{f.base, f.quote} {
			if _, ok := have[a]; !ok {
				have[a] = paper.Holding{Asset: a}
			}
		}
	}
	out := make([]balanceJSON, 0, len(have))
	for _, h := range have {
		if omitZero && h.Free.IsZero() && h.Locked.IsZero() {
			continue
		}
		out = append(out, balanceJSON{Asset: h.Asset, Free: dec8(h.Free), Locked: dec8(h.Locked)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out
}

func (s *Server) account(c *call) (any, *apiError) {
	omit := c.p.get("omitZeroBalances") == "true"
	bp := func(d decimal.Decimal) int64 { return d.Shift(4).IntPart() }
	return map[string]any{
		"makerCommission": bp(s.cfg.MakerFee), "takerCommission": bp(s.cfg.TakerFee),
		"buyerCommission": 0, "sellerCommission": 0,
		"commissionRates": map[string]string{
			"maker": dec8(s.cfg.MakerFee), "taker": dec8(s.cfg.TakerFee),
			"buyer": dec8(decimal.Zero), "seller": dec8(decimal.Zero),
		},
		"canTrade": true, "canWithdraw": true, "canDeposit": true, "brokered": false,
		"requireSelfTradePrevention": false, "preventSor": false,
		"updateTime": ms(s.now()), "accountType": "SPOT",
		"balances":    s.balancesJSON(c.acct, omit),
		"permissions": []string{"SPOT"}, "uid": s.uid(c.acct),
	}, nil
}

// uid is a stable number for an account.
func (s *Server) uid(acct string) int64 {
	for i, a := range s.cfg.Accounts {
		if a.ID == acct {
			return int64(1000 + i)
		}
	}
	return 0
}

func (s *Server) orderRateLimit(c *call) (any, *apiError) {
	use := s.lim.orderUsage(c.acct, c.now)
	out := make([]map[string]any, 0, len(use))
	i := 0
	for _, l := range s.cfg.RateLimits {
		if l.Type != "ORDERS" {
			continue
		}
		out = append(out, map[string]any{
			"rateLimitType": l.Type, "interval": l.Interval, "intervalNum": l.IntervalNum,
			"limit": l.Limit, "count": use[i].used,
		})
		i++
	}
	return out, nil
}
