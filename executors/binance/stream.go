package binance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// Stream timing.
const (
	// wsPing is how often the client pings, to notice a dead connection
	// (Binance pings too; pongs are answered while reading).
	wsPing        = 30 * time.Second
	wsPingTimeout = 10 * time.Second
	// listenKeyKeepalive is the PUT interval Binance recommends.
	listenKeyKeepalive = 30 * time.Minute
	wsReadLimit        = 1 << 20
)

var subscribeSeq atomic.Int64

// streamLoop keeps the user data stream connected, reconnecting with
// jittered backoff (venuekit.Reconnect). While it is down the poller
// follows open orders over REST; on every (re)connect one poll pass picks
// up what happened in between.
func (v *Venue) streamLoop(ctx context.Context) {
	venuekit.Reconnect(ctx, func(ctx context.Context) error {
		defer v.streamUp.Store(false)
		if v.cfg.UserStream == StreamListenKey {
			return v.runListenKey(ctx)
		}
		return v.runWSAPI(ctx)
	}, func(err error, wait time.Duration) {
		v.log.Warn().Str("error", venuekit.ErrText(err)).Dur("retry_in", wait).Msg("binance user data stream down; polling open orders")
		v.orders.Kick()
	})
}

func (v *Venue) dialWS(ctx context.Context, u string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	c, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: v.cfg.HTTPClient})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket handshake: HTTP %d", resp.StatusCode)
		}
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	c.SetReadLimit(wsReadLimit)
	return c, nil
}

// runWSAPI subscribes with userDataStream.subscribe.signature on the
// WebSocket API and reads events until the connection ends.
func (v *Venue) runWSAPI(ctx context.Context) error {
	c, err := v.dialWS(ctx, v.cfg.WSURL)
	if err != nil {
		return err
	}
	defer c.CloseNow()

	rw := v.cfg.RecvWindow.Milliseconds()
	ts := v.serverNow().UnixMilli()
	// Params sorted by name, as the WebSocket API signs them.
	payload := "apiKey=" + v.cfg.APIKey + "&recvWindow=" + strconv.FormatInt(rw, 10) + "&timestamp=" + strconv.FormatInt(ts, 10)
	id := "kr-sub-" + strconv.FormatInt(subscribeSeq.Add(1), 10)
	req, _ := json.Marshal(map[string]any{
		"id":     id,
		"method": "userDataStream.subscribe.signature",
		"params": map[string]any{
			"apiKey":     v.cfg.APIKey,
			"recvWindow": rw,
			"timestamp":  ts,
			"signature":  v.signer.sign(payload),
		},
	})
	wctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	err = c.Write(wctx, websocket.MessageText, req)
	cancel()
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	stop := v.pinger(ctx, c, nil)
	defer stop()

	subscribed := false
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		var m struct {
			ID     string          `json:"id"`
			Status int             `json:"status"`
			Error  *apiError       `json:"error"`
			SubID  *int64          `json:"subscriptionId"`
			Event  json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			v.log.Warn().Msg("binance user data stream: unreadable message")
			continue
		}
		switch {
		case m.ID == id:
			if m.Status != http.StatusOK {
				ae := apiError{Code: 0, Msg: "subscribe refused"}
				if m.Error != nil {
					ae = *m.Error
				}
				ve := classify(m.Status, ae, retryAfter(http.Header{}, ae, v.cfg.Now()))
				if ae.Code == -1021 {
					v.resync(ctx)
				}
				if ve.Kind == executors.KeyInvalid {
					v.log.Error().Str("api_key", venuekit.KeyHint(v.cfg.APIKey)).Int("code", ae.Code).Str("msg", ae.Msg).
						Msg("binance refused the API key for the user data stream")
				}
				return ve
			}
			subscribed = true
			v.streamUp.Store(true)
			v.orders.Kick()
			v.log.Info().Msg("binance user data stream subscribed")
		case len(m.Event) > 0 && subscribed:
			if done := v.handleEvent(ctx, m.Event); done {
				return errors.New("event stream terminated")
			}
		}
	}
}

