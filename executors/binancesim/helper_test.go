package binancesim_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start serves cfg on loopback and closes the server at the end of the test.
func start(t *testing.T, cfg binancesim.Config) (*binancesim.Server, string) {
	t.Helper()
	srv, err := binancesim.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv, base
}

// client is a tiny Binance REST client that signs with HMAC-SHA256.
type client struct {
	t           *testing.T
	base        string
	key, secret string
	now         func() time.Time
	hc          *http.Client
	body        bool   // send parameters of POST/PUT/DELETE in the body
	forwarded   string // X-Forwarded-For, if set
}

func newClient(t *testing.T, base, key, secret string, now func() time.Time) *client {
	if now == nil {
		now = time.Now
	}
	return &client{t: t, base: base, key: key, secret: secret, now: now, hc: &http.Client{Timeout: 10 * time.Second}}
}

// answer is an HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// apiErr is Binance's error body.
type apiErr struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

func (a answer) err(t *testing.T) apiErr {
	t.Helper()
	var e apiErr
	a.decode(t, &e)
	return e
}

func sign(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

// signed sends a SIGNED request with params (timestamp added).
func (c *client) signed(method, path string, params url.Values) answer {
	c.t.Helper()
	if params == nil {
		params = url.Values{}
	}
	params.Set("timestamp", strconv.FormatInt(c.now().UnixMilli(), 10))
	payload := params.Encode()
	return c.raw(context.Background(), method, path, payload+"&signature="+sign(c.secret, payload))
}

// public sends an unsigned request (with the API key if the client has one).
func (c *client) public(method, path string, params url.Values) answer {
	c.t.Helper()
	return c.raw(context.Background(), method, path, params.Encode())
}

// raw sends encoded parameters as the query string, or for POST, PUT and
// DELETE as the body when c.body is set.
func (c *client) raw(ctx context.Context, method, path, encoded string) answer {
	c.t.Helper()
	a, err := c.try(ctx, method, path, encoded)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func (c *client) try(ctx context.Context, method, path, encoded string) (answer, error) {
	u := c.base + path
	var body io.Reader
	if c.body && method != http.MethodGet {
		body = strings.NewReader(encoded)
	} else if encoded != "" {
		u += "?" + encoded
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.key != "" {
		req.Header.Set("X-MBX-APIKEY", c.key)
	}
	if c.forwarded != "" {
		req.Header.Set("X-Forwarded-For", c.forwarded)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func wantStatus(t *testing.T, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status: got %d, want %d (body %s)", a.status, status, a.body)
	}
}

func wantErr(t *testing.T, a answer, status, code int, msg string) {
	t.Helper()
	wantStatus(t, a, status)
	e := a.err(t)
	if e.Code != code || (msg != "" && e.Msg != msg) {
		t.Fatalf("error: got %d %q, want %d %q", e.Code, e.Msg, code, msg)
	}
}

func wantHeader(t *testing.T, a answer, name, want string) {
	t.Helper()
	if got := a.header.Get(name); got != want {
		t.Fatalf("header %s: got %q, want %q", name, got, want)
	}
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}
