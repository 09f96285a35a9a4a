package messages

import (
	"encoding/json"
	"math"
	"time"

	"github.com/shopspring/decimal"
)

// DecodeExecOrder decodes data as json.Unmarshal does into a zero
// ExecOrder: the same value, and an error exactly when json.Unmarshal
// returns one (its error). What AppendJSON writes (fields in their
// order, no white space) is read without reflection; anything else goes
// to encoding/json.
func DecodeExecOrder(data []byte) (ExecOrder, error) {
	var o ExecOrder
	if s := (scanner{b: data}); s.execOrder(&o) && s.end() {
		return o, nil
	}
	var j ExecOrder // not o, which can then stay off the heap
	err := json.Unmarshal(data, &j)
	return j, err
}

// DecodeOrderRecord decodes data as json.Unmarshal does into a zero
// OrderRecord, as DecodeExecOrder does for an ExecOrder.
func DecodeOrderRecord(data []byte) (OrderRecord, error) {
	var r OrderRecord
	if s := (scanner{b: data}); s.orderRecord(&r) && s.end() {
		return r, nil
	}
	var j OrderRecord // not r, which can then stay off the heap
	err := json.Unmarshal(data, &j)
	return j, err
}

// Member names in the order the encoders write them (and the types
// declare them).
var (
	execOrderNames   = []string{"intent", "received_at", "intent_seq", "routed", "from", "claim_seq", "refused"}
	refusalNames     = []string{"kind", "reason", "message"}
	orderRecordNames = []string{"strategy", "client_order_id", "key", "venue", "intent_seq", "route", "phase",
		"sending_at", "venue_order_id", "status", "cum_quantity", "avg_price", "trades", "seq", "intent",
		"updated_at", "reports", "cancel_seq"}
	intentNames = []string{"client_order_id", "strategy", "symbol", "side", "type", "quantity", "price",
		"time_in_force", "post_only", "reduce_only", "venue", "key", "expires_at", "tags"}
)

// scanner reads JSON in the shape the encoders write: objects whose
// members come in declared order, each at most once, with exact names
// and no white space. Every method returns false on anything else, and
// the caller then leaves the input to encoding/json: the scanner accepts
// only valid JSON, and reads it to what encoding/json would (leaf values
// are decoded by the same UnmarshalJSON methods encoding/json calls, and
// strings with escapes by encoding/json itself).
type scanner struct {
	b []byte
	i int
}

func (s *scanner) end() bool { return s.i == len(s.b) }

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object reads an object whose members are among names, in that order,
// each at most once; member(k) reads the value of names[k].
func (s *scanner) object(names []string, member func(k int) bool) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	next := 0
	for {
		name, ok := s.name()
		if !ok {
			return false
		}
		k := next
		for k < len(names) && names[k] != string(name) {
			k++
		}
		if k == len(names) || !member(k) {
			return false
		}
		next = k + 1
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// name reads a member's name and its colon: a string with no escapes.
func (s *scanner) name() ([]byte, bool) {
	tok, esc, ok := s.stringToken()
	if !ok || esc || !s.byte(':') {
		return nil, false
	}
	return tok[1 : len(tok)-1], true
}

// stringToken reads a JSON string token, quotes included; esc reports a
// backslash in it. Control characters are not valid JSON.
func (s *scanner) stringToken() (tok []byte, esc, ok bool) {
	start := s.i
	if !s.byte('"') {
		return nil, false, false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], esc, true
		case c == '\\':
			esc = true
			s.i += 2
		case c < 0x20:
			return nil, false, false
		default:
			s.i++
		}
	}
	return nil, false, false
}

func (s *scanner) str(dst *string) bool {
	tok, esc, ok := s.stringToken()
	if !ok {
		return false
	}
	if !esc {
		if t, ok := plainString(tok); ok {
			*dst = t
			return true
		}
	}
	// Through a copy, so dst (and the message it is in) need not be on
	// the heap.
	var v string
	if json.Unmarshal(tok, &v) != nil {
		return false
	}
	*dst = v
	return true
}

// word reads a string as str does; one of words is not copied from the
// input but taken as it is.
func (s *scanner) word(dst *string, words ...string) bool {
	start := s.i
	tok, esc, ok := s.stringToken()
	if ok && !esc {
		for _, w := range words {
			if string(tok[1:len(tok)-1]) == w {
				*dst = w
				return true
			}
		}
	}
	s.i = start
	return s.str(dst)
}

// numberToken reads an integer literal: -?(0|[1-9][0-9]*), not followed
// by a fraction or an exponent.
func (s *scanner) numberToken(signed bool) ([]byte, bool) {
	start := s.i
	if signed {
		s.byte('-')
	}
	digits := s.i
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
	n := s.i - digits
	if n == 0 || n > 1 && s.b[digits] == '0' {
		return nil, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return nil, false
	}
	return s.b[start:s.i], true
}

func (s *scanner) uint(dst *uint64) bool {
	tok, ok := s.numberToken(false)
	if !ok {
		return false
	}
	v, ok := digitsValue(tok, math.MaxUint64)
	*dst = v
	return ok
}

func (s *scanner) int(dst *int) bool {
	tok, ok := s.numberToken(true)
	if !ok {
		return false
	}
	if tok[0] == '-' {
		v, ok := digitsValue(tok[1:], -math.MinInt)
		*dst = int(-v)
		return ok
	}
	v, ok := digitsValue(tok, math.MaxInt)
	*dst = int(v)
	return ok
}

