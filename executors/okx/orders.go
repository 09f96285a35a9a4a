package okx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// orderJSON is an order as GET /api/v5/trade/order and the orders channel
// show it; a push also carries the fields of the fill it reports.
type orderJSON struct {
	InstID       string `json:"instId"`
	OrdID        string `json:"ordId"`
	ClOrdID      string `json:"clOrdId"`
	OrdType      string `json:"ordType"`
	Sz           string `json:"sz"`
	State        string `json:"state"`
	AccFillSz    string `json:"accFillSz"`
	AvgPx        string `json:"avgPx"`
	CancelSource string `json:"cancelSource"`
	// Of one fill (orders channel).
	TradeID    string `json:"tradeId"`
	FillSz     string `json:"fillSz"`
	FillPx     string `json:"fillPx"`
	FillFee    string `json:"fillFee"`
	FillFeeCcy string `json:"fillFeeCcy"`
	ExecType   string `json:"execType"`
}

// fillJSON is one GET /api/v5/trade/fills entry.
type fillJSON struct {
	OrdID    string `json:"ordId"`
	TradeID  string `json:"tradeId"`
	BillID   string `json:"billId"`
	FillPx   string `json:"fillPx"`
	FillSz   string `json:"fillSz"`
	Fee      string `json:"fee"`
	FeeCcy   string `json:"feeCcy"`
	ExecType string `json:"execType"`
}

func decOr0(s string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Zero, nil
	}
	return decimal.NewFromString(s)
}

// status maps OKX's state to the contract's. An order canceled by OKX at
// once is an expired IOC/FOK/market remainder (cancelSource 13, 14, or the
// order type says so), or a post-only order that would have taken
// liquidity (31: rejected); any other cancel is canceled.
func status(o orderJSON) (messages.Status, messages.Reason, string) {
	switch o.State {
	case "live":
		return messages.StatusNew, "", ""
	case "partially_filled":
		return messages.StatusPartiallyFilled, "", ""
	case "filled":
		return messages.StatusFilled, "", ""
	case "canceled", "mmp_canceled":
		switch {
		case o.CancelSource == "31":
			return messages.StatusRejected, messages.ReasonVenueRejected,
				"post-only order canceled by okx: it would have taken liquidity (cancelSource 31)"
		case o.CancelSource == "13" || o.CancelSource == "14" ||
			o.CancelSource == "" && (o.OrdType == "ioc" || o.OrdType == "fok" || o.OrdType == "market"):
			return messages.StatusExpired, messages.ReasonExpired,
				fmt.Sprintf("%s: unfilled quantity canceled by okx (cancelSource %s)", o.OrdType, o.CancelSource)
		}
		return messages.StatusCanceled, "", ""
	}
	return messages.StatusNew, "", "" // a state newer than this adapter: still live
}

// update converts an order's state (no fills).
func update(o orderJSON) (executors.OrderUpdate, error) {
	cum, err := decOr0(o.AccFillSz)
	if err != nil {
		return executors.OrderUpdate{}, fmt.Errorf("okx: accFillSz %q: %w", o.AccFillSz, err)
	}
	st, reason, msg := status(o)
	if st == messages.StatusNew && cum.IsPositive() {
		st = messages.StatusPartiallyFilled
	}
	return executors.OrderUpdate{
		ClientID: o.ClOrdID, VenueOrderID: o.OrdID, Symbol: o.InstID,
		Status: st, CumQuantity: cum, Reason: reason, Message: msg,
	}, nil
}

// makeFill turns OKX's fill fields into a contract fill: OKX's fee is
// negative when charged, the contract's positive.
func makeFill(tradeID, sz, px, fee, feeCcy, execType string) (messages.Fill, error) {
	q, err := decimal.NewFromString(sz)
	if err != nil {
		return messages.Fill{}, fmt.Errorf("okx: fill size %q: %w", sz, err)
	}
	p, err := decimal.NewFromString(px)
	if err != nil {
		return messages.Fill{}, fmt.Errorf("okx: fill price %q: %w", px, err)
	}
	f, err := decOr0(fee)
	if err != nil {
		return messages.Fill{}, fmt.Errorf("okx: fee %q: %w", fee, err)
	}
	liq := messages.Taker
	if execType == "M" {
		liq = messages.Maker
	}
	return messages.Fill{Quantity: q, Price: p, Fee: f.Neg(), FeeAsset: feeCcy, TradeID: tradeID, Liquidity: liq}, nil
}

