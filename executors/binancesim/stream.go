package binancesim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/keyrouter/keyrouter/executors"
)

// listenKeyTTL is how long a listenKey lives without a keepalive.
const listenKeyTTL = 60 * time.Minute

// connBuffer is the events a stream connection may have queued; a client
// that falls further behind is disconnected, as Binance does.
const connBuffer = 4096

// streams holds the listen keys, one hub per account and the connections.
type streams struct {
	s *Server

	mu     sync.Mutex // guards below
	closed bool
	keys   map[string]*listenKey // by key
	byAcct map[string]*listenKey
	hubs   map[string]*hub
}

type listenKey struct {
	key, acct string
	expires   time.Time
	conns     map[*streamConn]struct{}
}

// streamConn is one WebSocket connection: of a listen key, or of the
// WebSocket API.
type streamConn struct {
	send     chan outMsg   // bounded by connBuffer; full: the connection is dropped
	done     chan struct{} // closed to end the connection
	doneOnce sync.Once
}

// outMsg is one message to write; events count for DropStreamEvery.
type outMsg struct {
	b     []byte
	event bool
}

func newStreamConn() *streamConn {
	return &streamConn{send: make(chan outMsg, connBuffer), done: make(chan struct{})}
}

// sub is one subscription of a connection to an account's events; wrap,
// if set, puts each event in the envelope the connection's protocol uses.
type sub struct {
	c    *streamConn
	wrap func(event []byte) []byte
}

func (c *streamConn) stop() { c.doneOnce.Do(func() { close(c.done) }) }

func newStreams(s *Server) *streams {
	return &streams{s: s, keys: map[string]*listenKey{}, byAcct: map[string]*listenKey{}, hubs: map[string]*hub{}}
}

func (st *streams) hub(acct string) *hub {
	st.mu.Lock()
	defer st.mu.Unlock()
	h, ok := st.hubs[acct]
	if !ok {
		h = &hub{acct: acct, st: st, orders: map[string]*streamOrder{}}
		st.hubs[acct] = h
	}
	return h
}

// live returns the listen key if it exists and has not expired. st.mu held.
func (st *streams) live(key string) *listenKey {
	lk, ok := st.keys[key]
	if !ok {
		return nil
	}
	if !st.s.now().Before(lk.expires) {
		st.dropKey(lk)
		return nil
	}
	return lk
}

// dropKey forgets lk and ends its connections. st.mu held.
func (st *streams) dropKey(lk *listenKey) {
	delete(st.keys, lk.key)
	if st.byAcct[lk.acct] == lk {
		delete(st.byAcct, lk.acct)
	}
	for c := range lk.conns {
		c.stop()
	}
}

func (st *streams) closeAll() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	for _, lk := range st.keys {
		for c := range lk.conns {
			c.stop()
		}
	}
}

// POST /api/v3/userDataStream: the account's active key, extended, or a
// new one.
func (s *Server) startStream(c *call) (any, *apiError) {
	st := s.streams
	st.mu.Lock()
	defer st.mu.Unlock()
	lk := st.byAcct[c.acct]
	if lk != nil && st.live(lk.key) == nil {
		lk = nil
	}
	if lk == nil {
		lk = &listenKey{key: newListenKey(), acct: c.acct, conns: map[*streamConn]struct{}{}}
		st.keys[lk.key] = lk
		st.byAcct[c.acct] = lk
	}
	lk.expires = s.now().Add(listenKeyTTL)
	return map[string]string{"listenKey": lk.key}, nil
}

// ownKey finds the caller's listen key named by the listenKey parameter.
func (s *Server) ownKey(c *call) (*listenKey, *apiError) {
	key := c.p.get("listenKey")
	if key == "" {
		return nil, errMandatory("listenKey")
	}
	lk := s.streams.live(key)
	if lk == nil || lk.acct != c.acct {
		return nil, errListenKey()
	}
	return lk, nil
}

func (s *Server) keepStream(c *call) (any, *apiError) {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	lk, aerr := s.ownKey(c)
	if aerr != nil {
		return nil, aerr
	}
	lk.expires = s.now().Add(listenKeyTTL)
	return struct{}{}, nil
}

