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
// up. It allocates only the string it returns (for IDs of usual lengths).
func VenueClientID(strategy, clientOrderID string) string {
	var in [160]byte
	b := append(in[:0], strategy...)
	b = append(b, 0)
	b = append(b, clientOrderID...)
	sum := sha256.Sum256(b)
	var out [2 + 52]byte // "kr" and the 52 base32 characters of 32 bytes
	out[0], out[1] = 'k', 'r'
	clientIDEncoding.Encode(out[2:], sum[:])
	return string(out[:32])
}
