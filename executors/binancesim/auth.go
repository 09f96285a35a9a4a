package binancesim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// maxBody bounds a request body; Binance's parameters are small.
const maxBody = 64 << 10

// params are a request's parameters as Binance reads them: the query string
// and, for POST, PUT and DELETE, a form body; a parameter in both is taken
// from the query string. The raw forms are kept for the signature.
type params struct {
	rawQuery, rawBody string
	query, body       url.Values
}

// readParams parses r's parameters.
func readParams(r *http.Request) (*params, *apiError) {
	p := &params{rawQuery: r.URL.RawQuery}
	if r.Method != http.MethodGet && r.Body != nil {
		ct := r.Header.Get("Content-Type")
		if ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			if err != nil {
				return p, errInternal()
			}
			if len(b) > maxBody {
				return p, newErr(http.StatusRequestEntityTooLarge, -1101, "Too many parameters sent for this endpoint.")
			}
			p.rawBody = string(b)
		}
	}
	var err error
	if p.query, err = url.ParseQuery(p.rawQuery); err != nil {
		return p, newErr(http.StatusBadRequest, -1100, "Illegal characters found in a parameter.")
	}
	if p.body, err = url.ParseQuery(p.rawBody); err != nil {
		return p, newErr(http.StatusBadRequest, -1100, "Illegal characters found in a parameter.")
	}
	for _, vs := range []url.Values{p.query, p.body} {
		for _, v := range vs {
			if len(v) > 1 {
				return p, errDuplicateParam()
			}
		}
	}
	return p, nil
}

// get returns the parameter's value, "" if absent.
func (p *params) get(name string) string {
	if v, ok := p.query[name]; ok {
		return v[0]
	}
	if v, ok := p.body[name]; ok {
		return v[0]
	}
	return ""
}

func (p *params) has(name string) bool {
	_, q := p.query[name]
	_, b := p.body[name]
	return q || b
}

// totalParams is what is signed: the query string concatenated with the
// body, each exactly as sent, without the signature parameter.
func (p *params) totalParams() string {
	return withoutSignature(p.rawQuery) + withoutSignature(p.rawBody)
}

func withoutSignature(raw string) string {
	if !strings.Contains(raw, "signature") && !strings.Contains(raw, "%") {
		return raw
	}
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, part := range parts {
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == "signature" {
			continue
		}
		kept = append(kept, part)
	}
	return strings.Join(kept, "&")
}

// verify checks the signature of p with key k.
func (k *verifier) verify(p *params) *apiError {
	sig := p.get("signature")
	if sig == "" {
		return errMandatory("signature")
	}
	return k.verifyPayload(p.totalParams(), sig)
}

// verifyPayload checks sig over payload: hex HMAC-SHA256 (any case), or
// base64 Ed25519 or RSA PKCS#1 v1.5 SHA-256.
func (k *verifier) verifyPayload(text, sig string) *apiError {
	payload := []byte(text)
	switch k.kind {
	case "hmac":
		got, err := hex.DecodeString(strings.ToLower(sig))
		if err != nil {
			return errSignature()
		}
		m := hmac.New(sha256.New, k.secret)
		m.Write(payload)
		if !hmac.Equal(got, m.Sum(nil)) {
			return errSignature()
		}
	case "ed25519":
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || !ed25519.Verify(k.pub.(ed25519.PublicKey), payload, got) {
			return errSignature()
		}
	case "rsa":
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			return errSignature()
		}
		sum := sha256.Sum256(payload)
		if rsa.VerifyPKCS1v15(k.pub.(*rsa.PublicKey), crypto.SHA256, sum[:], got) != nil {
			return errSignature()
		}
	default:
		return errSignature()
	}
	return nil
}

// maxRecvWindow is Binance's largest recvWindow, in milliseconds.
const maxRecvWindow = 60000

// timing is a signed request's timestamp and recvWindow, in microseconds.
type timing struct {
	ts, window int64
}

// readTiming parses timestamp (milliseconds, or microseconds when it has
// more than 14 digits) and recvWindow (milliseconds with up to three
// decimals; 5000 by default).
func readTiming(p *params) (timing, *apiError) {
	return parseTiming(p.get("timestamp"), p.get("recvWindow"), p.has("recvWindow"))
}

func parseTiming(s, recvWindow string, hasWindow bool) (timing, *apiError) {
	var t timing
	if s == "" {
		return t, errMandatory("timestamp")
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ts <= 0 {
		return t, errMandatory("timestamp")
	}
	if ts < 1e14 {
		ts *= 1000
	}
	t.ts = ts
	t.window = maxRecvWindowDefault
	if hasWindow {
		w, err := decimal.NewFromString(recvWindow)
		if err != nil || w.Exponent() < -3 {
			return t, errMandatory("recvWindow")
		}
		if w.GreaterThan(decimal.NewFromInt(maxRecvWindow)) || !w.IsPositive() {
			return t, errRecvWindow()
		}
		t.window = w.Shift(3).IntPart()
	}
	return t, nil
}

// maxRecvWindowDefault is recvWindow's default, 5000 ms, in microseconds.
const maxRecvWindowDefault = 5000 * 1000

// check applies Binance's rule: timestamp < serverTime + 1s and
// serverTime - timestamp <= recvWindow.
func (t timing) check(now time.Time) *apiError {
	server := now.UnixMicro()
	if t.ts >= server+1_000_000 {
		return errTimestampAhead()
	}
	if server-t.ts > t.window {
		return errTimestampWindow()
	}
	return nil
}
