package binancesim_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/executors/internal/simkit"
	"github.com/shopspring/decimal"
)

// Binance's documented example (rest-api.md, SIGNED endpoint examples).
const (
	docKey    = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
	docSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
	docParams = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
	docSig    = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
	docTime   = 1499827319559
)

func docConfig(now func() time.Time) binancesim.Config {
	d := decimal.RequireFromString
	return binancesim.Config{
		Accounts: []binancesim.AccountConfig{{
			ID:       "doc",
			Balances: map[string]string{"BTC": "100", "LTC": "100"},
			Keys:     []binancesim.KeyConfig{{APIKey: docKey, Secret: docSecret}},
		}},
		Market: simkit.Market{
			Symbols: []binancesim.SymbolConfig{{
				Symbol: "LTC-BTC", Price: d("0.2"), TickSize: d("0.00001"), StepSize: d("0.001"),
				MinQty: d("0.001"), MaxQty: d("100000"), MinNotional: d("0.0001"),
			}},
			Now: now,
		},
	}
}

func TestSignatureDocExample(t *testing.T) {
	clk := newClock(time.UnixMilli(docTime))
	_, base := start(t, docConfig(clk.Now))
	c := newClient(t, base, docKey, docSecret, clk.Now)

	if got := sign(docSecret, docParams); got != docSig {
		t.Fatalf("test signer: got %s, want %s", got, docSig)
	}
	t.Run("body", func(t *testing.T) {
		c.body = true
		defer func() { c.body = false }()
		a := c.raw(context.Background(), http.MethodPost, "/api/v3/order", docParams+"&signature="+docSig)
		wantStatus(t, a, http.StatusOK)
		var o struct {
			Symbol, Status, Price, OrigQty, Type, Side, TimeInForce string
			Fills                                                   []any
		}
		a.decode(t, &o)
		if o.Symbol != "LTCBTC" || o.Status != "NEW" || o.Price != "0.10000000" || o.OrigQty != "1.00000000" ||
			o.Type != "LIMIT" || o.Side != "BUY" || o.TimeInForce != "GTC" || o.Fills == nil {
			t.Fatalf("order: got %+v", o)
		}
	})
	t.Run("query string", func(t *testing.T) {
		a := c.raw(context.Background(), http.MethodPost, "/api/v3/order", docParams+"&signature="+docSig)
		wantStatus(t, a, http.StatusOK)
	})
	t.Run("mixed", func(t *testing.T) {
		// Example 3: the query string and the body are concatenated
		// without "&".
		req, _ := http.NewRequest(http.MethodPost,
			base+"/api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
			strings.NewReader("quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"))
		req.Header.Set("X-MBX-APIKEY", docKey)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status: got %d, want 200", resp.StatusCode)
		}
	})
	t.Run("upper-case signature", func(t *testing.T) {
		a := c.raw(context.Background(), http.MethodPost, "/api/v3/order", docParams+"&signature="+strings.ToUpper(docSig))
		wantStatus(t, a, http.StatusOK)
	})
	t.Run("tampered", func(t *testing.T) {
		tampered := "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=2&price=0.1&recvWindow=5000&timestamp=1499827319559"
		a := c.raw(context.Background(), http.MethodPost, "/api/v3/order", tampered+"&signature="+docSig)
		wantErr(t, a, http.StatusBadRequest, -1022, "Signature for this request is not valid.")
	})
	t.Run("missing signature", func(t *testing.T) {
		a := c.raw(context.Background(), http.MethodPost, "/api/v3/order", docParams)
		wantErr(t, a, http.StatusBadRequest, -1102, "")
	})
}

