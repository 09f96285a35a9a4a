package binance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// orderJSON is an order as POST/GET/DELETE /api/v3/order return it.
type orderJSON struct {
	Symbol            string     `json:"symbol"`
	OrderID           int64      `json:"orderId"`
	ClientOrderID     string     `json:"clientOrderId"`
	OrigClientOrderID string     `json:"origClientOrderId"`
	Price             string     `json:"price"`
	OrigQty           string     `json:"origQty"`
	ExecutedQty       string     `json:"executedQty"`
	Status            string     `json:"status"`
	Type              string     `json:"type"`
	Side              string     `json:"side"`
	Fills             []fillJSON `json:"fills"`
}

// fillJSON is one fill of a newOrderRespType=FULL answer.
type fillJSON struct {
	Price           string `json:"price"`
	Qty             string `json:"qty"`
	Commission      string `json:"commission"`
	CommissionAsset string `json:"commissionAsset"`
	TradeID         int64  `json:"tradeId"`
}

// tradeJSON is one GET /api/v3/myTrades entry.
type tradeJSON struct {
	ID              int64  `json:"id"`
	OrderID         int64  `json:"orderId"`
	Price           string `json:"price"`
	Qty             string `json:"qty"`
	Commission      string `json:"commission"`
	CommissionAsset string `json:"commissionAsset"`
	IsMaker         bool   `json:"isMaker"`
}

// mapStatus maps a Binance order status to the contract's. cum decides the
// non-terminal states Binance has no direct match for.
func mapStatus(s string, cum decimal.Decimal) messages.Status {
	switch s {
	case "FILLED":
		return messages.StatusFilled
	case "CANCELED":
		return messages.StatusCanceled
	case "REJECTED":
		return messages.StatusRejected
	case "EXPIRED", "EXPIRED_IN_MATCH":
		return messages.StatusExpired
	case "PARTIALLY_FILLED":
		return messages.StatusPartiallyFilled
	}
	// NEW, PENDING_NEW, PENDING_CANCEL (still live) and anything newer.
	if cum.IsPositive() {
		return messages.StatusPartiallyFilled
	}
	return messages.StatusNew
}

// explain fills Reason and Message for the statuses that need them.
func explain(u *executors.OrderUpdate, binanceStatus string) {
	switch binanceStatus {
	case "EXPIRED_IN_MATCH":
		u.Reason, u.Message = messages.ReasonExpired, "EXPIRED_IN_MATCH: expired by self-trade prevention"
	case "EXPIRED":
		// As the paper venue does for an IOC/FOK remainder.
		u.Reason, u.Message = messages.ReasonExpired, "EXPIRED: the order's time in force ended it"
	case "REJECTED":
		u.Reason, u.Message = messages.ReasonVenueRejected, "REJECTED"
	}
}

func decOr0(s string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Zero, nil
	}
	return decimal.NewFromString(s)
}

// update converts an order answer. clientID is the order's own client ID
// (a cancel answer's clientOrderId is the cancel request's).
func (v *Venue) update(o orderJSON, clientID string, usage []executors.Usage) (executors.OrderUpdate, error) {
	cum, err := decOr0(o.ExecutedQty)
	if err != nil {
		return executors.OrderUpdate{}, fmt.Errorf("binance: executedQty %q: %w", o.ExecutedQty, err)
	}
	u := executors.OrderUpdate{
		ClientID:     clientID,
		VenueOrderID: strconv.FormatInt(o.OrderID, 10),
		Symbol:       v.contractOf(o.Symbol),
		Status:       mapStatus(o.Status, cum),
		CumQuantity:  cum,
		Usage:        usage,
	}
	explain(&u, o.Status)
	for _, f := range o.Fills {
		fill, err := makeFill(u.VenueOrderID, f.Qty, f.Price, f.Commission, f.CommissionAsset, f.TradeID, messages.Taker)
		if err != nil {
			return executors.OrderUpdate{}, err
		}
		u.Fills = append(u.Fills, fill)
	}
	return u, nil
}