// runListenKey is the legacy flow: POST /api/v3/userDataStream for a
// listenKey, read /ws/<listenKey>, PUT every 30 minutes.
func (v *Venue) runListenKey(ctx context.Context) error {
	r, err := v.do(ctx, http.MethodPost, "/api/v3/userDataStream", nil, apiKeyOnly)
	if err != nil {
		return err
	}
	var lk struct {
		ListenKey string `json:"listenKey"`
	}
	if err := json.Unmarshal(r.body, &lk); err != nil || lk.ListenKey == "" {
		return errors.New("listenKey: unreadable answer")
	}
	key := lk.ListenKey
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_, _ = v.do(dctx, http.MethodDelete, "/api/v3/userDataStream", params{}.add("listenKey", key), apiKeyOnly)
	}()
	c, err := v.dialWS(ctx, v.cfg.WSURL+"/ws/"+key)
	if err != nil {
		// The dial error quotes the URL, which holds the listenKey.
		return errors.New(strings.ReplaceAll(err.Error(), key, "<listenKey>"))
	}
	defer c.CloseNow()
	stop := v.pinger(ctx, c, func(ctx context.Context) error {
		_, err := v.do(ctx, http.MethodPut, "/api/v3/userDataStream", params{}.add("listenKey", key), apiKeyOnly)
		return err
	})
	defer stop()
	v.streamUp.Store(true)
	v.orders.Kick()
	v.log.Info().Msg("binance user data stream connected (listenKey)")
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if v.handleEvent(ctx, data) {
			return errors.New("listenKey expired")
		}
	}
}

