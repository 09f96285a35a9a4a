package binance

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
)

// signer signs the exact payload string Binance will see.
type signer interface {
	sign(payload string) string
}

// hmacSigner is HMAC-SHA256, lowercase hex.
type hmacSigner struct{ secret []byte }

func (s hmacSigner) sign(payload string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

// ed25519Signer is Ed25519, standard base64 (to be percent-encoded in a
// query string).
type ed25519Signer struct{ key ed25519.PrivateKey }

func (s ed25519Signer) sign(payload string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, []byte(payload)))
}

// params is an ordered parameter list: the order it is built in is the
// order it is encoded, signed and sent in.
type params []param

type param struct{ k, v string }

func (p params) add(k, v string) params { return append(p, param{k, v}) }

// encode is key=value pairs joined by &, values percent-encoded.
func (p params) encode() string {
	var b strings.Builder
	for i, kv := range p {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv.k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv.v))
	}
	return b.String()
}

// signPayload appends the signature of payload to it, as Binance documents
// for SIGNED endpoints.
func signPayload(s signer, payload string) string {
	return payload + "&signature=" + url.QueryEscape(s.sign(payload))
}
