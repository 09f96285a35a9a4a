package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Limits of the contract that are not in DESIGN.md's tables but keep a
// message bounded.
const (
	MaxTags          = 16
	MaxTagKeyLen     = 64
	MaxTagValueLen   = 256
	MaxDecimalLen    = 40 // characters of a decimal's text, as sent and in plain form
	MaxDecimalExp    = 40 // |exponent| of a decimal, after parsing
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
	in, err := decodeOrderIntent(data, strategy)
	if err != nil && !ValidClientOrderID(in.ClientOrderID) {
		in.ClientOrderID = ""
	}
	return in, err
}

func decodeOrderIntent(data []byte, strategy string) (OrderIntent, error) {
	var in OrderIntent
	fields, err := objectFields(data, intentFields)
	in.ClientOrderID = validClientOrderID(fields) // first, so a rejection can name the order
	if err != nil {
		return in, err
	}
	if err := decodeIntentFields(&in, fields); err != nil {
		return in, err
	}
	if _, ok := fields["strategy"]; !ok {
		in.Strategy = strategy
	} else if in.Strategy != strategy {
		return in, fieldErr("strategy", "%q does not match the subject's strategy %q", clip(in.Strategy), strategy)
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
	// The enumerations' values are taken as their constants, not copied.
	word := func(name string, dst *string, words ...string) {
		if raw, ok := f[name]; ok && err == nil {
			for _, w := range words {
				if len(raw) == len(w)+2 && raw[0] == '"' && string(raw[1:len(raw)-1]) == w {
					*dst = w
					return
				}
			}
			*dst, err = jsonString(name, raw)
		}
	}
	var side, typ, tif string
	if in.ClientOrderID == "" { // else decodeOrderIntent read it already
		str("client_order_id", &in.ClientOrderID)
	}
	str("strategy", &in.Strategy)
	str("symbol", &in.Symbol)
	word("side", &side, string(Buy), string(Sell))
	word("type", &typ, string(Limit), string(Market))
	word("time_in_force", &tif, string(GTC), string(IOC), string(FOK))
	str("venue", &in.Venue)
	str("key", &in.Key)
	if err != nil {
		return err
	}
	// An optional field sent empty is not the field left out.
	for _, name := range []string{"time_in_force", "venue", "key"} {
		if raw, ok := f[name]; ok && string(raw) == `""` {
			return fieldErr(name, "must not be empty; leave the field out instead")
		}
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
		t, ok := parseRFC3339(s)
		if !ok {
			return fieldErr("expires_at", "must be an RFC 3339 time like 2006-01-02T15:04:05.999Z, got %q", clip(s))
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
	c.ClientOrderID = validClientOrderID(fields)
	if err != nil {
		return c, err
	}
	if raw, ok := fields["client_order_id"]; ok {
		if c.ClientOrderID, err = jsonString("client_order_id", raw); err != nil {
			return c, err
		}
	}
	raw, hasStrategy := fields["strategy"]
	if hasStrategy {
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
	if !hasStrategy {
		c.Strategy = strategy
	} else if c.Strategy != strategy {
		return c, fieldErr("strategy", "%q does not match the subject's strategy %q", clip(c.Strategy), strategy)
	}
	return c, nil
}

// objectFields splits a JSON object into its fields, refusing anything that
// is not one object, and any field not in known (checked in name order so
// the error is deterministic). With an unknown field the fields are
// returned beside the error, so a rejection can still name the order.
func objectFields(data []byte, known map[string]bool) (map[string]json.RawMessage, error) {
	// Only JSON's own white space: bytes.TrimSpace would also drop \v, \f
	// and Unicode spaces, which make the message invalid JSON.
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &ValidationError{Rule: "message is not a JSON object"}
	}
	var fields map[string]json.RawMessage
	if json.Valid(data) {
		fields = splitObject(data)
	} else if err := json.Unmarshal(data, &fields); err != nil {
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
		return fields, &ValidationError{Field: unknown[0], Rule: "unknown field"}
	}
	return fields, nil
}

// fieldNames are the members of intents and cancels: splitObject uses
// these strings as map keys instead of allocating new ones.
var fieldNames = slices.Sorted(maps.Keys(intentFields))

// splitObject is what json.Unmarshal decodes data, a valid JSON object, to
// as a map[string]json.RawMessage, without its reflection: each member's
// value as it is written (without the white space around it; the last one
// of a name given twice), under its name unescaped. The values alias data.
func splitObject(data []byte) map[string]json.RawMessage {
	fields := make(map[string]json.RawMessage, 8)
	i := skipSpace(data, 0) + 1 // past '{'
	for {
		i = skipSpace(data, i)
		if data[i] == '}' {
			return fields
		}
		end := skipValue(data, i)
		name := memberName(data[i:end])
		i = skipSpace(data, end) + 1 // past ':'
		i = skipSpace(data, i)
		end = skipValue(data, i)
		fields[name] = data[i:end:end]
		i = skipSpace(data, end)
		if data[i] == ',' {
			i++
		}
	}
}

// memberName is the name of a member, from its valid string token.
func memberName(tok []byte) string {
	if !bytes.ContainsRune(tok, '\\') {
		for _, n := range fieldNames {
			if string(tok[1:len(tok)-1]) == n {
				return n
			}
		}
	}
	if s, ok := plainString(tok); ok {
		return s
	}
	var s string
	_ = json.Unmarshal(tok, &s) // valid: it is a token of a valid message
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the end of the valid JSON value at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
			}
		}
		return i + 1
	case '{', '[':
		depth := 0
		for {
			switch b[i] {
			case '"':
				i = skipValue(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			i++
			if depth == 0 {
				return i
			}
		}
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n' {
		i++
	}
	return i
}

// validClientOrderID returns the message's client_order_id if it is valid.
func validClientOrderID(fields map[string]json.RawMessage) string {
	if raw, ok := fields["client_order_id"]; ok {
		if s, err := jsonString("client_order_id", raw); err == nil && ValidClientOrderID(s) {
			return s
		}
	}
	return ""
}

func jsonString(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fieldErr(field, "must be a string")
	}
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fieldErr(field, "must be a string")
	}
	return s, nil
}