// Place sends o with POST /api/v5/trade/order (tdMode cash, clOrdId
// o.ClientID, expTime now+ExpWindow) after checking it against the
// instrument. OKX's answer holds only the order ID: the order's state and
// the fills that happened at once come from the orders channel (the
// first push of the order), or from GET /api/v5/trade/order when the
// channel is down or silent. OKX lets a clOrdId be placed again once its
// order is closed, so Place refuses to send a client ID this Venue has
// already placed and answers with that order's state instead. If the
// outcome is unknown (timeout, 5XX, 50001, 50004) Place says so at once,
// with the instant its expTime passes (OKX does not process it later) in
// RetryAfter: the worker asks OKX by clOrdId then, and sends it again only
// if it is not there.
func (v *Venue) Place(ctx context.Context, o executors.Order) (executors.OrderUpdate, error) {
	if _, ok := v.instrument(o.Symbol); !ok {
		v.refreshInfoIfStale(ctx)
	}
	if err := v.Check(o); err != nil {
		return executors.OrderUpdate{}, err
	}
	if v.placedBefore(o.ClientID) {
		v.log.Warn().Str("client_order_id", o.ClientID).Msg("okx order placed before by this key; answering with its state, not placing again")
		q, err := v.Query(ctx, o.Symbol, o.ClientID)
		if errors.Is(err, executors.ErrUnknownOrder) {
			// Placed, and gone since (OKX forgets canceled orders that never
			// filled after 2 hours): never place it again.
			return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Rejected, Reason: messages.ReasonVenueRejected,
				Code: "PLACED_BEFORE", Message: "clOrdId " + o.ClientID + " was placed before by this key and okx no longer shows it; not placing it again"}
		}
		return q, err
	}
	typ, _ := ordType(o)
	body := map[string]any{
		"instId": o.Symbol, "tdMode": "cash", "clOrdId": o.ClientID,
		"side": string(o.Side), "ordType": typ, "sz": o.Quantity.String(),
	}
	if typ == "market" {
		body["tgtCcy"] = "base_ccy" // sz in the base currency, as keyrouter's quantity
	} else {
		body["px"] = o.Price.String()
	}
	u, expAt, err := v.send(ctx, o, body)
	switch {
	case err == nil:
		return u, nil
	case venuekit.IsCode(err, "51016"):
		// Live with this clOrdId already (an earlier attempt): ask for it.
		v.markPlaced(o.ClientID)
		return v.Query(ctx, o.Symbol, o.ClientID)
	case venuekit.IsCode(err, "50102", "50112"):
		v.resync(ctx)
		return u, err
	case venuekit.IsKind(err, executors.Unknown):
		v.log.Warn().Err(err).Str("client_order_id", o.ClientID).Msg("okx new order outcome unknown")
		return executors.OrderUpdate{}, venuekit.Unknown("okx", "expTime", err, expAt, v.serverNow)
	}
	return u, err
}

