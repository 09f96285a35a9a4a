package okxsim

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// Private WebSocket limits.
const (
	// wsIdle: a connection with neither a message from the client nor a
	// push for this long is closed, as OKX does after 30 s.
	wsIdle = 30 * time.Second
	// wsBuffer is the messages a connection may have queued; a client that
	// falls further behind is disconnected.
	wsBuffer = 4096
)

var connSeq atomic.Uint64

// wsConn is one private WebSocket connection.
type wsConn struct {
	id       string
	send     chan []byte   // bounded by wsBuffer; full: the connection is dropped
	done     chan struct{} // closed to end the connection
	doneOnce sync.Once
	// abrupt: end without a close frame (fault injection, slow reader).
	abrupt   atomic.Bool
	activity atomic.Int64 // UnixNano of the last client message or push

	mu  sync.Mutex // guards key
	key *key
}

// subArg is one subscription's argument.
type subArg struct {
	Channel  string `json:"channel"`
	InstType string `json:"instType,omitempty"`
	InstID   string `json:"instId,omitempty"`
	UID      string `json:"uid,omitempty"`
}

func (c *wsConn) stop() { c.doneOnce.Do(func() { close(c.done) }) }

// offer queues b without waiting; a connection too slow to keep up is
// dropped.
func (c *wsConn) offer(b []byte) bool {
	select {
	case c.send <- b:
		return true
	default:
		c.abrupt.Store(true)
		c.stop()
		return false
	}
}

func (c *wsConn) reply(v any) {
	b, _ := json.Marshal(v)
	c.offer(b)
}

func (c *wsConn) fail(e wsErr) {
	c.reply(map[string]string{"event": "error", "code": e.code, "msg": e.msg, "connId": c.id})
}

// serveWS serves /ws/v5/private: login, subscribe to the orders channel,
// ping.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	leave, ok := s.host.Enter()
	if !ok {
		writeJSON(w, errInternal())
		return
	}
	defer leave()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 16)
	wc := &wsConn{id: strconv.FormatUint(connSeq.Add(1), 16), send: make(chan []byte, wsBuffer), done: make(chan struct{})}
	wc.activity.Store(time.Now().UnixNano())
	var hub *hub
	defer func() {
		if hub != nil {
			hub.remove(wc)
		}
	}()
	ctx, cancel := context.WithCancel(s.host.Context())
	defer cancel()
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		defer cancel()
		s.pump(ctx, conn, wc)
	}()
	defer func() { cancel(); <-pumped }()
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		wc.activity.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			continue
		}
		if string(data) == "ping" {
			wc.offer([]byte("pong"))
			continue
		}
		var m struct {
			ID   string            `json:"id"`
			Op   string            `json:"op"`
			Args []json.RawMessage `json:"args"`
		}
		if json.Unmarshal(data, &m) != nil || len(m.Args) == 0 {
			wc.fail(wsInvalidReq)
			continue
		}
		switch m.Op {
		case "login":
			var a struct {
				APIKey     string `json:"apiKey"`
				Passphrase string `json:"passphrase"`
				Timestamp  string `json:"timestamp"`
				Sign       string `json:"sign"`
			}
			if json.Unmarshal(m.Args[0], &a) != nil {
				wc.fail(wsInvalidReq)
				continue
			}
			wc.mu.Lock()
			already := wc.key != nil
			wc.mu.Unlock()
			if already {
				wc.fail(wsRepeatLogin)
				continue
			}
			k, e := s.authWS(a.APIKey, a.Passphrase, a.Timestamp, a.Sign, s.now())
			if e != nil {
				s.stats.Count(func(st *Stats) { st.AuthFailures++ })
				wc.fail(*e)
				wc.stop() // the queued error is written first
				continue
			}
			wc.mu.Lock()
			wc.key = k
			wc.mu.Unlock()
			s.stats.Count(func(st *Stats) { st.Logins++ })
			wc.reply(map[string]string{"event": "login", "code": "0", "msg": "", "connId": wc.id})
		case "subscribe", "unsubscribe":
			wc.mu.Lock()
			k := wc.key
			wc.mu.Unlock()
			if k == nil {
				wc.fail(wsLoginFirst)
				continue
			}
			s.mu.Lock()
			a := s.accounts[k.account]
			s.mu.Unlock()
			for _, raw := range m.Args {
				var arg subArg
				if json.Unmarshal(raw, &arg) != nil || arg.Channel != "orders" || arg.InstType == "" {
					wc.fail(wsNoChannel)
					continue
				}
				if m.Op == "subscribe" {
					hub = a.hub
					a.hub.subscribe(wc, arg)
				} else {
					a.hub.unsubscribe(wc, arg)
				}
				ev := map[string]any{"event": m.Op, "arg": arg, "connId": wc.id}
				if m.ID != "" {
					ev["id"] = m.ID
				}
				wc.reply(ev)
			}
		default:
			wc.fail(wsErr{"60019", "Invalid op: " + m.Op})
		}
	}
}

