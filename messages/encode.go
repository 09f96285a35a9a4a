package messages

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// AppendJSON appends r's JSON to dst: byte for byte what encoding/json
// writes for it (field order, omitted fields, sorted tags, HTML-safe
// escaping), without reflection. Reports are encoded on the hot path of
// every order; TestReportEncodingMatchesEncodingJSON keeps the two equal.
func (r *ExecutionReport) AppendJSON(dst []byte) []byte {
	b := append(dst, `{"kind":`...)
	b = appendString(b, string(r.Kind))
	b = append(b, `,"client_order_id":`...)
	b = appendString(b, r.ClientOrderID)
	b = append(b, `,"strategy":`...)
	b = appendString(b, r.Strategy)
	b = optString(b, `,"symbol":`, r.Symbol)
	b = optString(b, `,"side":`, string(r.Side))
	b = optString(b, `,"type":`, string(r.Type))
	if !r.Quantity.IsZero() {
		b = appendDecimal(append(b, `,"quantity":`...), r.Quantity)
	}
	if r.Price != nil {
		b = appendDecimal(append(b, `,"price":`...), *r.Price)
	}
	if len(r.Tags) > 0 {
		b = appendTags(append(b, `,"tags":`...), r.Tags)
	}
	b = optString(b, `,"key":`, r.Key)
	b = optString(b, `,"venue":`, r.Venue)
	b = optString(b, `,"venue_order_id":`, r.VenueOrderID)
	b = optString(b, `,"status":`, string(r.Status))
	if f := r.Fill; f != nil {
		b = appendDecimal(append(b, `,"fill":{"quantity":`...), f.Quantity)
		b = appendDecimal(append(b, `,"price":`...), f.Price)
		b = appendDecimal(append(b, `,"fee":`...), f.Fee)
		b = optString(b, `,"fee_asset":`, f.FeeAsset)
		b = appendString(append(b, `,"trade_id":`...), f.TradeID)
		b = optString(b, `,"liquidity":`, string(f.Liquidity))
		b = append(b, '}')
	}
	b = appendDecimal(append(b, `,"cum_quantity":`...), r.CumQuantity)
	b = appendDecimal(append(b, `,"leaves_quantity":`...), r.LeavesQuantity)
	if !r.AvgPrice.IsZero() {
		b = appendDecimal(append(b, `,"avg_price":`...), r.AvgPrice)
	}
	b = optString(b, `,"reason":`, string(r.Reason))
	b = optString(b, `,"message":`, r.Message)
	b = strconv.AppendUint(append(b, `,"seq":`...), r.Seq, 10)
	b = append(b, `,"ts":"`...)
	b = r.TS.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (r ExecutionReport) MarshalJSON() ([]byte, error) {
	if y := r.TS.Year(); y < 0 || y > 9999 {
		return nil, &ValidationError{Field: "ts", Rule: "year outside [0,9999]"}
	}
	return r.AppendJSON(make([]byte, 0, 512)), nil
}

func optString(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, name...), s)
}

func appendDecimal(b []byte, d decimal.Decimal) []byte {
	b = append(b, '"')
	b = AppendDecimalText(b, d)
	return append(b, '"')
}

// AppendDecimalText appends d.String(), the text every message writes a
// decimal as. For the usual decimals (a coefficient of at most 18 digits,
// an exponent from -18 to 0, the decimal package's default settings) it
// writes the digits itself, as String does but without its allocations;
// TestAppendDecimalTextMatchesString and FuzzAppendDecimalText keep the
// two equal.
func AppendDecimalText(b []byte, d decimal.Decimal) []byte {
	exp := d.Exponent()
	if exp > 0 || exp < -18 || !decimal.TrimTrailingZeros || d.NumDigits() > 18 {
		return append(b, d.String()...)
	}
	v := d.CoefficientInt64()
	if exp == 0 {
		return strconv.AppendInt(b, v, 10)
	}
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	p := uint64(1)
	for range -exp {
		p *= 10
	}
	u := uint64(v)
	b = strconv.AppendUint(b, u/p, 10)
	frac, n := u%p, int(-exp) // n digits after the point, zero-padded
	if frac == 0 {
		return b
	}
	for frac%10 == 0 { // trailing zeros trimmed
		frac /= 10
		n--
	}
	var digits [20]byte
	f := strconv.AppendUint(digits[:0], frac, 10)
	b = append(b, '.')
	for range n - len(f) {
		b = append(b, '0')
	}
	return append(b, f...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string escaped as encoding/json does:
// quotes, backslashes and control characters, <, > and & (HTML-safe),
// U+2028 and U+2029, and invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
