package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// Limits of the contract that are not in DESIGN.md's tables but keep a
// message bounded.
const (
	MaxTags          = 16
	MaxTagKeyLen     = 64
	MaxTagValueLen   = 256
	MaxDecimalLen    = 40 // characters of a decimal's text
	MaxDecimalExp    = 30 // |exponent| of a decimal, after parsing
	MaxSymbolPartLen = 20
)

// ValidationError says which field broke which rule. Field is the JSON name
// ("" for the message as a whole).
type ValidationError struct {
	Field string
	Rule  string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Rule
	}
	return e.Field + ": " + e.Rule
}

func fieldErr(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

var intentFields = map[string]bool{
	"client_order_id": true, "strategy": true, "symbol": true, "side": true,
	"type": true, "quantity": true, "price": true, "time_in_force": true,
	"post_only": true, "reduce_only": true, "venue": true, "key": true,
	"expires_at": true, "tags": true,
}

var cancelFields = map[string]bool{"client_order_id": true, "strategy": true}

// DecodeOrderIntent strictly decodes and validates an OrderIntent received on
// orders.new.<strategy>. If the intent has no strategy field it is set to
// strategy; if it has one that differs, that is invalid. TimeInForce is set
// to its default when absent. On error the returned intent holds whatever
// was decoded (its ClientOrderID, if valid, lets a rejection name the
// order) and the error is a *ValidationError.
func DecodeOrderIntent(data []byte, strategy string) (OrderIntent, error) {
	var in OrderIntent
	fields, err := objectFields(data, intentFields)
	if err != nil {
		return in, err
	}
	// client_order_id first, so a rejection can name the order.
	if raw, ok := fields["client_order_id"]; ok {
		if s, err := jsonString("client_order_id", raw); err == nil && ValidClientOrderID(s) {
			in.ClientOrderID = s
		}
	}
	if err := decodeIntentFields(&in, fields); err != nil {
		return in, err
	}
	if in.Strategy == "" {
		in.Strategy = strategy
	} else if in.Strategy != strategy {
		return in, fieldErr("strategy", "%q does not match the subject's strategy %q", in.Strategy, strategy)
	}
	if err := in.Validate(); err != nil {
		return in, err
	}
	if in.TimeInForce == "" {
		in.TimeInForce = GTC
		if in.Type == Market {
			in.TimeInForce = IOC
		}
	}
	return in, nil
}

func decodeIntentFields(in *OrderIntent, f map[string]json.RawMessage) error {
	var err error
	str := func(name string, dst *string) {
		if raw, ok := f[name]; ok && err == nil {
			*dst, err = jsonString(name, raw)
		}
	}
	var side, typ, tif string
	str("client_order_id", &in.ClientOrderID)
	str("strategy", &in.Strategy)
	str("symbol", &in.Symbol)
	str("side", &side)
	str("type", &typ)
	str("time_in_force", &tif)
	str("venue", &in.Venue)
	str("key", &in.Key)
	if err != nil {
		return err
	}
	in.Side, in.Type, in.TimeInForce = Side(side), OrderType(typ), TimeInForce(tif)
	if raw, ok := f["quantity"]; ok {
		if in.Quantity, err = jsonDecimal("quantity", raw); err != nil {
			return err
		}
	} else {
		return fieldErr("quantity", "required")
	}
	if raw, ok := f["price"]; ok {
		p, err := jsonDecimal("price", raw)
		if err != nil {
			return err
		}
		in.Price = &p
	}
	for _, name := range []string{"post_only", "reduce_only"} {
		raw, ok := f[name]
		if !ok {
			continue
		}
		var b bool
		switch string(raw) {
		case "true":
			b = true
		case "false":
		default:
			return fieldErr(name, "must be true or false")
		}
		if name == "post_only" {
			in.PostOnly = b
		} else {
			in.ReduceOnly = b
		}
	}
	if raw, ok := f["expires_at"]; ok {
		s, err := jsonString("expires_at", raw)
		if err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fieldErr("expires_at", "must be an RFC 3339 time, got %q", s)
		}
		in.ExpiresAt = &t
	}
	if raw, ok := f["tags"]; ok {
		tags, err := jsonTags(raw)
		if err != nil {
			return err
		}
		in.Tags = tags
	}
	return nil
}

