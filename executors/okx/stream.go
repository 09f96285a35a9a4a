package okx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
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
	// OKX closes a connection silent for 30 s: the client sends "ping"
	// after wsPing without a message, and gives up on one silent for
	// wsDead.
	wsPing      = 20 * time.Second
	wsDead      = 30 * time.Second
	wsReadLimit = 1 << 20
	// waiterBuf bounds the pushes queued for one waiting Place or Cancel;
	// past it the push still reaches Updates, and the waiter falls back to
	// REST when it times out.
	waiterBuf = 64
)

// stream is the private WebSocket: login, the orders channel, and the
// waiters of Place and Cancel.
type stream struct {
	v  *Venue
	up atomic.Bool // logged in and subscribed

	mu      sync.Mutex    // guards below
	dropped chan struct{} // closed when the current subscription ends; nil while down
	waiters map[string]*waiter
}

// waiter collects the pushes of one clOrdId for a Place or Cancel in
// progress. dropped is nil if the stream was down when it was made: then
// nothing is waited for.
type waiter struct {
	ch      chan []orderJSON
	dropped <-chan struct{}
}

func newStream(v *Venue) *stream { return &stream{v: v, waiters: map[string]*waiter{}} }

// wait registers a waiter for clientID, before its request is sent, so
// no push can be missed.
func (s *stream) wait(clientID string) *waiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &waiter{ch: make(chan []orderJSON, waiterBuf), dropped: s.dropped}
	s.waiters[clientID] = w
	return w
}

func (s *stream) unwait(clientID string, w *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiters[clientID] == w {
		delete(s.waiters, clientID)
	}
}

// first waits up to d for the first push of order ordID and returns its
// state with the fills it reports (all of one matching event, which OKX
// may split over pushes: the rest then come through Updates).
func (s *stream) first(ctx context.Context, w *waiter, ordID string, d time.Duration) (executors.OrderUpdate, bool) {
	return s.collect(ctx, w, ordID, d, func(executors.OrderUpdate) bool { return true })
}

// terminal waits up to d for a push showing order ordID closed.
func (s *stream) terminal(ctx context.Context, w *waiter, ordID string, d time.Duration) (executors.OrderUpdate, bool) {
	return s.collect(ctx, w, ordID, d, func(u executors.OrderUpdate) bool { return u.Status.Terminal() })
}

