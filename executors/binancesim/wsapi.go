package binancesim

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/keyrouter/keyrouter/executors/internal/simkit"
)

// The WebSocket API at /ws-api/v3, as far as the user data stream needs
// it: userDataStream.subscribe.signature and userDataStream.unsubscribe,
// plus ping and time. Requests share the IP's REQUEST_WEIGHT with REST.

// apiRequest is one WebSocket API request.
type apiRequest struct {
	ID     json.RawMessage            `json:"id"`
	Method string                     `json:"method"`
	Params map[string]json.RawMessage `json:"params"`
}

// apiResponse is its answer.
type apiResponse struct {
	ID         json.RawMessage  `json:"id"`
	Status     int              `json:"status"`
	Result     any              `json:"result,omitempty"`
	Error      *apiError        `json:"error,omitempty"`
	RateLimits []map[string]any `json:"rateLimits,omitempty"`
}

// wsSession is the state of one WebSocket API connection; only its reader
// goroutine touches it.
type wsSession struct {
	ip     string
	c      *streamConn
	subs   map[int]*sub
	hubs   map[int]*hub
	nextID int
	// pending is a subscription to start as its answer is queued.
	pending *sub
	pendHub *hub
}

func (st *streams) serveAPI(w http.ResponseWriter, r *http.Request) {
	s := st.s
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, errInternal())
		return
	}
	leave, ok := s.host.Enter()
	st.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, errInternal())
		return
	}
	defer leave()

	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ses := &wsSession{ip: simkit.ClientIP(r, s.cfg.TrustForwardedFor), c: newStreamConn(), subs: map[int]*sub{}, hubs: map[int]*hub{}}
	ctx, cancel := context.WithCancel(s.host.Context())
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer cancel()
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			m := outMsg{b: st.apiAnswer(ses, data)}
			ok := true
			if sb, h := ses.pending, ses.pendHub; sb != nil {
				ses.pending, ses.pendHub = nil, nil
				// Under the hub's lock: every event after the answer
				// reaches the subscription, none before it.
				h.addWith(sb, func() { ok = ses.c.offer(m) })
			} else {
				ok = ses.c.offer(m)
			}
			if !ok {
				return
			}
		}
	}()
	st.pump(ctx, conn, ses.c)
	cancel()
	conn.CloseNow()
	<-read
	for id, sb := range ses.subs {
		ses.hubs[id].remove(sb)
	}
}