// makeFill reads a fill of venue order orderID.
func makeFill(orderID, qty, price, fee, feeAsset string, tradeID int64, liq messages.Liquidity) (executors.Fill, error) {
	q, err := decimal.NewFromString(qty)
	if err != nil {
		return executors.Fill{}, fmt.Errorf("binance: fill qty %q: %w", qty, err)
	}
	p, err := decimal.NewFromString(price)
	if err != nil {
		return executors.Fill{}, fmt.Errorf("binance: fill price %q: %w", price, err)
	}
	c, err := decOr0(fee)
	if err != nil {
		return executors.Fill{}, fmt.Errorf("binance: commission %q: %w", fee, err)
	}
	return executors.Fill{
		Fill:         messages.Fill{Quantity: q, Price: p, Fee: c, FeeAsset: feeAsset, TradeID: strconv.FormatInt(tradeID, 10), Liquidity: liq},
		VenueOrderID: orderID,
	}, nil
}

// Place sends o with POST /api/v3/order (newOrderRespType=FULL, so fills
// that happen at once come back). o is checked against the symbol's
// filters first. A duplicate client ID answers with the existing order's
// state. If the outcome is unknown (timeout, 5XX) Place says so at once,
// with the instant from which asking the venue is definite (the request's
// timestamp plus recvWindow: Binance refuses it later) in RetryAfter.
func (v *Venue) Place(ctx context.Context, o executors.Order) (executors.OrderUpdate, error) {
	if _, ok := v.symbol(o.Symbol); !ok {
		v.refreshInfoIfStale(ctx)
	}
	if err := v.Check(o); err != nil {
		return executors.OrderUpdate{}, err
	}
	si, _ := v.symbol(o.Symbol)
	// sentAt is the request's timestamp, from which Binance counts its
	// recvWindow.
	sentAt := v.serverNow()
	payload := OrderSigner{v.signer}.AppendSignedOrder(make([]byte, 0, 384), o, si.Symbol, v.cfg.RecvWindow, sentAt)
	u, err := v.send(ctx, o.ClientID, payload)
	switch {
	case err == nil:
		return u, nil
	case isDuplicate(err):
		return v.Query(ctx, o.Symbol, o.ClientID)
	case venuekit.IsCode(err, "-1021"):
		v.resync(ctx)
		return u, err
	case venuekit.IsKind(err, executors.Unknown):
		v.log.Warn().Err(err).Str("client_order_id", o.ClientID).Msg("binance new order outcome unknown")
		return u, venuekit.Unknown("binance", "recvWindow", err, sentAt.Add(v.cfg.RecvWindow), v.serverNow)
	}
	return u, err
}

func isDuplicate(err error) bool {
	ve := venuekit.AsVenueError(err)
	return ve != nil && ve.Code == "-2010" && ve.Message == "Duplicate order sent."
}

// send posts one new order, payload its signed parameters.
func (v *Venue) send(ctx context.Context, clientID string, payload []byte) (executors.OrderUpdate, error) {
	r, err := v.roundTrip(ctx, http.MethodPost, "/api/v3/order", payload, signed)
	if err != nil {
		return executors.OrderUpdate{}, err
	}
	var oj orderJSON
	if err := json.Unmarshal(r.body, &oj); err != nil {
		// Accepted, but the answer is unreadable: the order exists.
		return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
			Message: "unreadable new order answer", Usage: r.usage, Err: err}
	}
	u, err := v.update(oj, clientID, r.usage)
	if err != nil {
		return u, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
			Message: "unreadable new order answer", Usage: r.usage, Err: err}
	}
	v.orders.Track(u, v.nativeOf(u.Symbol))
	return u, nil
}

// Query returns the order's state with GET /api/v3/order by
// origClientOrderId, and its fills with GET /api/v3/myTrades when it has
// any. ErrUnknownOrder (wrapped in a VenueError) if Binance does not know
// it.
func (v *Venue) Query(ctx context.Context, symbol, clientID string) (executors.OrderUpdate, error) {
	u, orderID, err := v.queryState(ctx, symbol, clientID)
	if err != nil || !u.CumQuantity.IsPositive() {
		return u, err
	}
	fills, usage, err := v.trades(ctx, v.nativeOf(symbol), orderID)
	if err != nil {
		return executors.OrderUpdate{}, err
	}
	u.Fills, u.Usage = fills, usage
	return u, nil
}

// queryState is GET /api/v3/order alone: the order's state without its
// fills.
func (v *Venue) queryState(ctx context.Context, symbol, clientID string) (executors.OrderUpdate, int64, error) {
	native := v.nativeOf(symbol)
	r, err := v.do(ctx, http.MethodGet, "/api/v3/order",
		params{}.add("symbol", native).add("origClientOrderId", clientID), signed)
	if err != nil {
		if venuekit.IsCode(err, "-1021") {
			v.resync(ctx)
		}
		return executors.OrderUpdate{}, 0, err
	}
	var oj orderJSON
	if err := json.Unmarshal(r.body, &oj); err != nil {
		return executors.OrderUpdate{}, 0, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
			Message: "unreadable order answer", Usage: r.usage, Err: err}
	}
	u, err := v.update(oj, clientID, r.usage)
	if err != nil {
		return u, 0, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError, Message: "unreadable order answer", Usage: r.usage, Err: err}
	}
	v.orders.Track(u, native)
	return u, oj.OrderID, nil
}