func (s *stream) collect(ctx context.Context, w *waiter, ordID string, d time.Duration, done func(executors.OrderUpdate) bool) (executors.OrderUpdate, bool) {
	if w.dropped == nil {
		return executors.OrderUpdate{}, false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var u executors.OrderUpdate
	seen := false
	take := func(es []orderJSON) {
		for _, e := range es {
			if e.OrdID != ordID {
				continue
			}
			nu, err := pushUpdate(e)
			if err != nil {
				s.v.log.Warn().Err(err).Msg("okx orders push not understood")
				continue
			}
			nu.Fills = append(u.Fills, nu.Fills...)
			u, seen = nu, true
		}
	}
	for {
		select {
		case es := <-w.ch:
			take(es)
			if !seen || !done(u) {
				continue
			}
			// The rest of the same event, if it is already here.
			for {
				select {
				case es := <-w.ch:
					take(es)
					continue
				default:
				}
				break
			}
			return u, true
		case <-w.dropped:
			return executors.OrderUpdate{}, false
		case <-t.C:
			return executors.OrderUpdate{}, false
		case <-ctx.Done():
			return executors.OrderUpdate{}, false
		}
	}
}

// pushUpdate is one orders-channel entry as an update, with its fill.
func pushUpdate(e orderJSON) (executors.OrderUpdate, error) {
	u, err := update(e)
	if err != nil {
		return u, err
	}
	if e.TradeID != "" && e.FillSz != "" {
		if sz, err := decimal.NewFromString(e.FillSz); err == nil && sz.IsPositive() {
			f, err := makeFill(e.TradeID, e.FillSz, e.FillPx, e.FillFee, e.FillFeeCcy, e.ExecType)
			if err != nil {
				return u, err
			}
			u.Fills = []executors.Fill{{Fill: f, VenueOrderID: u.VenueOrderID}}
		}
	}
	return u, nil
}

var reqSeq atomic.Int64

// loop keeps the private WebSocket connected, reconnecting with
// jittered backoff (venuekit.Reconnect). While it is down the poller
// follows open orders over REST; on every (re)connect one poll pass picks
// up what happened in between.
func (s *stream) loop(ctx context.Context) {
	v := s.v
	venuekit.Reconnect(ctx, func(ctx context.Context) error {
		defer s.down()
		return s.run(ctx)
	}, func(err error, wait time.Duration) {
		v.log.Warn().Str("error", venuekit.ErrText(err)).Dur("retry_in", wait).Msg("okx private websocket down; polling open orders")
		v.orders.Kick()
	})
}

// down marks the stream down and wakes every waiter.
func (s *stream) down() {
	s.up.Store(false)
	s.mu.Lock()
	if s.dropped != nil {
		close(s.dropped)
		s.dropped = nil
	}
	s.mu.Unlock()
}

// run logs in, subscribes to the orders channel (SPOT) and reads pushes
// until the connection ends.
func (s *stream) run(ctx context.Context) error {
	v := s.v
	dctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	c, resp, err := websocket.Dial(dctx, v.cfg.WSURL, &websocket.DialOptions{HTTPClient: v.cfg.HTTPClient, HTTPHeader: s.headers()})
	cancel()
	if err != nil {
		if resp != nil {
			return fmt.Errorf("websocket handshake: HTTP %d", resp.StatusCode)
		}
		return fmt.Errorf("websocket dial: %w", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(wsReadLimit)

	ts, sig := loginArgs(v.cfg.Secret, v.serverNow())
	login, _ := json.Marshal(map[string]any{"op": "login", "args": []map[string]string{{
		"apiKey": v.cfg.APIKey, "passphrase": string(v.cfg.Passphrase), "timestamp": ts, "sign": sig,
	}}})
	if err := s.write(ctx, c, login); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	stop := s.pinger(ctx, c, &last)
	defer stop()

	subID := "kr" + strconv.FormatInt(reqSeq.Add(1), 10)
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		last.Store(time.Now().UnixNano())
		if string(data) == "pong" {
			continue
		}
		var m struct {
			Event string          `json:"event"`
			Code  string          `json:"code"`
			Msg   string          `json:"msg"`
			ID    string          `json:"id"`
			Arg   json.RawMessage `json:"arg"`
			Data  []orderJSON     `json:"data"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			v.log.Warn().Msg("okx private websocket: unreadable message")
			continue
		}
		switch m.Event {
		case "login":
			if m.Code != "0" && m.Code != "" {
				return s.refused(m.Code, m.Msg)
			}
			sub, _ := json.Marshal(map[string]any{"id": subID, "op": "subscribe",
				"args": []map[string]string{{"channel": "orders", "instType": "SPOT"}}})
			if err := s.write(ctx, c, sub); err != nil {
				return fmt.Errorf("subscribe: %w", err)
			}
		case "subscribe":
			s.mu.Lock()
			s.dropped = make(chan struct{})
			s.mu.Unlock()
			s.up.Store(true)
			v.orders.Kick()
			v.log.Info().Msg("okx orders channel subscribed")
		case "error":
			return s.refused(m.Code, m.Msg)
		case "notice":
			// 64008: closing soon for an upgrade; reconnect now.
			return fmt.Errorf("okx notice %s: %s", m.Code, m.Msg)
		case "":
			if len(m.Data) > 0 && s.up.Load() {
				s.dispatch(ctx, m.Data)
			}
		}
	}
}

// headers of the WebSocket handshake.
func (s *stream) headers() http.Header {
	if !s.v.cfg.Demo {
		return nil
	}
	return http.Header{"x-simulated-trading": {"1"}}
}

// refused turns a login or subscription error into an error; a refused
// key is logged for the operator.
func (s *stream) refused(code, msg string) error {
	switch code {
	case "60005", "60007", "60009", "60024", "60032":
		s.v.log.Error().Str("api_key", venuekit.KeyHint(s.v.cfg.APIKey)).Str("code", code).Str("msg", msg).
			Msg("okx refused the API key's websocket login")
	case "60004", "60006":
		s.v.resync(context.Background())
	}
	return fmt.Errorf("okx websocket %s: %s", code, msg)
}

func (s *stream) write(ctx context.Context, c *websocket.Conn, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, s.v.cfg.Timeout)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, b)
}

// pinger sends "ping" when nothing was received for wsPing and closes the
// connection when nothing was for wsDead, so the reader returns.
func (s *stream) pinger(ctx context.Context, c *websocket.Conn, last *atomic.Int64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				idle := time.Since(time.Unix(0, last.Load()))
				switch {
				case idle > wsDead:
					c.CloseNow()
					return
				case idle > wsPing:
					if err := s.write(ctx, c, []byte("ping")); err != nil && ctx.Err() == nil {
						c.CloseNow()
						return
					}
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// dispatch hands a push's entries to the waiters of their clOrdIds and
// forwards this Venue's orders to Updates (not a bare "live", which Place
// returns itself, nor a post-only cancel, which Place refuses).
func (s *stream) dispatch(ctx context.Context, entries []orderJSON) {
	v := s.v
	byID := map[string][]orderJSON{}
	for _, e := range entries {
		byID[e.ClOrdID] = append(byID[e.ClOrdID], e)
	}
	s.mu.Lock()
	for id, es := range byID {
		if w := s.waiters[id]; w != nil {
			select {
			case w.ch <- es:
			default:
			}
		}
	}
	s.mu.Unlock()
	for _, e := range entries {
		if !v.orders.Ours(e.ClOrdID) || e.State == "live" && e.TradeID == "" || e.CancelSource == "31" {
			continue
		}
		u, err := pushUpdate(e)
		if err != nil {
			v.log.Warn().Err(err).Msg("okx orders push not understood")
			continue
		}
		v.orders.Deliver(ctx, u, u.Symbol)
	}
}

// pollLoop follows tracked orders over REST while the stream is down, and
// re-sends dropped updates.
func (v *Venue) pollLoop(ctx context.Context) {
	v.orders.Poll(ctx, v.cfg.PollInterval, v.stream.up.Load, v.pollOnce)
}

// pollOnce reads GET /api/v5/trade/orders-pending (SPOT, paged), then
// queries each tracked order that changed, closed, or is dirty, and sends
// its state.
func (v *Venue) pollOnce(ctx context.Context) {
	items := v.orders.Orders()
	if len(items) == 0 {
		return
	}
	live, err := v.pending(ctx)
	if err != nil {
		v.log.Warn().Err(err).Msg("okx poll: orders-pending failed")
		return
	}
	for id, it := range items {
		if ctx.Err() != nil {
			return
		}
		if o, ok := live[id]; ok && !it.Dirty {
			if u, err := update(o); err == nil && u.CumQuantity.Equal(it.Cum) && string(u.Status) == it.Status {
				continue // unchanged
			}
		}
		u, err := v.Query(ctx, it.Symbol, id)
		if errors.Is(err, executors.ErrUnknownOrder) {
			v.orders.Untrack(id)
			continue
		}
		if err != nil {
			v.log.Warn().Err(err).Str("client_order_id", id).Msg("okx poll: order query failed")
			continue
		}
		if it.Dirty || u.Status != messages.Status(it.Status) || !u.CumQuantity.Equal(it.Cum) {
			v.orders.Resend(ctx, u)
		}
	}
}

// pending returns the live orders by clOrdId.
func (v *Venue) pending(ctx context.Context) (map[string]orderJSON, error) {
	live := map[string]orderJSON{}
	after := ""
	for {
		q := url.Values{"instType": {"SPOT"}, "limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		r, err := v.do(ctx, request{method: http.MethodGet, path: "/api/v5/trade/orders-pending", private: true, query: q})
		if err != nil {
			return nil, err
		}
		var os []orderJSON
		if err := json.Unmarshal(r.data, &os); err != nil {
			return nil, errors.New("unreadable orders-pending answer")
		}
		for _, o := range os {
			if o.ClOrdID != "" {
				live[o.ClOrdID] = o
			}
		}
		if len(os) < 100 {
			return live, nil
		}
		after = os[len(os)-1].OrdID
	}
}
