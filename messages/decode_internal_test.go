package messages

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameAsUnmarshal checks that DecodeExecOrder and DecodeOrderRecord give
// what json.Unmarshal gives for data: the same value, and an error
// exactly when it returns one.
func sameAsUnmarshal(t *testing.T, data []byte) {
	t.Helper()
	var wantO ExecOrder
	wantErr := json.Unmarshal(data, &wantO)
	gotO, err := DecodeExecOrder(data)
	if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(gotO, wantO) {
		t.Fatalf("DecodeExecOrder(%q):\n got %+v, %v\nwant %+v, %v", data, gotO, err, wantO, wantErr)
	}
	var wantR OrderRecord
	wantErr = json.Unmarshal(data, &wantR)
	gotR, err := DecodeOrderRecord(data)
	if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(gotR, wantR) {
		t.Fatalf("DecodeOrderRecord(%q):\n got %+v, %v\nwant %+v, %v", data, gotR, err, wantR, wantErr)
	}
}

// mutate changes data in one of the ways a writer other than AppendJSON,
// or a broken one, could: white space, members reordered, unknown,
// repeated or differently cased, null, escapes, numbers in other forms,
// truncation, a byte changed.
func mutate(rng *rand.Rand, data []byte) []byte {
	s := string(data)
	at := func() int { return rng.Intn(len(s) + 1) }
	switch rng.Intn(14) {
	case 0:
		i := at()
		return []byte(s[:i] + []string{" ", "\n", "\t", "\r"}[rng.Intn(4)] + s[i:])
	case 1:
		return []byte(s[:at()])
	case 2:
		b := []byte(s)
		if len(b) > 0 {
			const bytes = "{}[],:\"\\0123456789-.eEtrufalsn x\xc3\xa9\x00\xff"
			b[rng.Intn(len(b))] = bytes[rng.Intn(len(bytes))]
		}
		return b
	case 3:
		return []byte(strings.Replace(s, "{", `{"unknown":[1,{"a":"b"}],`, 1+rng.Intn(3)))
	case 4:
		return []byte(strings.Replace(s, `"intent"`, `"Intent"`, 1))
	case 5:
		names := append(append(append([]string{}, execOrderNames...), orderRecordNames...), intentNames...)
		n := names[rng.Intn(len(names))]
		return []byte(strings.Replace(s, `"`+n+`":`, `"`+n+`":null,"`+n+`":`, 1))
	case 6:
		names := append(append([]string{}, orderRecordNames...), intentNames...)
		n := names[rng.Intn(len(names))]
		i := strings.Index(s, `"`+n+`":`)
		if i < 0 {
			return data
		}
		return []byte(s[:len(s)-1] + `,` + s[i:strings.IndexAny(s[i+len(n)+3:], ",}")+i+len(n)+3] + `}`)
	case 7:
		return []byte(strings.Replace(s, `":"`, `":"\u0041\/`, 1+rng.Intn(4)))
	case 8:
		for _, n := range []string{"intent_seq", "routed", "route", "seq", "claim_seq", "cancel_seq"} {
			s = strings.Replace(s, `"`+n+`":`, `"`+n+`":`+[]string{"-", "0", "1.0", "1e2", "99999999999999999999", "-9223372036854775808"}[rng.Intn(6)], 1)
		}
		return []byte(s)
	case 9:
		return []byte(strings.Replace(s, `"quantity":"`, `"quantity":`+[]string{"1.5,\"x\":\"", "\"\\u0031", "\"1e400"}[rng.Intn(3)], 1))
	case 10:
		return []byte(strings.Replace(s, `"tags":{`, `"tags":{"b":"dup","b":"last",`, 1))
	case 11:
		return []byte(strings.Replace(s, `"trades":[`, `"trades":["x",`, 1))
	case 12:
		return []byte(s + []string{" ", "x", "{}", "\n"}[rng.Intn(4)])
	}
	return []byte(strings.Replace(s, `Z"`, `+25:00"`, 1))
}

