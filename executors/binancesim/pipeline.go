package binancesim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors/internal/simkit"
)

// security is what a route needs of a request.
type security int

const (
	public   security = iota // NONE
	apiKey                   // USER_STREAM: X-MBX-APIKEY only
	signedRq                 // TRADE, USER_DATA: key, timestamp, signature
)

// route is one endpoint.
type route struct {
	sec    security
	weight func(p *params) int64
	// newOrder marks POST /api/v3/order: it counts against ORDERS.
	newOrder bool
	handle   func(c *call) (any, *apiError)
}

// call is one request being handled.
type call struct {
	r    *http.Request
	p    *params
	ip   string
	now  time.Time
	acct string
	t    timing
}

func weight(n int64) func(*params) int64 { return func(*params) int64 { return n } }

// ServeHTTP checks the ban, charges the IP's limits, injects faults, then
// authenticates and handles the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.Count(func(st *Stats) { st.Requests++ })
	switch {
	case strings.HasPrefix(r.URL.Path, "/ws/") || r.URL.Path == "/stream":
		s.streams.serve(w, r)
		return
	case r.URL.Path == "/ws-api/v3":
		s.streams.serveAPI(w, r)
		return
	}
	rt, ok := s.routes[r.Method+" "+r.URL.Path]
	if !ok {
		s.reply(w, nil, "", nil, errNotFound())
		return
	}
	c := &call{r: r, ip: simkit.ClientIP(r, s.cfg.TrustForwardedFor), now: s.now()}
	if until, banned := s.lim.banned(c.ip, c.now); banned {
		s.replyBan(w, c, until)
		return
	}
	var perr *apiError
	c.p, perr = readParams(r)
	use, over, resetAt := s.lim.chargeIP(c.ip, c.now, rt.weight(c.p))
	if over != nil {
		s.reply(w, c, "", use, ipLimitErr(over, resetAt))
		return
	}
	if perr != nil {
		s.reply(w, c, "", use, perr)
		return
	}

	f := s.faults.Draw(r.Method, r.URL.Path)
	if !s.host.Sleep(r.Context(), f.Latency) {
		return
	}
	switch f.Kind {
	case simkit.Error5xx:
		s.stats.Count(func(st *Stats) { st.Errors5xx++ })
		s.reply(w, c, "", use, errInternal())
		return
	case simkit.Timeout:
		s.stats.Count(func(st *Stats) { st.Timeouts++ })
		if f.Apply {
			s.stats.Count(func(st *Stats) { st.TimeoutsApplied++ })
			_, _ = s.process(c, rt)
		}
		if s.host.Hold(r) { // closing; else the client gave up: nothing to answer
			s.reply(w, c, c.acct, use, newErr(http.StatusServiceUnavailable, -1007,
				"Timeout waiting for response from backend server. Send status unknown; execution status unknown."))
		}
		return
	}
	body, aerr := s.process(c, rt)
	s.reply(w, c, c.acct, s.lim.ipUsage(c.ip, c.now), aerrOr(aerr, body))
}

// aerrOr lets reply take either an error or a body.
func aerrOr(aerr *apiError, body any) any {
	if aerr != nil {
		return aerr
	}
	return body
}

// process authenticates c and runs its handler.
func (s *Server) process(c *call, rt *route) (any, *apiError) {
	if rt.sec != public {
		key := c.r.Header.Get("X-MBX-APIKEY")
		if key == "" {
			return nil, errKeyFormat()
		}
		s.mu.Lock()
		k, ok := s.keys[key]
		enabled := ok && k.enabled
		s.mu.Unlock()
		if !enabled {
			return nil, errRejectedKey()
		}
		c.acct = k.account
		if rt.sec == signedRq {
			if !c.p.has("signature") {
				return nil, errMandatory("signature")
			}
			t, aerr := readTiming(c.p)
			if aerr != nil {
				return nil, aerr
			}
			if aerr := t.check(c.now); aerr != nil {
				return nil, aerr
			}
			if aerr := k.verify(c.p); aerr != nil {
				return nil, aerr
			}
			c.t = t
		}
	}
	if rt.newOrder {
		if over, resetAt := s.lim.takeOrder(c.acct, c.now); over != nil {
			e := newErr(http.StatusTooManyRequests, -1015, "Too many new orders; current limit is %d orders per %d %s.",
				over.Limit, over.IntervalNum, over.Interval)
			e.retryAt = resetAt
			return nil, e
		}
		s.stats.Count(func(st *Stats) { st.OrdersCounted[c.acct]++ })
		// Binance checks recvWindow again just before the matching engine.
		if aerr := c.t.check(s.now()); aerr != nil {
			return nil, aerr
		}
	}
	return rt.handle(c)
}

func ipLimitErr(l *RateLimit, resetAt time.Time) *apiError {
	var e *apiError
	if l.Type == "RAW_REQUESTS" {
		e = newErr(http.StatusTooManyRequests, -1003, "Too many requests; current limit is %d requests per %d %s.",
			l.Limit, l.IntervalNum, l.Interval)
	} else {
		e = newErr(http.StatusTooManyRequests, -1003,
			"Too much request weight used; current limit is %d request weight per %d %s. Please use WebSocket Streams for live updates to avoid polling the API.",
			l.Limit, l.IntervalNum, l.Interval)
	}
	e.retryAt = resetAt
	return e
}

// reply writes body (a value or an *apiError) with the limit headers. A
// 429 is recorded against the IP and becomes a 418 when the IP is banned
// for it.
func (s *Server) reply(w http.ResponseWriter, c *call, acct string, use []usage, body any) {
	h := w.Header()
	for _, u := range use {
		h.Set(u.header, strconv.FormatInt(u.used, 10))
	}
	if acct != "" && c != nil {
		for _, u := range s.lim.orderUsage(acct, c.now) {
			h.Set(u.header, strconv.FormatInt(u.used, 10))
		}
	}
	status := http.StatusOK
	if e, ok := body.(*apiError); ok {
		status = e.status
		if status == http.StatusTooManyRequests && c != nil {
			if until, banned := s.lim.note429(c.ip, c.now, e.retryAt); banned {
				s.replyBan(w, c, until)
				return
			}
			s.stats.Count(func(st *Stats) { st.Rejected429++ })
			h.Set("Retry-After", strconv.FormatInt(retryAfter(c.now, e.retryAt), 10))
		}
	}
	writeJSON(w, status, body)
}

func (s *Server) replyBan(w http.ResponseWriter, c *call, until time.Time) {
	s.stats.Count(func(st *Stats) { st.Banned418++ })
	h := w.Header()
	for _, u := range s.lim.ipUsage(c.ip, c.now) {
		h.Set(u.header, strconv.FormatInt(u.used, 10))
	}
	h.Set("Retry-After", strconv.FormatInt(retryAfter(c.now, until), 10))
	writeJSON(w, http.StatusTeapot, newErr(http.StatusTeapot, -1003,
		"Way too much request weight used; IP banned until %d. Please use WebSocket Streams for live updates to avoid bans.",
		until.UnixMilli()))
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errUnknown())
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
