package binance

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/rs/zerolog"
)

// Endpoints of Binance spot. The spot testnet is a config change only: see
// the package documentation.
const (
	DefaultBaseURL = "https://api.binance.com"
	// DefaultWSAPIURL is the WebSocket API, where the user data stream is
	// subscribed with userDataStream.subscribe.signature.
	DefaultWSAPIURL = "wss://ws-api.binance.com:443/ws-api/v3"
	// DefaultStreamURL is the legacy stream host for the listenKey flow.
	DefaultStreamURL = "wss://stream.binance.com:9443"

	TestnetBaseURL   = "https://testnet.binance.vision"
	TestnetWSAPIURL  = "wss://ws-api.testnet.binance.vision/ws-api/v3"
	TestnetStreamURL = "wss://stream.testnet.binance.vision"
)

// User data stream protocols.
const (
	// StreamWSAPI subscribes on the WebSocket API with
	// userDataStream.subscribe.signature: Binance's current way.
	StreamWSAPI = "wsapi"
	// StreamListenKey uses POST /api/v3/userDataStream and /ws/<listenKey>:
	// deprecated by Binance (retired on spot production), kept for
	// simulators and older deployments.
	StreamListenKey = "listenkey"
)

// Key types.
const (
	KeyHMAC    = "hmac"
	KeyEd25519 = "ed25519"
)

// Config is one API key's connection to Binance spot. Its String and Format
// methods never print the secret.
type Config struct {
	// BaseURL is the REST root (default https://api.binance.com).
	BaseURL string
	// WSURL is the user data stream endpoint: the WebSocket API URL for
	// StreamWSAPI (default wss://ws-api.binance.com:443/ws-api/v3), the
	// stream host for StreamListenKey (default wss://stream.binance.com:9443).
	WSURL string
	// APIKey is the key's public ID, sent as X-MBX-APIKEY.
	APIKey string
	// Secret is the HMAC secret, or the Ed25519 private key (PEM, or a raw
	// 32-byte seed or 64-byte key). Never logged.
	Secret []byte
	// KeyType is "hmac" (default) or "ed25519".
	KeyType string
	// RecvWindow is how long after its timestamp a signed request is valid
	// (default 5s, at most 60s).
	RecvWindow time.Duration
	// HTTPClient carries REST and WebSocket traffic (default: a client of
	// its own).
	HTTPClient *http.Client
	// Timeout bounds one REST request (default 10s).
	Timeout time.Duration
	// Logger receives the venue's log lines; never a secret. The caller
	// gives it the fields that say which key and venue (the adapter adds
	// none, so no line carries a field twice).
	Logger zerolog.Logger
	// PollInterval is how often open orders are polled over REST while the
	// user data stream is down (default 5s).
	PollInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// UserStream is the user data stream protocol: StreamWSAPI (default) or
	// StreamListenKey.
	UserStream string
}

// String describes the config with the secret redacted.
func (c Config) String() string {
	kt := c.KeyType
	if kt == "" {
		kt = KeyHMAC
	}
	return fmt.Sprintf("binance.Config{BaseURL: %q, WSURL: %q, APIKey: %q, Secret: %s, KeyType: %q, RecvWindow: %s, Timeout: %s, PollInterval: %s, UserStream: %q}",
		c.BaseURL, c.WSURL, venuekit.KeyHint(c.APIKey), venuekit.Secret(c.Secret), kt, c.RecvWindow, c.Timeout, c.PollInterval, c.UserStream)
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
	switch c.UserStream {
	case "":
		c.UserStream = StreamWSAPI
	case StreamWSAPI, StreamListenKey:
	default:
		return c, fmt.Errorf("binance: unknown UserStream %q (want %q or %q)", c.UserStream, StreamWSAPI, StreamListenKey)
	}
	if c.WSURL == "" {
		if c.UserStream == StreamWSAPI {
			c.WSURL = DefaultWSAPIURL
		} else {
			c.WSURL = DefaultStreamURL
		}
	}
	c.WSURL = strings.TrimRight(c.WSURL, "/")
	if c.KeyType == "" {
		c.KeyType = KeyHMAC
	}
	if c.RecvWindow <= 0 {
		c.RecvWindow = 5 * time.Second
	}
	if c.RecvWindow > time.Minute {
		return c, errors.New("binance: RecvWindow above Binance's maximum of 60s")
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.APIKey == "" {
		return c, errors.New("binance: APIKey is empty")
	}
	if len(c.Secret) == 0 {
		return c, errors.New("binance: Secret is empty")
	}
	return c, nil
}

// newSigner builds the signer of the key type. Its errors never quote the
// key material.
func newSigner(keyType string, secret []byte) (signer, error) {
	switch keyType {
	case KeyHMAC:
		return newHMACSigner(secret), nil
	case KeyEd25519:
		k, err := parseEd25519(secret)
		if err != nil {
			return nil, err
		}
		return ed25519Signer{key: k}, nil
	}
	return nil, fmt.Errorf("binance: unknown KeyType %q (want %q or %q)", keyType, KeyHMAC, KeyEd25519)
}

func parseEd25519(secret []byte) (ed25519.PrivateKey, error) {
	if b, _ := pem.Decode(secret); b != nil {
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, errors.New("binance: Ed25519 secret: PEM block is not a PKCS#8 private key")
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("binance: Ed25519 secret: PEM key is not an Ed25519 key")
		}
		return ek, nil
	}
	switch len(secret) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(secret), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(append([]byte(nil), secret...)), nil
	}
	return nil, errors.New("binance: Ed25519 secret: want PEM (PKCS#8), a 32-byte seed or a 64-byte key")
}