// trades returns every fill of one order, oldest first.
func (v *Venue) trades(ctx context.Context, native string, orderID int64) ([]executors.Fill, []executors.Usage, error) {
	const page = 1000
	var (
		fills  []executors.Fill
		usage  []executors.Usage
		fromID int64 = -1
	)
	for {
		p := params{}.add("symbol", native).add("orderId", strconv.FormatInt(orderID, 10))
		if fromID >= 0 {
			p = p.add("fromId", strconv.FormatInt(fromID, 10))
		}
		p = p.add("limit", strconv.Itoa(page))
		r, err := v.do(ctx, http.MethodGet, "/api/v3/myTrades", p, signed)
		if err != nil {
			return nil, nil, err
		}
		usage = r.usage
		var ts []tradeJSON
		if err := json.Unmarshal(r.body, &ts); err != nil {
			return nil, nil, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError, Message: "unreadable trades answer", Usage: r.usage, Err: err}
		}
		for _, t := range ts {
			liq := messages.Taker
			if t.IsMaker {
				liq = messages.Maker
			}
			f, err := makeFill(strconv.FormatInt(t.OrderID, 10), t.Qty, t.Price, t.Commission, t.CommissionAsset, t.ID, liq)
			if err != nil {
				return nil, nil, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError, Message: "unreadable trade", Usage: r.usage, Err: err}
			}
			fills = append(fills, f)
		}
		if len(ts) < page {
			return fills, usage, nil
		}
		fromID = ts[len(ts)-1].ID + 1
	}
}

// Cancel cancels with DELETE /api/v3/order by origClientOrderId. When
// Binance refuses (-2011), the order is queried: closed means
// ErrTooLateToCancel with its last state, absent means ErrUnknownOrder.
func (v *Venue) Cancel(ctx context.Context, symbol, clientID string) (executors.OrderUpdate, error) {
	native := v.nativeOf(symbol)
	r, err := v.do(ctx, http.MethodDelete, "/api/v3/order",
		params{}.add("symbol", native).add("origClientOrderId", clientID), signed)
	if err != nil {
		switch {
		case venuekit.IsCode(err, "-1021"):
			v.resync(ctx)
		case venuekit.IsCode(err, "-2011", "-2013", "-2026"):
			return v.cancelRefused(ctx, symbol, clientID, venuekit.AsVenueError(err))
		}
		return executors.OrderUpdate{}, err
	}
	var oj orderJSON
	if err := json.Unmarshal(r.body, &oj); err != nil {
		return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
			Message: "unreadable cancel answer", Usage: r.usage, Err: err}
	}
	u, err := v.update(oj, clientID, r.usage)
	if err != nil {
		return u, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError, Message: "unreadable cancel answer", Usage: r.usage, Err: err}
	}
	v.orders.Track(u, native)
	return u, nil
}

func (v *Venue) cancelRefused(ctx context.Context, symbol, clientID string, refused *executors.VenueError) (executors.OrderUpdate, error) {
	// The state is enough here; its fills are a Query away.
	q, _, err := v.queryState(ctx, symbol, clientID)
	switch {
	case err == nil && q.Status.Terminal():
		return q, &executors.VenueError{Kind: executors.Rejected, Reason: messages.ReasonTooLateToCancel,
			Code: refused.Code, Message: refused.Message, Usage: q.Usage, Err: executors.ErrTooLateToCancel}
	case err == nil:
		// Live but not cancelable (e.g. cancel restrictions).
		refused.Reason, refused.Err = messages.ReasonVenueRejected, nil
		return q, refused
	case errors.Is(err, executors.ErrUnknownOrder):
		return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Rejected, Reason: messages.ReasonUnknownOrder,
			Code: refused.Code, Message: refused.Message, Usage: refused.Usage, Err: executors.ErrUnknownOrder}
	}
	// The order's state is unknown; the cancel was refused either way.
	refused.Reason, refused.Err = messages.ReasonVenueRejected, nil
	return executors.OrderUpdate{}, refused
}