// pump writes wc's messages to conn until ctx ends (the client went or
// the Server closes), wc is stopped, a write fails, the connection is
// idle too long or fault injection drops it.
func (s *Server) pump(ctx context.Context, conn *websocket.Conn, wc *wsConn) {
	every := s.faults.Faults().DropStreamEvery
	pushes := 0
	idle := time.NewTicker(time.Second)
	defer idle.Stop()
	write := func(b []byte) bool {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return conn.Write(wctx, websocket.MessageText, b) == nil
	}
	for {
		select {
		case b := <-wc.send:
			if !write(b) {
				return
			}
			if len(b) == 0 || b[0] != '{' || !isPush(b) {
				continue
			}
			wc.activity.Store(time.Now().UnixNano())
			pushes++
			if every > 0 && pushes%every == 0 {
				s.stats.Count(func(st *Stats) { st.StreamDrops++ })
				return // the caller's CloseNow: no close frame, like a dropped connection
			}
		case <-wc.done:
			if wc.abrupt.Load() {
				s.stats.Count(func(st *Stats) { st.StreamDrops++ })
				return
			}
			for {
				select {
				case b := <-wc.send:
					if !write(b) {
						return
					}
					continue
				default:
				}
				break
			}
			conn.Close(websocket.StatusNormalClosure, "")
			return
		case <-idle.C:
			if time.Since(time.Unix(0, wc.activity.Load())) > wsIdle {
				conn.Close(websocket.StatusNormalClosure, "idle")
				return
			}
		case <-ctx.Done():
			if s.host.Context().Err() != nil {
				conn.Close(websocket.StatusGoingAway, "server closing")
			}
			return
		}
	}
}

// isPush reports whether a message is a channel push (it has "data").
func isPush(b []byte) bool {
	var m struct {
		Data json.RawMessage `json:"data"`
	}
	return json.Unmarshal(b, &m) == nil && len(m.Data) > 0
}

// hub turns one sub-account's engine updates into orders-channel pushes
// and sends them to the sub-account's subscribed connections (every key
// of the sub-account sees every order of it, as on OKX).
type hub struct {
	s *Server
	a *account

	mu    sync.Mutex // guards conns
	conns map[*wsConn][]subArg

	orders map[string]*hubOrder // by engine client ID; only run touches it
}

// hubOrder is what the hub remembers of an order between its events.
type hubOrder struct {
	cum, notional, fee decimal.Decimal
	trades             map[string]bool
	liveSent           bool
}

func newHub(s *Server, a *account) *hub {
	return &hub{s: s, a: a, conns: map[*wsConn][]subArg{}, orders: map[string]*hubOrder{}}
}

func (h *hub) subscribe(c *wsConn, arg subArg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.conns[c] {
		if a == arg {
			return
		}
	}
	h.conns[c] = append(h.conns[c], arg)
}

func (h *hub) unsubscribe(c *wsConn, arg subArg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	subs := h.conns[c]
	for i, a := range subs {
		if a == arg {
			h.conns[c] = append(subs[:i:i], subs[i+1:]...)
			return
		}
	}
}