// send posts one new order and waits for its first state; expAt is its
// expTime on OKX's clock.
func (v *Venue) send(ctx context.Context, o executors.Order, body map[string]any) (executors.OrderUpdate, time.Time, error) {
	now := v.serverNow()
	expAt := now.Add(v.cfg.ExpWindow)
	w := v.stream.wait(o.ClientID)
	defer v.stream.unwait(o.ClientID, w)
	use := v.usage.placed(o.Symbol, v.cfg.Now())
	r, err := v.do(ctx, request{method: http.MethodPost, path: "/api/v5/trade/order", body: body, private: true, expTime: expAt})
	if err == nil {
		var res opResult
		res, err = v.op(r)
		if err == nil {
			v.markPlaced(o.ClientID)
			u, err := v.firstState(ctx, o, res.OrdID, w)
			u.Usage = use
			return u, expAt, err
		}
	}
	if ve := venuekit.AsVenueError(err); ve != nil && ve.Code == "50061" {
		// OKX says the sub-account is full: the budget counts it so.
		if n, _ := v.AccountRateLimit(); n > 0 {
			ve.Usage = []executors.Usage{{Limit: budget.OKXSubAccount, Used: n}}
		}
	}
	return executors.OrderUpdate{}, expAt, err
}

// firstState is a placed order's state: the first push of it on the
// orders channel, or GET /api/v5/trade/order (with its fills) if the
// channel is down or says nothing within PushWait. A post-only order OKX
// canceled because it would have taken liquidity is refused.
func (v *Venue) firstState(ctx context.Context, o executors.Order, ordID string, w *waiter) (executors.OrderUpdate, error) {
	u, ok := v.stream.first(ctx, w, ordID, v.cfg.PushWait)
	if !ok {
		q, err := v.Query(ctx, o.Symbol, o.ClientID)
		if err != nil {
			// Placed (OKX said so) but unreadable now: the order exists.
			return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
				Message: "order placed (ordId " + ordID + ") but its state could not be read", Err: err}
		}
		u = q
	}
	v.orders.Track(u, u.Symbol)
	if u.Status == messages.StatusRejected {
		return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Rejected, Reason: messages.ReasonVenueRejected,
			Code: "POST_ONLY", Message: u.Message}
	}
	return u, nil
}

// refreshInfoIfStale reloads the instruments now unless they are fresh.
func (v *Venue) refreshInfoIfStale(ctx context.Context) {
	v.mu.RLock()
	stale := v.cfg.Now().Sub(v.infoAt) >= infoMinAge
	v.mu.RUnlock()
	if stale {
		v.reloadInfo(ctx)
	}
}

// Query returns the order's state with GET /api/v5/trade/order by clOrdId
// (OKX answers with the latest order of that clOrdId), and its fills with
// GET /api/v5/trade/fills when it has any. ErrUnknownOrder (in a
// VenueError) if OKX does not know it: OKX keeps canceled orders that
// never filled for 2 hours only.
func (v *Venue) Query(ctx context.Context, symbol, clientID string) (executors.OrderUpdate, error) {
	u, err := v.queryState(ctx, symbol, clientID)
	if err != nil || !u.CumQuantity.IsPositive() {
		return u, err
	}
	fills, err := v.fills(ctx, symbol, u.VenueOrderID)
	if err != nil {
		return executors.OrderUpdate{}, err
	}
	u.Fills = fills
	return u, nil
}

// queryState is GET /api/v5/trade/order alone: the state without fills.
func (v *Venue) queryState(ctx context.Context, symbol, clientID string) (executors.OrderUpdate, error) {
	r, err := v.do(ctx, request{method: http.MethodGet, path: "/api/v5/trade/order", private: true,
		query: url.Values{"instId": {symbol}, "clOrdId": {clientID}}})
	if err != nil {
		if venuekit.IsCode(err, "50102", "50112") {
			v.resync(ctx)
		}
		return executors.OrderUpdate{}, err
	}
	var os []orderJSON
	if err := json.Unmarshal(r.data, &os); err != nil || len(os) == 0 {
		return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError,
			Message: "unreadable order answer", Err: err}
	}
	u, err := update(os[0])
	if err != nil {
		return u, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError, Message: "unreadable order answer", Err: err}
	}
	u.ClientID = clientID
	v.orders.Track(u, u.Symbol)
	return u, nil
}