func TestTiming(t *testing.T) {
	clk := newClock(time.UnixMilli(docTime))
	_, base := start(t, docConfig(clk.Now))
	c := newClient(t, base, docKey, docSecret, clk.Now)
	send := func(ts int64, window string) answer {
		p := url.Values{}
		if window != "" {
			p.Set("recvWindow", window)
		}
		p.Set("timestamp", strconv.FormatInt(ts, 10))
		payload := p.Encode()
		return c.raw(context.Background(), http.MethodGet, "/api/v3/account", payload+"&signature="+sign(docSecret, payload))
	}
	now := int64(docTime)
	for _, tc := range []struct {
		name   string
		ts     int64
		window string
		code   int
		msg    string
	}{
		{"on time", now, "", 0, ""},
		{"5000ms old", now - 5000, "", 0, ""},
		{"5001ms old", now - 5001, "", -1021, "Timestamp for this request is outside of the recvWindow."},
		{"999ms ahead", now + 999, "", 0, ""},
		{"1000ms ahead", now + 1000, "", -1021, "Timestamp for this request was 1000ms ahead of the server's time."},
		{"recvWindow 60000", now - 60000, "60000", 0, ""},
		{"recvWindow 60001", now, "60001", -1131, ""},
		{"fractional recvWindow", now - 100, "100.5", 0, ""},
		{"microseconds", now * 1000, "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := send(tc.ts, tc.window)
			if tc.code == 0 {
				wantStatus(t, a, http.StatusOK)
				return
			}
			wantErr(t, a, http.StatusBadRequest, tc.code, tc.msg)
		})
	}
}

func TestAPIKeys(t *testing.T) {
	srv, base := start(t, binancesim.DefaultConfig())
	for _, tc := range []struct {
		name, key, secret string
		code              int
	}{
		{"unknown key", "nope", "acct1-secret", -2015},
		{"no key", "", "acct1-secret", -2014},
		{"wrong secret", "acct1-key", "acct2-secret", -1022},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newClient(t, base, tc.key, tc.secret, nil).signed(http.MethodGet, "/api/v3/account", nil)
			status := http.StatusUnauthorized
			if tc.code == -1022 {
				status = http.StatusBadRequest
			}
			wantErr(t, a, status, tc.code, "")
		})
	}
	t.Run("revoked", func(t *testing.T) {
		c := newClient(t, base, "acct1-key", "acct1-secret", nil)
		wantStatus(t, c.signed(http.MethodGet, "/api/v3/account", nil), http.StatusOK)
		srv.RevokeKey("acct1-key", true)
		wantErr(t, c.signed(http.MethodGet, "/api/v3/account", nil), http.StatusUnauthorized, -2015,
			"Invalid API-key, IP, or permissions for action.")
		srv.RevokeKey("acct1-key", false)
		wantStatus(t, c.signed(http.MethodGet, "/api/v3/account", nil), http.StatusOK)
	})
}

func TestEd25519Key(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	cfg := binancesim.DefaultConfig()
	cfg.Accounts[0].Keys = append(cfg.Accounts[0].Keys, binancesim.KeyConfig{
		APIKey: "ed-key", Type: "ed25519",
		PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	})
	_, base := start(t, cfg)
	c := newClient(t, base, "ed-key", "", nil)
	p := url.Values{}
	p.Set("timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	payload := p.Encode()
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(payload)))
	a := c.raw(context.Background(), http.MethodGet, "/api/v3/account", payload+"&signature="+url.QueryEscape(sig))
	wantStatus(t, a, http.StatusOK)
	bad := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(payload+"x")))
	a = c.raw(context.Background(), http.MethodGet, "/api/v3/account", payload+"&signature="+url.QueryEscape(bad))
	wantErr(t, a, http.StatusBadRequest, -1022, "")
}

func TestSecretEnv(t *testing.T) {
	t.Setenv("BINANCESIM_TEST_SECRET", "from-env")
	cfg := binancesim.DefaultConfig()
	cfg.Accounts[0].Keys[0] = binancesim.KeyConfig{APIKey: "acct1-key", SecretEnv: "BINANCESIM_TEST_SECRET"}
	_, base := start(t, cfg)
	a := newClient(t, base, "acct1-key", "from-env", nil).signed(http.MethodGet, "/api/v3/account", nil)
	wantStatus(t, a, http.StatusOK)

	cfg.Accounts[0].Keys[0].SecretEnv = "BINANCESIM_TEST_UNSET"
	if _, err := binancesim.New(cfg); err == nil {
		t.Fatal("New with an empty secret_env: got nil error")
	}
}