// apiAnswer handles one request and returns the encoded answer.
func (st *streams) apiAnswer(ses *wsSession, data []byte) []byte {
	s := st.s
	var req apiRequest
	resp := apiResponse{Status: http.StatusOK}
	now := s.now()
	if err := json.Unmarshal(data, &req); err != nil || req.Method == "" {
		resp.Status, resp.Error = http.StatusBadRequest, newErr(http.StatusBadRequest, -1135, "Invalid JSON Request")
		b, _ := json.Marshal(resp)
		return b
	}
	resp.ID = req.ID
	finish := func(result any, aerr *apiError, use []usage) []byte {
		if aerr != nil {
			resp.Status, resp.Error = aerr.status, aerr
			if aerr.status == http.StatusTooManyRequests {
				if until, banned := s.lim.note429(ses.ip, now, aerr.retryAt); banned {
					s.stats.Count(func(st *Stats) { st.Banned418++ })
					resp.Status, resp.Error = http.StatusTeapot, banErr(until)
				} else {
					s.stats.Count(func(st *Stats) { st.Rejected429++ })
				}
			}
		} else {
			resp.Result = result
		}
		for i, l := range st.weightLimits() {
			if i < len(use) {
				resp.RateLimits = append(resp.RateLimits, map[string]any{
					"rateLimitType": l.Type, "interval": l.Interval, "intervalNum": l.IntervalNum,
					"limit": l.Limit, "count": use[i].used,
				})
			}
		}
		b, _ := json.Marshal(resp)
		return b
	}
	if until, banned := s.lim.banned(ses.ip, now); banned {
		s.stats.Count(func(st *Stats) { st.Banned418++ })
		resp.Status, resp.Error = http.StatusTeapot, banErr(until)
		b, _ := json.Marshal(resp)
		return b
	}
	weight := int64(2)
	if req.Method == "ping" || req.Method == "time" {
		weight = 1
	}
	use, over, resetAt := s.lim.chargeIP(ses.ip, now, weight)
	if over != nil {
		return finish(nil, ipLimitErr(over, resetAt), use)
	}
	switch req.Method {
	case "ping":
		return finish(struct{}{}, nil, use)
	case "time":
		return finish(map[string]int64{"serverTime": ms(now)}, nil, use)
	case "userDataStream.subscribe.signature":
		id, aerr := st.subscribeSigned(ses, req.Params, now)
		if aerr != nil {
			return finish(nil, aerr, use)
		}
		return finish(map[string]int{"subscriptionId": id}, nil, use)
	case "userDataStream.unsubscribe":
		ids := make([]int, 0, len(ses.subs))
		if raw, ok := req.Params["subscriptionId"]; ok {
			var id int
			if err := json.Unmarshal(raw, &id); err != nil {
				return finish(nil, errMandatory("subscriptionId"), use)
			}
			if _, ok := ses.subs[id]; !ok {
				return finish(nil, newErr(http.StatusBadRequest, -2035, "Subscription not found."), use)
			}
			ids = append(ids, id)
		} else {
			for id := range ses.subs {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			ses.hubs[id].remove(ses.subs[id])
			delete(ses.subs, id)
			delete(ses.hubs, id)
		}
		return finish(struct{}{}, nil, use)
	}
	return finish(nil, newErr(http.StatusBadRequest, -1020, "This operation is not supported."), use)
}

func banErr(until time.Time) *apiError {
	return newErr(http.StatusTeapot, -1003,
		"Way too much request weight used; IP banned until %d. Please use WebSocket Streams for live updates to avoid bans.",
		until.UnixMilli())
}

func (st *streams) weightLimits() []RateLimit {
	var out []RateLimit
	for _, l := range st.s.cfg.RateLimits {
		if l.Type == "REQUEST_WEIGHT" {
			out = append(out, l)
		}
	}
	return out
}

// subscribeSigned checks a userDataStream.subscribe.signature request and
// subscribes the connection to the key's account.
func (st *streams) subscribeSigned(ses *wsSession, params map[string]json.RawMessage, now time.Time) (int, *apiError) {
	s := st.s
	text := func(name string) (string, bool) {
		raw, ok := params[name]
		if !ok {
			return "", false
		}
		var str string
		if json.Unmarshal(raw, &str) == nil {
			return str, true
		}
		return string(raw), true
	}
	key, _ := text("apiKey")
	if key == "" {
		return 0, errMandatory("apiKey")
	}
	s.mu.Lock()
	k, ok := s.keys[key]
	enabled := ok && k.enabled
	s.mu.Unlock()
	if !enabled {
		return 0, errRejectedKey()
	}
	sig, _ := text("signature")
	if sig == "" {
		return 0, errMandatory("signature")
	}
	ts, _ := text("timestamp")
	rw, hasRW := text("recvWindow")
	t, aerr := parseTiming(ts, rw, hasRW)
	if aerr != nil {
		return 0, aerr
	}
	if aerr := t.check(now); aerr != nil {
		return 0, aerr
	}
	// The WebSocket API signs the parameters sorted by name, as name=value
	// joined by "&", without the signature.
	names := make([]string, 0, len(params))
	for name := range params {
		if name != "signature" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		v, _ := text(name)
		parts[i] = name + "=" + v
	}
	if aerr := k.verifyPayload(strings.Join(parts, "&"), sig); aerr != nil {
		return 0, aerr
	}
	id := ses.nextID
	ses.nextID++
	prefix := []byte(`{"subscriptionId":` + strconv.Itoa(id) + `,"event":`)
	sb := &sub{c: ses.c, wrap: func(m []byte) []byte {
		b := make([]byte, 0, len(prefix)+len(m)+1)
		return append(append(append(b, prefix...), m...), '}')
	}}
	h := st.hub(k.account)
	ses.subs[id], ses.hubs[id] = sb, h
	ses.pending, ses.pendHub = sb, h
	return id, nil
}