// fills returns every fill of one order, oldest first, paging GET
// /api/v5/trade/fills (the last 3 days) by billId.
func (v *Venue) fills(ctx context.Context, symbol, ordID string) ([]executors.Fill, error) {
	const page = 100
	var out []executors.Fill
	after := ""
	for {
		q := url.Values{"instType": {"SPOT"}, "instId": {symbol}, "ordId": {ordID}, "limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		r, err := v.do(ctx, request{method: http.MethodGet, path: "/api/v5/trade/fills", private: true, query: q})
		if err != nil {
			return nil, err
		}
		var fs []fillJSON
		if err := json.Unmarshal(r.data, &fs); err != nil {
			return nil, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError, Message: "unreadable fills answer", Err: err}
		}
		for _, f := range fs {
			if f.OrdID != ordID {
				continue
			}
			fl, err := makeFill(f.TradeID, f.FillSz, f.FillPx, f.Fee, f.FeeCcy, f.ExecType)
			if err != nil {
				return nil, &executors.VenueError{Kind: executors.Unknown, Reason: messages.ReasonVenueError, Message: "unreadable fill", Err: err}
			}
			out = append(out, executors.Fill{Fill: fl, VenueOrderID: f.OrdID})
		}
		if len(fs) < page {
			break
		}
		after = fs[len(fs)-1].BillID
	}
	// Newest first on the wire; oldest first here.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Cancel cancels with POST /api/v5/trade/cancel-order by clOrdId and
// returns the order's state once canceled (from the orders channel, or
// GET /api/v5/trade/order). When OKX refuses (51400: filled, canceled or
// unknown) the order is queried: closed means ErrTooLateToCancel with its
// last state, absent means ErrUnknownOrder.
func (v *Venue) Cancel(ctx context.Context, symbol, clientID string) (executors.OrderUpdate, error) {
	w := v.stream.wait(clientID)
	defer v.stream.unwait(clientID, w)
	r, err := v.do(ctx, request{method: http.MethodPost, path: "/api/v5/trade/cancel-order", private: true,
		body: map[string]string{"instId": symbol, "clOrdId": clientID}})
	var res opResult
	if err == nil {
		res, err = v.op(r)
	}
	if err != nil {
		switch {
		case venuekit.IsCode(err, "50102", "50112"):
			v.resync(ctx)
		case venuekit.IsCode(err, "51400", "51401", "51402", "51410"):
			return v.cancelRefused(ctx, symbol, clientID, venuekit.AsVenueError(err))
		}
		return executors.OrderUpdate{}, err
	}
	u, ok := v.stream.terminal(ctx, w, res.OrdID, v.cfg.PushWait)
	if !ok {
		if u, err = v.queryState(ctx, symbol, clientID); err != nil {
			// Canceled (OKX said so) but unreadable now.
			return executors.OrderUpdate{ClientID: clientID, VenueOrderID: res.OrdID, Symbol: symbol, Status: messages.StatusCanceled}, nil
		}
	}
	u.ClientID = clientID
	v.orders.Track(u, u.Symbol)
	return u, nil
}

func (v *Venue) cancelRefused(ctx context.Context, symbol, clientID string, refused *executors.VenueError) (executors.OrderUpdate, error) {
	q, err := v.Query(ctx, symbol, clientID)
	switch {
	case err == nil && q.Status.Terminal():
		return q, &executors.VenueError{Kind: executors.Rejected, Reason: messages.ReasonTooLateToCancel,
			Code: refused.Code, Message: refused.Message, Err: executors.ErrTooLateToCancel}
	case err == nil:
		// Live but not cancelable (e.g. already being canceled).
		refused.Kind, refused.Reason, refused.Err = executors.Rejected, messages.ReasonVenueRejected, nil
		return q, refused
	case errors.Is(err, executors.ErrUnknownOrder):
		return executors.OrderUpdate{}, &executors.VenueError{Kind: executors.Rejected, Reason: messages.ReasonUnknownOrder,
			Code: refused.Code, Message: refused.Message, Err: executors.ErrUnknownOrder}
	}
	refused.Kind, refused.Reason, refused.Err = executors.Rejected, messages.ReasonVenueRejected, nil
	return executors.OrderUpdate{}, refused
}
