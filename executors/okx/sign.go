package okx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"time"
)

// isoTimestamp is OK-ACCESS-TIMESTAMP: ISO 8601 UTC with milliseconds,
// e.g. 2020-12-08T09:08:57.715Z.
func isoTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// prehash is what OKX signs: timestamp + METHOD + requestPath + body,
// where requestPath carries a GET's query string and body is the JSON
// sent ("" when there is none).
func prehash(timestamp, method, requestPath, body string) string {
	return timestamp + method + requestPath + body
}

// sign is OK-ACCESS-SIGN: the base64 HMAC-SHA256 of the pre-hash string
// with the secret key.
func sign(secret []byte, prehash string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(prehash))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// loginArgs are a WebSocket login's timestamp (Unix seconds) and sign
// over timestamp + "GET" + "/users/self/verify".
func loginArgs(secret []byte, now time.Time) (timestamp, signature string) {
	ts := strconv.FormatInt(now.Unix(), 10)
	return ts, sign(secret, prehash(ts, "GET", "/users/self/verify", ""))
}