func (h *hub) remove(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
}

// dropKey ends the connections logged in with apiKey.
func (h *hub) dropKey(apiKey string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		c.mu.Lock()
		k := c.key
		c.mu.Unlock()
		if k != nil && k.apiKey == apiKey {
			c.stop()
		}
	}
}

// broadcast sends the entries each subscription matches, one push per
// subscription.
func (h *hub) broadcast(entries []orderJSON) {
	if len(entries) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c, subs := range h.conns {
		for _, arg := range subs {
			var data []orderJSON
			for _, e := range entries {
				if (arg.InstType == "ANY" || arg.InstType == e.InstType) && (arg.InstID == "" || arg.InstID == e.InstID) {
					data = append(data, e)
				}
			}
			if len(data) == 0 {
				continue
			}
			arg.UID = h.a.uid
			b, _ := json.Marshal(map[string]any{"arg": arg, "data": data})
			if !c.offer(b) {
				break
			}
		}
	}
}

// injectCanceled pushes the cancel of an order that never reached the
// engine (a post-only order that would have taken liquidity).
func (h *hub) injectCanceled(r *rec) {
	e := h.s.fullJSON(r, nil)
	e.Code, e.Msg = "0", ""
	h.broadcast([]orderJSON{e})
}

// run translates engine updates until ctx ends or the channel closes.
func (h *hub) run(ctx context.Context, updates <-chan executors.OrderUpdate) {
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			h.broadcast(h.translate(u))
		}
	}
}

// translate makes the pushes of one engine update: one per new fill
// (partially_filled or filled, with fillSz, fillPx, tradeId, fillFee,
// execType), live for a new order with no fill, then canceled (with its
// cancelSource) for an order the engine canceled or expired.
func (h *hub) translate(u executors.OrderUpdate) []orderJSON {
	s := h.s
	s.mu.Lock()
	r := h.a.recs[u.ClientID]
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	ho := h.orders[u.ClientID]
	if ho == nil {
		ho = &hubOrder{trades: map[string]bool{}}
		h.orders[u.ClientID] = ho
	}
	spec := s.symbols[r.instID]
	now := ms(s.now())
	base := s.baseJSON(r, spec)
	base.OrdID, base.UTime, base.Code, base.Msg = u.VenueOrderID, now, "0", ""
	var out []orderJSON
	mark := func(e *orderJSON) {
		e.AccFillSz, e.Fee = ho.cum.String(), ho.fee.Neg().String()
		if ho.cum.IsPositive() {
			e.AvgPx = ho.notional.Div(ho.cum).Round(int32(-spec.TickSize.Exponent()) + 4).String()
		}
	}
	for _, f := range u.Fills {
		if ho.trades[f.TradeID] {
			continue
		}
		ho.trades[f.TradeID] = true
		ho.cum = ho.cum.Add(f.Quantity)
		ho.notional = ho.notional.Add(f.Quantity.Mul(f.Price))
		ho.fee = ho.fee.Add(f.Fee)
		e := base
		e.State = "partially_filled"
		if ho.cum.GreaterThanOrEqual(r.qty) {
			e.State = "filled"
		}
		e.FillPx, e.FillSz, e.TradeID, e.FillTime = f.Price.String(), f.Quantity.String(), f.TradeID, now
		e.FillFee, e.FillFeeCcy, e.ExecType = f.Fee.Neg().String(), f.FeeAsset, "T"
		if f.Liquidity == messages.Maker {
			e.ExecType = "M"
		}
		mark(&e)
		out = append(out, e)
		ho.liveSent = true
	}
	switch u.Status {
	case messages.StatusNew:
		if !ho.liveSent {
			e := base
			e.State = "live"
			mark(&e)
			out = append(out, e)
			ho.liveSent = true
		}
	case messages.StatusCanceled, messages.StatusExpired, messages.StatusRejected:
		e := base
		e.State, e.CancelSource = state(r, u.Status)
		mark(&e)
		out = append(out, e)
	}
	if u.Status.Terminal() {
		delete(h.orders, u.ClientID)
	}
	return out
}
