package okxsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestServer starts a Server on loopback with mut applied to the
// default config.
func newTestServer(t *testing.T, mut func(*Config)) (*Server, string) {
	t.Helper()
	cfg := DefaultConfig()
	if mut != nil {
		mut(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, url
}

// client signs requests as one key, the way OKX documents.
type client struct {
	t                 *testing.T
	base              string
	key, secret, pass string
	now               func() time.Time
	hc                *http.Client
	header            http.Header // extra headers of the next request
}

func newClient(t *testing.T, base, key, secret, pass string, now func() time.Time) *client {
	if now == nil {
		now = time.Now
	}
	return &client{t: t, base: base, key: key, secret: secret, pass: pass, now: now, hc: &http.Client{Timeout: 5 * time.Second}}
}

// answer is a decoded reply.
type answer struct {
	status int
	Code   string            `json:"code"`
	Msg    string            `json:"msg"`
	Data   []json.RawMessage `json:"data"`
}

// sCode is data[0].sCode of a single-order answer.
func (a answer) sCode() string {
	if len(a.Data) == 0 {
		return ""
	}
	var o struct {
		SCode string `json:"sCode"`
	}
	json.Unmarshal(a.Data[0], &o)
	return o.SCode
}

func (a answer) field(name string) string {
	if len(a.Data) == 0 {
		return ""
	}
	var o map[string]any
	json.Unmarshal(a.Data[0], &o)
	s, _ := o[name].(string)
	return s
}

func hmacB64(secret, s string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// do sends method pathQuery with body (nil: none), signed.
func (c *client) do(method, pathQuery string, body any) answer {
	c.t.Helper()
	a, err := c.try(method, pathQuery, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

// try is do returning the transport error.
func (c *client) try(method, pathQuery string, body any) (answer, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, c.base+pathQuery, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	ts := c.now().UTC().Format("2006-01-02T15:04:05.000Z")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("OK-ACCESS-KEY", c.key)
	req.Header.Set("OK-ACCESS-PASSPHRASE", c.pass)
	req.Header.Set("OK-ACCESS-TIMESTAMP", ts)
	req.Header.Set("OK-ACCESS-SIGN", hmacB64(c.secret, ts+method+pathQuery+string(raw)))
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	c.header = nil
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		return answer{}, fmt.Errorf("%s %s: unreadable answer %q", method, pathQuery, b)
	}
	a.status = resp.StatusCode
	return a, nil
}

func placeBody(inst, clOrdID, side, ordType, sz, px string) map[string]string {
	body := map[string]string{"instId": inst, "tdMode": "cash", "clOrdId": clOrdID, "side": side, "ordType": ordType, "sz": sz}
	if px != "" {
		body["px"] = px
	} else {
		body["tgtCcy"] = "base_ccy"
	}
	return body
}

func (c *client) place(inst, clOrdID, side, ordType, sz, px string) answer {
	c.t.Helper()
	return c.do(http.MethodPost, "/api/v5/trade/order", placeBody(inst, clOrdID, side, ordType, sz, px))
}

func decimalOf(s string) decimal.Decimal { return decimal.RequireFromString(s) }