// plainString returns the text of the JSON string token raw when it has
// no escapes and no control characters and is valid UTF-8: then it is
// exactly what encoding/json decodes raw to, without its reflection.
// False means raw needs encoding/json (or is not such a token).
func plainString(raw []byte) (string, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false
	}
	ascii := true
	for _, c := range raw[1 : n-1] {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(raw[1:n-1]) {
		return "", false
	}
	return string(raw[1 : n-1]), true
}

// jsonDecimal reads a decimal from a JSON string or a JSON number's literal
// text; it never goes through float64.
func jsonDecimal(field string, raw json.RawMessage) (decimal.Decimal, error) {
	var text string
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && asciiNoEscape(raw[1:n-1]) {
		text = string(raw[1 : n-1]) // what strconv.Unquote returns for it
	} else {
		text = string(raw)
		if len(raw) > 0 && raw[0] == '"' {
			s, err := strconv.Unquote(text)
			if err != nil {
				return decimal.Decimal{}, fieldErr(field, "must be a decimal string or number")
			}
			text = s
		}
	}
	if !decimalText(text) {
		return decimal.Decimal{}, fieldErr(field, "must be a decimal string or number, got %s", clip(string(raw)))
	}
	d, err := decimal.NewFromString(text)
	// The exponent is checked before String, whose cost grows with it; the
	// plain form is what the decimal is written back as, so it too must
	// decode (1e39 is 4 characters sent but 40 written). Without an
	// exponent the plain form is never longer than the text (it only
	// drops a sign of zero, leading zeros and trailing fraction zeros),
	// and decimalText bounded the text: String need not be called.
	if err != nil || d.Exponent() > MaxDecimalExp || d.Exponent() < -MaxDecimalExp ||
		hasExponent(text) && len(d.String()) > MaxDecimalLen {
		return decimal.Decimal{}, fieldErr(field, "decimal out of range: %s", clip(string(raw)))
	}
	return d, nil
}

// asciiNoEscape reports whether b has only printable ASCII and no
// backslash or quote.
func asciiNoEscape(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

func hasExponent(text string) bool { return strings.ContainsAny(text, "eE") }

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
	// raw is a member of a valid message (see objectFields).
	fields := splitObject(raw)
	if len(fields) > MaxTags {
		return nil, fieldErr("tags", "at most %d tags, got %d", MaxTags, len(fields))
	}
	tags := make(map[string]string, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		s, err := jsonString("tags."+k, fields[k])
		if err != nil {
			return nil, err
		}
		tags[k] = s
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	return tags, nil
}

// checkTags checks the tag limits, in name order so the error is
// deterministic. Lengths count Unicode characters, as JSON Schema's
// minLength and maxLength do.
func checkTags(tags map[string]string) error {
	if len(tags) == 0 {
		return nil // and no slice of no names
	}
	if len(tags) > MaxTags {
		return fieldErr("tags", "at most %d tags, got %d", MaxTags, len(tags))
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if n := utf8.RuneCountInString(k); n == 0 || n > MaxTagKeyLen {
			return fieldErr("tags", "tag names must be 1 to %d characters", MaxTagKeyLen)
		}
		if utf8.RuneCountInString(tags[k]) > MaxTagValueLen {
			return fieldErr("tags."+k, "at most %d characters", MaxTagValueLen)
		}
	}
	return nil
}

// parseRFC3339 parses an RFC 3339 date-time. time.Parse alone is laxer than
// the RFC: it takes a one-digit hour, a comma before the fraction and an
// offset of +24:00, which time.Time.MarshalJSON then refuses to write.
func parseRFC3339(s string) (time.Time, bool) {
	const shape = "dddd-dd-ddTdd:dd:dd" // then [.d+] and Z or ±dd:dd
	if len(s) < len(shape)+1 {
		return time.Time{}, false
	}
	for i := 0; i < len(shape); i++ {
		if shape[i] == 'd' && !isDigit(s[i]) || shape[i] != 'd' && s[i] != shape[i] {
			return time.Time{}, false
		}
	}
	rest := s[len(shape):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		isDigit(rest[1]) && isDigit(rest[2]) && isDigit(rest[4]) && isDigit(rest[5]):
		if rest[1:3] > "23" || rest[4:6] > "59" {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func clip(s string) string {
	if len(s) > 48 {
		return s[:48] + "..."
	}
	return s
}
