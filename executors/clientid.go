package executors

import (
	"crypto/sha256"
	"encoding/base32"
)

var clientIDEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// VenueClientID derives the venue-side client order ID of
// (strategy, client_order_id): "kr" and 30 base32 characters of a SHA-256,
// 32 characters of [0-9a-v] in all. It fits Binance's 36-character rule and
// every venue's alphabet, and the same order always gets the same ID, so a
// retry can never make a second order and an in-doubt order can be looked
// up.
func VenueClientID(strategy, clientOrderID string) string {
	h := sha256.New()
	h.Write([]byte(strategy))
	h.Write([]byte{0})
	h.Write([]byte(clientOrderID))
	var sum [sha256.Size]byte
	return "kr" + clientIDEncoding.EncodeToString(h.Sum(sum[:0]))[:30]
}
