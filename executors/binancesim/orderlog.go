package binancesim

import (
	"sort"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// ClientOrders is every placement of one client order ID by one account:
// the orders the engine accepted with it (a client ID names a new order
// again once the previous one is closed, as on Binance) and the
// placements it refused.
type ClientOrders struct {
	Account       string `json:"account"`
	ClientOrderID string `json:"client_order_id"`
	// Placements is len(Orders): more than one means the ID was placed
	// again after its order closed.
	Placements int `json:"placements"`
	// Refused counts the placements the engine refused, by reason:
	// duplicate (an order with the ID was open), insufficient_balance,
	// would_take (LIMIT_MAKER crossing), other.
	Refused map[string]int `json:"refused,omitempty"`
	Orders  []LoggedOrder  `json:"orders"`
}

// LoggedOrder is one order the engine accepted, as it stands now.
type LoggedOrder struct {
	VenueOrderID string               `json:"venue_order_id"`
	Symbol       string               `json:"symbol"` // engine form, BTC-USDT
	Side         messages.Side        `json:"side"`
	Type         messages.OrderType   `json:"type"`
	TimeInForce  messages.TimeInForce `json:"time_in_force"`
	PostOnly     bool                 `json:"post_only,omitempty"`
	Quantity     decimal.Decimal      `json:"quantity"`
	Price        *decimal.Decimal     `json:"price,omitempty"`
	Status       messages.Status      `json:"status"`
	CumQuantity  decimal.Decimal      `json:"cum_quantity"`
	// Fills carry the trade IDs, quantities and prices.
	Fills   []messages.Fill `json:"fills"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
}

// OrderLog returns every client order ID each account placed (accepted or
// refused), accounts in config order, then by first placement.
func (s *Server) OrderLog() []ClientOrders {
	s.refusedMu.Lock()
	refused := make(map[string]map[string]map[string]int, len(s.refused))
	for acct, byID := range s.refused {
		m := make(map[string]map[string]int, len(byID))
		for id, rs := range byID {
			c := make(map[string]int, len(rs))
			for k, v := range rs {
				c[k] = v
			}
			m[id] = c
		}
		refused[acct] = m
	}
	s.refusedMu.Unlock()

	var out []ClientOrders
	for _, a := range s.cfg.Accounts {
		idx := map[string]int{}
		entry := func(id string) *ClientOrders {
			i, ok := idx[id]
			if !ok {
				i = len(out)
				idx[id] = i
				out = append(out, ClientOrders{Account: a.ID, ClientOrderID: id, Orders: []LoggedOrder{}})
			}
			return &out[i]
		}
		for _, o := range s.x.Orders(a.ID, "", false) {
			e := entry(o.ClientID)
			lo := LoggedOrder{
				VenueOrderID: o.VenueOrderID, Symbol: o.Order.Symbol, Side: o.Order.Side, Type: o.Order.Type,
				TimeInForce: o.Order.TimeInForce, PostOnly: o.Order.PostOnly, Quantity: o.Order.Quantity,
				Status: o.Status, CumQuantity: o.CumQuantity,
				Fills:   []messages.Fill{},
				Created: o.Created.UTC(), Updated: o.Updated.UTC(),
			}
			for _, f := range o.Fills {
				lo.Fills = append(lo.Fills, f.Fill)
			}
			if o.Order.Type == messages.Limit {
				p := o.Order.Price
				lo.Price = &p
			}
			e.Orders = append(e.Orders, lo)
			e.Placements++
		}
		ids := make([]string, 0, len(refused[a.ID]))
		for id := range refused[a.ID] {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			entry(id).Refused = refused[a.ID][id]
		}
	}
	return out
}

// Reused returns the entries of log whose client order ID placed more than
// one order.
func Reused(log []ClientOrders) []ClientOrders {
	var out []ClientOrders
	for _, e := range log {
		if e.Placements > 1 {
			out = append(out, e)
		}
	}
	return out
}

// noteRefused records that the engine refused a placement of clientID.
func (s *Server) noteRefused(acct, clientID string, aerr *apiError) {
	reason := "other"
	switch aerr.Msg {
	case msgDuplicate:
		reason = "duplicate"
	case msgInsufficient:
		reason = "insufficient_balance"
	case msgWouldTake:
		reason = "would_take"
	}
	s.refusedMu.Lock()
	defer s.refusedMu.Unlock()
	byID := s.refused[acct]
	if byID == nil {
		byID = map[string]map[string]int{}
		s.refused[acct] = byID
	}
	if byID[clientID] == nil {
		byID[clientID] = map[string]int{}
	}
	byID[clientID][reason]++
}