func TestInternalDecodingMatchesEncodingJSON(t *testing.T) {
	g := gen{rand.New(rand.NewSource(4))}
	for i := range 3000 {
		o := g.execOrder()
		r := g.orderRecord()
		for _, data := range [][]byte{o.AppendJSON(nil), r.AppendJSON(nil)} {
			sameAsUnmarshal(t, data)
			for range 8 {
				m := data
				for range 1 + g.rng.Intn(3) {
					m = mutate(g.rng, m)
				}
				sameAsUnmarshal(t, m)
			}
		}
		// What AppendJSON writes is read without encoding/json's
		// reflection (else the decoders would cost what it costs).
		if s := (scanner{b: o.AppendJSON(nil)}); !s.execOrder(new(ExecOrder)) || !s.end() {
			t.Fatalf("case %d: ExecOrder %s not read by the scanner", i, o.AppendJSON(nil))
		}
		if s := (scanner{b: r.AppendJSON(nil)}); !s.orderRecord(new(OrderRecord)) || !s.end() {
			t.Fatalf("case %d: OrderRecord %s not read by the scanner", i, r.AppendJSON(nil))
		}
	}
	for _, data := range []string{"", "null", "{}", "[]", `"x"`, "{", `{"intent":null}`, `{"intent":{}}`,
		`{"reports":null}`, `{"reports":[]}`, `{"reports":[{"kind":"fill","seq":1}]}`, `{"trades":[]}`,
		`{"trades":null}`, `{"intent":{"tags":{}}}`, `{"intent":{"price":null}}`, `{"routed":-0}`,
		`{"intent_seq":18446744073709551615}`, `{"intent_seq":18446744073709551616}`, `{"routed":9223372036854775807}`,
		`{"routed":9223372036854775808}`, `{"routed":-9223372036854775809}`, `{"intent":{"post_only":false}}`,
		`{"intent":{"post_only":tru}}`, `{"received_at":"2026-01-01T00:00:00Z"}x`, `{"refused":{}}`,
		`{"intent":{"symbol":"a\u0000b"}}`, `{"intent":{"symbol":"a` + "\x01" + `b"}}`, `{"intent":{"symbol":"\ud800"}}`,
		`{"intent":{"symbol":"` + "\xff" + `"}}`} {
		sameAsUnmarshal(t, []byte(data))
	}
}

// FuzzInternalDecoding: DecodeExecOrder and DecodeOrderRecord give what
// json.Unmarshal gives, whatever the input.
func FuzzInternalDecoding(f *testing.F) {
	g := gen{rand.New(rand.NewSource(5))}
	for range 20 {
		o := g.execOrder()
		r := g.orderRecord()
		f.Add(o.AppendJSON(nil))
		f.Add(r.AppendJSON(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsUnmarshal(t, bytes.Clone(data))
	})
}

// sameSplit checks splitObject against json.Unmarshal into a map of raw
// messages, for a valid JSON object.
func sameSplit(t *testing.T, data []byte) {
	t.Helper()
	if !json.Valid(data) || !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
		return
	}
	var want map[string]json.RawMessage
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%q: %v", data, err)
	}
	got := splitObject(data)
	if len(got) != len(want) {
		t.Fatalf("splitObject(%q) = %q, want %q", data, got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
			t.Fatalf("splitObject(%q)[%q] = %q, want %q", data, k, g, v)
		}
	}
}

func TestSplitObjectMatchesEncodingJSON(t *testing.T) {
	for _, data := range []string{`{}`, ` { } `, "\t{\"a\" :\n1 ,\r\"b\":[ 1, {\"c\":\"}]\\\"\"} ] }\n",
		`{"client_order_id":"x","client_order_id":"y"}`, `{"\u0063lient_order_id":"x","client_order_id":"y"}`,
		`{"a":true,"b":false,"c":null,"d":-1.5e+3,"e":"\\","f":{}}`, "{\"\xff\":1,\"\\ud800\":2}",
		`{"tags":{"a":"b","c":{"d":[]}},"x":"{\"y\":1}"}`, `{"a":1}   `, `{"é":"ü"}`} {
		sameSplit(t, []byte(data))
	}
	g := gen{rand.New(rand.NewSource(6))}
	for range 2000 {
		o, r := g.execOrder(), g.orderRecord()
		for _, data := range [][]byte{o.AppendJSON(nil), r.AppendJSON(nil), []byte(`{"tags":` + string(appendTags(nil, g.intent().Tags)) + `}`)} {
			sameSplit(t, data)
			for range 4 {
				sameSplit(t, mutate(g.rng, data))
			}
		}
	}
}

// FuzzSplitObject: splitObject splits every valid JSON object as
// json.Unmarshal does.
func FuzzSplitObject(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[{"c":"]"}],"a":" \" "}`))
	f.Add([]byte(`{"client_order_id":"x","quantity":1.5,"tags":{"a":"b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameSplit(t, data)
	})
}

// BenchmarkDecode: the two decodes of BenchmarkIntentCPU's market intent
// (its intent, then its claim), and a limit intent with a price, an
// expiry and a tag.
func BenchmarkDecode(b *testing.B) {
	market := []byte(`{"client_order_id":"bench-17","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.01"}`)
	limit := []byte(`{"client_order_id":"o-123","symbol":"BTC-USDT","side":"sell","type":"limit","quantity":"0.75",` +
		`"price":"60000.5","time_in_force":"ioc","expires_at":"2030-01-02T03:04:05.123Z","tags":{"book":"mm"}}`)
	b.Run("OrderIntent/market", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeOrderIntent(market, "alpha"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("OrderIntent/limit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeOrderIntent(limit, "alpha"); err != nil {
				b.Fatal(err)
			}
		}
	})
	in, err := DecodeOrderIntent(market, "alpha")
	if err != nil {
		b.Fatal(err)
	}
	claim := (&ExecOrder{Intent: in, ReceivedAt: time.Unix(1_800_000_000, 0), IntentSeq: 1, Routed: 1}).AppendJSON(nil)
	b.Run("ExecOrder/market", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeExecOrder(claim); err != nil {
				b.Fatal(err)
			}
		}
	})
}
