package messages

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// plainExecOrder and plainOrderRecord have their types' fields and tags
// but not their methods, so encoding/json encodes them by reflection.
type (
	plainExecOrder   ExecOrder
	plainOrderRecord OrderRecord
)

// gen makes random values of the internal messages, with strings that
// need escaping, decimals that are zero in several forms, times in
// several zones, and optional fields present or not.
type gen struct{ rng *rand.Rand }

var (
	genStrs = []string{"", "a", "alpha-1", `quo"te`, `back\slash`, "tab\tnl\n", "<html>&", "ünïcode €",
		"\u2028\u2029", "bad\xffutf8", "\x01ctl\x1f", "BTC-USDT", "buy", "market", "ioc", "done", "filled", "Sell"}
	genDecs = []string{"0", "0.000", "1.5", "-0.0001", "123456789.123456789", "1e-8", "60000"}
)

func (g gen) str() string { return genStrs[g.rng.Intn(len(genStrs))] }
func (g gen) dec() decimal.Decimal {
	return decimal.RequireFromString(genDecs[g.rng.Intn(len(genDecs))])
}
func (g gen) maybe() bool { return g.rng.Intn(2) == 0 }

// time is a time that time.Time's MarshalJSON accepts (year in [0,9999]),
// now and then the zero time.
func (g gen) time() time.Time {
	if g.rng.Intn(8) == 0 {
		return time.Time{}
	}
	t := time.Unix(g.rng.Int63n(253402300799+62135596800)-62135596800, g.rng.Int63n(1e9))
	switch g.rng.Intn(4) {
	case 0:
		return t.UTC()
	case 1:
		return t.Truncate(time.Second).In(time.FixedZone("z", 60*(g.rng.Intn(2*24*60-1)-(24*60-1))))
	case 2:
		return t.Round(time.Millisecond).In(time.FixedZone("", 0))
	}
	return t.In(time.Local)
}

func (g gen) intent() OrderIntent {
	in := OrderIntent{ClientOrderID: g.str(), Strategy: g.str(), Symbol: g.str(), Side: Side(g.str()),
		Type: OrderType(g.str()), Quantity: g.dec(), TimeInForce: TimeInForce(g.str()), PostOnly: g.maybe(),
		ReduceOnly: g.maybe(), Venue: g.str(), Key: g.str()}
	if g.maybe() {
		p := g.dec()
		in.Price = &p
	}
	if g.maybe() {
		t := g.time()
		in.ExpiresAt = &t
	}
	switch g.rng.Intn(4) {
	case 0:
		in.Tags = map[string]string{}
	case 1:
		in.Tags = map[string]string{g.str(): g.str(), g.str(): g.str(), "b": g.str()}
	case 2:
		in.Tags = map[string]string{}
		for range MaxTags + 2 { // more than the stack holds
			in.Tags[g.str()+g.str()+g.str()] = g.str()
		}
	}
	return in
}

func (g gen) execOrder() ExecOrder {
	o := ExecOrder{Intent: g.intent(), ReceivedAt: g.time(), IntentSeq: uint64(g.rng.Int63()) >> g.rng.Intn(64),
		Routed: g.rng.Intn(4) - 1, From: g.str(), ClaimSeq: uint64(g.rng.Intn(3))}
	if g.maybe() {
		o.Refused = &Refusal{Kind: ReportKind(g.str()), Reason: Reason(g.str()), Message: g.str()}
	}
	return o
}

func (g gen) report() ExecutionReport {
	r := ExecutionReport{Kind: ReportKind(g.str()), ClientOrderID: g.str(), Strategy: g.str(), Symbol: g.str(),
		Quantity: g.dec(), Status: Status(g.str()), CumQuantity: g.dec(), LeavesQuantity: g.dec(),
		Reason: Reason(g.str()), Message: g.str(), Seq: uint64(g.rng.Intn(5)), TS: g.time()}
	if g.maybe() {
		r.Fill = &Fill{Quantity: g.dec(), Price: g.dec(), Fee: g.dec(), FeeAsset: g.str(), TradeID: g.str()}
	}
	return r
}