// digitsValue is the value of the decimal digits tok, false if it is
// more than limit (encoding/json refuses a number its field cannot hold).
func digitsValue(tok []byte, limit uint64) (uint64, bool) {
	var v uint64
	for _, c := range tok {
		d := uint64(c - '0')
		if v > (limit-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func (s *scanner) bool(dst *bool) bool {
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		*dst = true
		s.i += 4
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		*dst = false
		s.i += 5
	default:
		return false
	}
	return true
}

// dec and time read a string with the UnmarshalJSON encoding/json would
// call on it; escapes are left to encoding/json.
func (s *scanner) dec(dst *decimal.Decimal) bool {
	tok, esc, ok := s.stringToken()
	return ok && !esc && dst.UnmarshalJSON(tok) == nil
}

func (s *scanner) time(dst *time.Time) bool {
	tok, esc, ok := s.stringToken()
	return ok && !esc && dst.UnmarshalJSON(tok) == nil
}

// strings reads an array of strings.
func (s *scanner) strings(dst *[]string) bool {
	if !s.byte('[') {
		return false
	}
	out := []string{}
	if !s.byte(']') {
		for {
			var v string
			if !s.str(&v) {
				return false
			}
			out = append(out, v)
			if s.byte(']') {
				break
			}
			if !s.byte(',') {
				return false
			}
		}
	}
	*dst = out
	return true
}

// tags reads an object of strings; a name given twice keeps its last
// value, as encoding/json does.
func (s *scanner) tags(dst *map[string]string) bool {
	if !s.byte('{') {
		return false
	}
	m := map[string]string{}
	if !s.byte('}') {
		for {
			var k, v string
			if !s.str(&k) || !s.byte(':') || !s.str(&v) {
				return false
			}
			m[k] = v
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return false
			}
		}
	}
	*dst = m
	return true
}

// rawArray reads an array with encoding/json into dst.
func (s *scanner) rawArray(dst any) bool {
	start := s.i
	depth := 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			if _, _, ok := s.stringToken(); !ok {
				return false
			}
			continue
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		}
		s.i++
		if depth == 0 {
			break
		}
	}
	return depth == 0 && s.i > start && s.b[start] == '[' && json.Unmarshal(s.b[start:s.i], dst) == nil
}

func (s *scanner) execOrder(o *ExecOrder) bool {
	return s.object(execOrderNames, func(k int) bool {
		switch k {
		case 0:
			return s.intent(&o.Intent)
		case 1:
			return s.time(&o.ReceivedAt)
		case 2:
			return s.uint(&o.IntentSeq)
		case 3:
			return s.int(&o.Routed)
		case 4:
			return s.str(&o.From)
		case 5:
			return s.uint(&o.ClaimSeq)
		default:
			o.Refused = new(Refusal)
			return s.refusal(o.Refused)
		}
	})
}

func (s *scanner) refusal(r *Refusal) bool {
	return s.object(refusalNames, func(k int) bool {
		switch k {
		case 0:
			return s.str((*string)(&r.Kind))
		case 1:
			return s.str((*string)(&r.Reason))
		default:
			return s.str(&r.Message)
		}
	})
}

func (s *scanner) intent(in *OrderIntent) bool {
	return s.object(intentNames, func(k int) bool {
		switch k {
		case 0:
			return s.str(&in.ClientOrderID)
		case 1:
			return s.str(&in.Strategy)
		case 2:
			return s.str(&in.Symbol)
		case 3:
			return s.word((*string)(&in.Side), string(Buy), string(Sell))
		case 4:
			return s.word((*string)(&in.Type), string(Limit), string(Market))
		case 5:
			return s.dec(&in.Quantity)
		case 6:
			in.Price = new(decimal.Decimal)
			return s.dec(in.Price)
		case 7:
			return s.word((*string)(&in.TimeInForce), string(GTC), string(IOC), string(FOK))
		case 8:
			return s.bool(&in.PostOnly)
		case 9:
			return s.bool(&in.ReduceOnly)
		case 10:
			return s.str(&in.Venue)
		case 11:
			return s.str(&in.Key)
		case 12:
			in.ExpiresAt = new(time.Time)
			return s.time(in.ExpiresAt)
		default:
			return s.tags(&in.Tags)
		}
	})
}

func (s *scanner) orderRecord(r *OrderRecord) bool {
	return s.object(orderRecordNames, func(k int) bool {
		switch k {
		case 0:
			return s.str(&r.Strategy)
		case 1:
			return s.str(&r.ClientOrderID)
		case 2:
			return s.str(&r.Key)
		case 3:
			return s.str(&r.Venue)
		case 4:
			return s.uint(&r.IntentSeq)
		case 5:
			return s.int(&r.Route)
		case 6:
			return s.word(&r.Phase, PhaseSending, PhaseOpen, PhaseDone, PhaseHandedBack)
		case 7:
			return s.time(&r.SendingAt)
		case 8:
			return s.str(&r.VenueOrderID)
		case 9:
			return s.word((*string)(&r.Status), string(StatusNew), string(StatusPartiallyFilled), string(StatusFilled),
				string(StatusCanceled), string(StatusRejected), string(StatusExpired))
		case 10:
			return s.dec(&r.CumQuantity)
		case 11:
			return s.dec(&r.AvgPrice)
		case 12:
			return s.strings(&r.Trades)
		case 13:
			return s.uint(&r.Seq)
		case 14:
			r.Intent = new(OrderIntent)
			return s.intent(r.Intent)
		case 15:
			return s.time(&r.UpdatedAt)
		case 16:
			var reports []ExecutionReport // a copy, as in str
			ok := s.rawArray(&reports)
			r.Reports = reports
			return ok
		default:
			return s.uint(&r.CancelSeq)
		}
	})
}