// pinger pings c every wsPing and, if keepalive is set, calls it every
// listenKeyKeepalive; a failure closes c so the reader returns.
func (v *Venue) pinger(ctx context.Context, c *websocket.Conn, keepalive func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ping := time.NewTicker(wsPing)
		defer ping.Stop()
		ka := time.NewTicker(listenKeyKeepalive)
		defer ka.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ping.C:
				pctx, pcancel := context.WithTimeout(ctx, wsPingTimeout)
				err := c.Ping(pctx)
				pcancel()
				if err != nil && ctx.Err() == nil {
					c.CloseNow()
					return
				}
			case <-ka.C:
				if keepalive == nil {
					continue
				}
				if err := keepalive(ctx); err != nil && ctx.Err() == nil {
					v.log.Warn().Err(err).Msg("binance listenKey keepalive failed; reconnecting")
					c.CloseNow()
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// handleEvent parses one user data event and forwards an executionReport
// of this Venue's orders. It reports whether the stream has ended
// (eventStreamTerminated, listenKeyExpired).
func (v *Venue) handleEvent(ctx context.Context, data []byte) (ended bool) {
	// Keys differ only in case (c/C, l/L, n/N ...); encoding/json would
	// match them case-insensitively, so each is picked by its exact name.
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(data, &ev); err != nil {
		v.log.Warn().Msg("binance user data stream: unreadable event")
		return false
	}
	switch str(ev["e"]) {
	case "executionReport":
	case "eventStreamTerminated", "listenKeyExpired":
		return true
	default:
		return false
	}
	u, native, ok, err := v.parseExecutionReport(ev)
	if err != nil {
		v.log.Warn().Err(err).Msg("binance executionReport not understood")
		return false
	}
	if ok {
		v.orders.Deliver(ctx, u, native)
	}
	return false
}

// parseExecutionReport turns an executionReport into an update; ok is
// false for events not worth forwarding (other owners, NEW acks that
// Place already returned).
func (v *Venue) parseExecutionReport(ev map[string]json.RawMessage) (u executors.OrderUpdate, native string, ok bool, err error) {
	clientID := str(ev["c"])
	if orig := str(ev["C"]); orig != "" {
		clientID = orig // a cancel's c is the cancel request's own ID
	}
	execType := str(ev["x"])
	if execType == "NEW" || !v.orders.Ours(clientID) {
		return u, "", false, nil
	}
	native = str(ev["s"])
	cum, err := decimal.NewFromString(str(ev["z"]))
	if err != nil {
		return u, "", false, fmt.Errorf("z %q: %w", str(ev["z"]), err)
	}
	status := str(ev["X"])
	u = executors.OrderUpdate{
		ClientID:     clientID,
		VenueOrderID: num(ev["i"]),
		Symbol:       v.contractOf(native),
		Status:       mapStatus(status, cum),
		CumQuantity:  cum,
	}
	explain(&u, status)
	if r := str(ev["r"]); status == "REJECTED" && r != "" && r != "NONE" {
		u.Message = "REJECTED: " + r
	}
	if execType == "TRADE" {
		liq := messages.Taker
		if b, _ := strconv.ParseBool(string(ev["m"])); b {
			liq = messages.Maker
		}
		tid, err := strconv.ParseInt(num(ev["t"]), 10, 64)
		if err != nil {
			return u, "", false, fmt.Errorf("t: %w", err)
		}
		f, err := makeFill(u.VenueOrderID, str(ev["l"]), str(ev["L"]), str(ev["n"]), str(ev["N"]), tid, liq)
		if err != nil {
			return u, "", false, err
		}
		u.Fills = []executors.Fill{f}
	}
	return u, native, true, nil
}

// str reads a JSON string (null and absent are "").
func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// num reads a JSON integer as its literal text.
func num(raw json.RawMessage) string {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return ""
	}
	return n.String()
}

// pollLoop follows tracked orders over REST while the stream is down, and
// re-sends dropped updates.
func (v *Venue) pollLoop(ctx context.Context) {
	v.orders.Poll(ctx, v.cfg.PollInterval, v.streamUp.Load, v.pollOnce)
}

// pollOnce asks GET /api/v3/openOrders per symbol with tracked orders, then
// queries each tracked order that changed, closed, or is dirty, and sends
// its state.
func (v *Venue) pollOnce(ctx context.Context) {
	groups := map[string]map[string]venuekit.Tracked{}
	for id, t := range v.orders.Orders() {
		if groups[t.Symbol] == nil {
			groups[t.Symbol] = map[string]venuekit.Tracked{}
		}
		groups[t.Symbol][id] = t
	}
	for native, items := range groups {
		if ctx.Err() != nil {
			return
		}
		r, err := v.do(ctx, http.MethodGet, "/api/v3/openOrders", params{}.add("symbol", native), signed)
		if err != nil {
			v.log.Warn().Err(err).Str("symbol", native).Msg("binance poll: openOrders failed")
			continue
		}
		var open []orderJSON
		if err := json.Unmarshal(r.body, &open); err != nil {
			v.log.Warn().Str("symbol", native).Msg("binance poll: unreadable openOrders")
			continue
		}
		live := make(map[string]orderJSON, len(open))
		for _, o := range open {
			live[o.ClientOrderID] = o
		}
		for id, it := range items {
			if o, ok := live[id]; ok && !it.Dirty {
				cum, err := decOr0(o.ExecutedQty)
				if err == nil && cum.Equal(it.Cum) && string(mapStatus(o.Status, cum)) == it.Status {
					continue // unchanged
				}
			}
			u, err := v.Query(ctx, native, id)
			if errors.Is(err, executors.ErrUnknownOrder) {
				v.orders.Untrack(id)
				continue
			}
			if err != nil {
				v.log.Warn().Err(err).Str("client_order_id", id).Msg("binance poll: order query failed")
				continue
			}
			u.Usage = nil
			if it.Dirty || u.Status != messages.Status(it.Status) || !u.CumQuantity.Equal(it.Cum) {
				v.orders.Resend(ctx, u)
			}
		}
	}
}