// DecodeCancelIntent strictly decodes and validates a CancelIntent received
// on orders.cancel.<strategy>, with the same strategy rule as
// DecodeOrderIntent.
func DecodeCancelIntent(data []byte, strategy string) (CancelIntent, error) {
	var c CancelIntent
	fields, err := objectFields(data, cancelFields)
	if err != nil {
		return c, err
	}
	if raw, ok := fields["client_order_id"]; ok {
		if c.ClientOrderID, err = jsonString("client_order_id", raw); err != nil {
			return c, err
		}
	}
	if raw, ok := fields["strategy"]; ok {
		if c.Strategy, err = jsonString("strategy", raw); err != nil {
			return c, err
		}
	}
	if !ValidClientOrderID(c.ClientOrderID) {
		id := c.ClientOrderID
		c.ClientOrderID = ""
		if id == "" {
			return c, fieldErr("client_order_id", "required")
		}
		return c, fieldErr("client_order_id", "must match ^[A-Za-z0-9_-]{1,36}$")
	}
	if c.Strategy == "" {
		c.Strategy = strategy
	} else if c.Strategy != strategy {
		return c, fieldErr("strategy", "%q does not match the subject's strategy %q", c.Strategy, strategy)
	}
	return c, nil
}

// objectFields splits a JSON object into its fields, refusing anything that
// is not one object, and any field not in known (checked in name order so
// the error is deterministic).
func objectFields(data []byte, known map[string]bool) (map[string]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, &ValidationError{Rule: "message is not a JSON object"}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, &ValidationError{Rule: "message is not valid JSON: " + err.Error()}
	}
	var unknown []string
	for name := range fields {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &ValidationError{Field: unknown[0], Rule: fmt.Sprintf("unknown field %q", unknown[0])}
	}
	return fields, nil
}

func jsonString(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fieldErr(field, "must be a string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fieldErr(field, "must be a string")
	}
	return s, nil
}

// jsonDecimal reads a decimal from a JSON string or a JSON number's literal
// text; it never goes through float64.
func jsonDecimal(field string, raw json.RawMessage) (decimal.Decimal, error) {
	text := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		s, err := strconv.Unquote(text)
		if err != nil {
			return decimal.Decimal{}, fieldErr(field, "must be a decimal string or number")
		}
		text = s
	}
	if !decimalText(text) {
		return decimal.Decimal{}, fieldErr(field, "must be a decimal string or number, got %s", clip(string(raw)))
	}
	d, err := decimal.NewFromString(text)
	if err != nil || d.Exponent() > MaxDecimalExp || d.Exponent() < -MaxDecimalExp {
		return decimal.Decimal{}, fieldErr(field, "decimal out of range: %s", clip(string(raw)))
	}
	return d, nil
}

// decimalText reports whether s is -?digits[.digits][e[+-]digits], at most
// MaxDecimalLen characters.
func decimalText(s string) bool {
	if len(s) == 0 || len(s) > MaxDecimalLen {
		return false
	}
	i := 0
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

func jsonTags(raw json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fieldErr("tags", "must be an object of strings")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fieldErr("tags", "must be an object of strings")
	}
	if len(fields) > MaxTags {
		return nil, fieldErr("tags", "at most %d tags, got %d", MaxTags, len(fields))
	}
	tags := make(map[string]string, len(fields))
	for k, v := range fields {
		if len(k) == 0 || len(k) > MaxTagKeyLen {
			return nil, fieldErr("tags", "tag names must be 1 to %d characters", MaxTagKeyLen)
		}
		s, err := jsonString("tags."+k, v)
		if err != nil {
			return nil, err
		}
		if len(s) > MaxTagValueLen {
			return nil, fieldErr("tags."+k, "at most %d characters", MaxTagValueLen)
		}
		tags[k] = s
	}
	return tags, nil
}

func clip(s string) string {
	if len(s) > 48 {
		return s[:48] + "..."
	}
	return s
}
