package messages

import (
	"slices"
	"strconv"
	"time"
)

// AppendJSON appends o's JSON to dst: byte for byte what encoding/json
// writes for it, without reflection. The router writes one per intent
// (its claim) and the executor reads it back;
// TestExecOrderEncodingMatchesEncodingJSON keeps the two equal.
func (o *ExecOrder) AppendJSON(dst []byte) []byte {
	b := appendIntent(append(dst, `{"intent":`...), &o.Intent)
	b = appendTime(append(b, `,"received_at":`...), o.ReceivedAt)
	b = strconv.AppendUint(append(b, `,"intent_seq":`...), o.IntentSeq, 10)
	if o.Routed != 0 {
		b = strconv.AppendInt(append(b, `,"routed":`...), int64(o.Routed), 10)
	}
	b = optString(b, `,"from":`, o.From)
	if o.ClaimSeq != 0 {
		b = strconv.AppendUint(append(b, `,"claim_seq":`...), o.ClaimSeq, 10)
	}
	if r := o.Refused; r != nil {
		b = appendString(append(b, `,"refused":{"kind":`...), string(r.Kind))
		b = appendString(append(b, `,"reason":`...), string(r.Reason))
		b = appendString(append(b, `,"message":`...), r.Message)
		b = append(b, '}')
	}
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler with AppendJSON, refusing the
// times encoding/json refuses.
func (o ExecOrder) MarshalJSON() ([]byte, error) {
	if err := o.checkTimes(); err != nil {
		return nil, err
	}
	return o.AppendJSON(make([]byte, 0, 384)), nil
}

func (o *ExecOrder) checkTimes() error {
	if err := jsonTimeErr("received_at", o.ReceivedAt); err != nil {
		return err
	}
	if o.Intent.ExpiresAt != nil {
		return jsonTimeErr("intent.expires_at", *o.Intent.ExpiresAt)
	}
	return nil
}

// AppendJSON appends r's JSON to dst: byte for byte what encoding/json
// writes for it, without reflection. Executors write a record at least
// twice per order; TestOrderRecordEncodingMatchesEncodingJSON keeps the
// two equal.
func (r *OrderRecord) AppendJSON(dst []byte) []byte {
	b := appendString(append(dst, `{"strategy":`...), r.Strategy)
	b = appendString(append(b, `,"client_order_id":`...), r.ClientOrderID)
	b = appendString(append(b, `,"key":`...), r.Key)
	b = optString(b, `,"venue":`, r.Venue)
	b = strconv.AppendUint(append(b, `,"intent_seq":`...), r.IntentSeq, 10)
	if r.Route != 0 {
		b = strconv.AppendInt(append(b, `,"route":`...), int64(r.Route), 10)
	}
	b = appendString(append(b, `,"phase":`...), r.Phase)
	if !r.SendingAt.IsZero() {
		b = appendTime(append(b, `,"sending_at":`...), r.SendingAt)
	}
	b = optString(b, `,"venue_order_id":`, r.VenueOrderID)
	b = optString(b, `,"status":`, string(r.Status))
	b = appendDecimal(append(b, `,"cum_quantity":`...), r.CumQuantity)
	if !r.AvgPrice.IsZero() {
		b = appendDecimal(append(b, `,"avg_price":`...), r.AvgPrice)
	}
	if len(r.Trades) > 0 {
		b = append(b, `,"trades":[`...)
		for i, t := range r.Trades {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	b = strconv.AppendUint(append(b, `,"seq":`...), r.Seq, 10)
	if r.Intent != nil {
		b = appendIntent(append(b, `,"intent":`...), r.Intent)
	}
	b = appendTime(append(b, `,"updated_at":`...), r.UpdatedAt)
	if len(r.Reports) > 0 {
		b = append(b, `,"reports":[`...)
		for i := range r.Reports {
			if i > 0 {
				b = append(b, ',')
			}
			b = r.Reports[i].AppendJSON(b)
		}
		b = append(b, ']')
	}
	if r.CancelSeq != 0 {
		b = strconv.AppendUint(append(b, `,"cancel_seq":`...), r.CancelSeq, 10)
	}
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler with AppendJSON, refusing the
// times encoding/json refuses.
func (r OrderRecord) MarshalJSON() ([]byte, error) {
	if err := r.checkTimes(); err != nil {
		return nil, err
	}
	return r.AppendJSON(make([]byte, 0, 512)), nil
}

func (r *OrderRecord) checkTimes() error {
	if !r.SendingAt.IsZero() {
		if err := jsonTimeErr("sending_at", r.SendingAt); err != nil {
			return err
		}
	}
	if r.Intent != nil && r.Intent.ExpiresAt != nil {
		if err := jsonTimeErr("intent.expires_at", *r.Intent.ExpiresAt); err != nil {
			return err
		}
	}
	if err := jsonTimeErr("updated_at", r.UpdatedAt); err != nil {
		return err
	}
	for i := range r.Reports {
		// As the report's own MarshalJSON checks it.
		if y := r.Reports[i].TS.Year(); y < 0 || y > 9999 {
			return &ValidationError{Field: "reports.ts", Rule: "year outside [0,9999]"}
		}
	}
	return nil
}

// appendIntent appends in's JSON as encoding/json writes it.
func appendIntent(b []byte, in *OrderIntent) []byte {
	b = appendString(append(b, `{"client_order_id":`...), in.ClientOrderID)
	b = optString(b, `,"strategy":`, in.Strategy)
	b = appendString(append(b, `,"symbol":`...), in.Symbol)
	b = appendString(append(b, `,"side":`...), string(in.Side))
	b = appendString(append(b, `,"type":`...), string(in.Type))
	b = appendDecimal(append(b, `,"quantity":`...), in.Quantity)
	if in.Price != nil {
		b = appendDecimal(append(b, `,"price":`...), *in.Price)
	}
	b = optString(b, `,"time_in_force":`, string(in.TimeInForce))
	if in.PostOnly {
		b = append(b, `,"post_only":true`...)
	}
	if in.ReduceOnly {
		b = append(b, `,"reduce_only":true`...)
	}
	b = optString(b, `,"venue":`, in.Venue)
	b = optString(b, `,"key":`, in.Key)
	if in.ExpiresAt != nil {
		b = appendTime(append(b, `,"expires_at":`...), *in.ExpiresAt)
	}
	if len(in.Tags) > 0 {
		b = appendTags(append(b, `,"tags":`...), in.Tags)
	}
	return append(b, '}')
}

// appendTags appends tags as a JSON object with its names sorted, as
// encoding/json writes a map. Up to MaxTags names are sorted on the
// stack.
func appendTags(b []byte, tags map[string]string) []byte {
	var arr [MaxTags]string
	keys := arr[:0]
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, tags[k])
	}
	return append(b, '}')
}

// appendTime appends t as time.Time's MarshalJSON does for the times it
// accepts (see jsonTimeErr).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// jsonTimeErr is the error time.Time's MarshalJSON returns for t, as a
// ValidationError of field: a year outside [0,9999] or a zone offset of
// 24 hours or more.
func jsonTimeErr(field string, t time.Time) error {
	if y := t.Year(); y < 0 || y > 9999 {
		return &ValidationError{Field: field, Rule: "year outside [0,9999]"}
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return &ValidationError{Field: field, Rule: "zone offset outside [-23:59,23:59]"}
	}
	return nil
}
