package okxsim

import (
	"time"

	"github.com/shopspring/decimal"
)

// routeTable lists the endpoints.
func (s *Server) routeTable() map[string]route {
	return map[string]route{
		"GET /api/v5/public/time":              {handle: s.serverTime},
		"GET /api/v5/public/instruments":       {handle: s.instruments},
		"GET /api/v5/market/tickers":           {handle: s.tickers},
		"GET /api/v5/market/ticker":            {handle: s.tickers},
		"POST /api/v5/trade/order":             {private: true, handle: s.placeOrder},
		"POST /api/v5/trade/cancel-order":      {private: true, handle: s.cancelOrder},
		"POST /api/v5/trade/amend-order":       {private: true, handle: s.amendOrder},
		"GET /api/v5/trade/order":              {private: true, handle: s.queryOrder},
		"GET /api/v5/trade/orders-pending":     {private: true, handle: s.pendingOrders},
		"GET /api/v5/trade/fills":              {private: true, handle: s.fills},
		"GET /api/v5/trade/account-rate-limit": {private: true, handle: s.accountRateLimit},
	}
}

func (s *Server) serverTime(c *call) result {
	c.now = s.now()
	if res := s.limit(c, "time", c.ip, s.cfg.Limits.Time); res != nil {
		return *res
	}
	return ok([]map[string]string{{"ts": ms(c.now)}})
}

// instrumentJSON is one GET /api/v5/public/instruments entry (SPOT).
type instrumentJSON struct {
	InstType   string `json:"instType"`
	InstID     string `json:"instId"`
	InstIDCode int64  `json:"instIdCode"`
	BaseCcy    string `json:"baseCcy"`
	QuoteCcy   string `json:"quoteCcy"`
	SettleCcy  string `json:"settleCcy"`
	CtVal      string `json:"ctVal"`
	CtMult     string `json:"ctMult"`
	CtValCcy   string `json:"ctValCcy"`
	ListTime   string `json:"listTime"`
	ExpTime    string `json:"expTime"`
	Lever      string `json:"lever"`
	TickSz     string `json:"tickSz"`
	LotSz      string `json:"lotSz"`
	MinSz      string `json:"minSz"`
	MaxLmtSz   string `json:"maxLmtSz"`
	MaxMktSz   string `json:"maxMktSz"`
	MaxLmtAmt  string `json:"maxLmtAmt"`
	MaxMktAmt  string `json:"maxMktAmt"`
	State      string `json:"state"`
	RuleType   string `json:"ruleType"`
	Uly        string `json:"uly"`
	InstFamily string `json:"instFamily"`
}

var listed = time.Date(2020, 11, 27, 9, 0, 0, 0, time.UTC)

func (s *Server) instruments(c *call) result {
	c.now = s.now()
	q := c.r.URL.Query()
	typ := q.Get("instType")
	if typ == "" {
		return errEmptyParam("instType")
	}
	if res := s.limit(c, "instruments", c.ip+"\x00"+typ, s.cfg.Limits.Instruments); res != nil {
		return *res
	}
	out := []instrumentJSON{}
	if typ != "SPOT" {
		return ok(out)
	}
	want := q.Get("instId")
	for i, sp := range s.symList {
		if want != "" && sp.Symbol != want {
			continue
		}
		max := ""
		if sp.MaxQty.IsPositive() {
			max = sp.MaxQty.String()
		}
		out = append(out, instrumentJSON{
			InstType: "SPOT", InstID: sp.Symbol, InstIDCode: int64(1000 + i), BaseCcy: sp.Base, QuoteCcy: sp.Quote,
			ListTime: ms(listed), TickSz: sp.TickSize.String(), LotSz: sp.StepSize.String(), MinSz: sp.MinQty.String(),
			MaxLmtSz: max, MaxMktSz: max, MaxLmtAmt: "", MaxMktAmt: "", State: "live", RuleType: "normal",
		})
	}
	return ok(out)
}

// tickers is GET /api/v5/market/tickers?instType=SPOT and
// /market/ticker?instId=X: last, best bid and ask are the engine's
// reference price.
func (s *Server) tickers(c *call) result {
	c.now = s.now()
	if res := s.limit(c, "tickers", c.ip, s.cfg.Limits.Tickers); res != nil {
		return *res
	}
	q := c.r.URL.Query()
	want := q.Get("instId")
	if c.r.URL.Path == "/api/v5/market/ticker" && want == "" {
		return errEmptyParam("instId")
	}
	if t := q.Get("instType"); want == "" && t != "SPOT" {
		if t == "" {
			return errEmptyParam("instType")
		}
		return ok([]any{})
	}
	out := []map[string]string{}
	for _, sp := range s.symList {
		if want != "" && sp.Symbol != want {
			continue
		}
		p := s.x.Price(sp.Symbol).String()
		out = append(out, map[string]string{
			"instType": "SPOT", "instId": sp.Symbol, "last": p, "lastSz": "0",
			"askPx": p, "askSz": "0", "bidPx": p, "bidSz": "0",
			"open24h": p, "high24h": p, "low24h": p, "volCcy24h": "0", "vol24h": "0",
			"sodUtc0": p, "sodUtc8": p, "ts": ms(c.now),
		})
	}
	if want != "" && len(out) == 0 {
		return errNoInstrument()
	}
	return ok(out)
}

// accountRateLimit is GET /api/v5/trade/account-rate-limit. fillRatio,
// mainFillRatio and nextAccRateLimit are "" as for users below VIP5; ts
// is the current time, as OKX gives those users.
func (s *Server) accountRateLimit(c *call) result {
	if res := s.limit(c, "account_rate_limit", c.acct.id, s.cfg.Limits.AccountRateLimit); res != nil {
		return *res
	}
	s.mu.Lock()
	n := c.acct.accRateLimit
	s.mu.Unlock()
	return ok([]map[string]string{{
		"accRateLimit": decimal.NewFromInt(n).String(), "fillRatio": "", "mainFillRatio": "",
		"nextAccRateLimit": "", "ts": ms(c.now),
	}})
}
