package okx

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/rs/zerolog"
)

// Endpoints of OKX v5 (docs-v5 "Production Trading Services" and "Demo
// Trading Services"). Demo trading uses the same REST root with the
// header x-simulated-trading: 1 (Config.Demo) and its own WebSocket host.
const (
	DefaultBaseURL = "https://openapi.okx.com"
	DefaultWSURL   = "wss://ws.okx.com:8443/ws/v5/private"
	DemoWSURL      = "wss://wspap.okx.com:8443/ws/v5/private"
)

// Config is one API key's connection to OKX. Its String and Format methods
// never print the secret or the passphrase.
type Config struct {
	// BaseURL is the REST root (default https://openapi.okx.com; US, AU
	// and EU users have their own domains, see OKX's docs).
	BaseURL string
	// WSURL is the private WebSocket (default
	// wss://ws.okx.com:8443/ws/v5/private).
	WSURL string
	// APIKey is the key's public ID, sent as OK-ACCESS-KEY.
	APIKey string
	// Secret signs requests; Passphrase is the key's second secret, sent
	// as OK-ACCESS-PASSPHRASE. Neither is ever logged.
	Secret     []byte
	Passphrase []byte
	// Demo adds x-simulated-trading: 1 to every request (OKX demo trading).
	Demo bool
	// ExpWindow sets each new order's expTime header to now (on OKX's
	// clock) plus ExpWindow: OKX will not process it later, which is what
	// lets an order whose outcome is unknown be declared absent (default
	// 5s).
	ExpWindow time.Duration
	// HTTPClient carries REST and WebSocket traffic (default: a client of
	// its own).
	HTTPClient *http.Client
	// Timeout bounds one REST request (default 10s).
	Timeout time.Duration
	// PushWait bounds how long Place and Cancel wait for the orders
	// channel to show the order's state before asking over REST (default
	// 2s).
	PushWait time.Duration
	// PollInterval is how often tracked orders are polled over REST while
	// the private WebSocket is down (default 5s).
	PollInterval time.Duration
	// RateLimitRefresh is how often GET /api/v5/trade/account-rate-limit
	// is read again after New (default 1h, plus up to a tenth at random so
	// the keys of one sub-account do not ask together: OKX allows one read
	// per second per sub-account; it updates the figure daily at 08:00
	// UTC).
	RateLimitRefresh time.Duration
	// AccRateLimit, if set, is the sub-account's limit already read
	// through another key of the same sub-account: New does not read it
	// again (the refresher still does).
	AccRateLimit int64
	// PriceRefresh is how often the reference prices (GET
	// /api/v5/market/tickers) are read again (default 5s).
	PriceRefresh time.Duration
	// Logger receives the venue's log lines; never a secret.
	Logger zerolog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// String describes the config with the secret and passphrase redacted.
func (c Config) String() string {
	return fmt.Sprintf("okx.Config{BaseURL: %q, WSURL: %q, APIKey: %q, Secret: %s, Passphrase: %s, Demo: %t, ExpWindow: %s, Timeout: %s, PollInterval: %s}",
		c.BaseURL, c.WSURL, venuekit.KeyHint(c.APIKey), venuekit.Secret(c.Secret), venuekit.Secret(c.Passphrase), c.Demo, c.ExpWindow, c.Timeout, c.PollInterval)
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return c.String() }

// Format makes every verb (%v, %+v, %#v, %s, %q) print the redacted form.
func (c Config) Format(f fmt.State, verb rune) { venuekit.Redacted(f, verb, c.String()) }

func (c Config) withDefaults() (Config, error) {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.WSURL == "" {
		c.WSURL = DefaultWSURL
		if c.Demo {
			c.WSURL = DemoWSURL
		}
	}
	if c.ExpWindow <= 0 {
		c.ExpWindow = 5 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.PushWait <= 0 {
		c.PushWait = 2 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.RateLimitRefresh <= 0 {
		c.RateLimitRefresh = time.Hour
	}
	if c.PriceRefresh <= 0 {
		c.PriceRefresh = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.APIKey == "":
		return c, errors.New("okx: APIKey is empty")
	case len(c.Secret) == 0:
		return c, errors.New("okx: Secret is empty")
	case len(c.Passphrase) == 0:
		return c, errors.New("okx: Passphrase is empty")
	}
	return c, nil
}