func (g gen) orderRecord() OrderRecord {
	r := OrderRecord{Strategy: g.str(), ClientOrderID: g.str(), Key: g.str(), Venue: g.str(),
		IntentSeq: uint64(g.rng.Int63()), Route: g.rng.Intn(3), Phase: g.str(), SendingAt: g.time(),
		VenueOrderID: g.str(), Status: Status(g.str()), CumQuantity: g.dec(), AvgPrice: g.dec(),
		Seq: uint64(g.rng.Intn(5)), UpdatedAt: g.time(), CancelSeq: uint64(g.rng.Intn(3))}
	for range g.rng.Intn(4) {
		r.Trades = append(r.Trades, g.str())
	}
	if g.rng.Intn(8) == 0 {
		r.Trades = []string{}
	}
	if g.maybe() {
		in := g.intent()
		r.Intent = &in
	}
	for range g.rng.Intn(3) {
		r.Reports = append(r.Reports, g.report())
	}
	return r
}

func TestExecOrderEncodingMatchesEncodingJSON(t *testing.T) {
	g := gen{rand.New(rand.NewSource(1))}
	for i := range 5000 {
		o := g.execOrder()
		want, err := json.Marshal(plainExecOrder(o))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got := o.AppendJSON([]byte("x")); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("case %d: AppendJSON\n got %s\nwant x%s", i, got, want)
		}
		got, err := json.Marshal(o)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("case %d: json.Marshal\n got %s, %v\nwant %s", i, got, err, want)
		}
	}
}

func TestOrderRecordEncodingMatchesEncodingJSON(t *testing.T) {
	g := gen{rand.New(rand.NewSource(2))}
	for i := range 5000 {
		r := g.orderRecord()
		want, err := json.Marshal(plainOrderRecord(r))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got := r.AppendJSON([]byte("x")); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("case %d: AppendJSON\n got %s\nwant x%s", i, got, want)
		}
		got, err := json.Marshal(&r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("case %d: json.Marshal\n got %s, %v\nwant %s", i, got, err, want)
		}
	}
}

// TestInternalEncodingRefusesWhatEncodingJSONRefuses: times that
// time.Time's MarshalJSON refuses make MarshalJSON fail too, wherever
// they are.
func TestInternalEncodingRefusesWhatEncodingJSONRefuses(t *testing.T) {
	bad := []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -24*3600-59)),
	}
	edge := []time.Time{
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600-1)),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -24*3600+1)),
	}
	check := func(name string, v, plain any) {
		t.Helper()
		want, wantErr := json.Marshal(plain)
		got, err := json.Marshal(v)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("%s: got %s, %v; want %s, %v", name, got, err, want, wantErr)
		}
	}
	for _, tm := range append(bad, edge...) {
		name := tm.String()
		o := ExecOrder{ReceivedAt: tm}
		check(name+" received_at", o, plainExecOrder(o))
		o = ExecOrder{Intent: OrderIntent{ExpiresAt: &tm}}
		check(name+" expires_at", o, plainExecOrder(o))
		for _, r := range []OrderRecord{{SendingAt: tm}, {UpdatedAt: tm}, {Intent: &OrderIntent{ExpiresAt: &tm}},
			{Reports: []ExecutionReport{{}, {TS: tm}}}} {
			check(name+" record", r, plainOrderRecord(r))
		}
	}
}

