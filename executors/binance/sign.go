package binance

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// signer signs the exact payload Binance will see. Both kinds are safe
// for concurrent use.
type signer interface {
	// sign is the signature of payload as a string.
	sign(payload string) string
	// appendSignature appends the signature of payload as Binance reads
	// it (not percent-encoded). payload may share dst's array below
	// len(dst).
	appendSignature(dst, payload []byte) []byte
}

// sign is what a signer's sign method returns.
func sign(s signer, payload string) string {
	return string(s.appendSignature(nil, []byte(payload)))
}

// hmacSigner is HMAC-SHA256, lowercase hex. Keyed HMAC states are kept
// for reuse: hmac.New hashes the key into two pads, and the states take
// a few allocations to make.
type hmacSigner struct{ states *sync.Pool }

func newHMACSigner(secret []byte) hmacSigner {
	key := append([]byte(nil), secret...)
	return hmacSigner{states: &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

func (s hmacSigner) sign(payload string) string { return sign(s, payload) }

func (s hmacSigner) appendSignature(dst, payload []byte) []byte {
	m := s.states.Get().(hash.Hash)
	m.Reset()
	m.Write(payload)
	// The sum goes through dst (Sum through the interface would move an
	// array of ours to the heap), then to a local copy for hex.
	n := len(dst)
	var sum [sha256.Size]byte
	copy(sum[:], m.Sum(dst)[n:])
	s.states.Put(m)
	return hex.AppendEncode(dst, sum[:])
}

// ed25519Signer is Ed25519, standard base64 (to be percent-encoded in a
// query string).
type ed25519Signer struct{ key ed25519.PrivateKey }

func (s ed25519Signer) sign(payload string) string { return sign(s, payload) }

func (s ed25519Signer) appendSignature(dst, payload []byte) []byte {
	return base64.StdEncoding.AppendEncode(dst, ed25519.Sign(s.key, payload))
}

// params is an ordered parameter list: the order it is built in is the
// order it is encoded, signed and sent in.
type params []param

type param struct{ k, v string }

func (p params) add(k, v string) params { return append(p, param{k, v}) }

// encode is key=value pairs joined by &, values percent-encoded.
func (p params) encode() string { return string(p.appendTo(nil)) }

// appendTo appends p's encoding to b.
func (p params) appendTo(b []byte) []byte {
	for i, kv := range p {
		if i > 0 {
			b = append(b, '&')
		}
		b = appendQueryEscape(b, kv.k)
		b = append(b, '=')
		b = appendQueryEscape(b, kv.v)
	}
	return b
}

// appendQueryEscape appends url.QueryEscape(s).
func appendQueryEscape(b []byte, s string) []byte {
	n := len(b)
	return escapeFrom(append(b, s...), n)
}

// escapeFrom percent-encodes b[n:] as url.QueryEscape does. Every
// parameter keyrouter sends but an Ed25519 signature needs none, and is
// then left as it is.
func escapeFrom(b []byte, n int) []byte {
	for _, c := range b[n:] {
		if !unreserved(c) {
			return append(b[:n], url.QueryEscape(string(b[n:]))...)
		}
	}
	return b
}

// unreserved reports whether url.QueryEscape leaves c as it is.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// appendSigned ends a signed request's payload, whose parameters are
// b[start:]: it appends recvWindow and timestamp, then the signature of
// all of it, as Binance documents for SIGNED endpoints.
func appendSigned(b []byte, start int, s signer, recvWindow time.Duration, ts time.Time) []byte {
	if len(b) > start {
		b = append(b, '&')
	}
	b = strconv.AppendInt(append(b, "recvWindow="...), recvWindow.Milliseconds(), 10)
	b = strconv.AppendInt(append(b, "&timestamp="...), ts.UnixMilli(), 10)
	return appendSignature(b, start, s)
}

// appendSignature appends &signature= and the signature of b[start:],
// percent-encoded.
func appendSignature(b []byte, start int, s signer) []byte {
	end := len(b)
	b = append(b, "&signature="...)
	n := len(b)
	return escapeFrom(s.appendSignature(b, b[start:end]), n)
}

// signPayload appends the signature of payload to it, as Binance documents
// for SIGNED endpoints.
func signPayload(s signer, payload string) string {
	return string(appendSignature([]byte(payload), 0, s))
}

// OrderSigner builds the signed form body of Binance's POST /api/v3/order.
// It is the code Venue.Place sends every new order with, exported so
// that keyrouter's per-intent benchmark measures what Place runs. It is
// safe for concurrent use.
type OrderSigner struct{ s signer }

// NewOrderSigner is the OrderSigner of a key of keyType (KeyHMAC or
// KeyEd25519) and its secret, as in Config. Its errors never quote the
// secret.
func NewOrderSigner(keyType string, secret []byte) (OrderSigner, error) {
	s, err := newSigner(keyType, secret)
	return OrderSigner{s}, err
}

// AppendSignedOrder appends the signed payload of new order o to dst:
// symbol (nativeSymbol, Binance's name of o.Symbol), side, type,
// timeInForce (limit orders), quantity, price (but for market orders),
// newClientOrderId, newOrderRespType=FULL, then recvWindow, timestamp
// (ts in milliseconds) and the signature of all of it. o is not checked:
// Place checks it against the symbol's filters first.
func (s OrderSigner) AppendSignedOrder(dst []byte, o executors.Order, nativeSymbol string, recvWindow time.Duration, ts time.Time) []byte {
	start := len(dst)
	b := appendQueryEscape(append(dst, "symbol="...), nativeSymbol)
	switch o.Side {
	case messages.Buy:
		b = append(b, "&side=BUY"...)
	case messages.Sell:
		b = append(b, "&side=SELL"...)
	default:
		b = append(b, "&side="...)
	}
	typ := binanceType(o)
	b = append(append(b, "&type="...), typ...)
	if typ == "LIMIT" {
		switch o.TimeInForce {
		case messages.IOC:
			b = append(b, "&timeInForce=IOC"...)
		case messages.FOK:
			b = append(b, "&timeInForce=FOK"...)
		default:
			b = append(b, "&timeInForce=GTC"...)
		}
	}
	b = appendQueryDecimal(append(b, "&quantity="...), o.Quantity)
	if o.Type != messages.Market {
		b = appendQueryDecimal(append(b, "&price="...), o.Price)
	}
	b = appendQueryEscape(append(b, "&newClientOrderId="...), o.ClientID)
	b = append(b, "&newOrderRespType=FULL"...)
	return appendSigned(b, start, s.s, recvWindow, ts)
}

// appendQueryDecimal appends d.String(), percent-encoded.
func appendQueryDecimal(b []byte, d decimal.Decimal) []byte {
	n := len(b)
	return escapeFrom(messages.AppendDecimalText(b, d), n)
}
