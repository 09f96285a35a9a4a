package binance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"

	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

// The example of Binance's "SIGNED endpoint examples for POST
// /api/v3/order" (HMAC SHA256), byte for byte.
func TestHMACSignatureMatchesBinanceDocExample(t *testing.T) {
	const (
		query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
		want  = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
	)
	s, err := newSigner(KeyHMAC, []byte(docSecret))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.sign(query); got != want {
		t.Fatalf("signature: got %s, want %s", got, want)
	}
	if got, wantQ := signPayload(s, query), query+"&signature="+want; got != wantQ {
		t.Fatalf("signed query: got %s, want %s", got, wantQ)
	}
	// The same query built from ordered params encodes to the same bytes.
	p := params{}.add("symbol", "LTCBTC").add("side", "BUY").add("type", "LIMIT").add("timeInForce", "GTC").
		add("quantity", "1").add("price", "0.1").add("recvWindow", "5000").add("timestamp", "1499827319559")
	if got := p.encode(); got != query {
		t.Fatalf("encode: got %s, want %s", got, query)
	}
}

func TestEd25519KeyForms(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for name, secret := range map[string][]byte{"pem": pemKey, "seed": priv.Seed(), "key": priv} {
		t.Run(name, func(t *testing.T) {
			s, err := newSigner(KeyEd25519, secret)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := base64.StdEncoding.DecodeString(s.sign("symbol=BTCUSDT&timestamp=1"))
			if err != nil {
				t.Fatalf("signature is not base64: %v", err)
			}
			if !ed25519.Verify(pub, []byte("symbol=BTCUSDT&timestamp=1"), sig) {
				t.Fatal("signature does not verify")
			}
		})
	}
	if _, err := newSigner(KeyEd25519, []byte("short")); err == nil {
		t.Fatal("a 5-byte Ed25519 secret was accepted")
	}
}

// An Ed25519 key signs REST requests (base64, percent-encoded) and the user
// data stream subscription end to end.
func TestEd25519EndToEnd(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	f := newFake(t)
	f.useEd25519(pub)
	v, logs := newTestVenue(t, f, func(c *Config) { c.KeyType = KeyEd25519; c.Secret = priv.Seed() })
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	u, err := v.Place(context.Background(), limitOrder("kr0000000000000000000000000000e1", "buy", "0.001", "20000"))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if u.Status != "new" {
		t.Fatalf("status: got %s, want new", u.Status)
	}
	bustest.WaitFor(t, "stream subscribed with an Ed25519 signature", v.streamUp.Load)
}
