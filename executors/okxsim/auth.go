package okxsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// key is one API key the exchange knows.
type key struct {
	account    string
	apiKey     string
	secret     []byte
	passphrase string
	enabled    bool
}

// maxSkew is how far a request's timestamp may be from the server's
// clock, either way (OKX: 30 seconds, error 50102; WebSocket login 60006).
const maxSkew = 30 * time.Second

// sign is OKX's signature: base64 of HMAC-SHA256 of the pre-hash string.
func sign(secret []byte, prehash string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(prehash))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (k *key) verify(prehash, sig string) bool {
	return hmac.Equal([]byte(sign(k.secret, prehash)), []byte(sig))
}

func (k *key) passphraseOK(p string) bool {
	return subtle.ConstantTimeCompare([]byte(k.passphrase), []byte(p)) == 1
}

// parseTimestamp reads OK-ACCESS-TIMESTAMP: ISO 8601 UTC with
// milliseconds, e.g. 2020-12-08T09:08:57.715Z.
func parseTimestamp(s string) (time.Time, bool) {
	t, err := time.Parse("2006-01-02T15:04:05.000Z", s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// authREST checks the four OK-ACCESS headers of r, whose body is body, in
// the order OKX reports them, and returns the key.
func (s *Server) authREST(r *http.Request, body string, now time.Time) (*key, *result) {
	h := r.Header
	apiKey := h.Get("OK-ACCESS-KEY")
	if apiKey == "" {
		e := errNoKey()
		return nil, &e
	}
	s.mu.Lock()
	k, found := s.keys[apiKey]
	enabled := found && k.enabled
	s.mu.Unlock()
	if !enabled {
		e := errBadKey()
		return nil, &e
	}
	pass := h.Get("OK-ACCESS-PASSPHRASE")
	if pass == "" {
		e := errNoPassphrase()
		return nil, &e
	}
	ts := h.Get("OK-ACCESS-TIMESTAMP")
	if ts == "" {
		e := errNoTimestamp()
		return nil, &e
	}
	sig := h.Get("OK-ACCESS-SIGN")
	if sig == "" {
		e := errNoSign()
		return nil, &e
	}
	t, ok := parseTimestamp(ts)
	if !ok {
		e := errBadTimestamp()
		return nil, &e
	}
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		e := errTimestampExpired()
		return nil, &e
	}
	// The pre-hash: timestamp + METHOD + requestPath (with the query
	// string of a GET) + body, exactly as sent.
	if !k.verify(ts+strings.ToUpper(r.Method)+r.URL.RequestURI()+body, sig) {
		e := errBadSign()
		return nil, &e
	}
	if !k.passphraseOK(pass) {
		e := errBadPassphrase()
		return nil, &e
	}
	return k, nil
}

// WebSocket login refusals (docs-v5 "Error Code", WebSocket).
type wsErr struct{ code, msg string }

var (
	wsInvalidKey   = wsErr{"60005", "Invalid apiKey"}
	wsExpired      = wsErr{"60006", "Timestamp request expired"}
	wsInvalidSign  = wsErr{"60007", "Invalid sign"}
	wsBadTimestamp = wsErr{"60004", "Invalid timestamp"}
	wsPassphrase   = wsErr{"60024", "Wrong passphrase"}
	wsLoginFirst   = wsErr{"60011", "Please log in"}
	wsInvalidReq   = wsErr{"60012", "Invalid request"}
	wsNoChannel    = wsErr{"60018", "Wrong URL or channel doesn't exist. Please use the correct URL, channel and parameters referring to API document."}
	wsRepeatLogin  = wsErr{"60031", "The WebSocket endpoint does not allow multiple or repeated logins."}
)

// authWS checks a login's arguments: timestamp in Unix seconds (decimals
// allowed) within 30 s, sign over timestamp + "GET" + "/users/self/verify".
func (s *Server) authWS(apiKey, passphrase, ts, sig string, now time.Time) (*key, *wsErr) {
	s.mu.Lock()
	k, found := s.keys[apiKey]
	enabled := found && k.enabled
	s.mu.Unlock()
	if !enabled {
		return nil, &wsInvalidKey
	}
	sec, err := decimal.NewFromString(ts)
	if err != nil {
		return nil, &wsBadTimestamp
	}
	t := time.UnixMilli(sec.Shift(3).IntPart())
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return nil, &wsExpired
	}
	if !k.verify(ts+"GET/users/self/verify", sig) {
		return nil, &wsInvalidSign
	}
	if !k.passphraseOK(passphrase) {
		return nil, &wsPassphrase
	}
	return k, nil
}