func (s *Server) closeStream(c *call) (any, *apiError) {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	lk, aerr := s.ownKey(c)
	if aerr != nil {
		return nil, aerr
	}
	s.streams.dropKey(lk)
	return struct{}{}, nil
}

// serve handles /ws/<listenKey> and /stream?streams=<listenKey>.
func (st *streams) serve(w http.ResponseWriter, r *http.Request) {
	s := st.s
	key := strings.TrimPrefix(r.URL.Path, "/ws/")
	sc := newStreamConn()
	sb := &sub{c: sc}
	if r.URL.Path == "/stream" {
		key = r.URL.Query().Get("streams")
		sb.wrap = func(m []byte) []byte {
			b, _ := json.Marshal(map[string]any{"stream": key, "data": json.RawMessage(m)})
			return b
		}
	}
	st.mu.Lock()
	lk := st.live(key)
	if st.closed || lk == nil {
		st.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, errListenKey())
		return
	}
	leave, ok := s.host.Enter()
	if !ok {
		st.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, errInternal())
		return
	}
	lk.conns[sc] = struct{}{}
	h := st.hubs[lk.acct]
	st.mu.Unlock()
	defer leave()
	defer func() {
		st.mu.Lock()
		delete(lk.conns, sc)
		st.mu.Unlock()
		h.remove(sb)
	}()

	h.add(sb) // before the handshake completes, so no event after it is missed
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	st.pump(conn.CloseRead(s.host.Context()), conn, sc)
}

// pump writes sc's messages to conn until ctx ends (the client went or
// the Server closes), sc is stopped, a write fails or fault injection drops
// the connection.
func (st *streams) pump(ctx context.Context, conn *websocket.Conn, sc *streamConn) {
	s := st.s
	sent := 0
	every := s.faults.Faults().DropStreamEvery // as set when the connection opened
	for {
		select {
		case m := <-sc.send:
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Write(wctx, websocket.MessageText, m.b)
			cancel()
			if err != nil {
				return
			}
			if !m.event {
				continue
			}
			sent++
			if every > 0 && sent%every == 0 {
				s.stats.Count(func(st *Stats) { st.StreamDrops++ })
				return // the caller's CloseNow: no close frame, like a dropped connection
			}
		case <-sc.done:
			conn.Close(websocket.StatusNormalClosure, "listenKey closed")
			return
		case <-ctx.Done():
			if s.host.Context().Err() != nil {
				conn.Close(websocket.StatusGoingAway, "server closing")
			}
			return
		}
	}
}

// hub turns one account's engine updates into Binance events and sends
// them to the account's connections.
type hub struct {
	acct string
	st   *streams

	mu   sync.Mutex // guards subs
	subs map[*sub]struct{}

	orders map[string]*streamOrder // by venue order ID; only run touches it
}

func (h *hub) add(sb *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[*sub]struct{}{}
	}
	h.subs[sb] = struct{}{}
}

// addWith adds sb after calling first, both under the hub's lock.
func (h *hub) addWith(sb *sub, first func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	first()
	if h.subs == nil {
		h.subs = map[*sub]struct{}{}
	}
	h.subs[sb] = struct{}{}
}

func (h *hub) remove(sb *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, sb)
}

func (h *hub) broadcast(msgs [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sb := range h.subs {
		for _, m := range msgs {
			b := m
			if sb.wrap != nil {
				b = sb.wrap(m)
			}
			if !sb.c.offer(outMsg{b: b, event: true}) {
				h.st.s.stats.Count(func(st *Stats) { st.StreamDrops++ })
				break
			}
		}
	}
}

// offer queues m without waiting; a connection too slow to keep up is
// stopped, as Binance disconnects slow consumers.
func (c *streamConn) offer(m outMsg) bool {
	select {
	case c.send <- m:
		return true
	default:
		c.stop()
		return false
	}
}

// run translates updates until ctx ends or the channel closes.
func (h *hub) run(ctx context.Context, updates <-chan executors.OrderUpdate) {
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			if msgs := h.translate(u); len(msgs) > 0 {
				h.broadcast(msgs)
			}
		}
	}
}