// FuzzInternalEncoding: whatever encoding/json decodes into an ExecOrder
// or an OrderRecord, AppendJSON writes as encoding/json does.
func FuzzInternalEncoding(f *testing.F) {
	g := gen{rand.New(rand.NewSource(3))}
	for range 20 {
		o := g.execOrder()
		r := g.orderRecord()
		f.Add(o.AppendJSON(nil))
		f.Add(r.AppendJSON(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var o ExecOrder
		if json.Unmarshal(data, (*plainExecOrder)(&o)) == nil {
			if want, err := json.Marshal(plainExecOrder(o)); err == nil {
				if got := o.AppendJSON(nil); !bytes.Equal(got, want) {
					t.Fatalf("ExecOrder of %q:\n got %s\nwant %s", data, got, want)
				}
			}
		}
		var r OrderRecord
		if json.Unmarshal(data, (*plainOrderRecord)(&r)) == nil {
			if want, err := json.Marshal(plainOrderRecord(r)); err == nil {
				if got := r.AppendJSON(nil); !bytes.Equal(got, want) {
					t.Fatalf("OrderRecord of %q:\n got %s\nwant %s", data, got, want)
				}
			}
		}
	})
}

func BenchmarkInternalEncoding(b *testing.B) {
	p := decimal.RequireFromString("60000.5")
	exp := time.Now().Add(time.Minute)
	in := OrderIntent{ClientOrderID: "o-123", Strategy: "alpha", Symbol: "BTC-USDT", Side: Buy, Type: Limit,
		Quantity: decimal.RequireFromString("0.75"), Price: &p, TimeInForce: GTC, ExpiresAt: &exp,
		Tags: map[string]string{"book": "mm"}}
	o := ExecOrder{Intent: in, ReceivedAt: time.Now(), IntentSeq: 12345, Routed: 1}
	r := OrderRecord{Strategy: "alpha", ClientOrderID: "o-123", Key: "alpha-1", Venue: "binance", IntentSeq: 12345,
		Route: 1, Phase: PhaseDone, SendingAt: time.Now(), VenueOrderID: "98765", Status: StatusFilled,
		CumQuantity: in.Quantity, AvgPrice: p, Trades: []string{"t1"}, Seq: 2, Intent: &in, UpdatedAt: time.Now()}
	b.Run("ExecOrder/AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = o.AppendJSON(buf[:0])
		}
	})
	b.Run("ExecOrder/encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(plainExecOrder(o))
		}
	})
	b.Run("OrderRecord/AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = r.AppendJSON(buf[:0])
		}
	})
	b.Run("OrderRecord/encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(plainOrderRecord(r))
		}
	})
	eoData, recData := o.AppendJSON(nil), r.AppendJSON(nil)
	b.Run("ExecOrder/Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeExecOrder(eoData); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ExecOrder/json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var o ExecOrder
			if err := json.Unmarshal(eoData, &o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("OrderRecord/Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeOrderRecord(recData); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("OrderRecord/json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r OrderRecord
			if err := json.Unmarshal(recData, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestAppendDecimalTextMatchesString(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	check := func(d decimal.Decimal) {
		t.Helper()
		if got, want := string(AppendDecimalText(nil, d)), d.String(); got != want {
			t.Fatalf("AppendDecimalText(%s, exp %d) = %s, want %s", want, d.Exponent(), got, want)
		}
	}
	for _, s := range []string{"0", "0.000", "-0.0", "1", "-1", "10", "1.50", "0.01", "-0.000100", "123456789.123456789",
		"999999999999999999", "-999999999999999999", "1000000000000000000", "0.000000000000000001", "1e-18", "1e-19",
		"9223372036854775807", "-9223372036854775808", "1e3", "1.5e2", "100000000000000000000.5"} {
		check(decimal.RequireFromString(s))
	}
	check(decimal.Decimal{})
	for range 100000 {
		v := rng.Int63() >> rng.Intn(63)
		if rng.Intn(2) == 0 {
			v = -v
		}
		check(decimal.New(v, int32(rng.Intn(26)-22)))
	}
}

// FuzzAppendDecimalText: any decimal, parsed from text or made from a
// coefficient and an exponent, is appended as String writes it.
func FuzzAppendDecimalText(f *testing.F) {
	for _, s := range []string{"0", "-0.0", "0.01", "1.50", "-0.000100", "123456789.123456789", "1e-19", "1e3",
		"9223372036854775807", "-9223372036854775808", "100000000000000000000.5"} {
		f.Add(s, int64(0), int32(0))
	}
	f.Add("", int64(-12345), int32(-3))
	f.Add("", int64(999999999999999999), int32(-18))
	f.Fuzz(func(t *testing.T, s string, v int64, exp int32) {
		check := func(d decimal.Decimal) {
			if got, want := string(AppendDecimalText([]byte("x"), d)), "x"+d.String(); got != want {
				t.Fatalf("AppendDecimalText(%s, exp %d) = %s, want %s", want[1:], d.Exponent(), got[1:], want[1:])
			}
		}
		if d, err := decimal.NewFromString(s); err == nil && d.Exponent() >= -MaxDecimalExp && d.Exponent() <= MaxDecimalExp {
			check(d)
		}
		check(decimal.New(v, exp%(MaxDecimalExp+1)))
	})
}
