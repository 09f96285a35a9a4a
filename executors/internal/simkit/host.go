package simkit

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
)

// Errors of Serve and Open.
var (
	ErrClosed  = errors.New("simkit: closed")
	ErrStarted = errors.New("simkit: already started")
)

// Host is the server half of a simulator: it serves handlers over HTTP and
// runs the simulator's goroutines, and Close stops both. Use NewHost.
type Host struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards closed, opened and servers
	closed  bool
	opened  bool
	servers []*http.Server
}

// NewHost returns a Host serving nothing yet.
func NewHost() *Host {
	h := &Host{}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

// Context ends when the Host closes.
func (h *Host) Context() context.Context { return h.ctx }

// Serve listens on addr (e.g. 127.0.0.1:0) and serves handler until Close;
// it returns the base URL, e.g. http://127.0.0.1:41234.
func (h *Host) Serve(addr string, handler http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		ln.Close()
		return "", ErrClosed
	}
	h.servers = append(h.servers, hs)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		_ = hs.Serve(ln) // ends with ErrServerClosed at Close
	}()
	return "http://" + ln.Addr().String(), nil
}

// Open starts a simulator once: it serves handler on addr (see Serve)
// and moves x's prices every tick (never if tick is 0) until Close. It
// returns the base URL; ErrStarted if the simulator was opened before.
func (h *Host) Open(addr string, handler http.Handler, x *paper.Exchange, tick time.Duration) (string, error) {
	h.mu.Lock()
	opened := h.opened
	h.opened = true
	h.mu.Unlock()
	if opened {
		return "", ErrStarted
	}
	url, err := h.Serve(addr, handler)
	if err != nil {
		return "", err
	}
	if tick > 0 {
		h.Go(func() { _ = x.Run(h.ctx, tick) })
	}
	return url, nil
}

// Follow subscribes to x's events of account now (so none of an order
// placed from now on is missed) and hands them to run, in a goroutine,
// until Close.
func (h *Host) Follow(x *paper.Exchange, account string, run func(ctx context.Context, updates <-chan executors.OrderUpdate)) {
	updates, unsubscribe := x.Subscribe(account)
	if !h.Go(func() {
		defer unsubscribe()
		run(h.ctx, updates)
	}) {
		unsubscribe()
	}
}

// Go runs f in a goroutine that Close waits for, unless the Host is
// closed (then f does not run, and Go returns false).
func (h *Host) Go(f func()) bool {
	leave, ok := h.Enter()
	if ok {
		go func() {
			defer leave()
			f()
		}()
	}
	return ok
}

// Enter counts the caller (a request handler that outlives its request,
// e.g. a WebSocket) among what Close waits for, unless the Host is closed;
// the caller calls leave when done.
func (h *Host) Enter() (leave func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	h.wg.Add(1)
	return h.wg.Done, true
}

// Sleep waits d unless ctx ends or the Host closes first; false if it did
// not wait the whole d.
func (h *Host) Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-h.ctx.Done():
		return false
	}
}

// Hold holds a request whose answer is lost (an injected timeout) until
// the client gives up, or until the Host closes: then it returns true and
// the caller answers that the outcome is unknown.
func (h *Host) Hold(r *http.Request) bool {
	select {
	case <-r.Context().Done():
		return false
	case <-h.ctx.Done():
		return true
	}
}

// Run starts srv (the simulator h hosts) on addr, serves until ctx ends
// or h closes, then closes srv.
func (h *Host) Run(ctx context.Context, srv interface {
	Start(addr string) (string, error)
	Close() error
}, addr string) error {
	if _, err := srv.Start(addr); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-h.ctx.Done():
	}
	return srv.Close()
}

// Close stops serving and ends Context, runs then (closing what the
// simulator holds open, such as its streams), and waits for every
// goroutine started by Serve, Go and Enter. Closing again does nothing.
func (h *Host) Close(then ...func()) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	servers := h.servers
	h.mu.Unlock()
	h.cancel()
	var err error
	for _, hs := range servers {
		if e := hs.Close(); err == nil {
			err = e
		}
	}
	for _, f := range then {
		f()
	}
	h.wg.Wait()
	return err
}

// ClientIP is r's source address, or, if trustForwardedFor, the first
// X-Forwarded-For address when there is one (tests on loopback acting as
// several IPs).
func ClientIP(r *http.Request, trustForwardedFor bool) string {
	if trustForwardedFor {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			first, _, _ := strings.Cut(f, ",")
			return strings.TrimSpace(first)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Counters are a simulator's counters (a struct S of numbers and maps),
// safe for concurrent use. The zero value holds S's zero value.
type Counters[S any] struct {
	mu sync.Mutex
	s  S
}

// Count changes the counters with f.
func (c *Counters[S]) Count(f func(*S)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.s)
}

// Read returns a copy of the counters made by clone (which copies S's
// maps, so the copy does not change under its reader).
func (c *Counters[S]) Read(clone func(S) S) S {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clone(c.s)
}
