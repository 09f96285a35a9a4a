package messages_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/shopspring/decimal"

	"github.com/keyrouter/keyrouter/messages"
)

var update = flag.Bool("update", false, "rewrite the golden reports and key statuses under testdata/")

// goOnly is the explicit set of corpus files that break a rule the JSON
// Schemas cannot express: Go rejects them, the schema accepts them. Each
// such file is named *.go-only.json; the test fails if a file and this set
// disagree, or if the schema starts rejecting one (then it is no longer an
// exception and should lose its mark).
var goOnly = map[string]string{
	"intents/invalid/strategy--mismatch.go-only.json": ruleSubject,
	"cancels/invalid/strategy--mismatch.go-only.json": ruleSubject,

	"intents/invalid/quantity--number-41-characters.go-only.json":                ruleDecimalSize,
	"intents/invalid/quantity--number-1e-39.go-only.json":                        ruleDecimalSize,
	"intents/invalid/quantity--string-exponent-plain-form-too-long.go-only.json": ruleDecimalSize,
	"intents/invalid/quantity--string-exponent-too-small.go-only.json":           ruleDecimalSize,
	"intents/invalid/quantity--string-exponent-huge.go-only.json":                ruleDecimalSize,
}

const (
	ruleSubject     = "a strategy field must equal the subject's token, which a schema cannot see"
	ruleDecimalSize = "a decimal is at most 40 characters as sent and in plain notation, |exponent| <= 40: " +
		"not expressible for JSON numbers (whose literal text a schema cannot see) nor for strings in exponent notation"
)

// corpus is one directory of intents and its decoder.
type corpus struct {
	dir    string
	schema string
	decode func([]byte) error
}

var intentCorpora = []corpus{
	{"intents", "order_intent.json", func(b []byte) error { _, err := messages.DecodeOrderIntent(b, "alpha"); return err }},
	{"cancels", "cancel_intent.json", func(b []byte) error { _, err := messages.DecodeCancelIntent(b, "alpha"); return err }},
}

// compileSchema compiles one of the embedded schemas, with format
// assertions on (draft 2020-12 makes format an annotation by default).
func compileSchema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	var url string
	err := fs.WalkDir(messages.Schemas, "schema", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := messages.Schemas.ReadFile(path)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return err
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if !strings.HasSuffix(id, "/"+filepath.Base(path)) {
			t.Errorf("%s: got $id %q, want one ending in /%s", path, id, filepath.Base(path))
		}
		if filepath.Base(path) == name {
			url = id
		}
		return c.AddResource(id, doc)
	})
	if err != nil {
		t.Fatal(err)
	}
	if url == "" {
		t.Fatalf("schema %s not embedded", name)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compiling %s: %v", name, err)
	}
	return sch
}

// validate reports the schema's verdict on data; unparseable JSON is invalid.
func validate(sch *jsonschema.Schema, data []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(doc)
}

// readDir returns the files of testdata/dir/*.json by base name.
func readDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = data
	}
	return files
}

// wantField is the Field an invalid corpus file's name says Go reports:
// the part before "--", with "message" for the message as a whole.
func wantField(name string) string {
	field, _, _ := strings.Cut(name, "--")
	if field == "message" {
		return ""
	}
	return field
}

func TestIntentCorpusAgreesWithSchema(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range intentCorpora {
		sch := compileSchema(t, c.schema)
		valid, invalid := readDir(t, c.dir+"/valid"), readDir(t, c.dir+"/invalid")
		if len(valid) < 5 || len(invalid) < 15 {
			t.Fatalf("%s: got %d valid and %d invalid files, want a real corpus", c.dir, len(valid), len(invalid))
		}
		for name, data := range valid {
			t.Run(c.dir+"/valid/"+name, func(t *testing.T) {
				if err := c.decode(data); err != nil {
					t.Errorf("Go: got error %v, want none", err)
				}
				if err := validate(sch, data); err != nil {
					t.Errorf("schema: got error %v, want none", err)
				}
			})
		}
		for name, data := range invalid {
			path := c.dir + "/invalid/" + name
			seen[path] = true
			t.Run(path, func(t *testing.T) {
				err := c.decode(data)
				var verr *messages.ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("Go: got error %v, want a *ValidationError", err)
				}
				if got, want := verr.Field, wantField(name); got != want {
					t.Errorf("Go: got Field %q (%v), want %q", got, err, want)
				}
				schemaErr := validate(sch, data)
				reason, exception := goOnly[path]
				switch {
				case exception != strings.Contains(name, ".go-only."):
					t.Errorf("a file is named *.go-only.json exactly when it is in goOnly; got listed=%v", exception)
				case exception && schemaErr != nil:
					t.Errorf("schema: got error %v for a Go-only rule (%s); the schema now expresses it, so drop the exception", schemaErr, reason)
				case !exception && schemaErr == nil:
					t.Errorf("schema: got valid, want invalid (Go says %v)", err)
				}
			})
		}
	}
	for path := range goOnly {
		if !seen[path] {
			t.Errorf("goOnly lists %s, which is not in the corpus", path)
		}
	}
}

// TestInvalidIntentRejectionMatchesSchema checks that the rejection the
// router builds from whatever DecodeOrderIntent returned on error (strategy
// from the subject, leaves 0) fits execution_report.json.
func TestInvalidIntentRejectionMatchesSchema(t *testing.T) {
	sch := compileSchema(t, "execution_report.json")
	for name, data := range readDir(t, "intents/invalid") {
		t.Run(name, func(t *testing.T) {
			in, err := messages.DecodeOrderIntent(data, "alpha")
			if err == nil {
				t.Fatal("got no error, want one")
			}
			rep := messages.ExecutionReport{
				Kind: messages.KindRejected, ClientOrderID: in.ClientOrderID, Strategy: "alpha",
				Symbol: in.Symbol, Side: in.Side, Type: in.Type, Quantity: in.Quantity, Price: in.Price,
				Tags: in.Tags, Status: messages.StatusRejected, Reason: messages.ReasonInvalid,
				Message: err.Error(), Seq: 1, TS: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
			}
			out := mustMarshal(t, rep)
			if err := validate(sch, out); err != nil {
				t.Errorf("schema: got error %v for %s, want none", err, out)
			}
		})
	}
}

// TestInvalidCancelRejectionMatchesSchema does the same for the
// cancel_rejected the router publishes for an invalid cancel.
func TestInvalidCancelRejectionMatchesSchema(t *testing.T) {
	sch := compileSchema(t, "execution_report.json")
	for name, data := range readDir(t, "cancels/invalid") {
		t.Run(name, func(t *testing.T) {
			c, err := messages.DecodeCancelIntent(data, "alpha")
			if err == nil {
				t.Fatal("got no error, want one")
			}
			rep := messages.ExecutionReport{
				Kind: messages.KindCancelRejected, ClientOrderID: c.ClientOrderID, Strategy: "alpha",
				Reason: messages.ReasonInvalid, Message: err.Error(), TS: ts,
			}
			out := mustMarshal(t, rep)
			if err := validate(sch, out); err != nil {
				t.Errorf("schema: got error %v for %s, want none", err, out)
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return append(out, '\n')
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decp(s string) *decimal.Decimal { d := dec(s); return &d }

var ts = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)

// goldenReports are reports as keyrouter builds them; each is marshaled,
// checked against execution_report.json and compared with
// testdata/reports/valid/<name>.json.
func goldenReports() map[string]messages.ExecutionReport {
	limit := messages.ExecutionReport{
		ClientOrderID: "o-1", Strategy: "alpha", Symbol: "BTC-USDT", Side: messages.Buy,
		Type: messages.Limit, Quantity: dec("0.5"), Price: decp("65000.1"),
		Tags: map[string]string{"desk": "arb"}, Key: "alpha-1", Venue: "paper",
	}
	with := func(f func(r *messages.ExecutionReport)) messages.ExecutionReport {
		r := limit
		f(&r)
		return r
	}
	return map[string]messages.ExecutionReport{
		"accepted": with(func(r *messages.ExecutionReport) {
			r.Kind, r.Status, r.VenueOrderID, r.LeavesQuantity, r.Seq, r.TS = messages.KindAccepted, messages.StatusNew, "V123", dec("0.5"), 1, ts
		}),
		"fill-partial": with(func(r *messages.ExecutionReport) {
			r.Kind, r.Status, r.VenueOrderID, r.Seq, r.TS = messages.KindFill, messages.StatusPartiallyFilled, "V123", 2, ts
			r.Fill = &messages.Fill{Quantity: dec("0.2"), Price: dec("65000.1"), Fee: dec("-0.0013"), FeeAsset: "USDT", TradeID: "T9", Liquidity: messages.Maker}
			r.CumQuantity, r.LeavesQuantity, r.AvgPrice = dec("0.2"), dec("0.3"), dec("65000.1")
		}),
		"fill-last": with(func(r *messages.ExecutionReport) {
			r.Kind, r.Status, r.VenueOrderID, r.Seq, r.TS = messages.KindFill, messages.StatusFilled, "V123", 3, ts
			r.Fill = &messages.Fill{Quantity: dec("0.3"), Price: dec("65000"), Fee: dec("0.0195"), FeeAsset: "USDT", TradeID: "T10", Liquidity: messages.Taker}
			r.CumQuantity, r.AvgPrice = dec("0.5"), dec("65000.04")
		}),
		"canceled": with(func(r *messages.ExecutionReport) {
			r.Kind, r.Status, r.VenueOrderID, r.Seq, r.TS = messages.KindCanceled, messages.StatusCanceled, "V123", 2, ts
		}),
		"expired": with(func(r *messages.ExecutionReport) {
			r.Kind, r.Status, r.Seq, r.TS = messages.KindExpired, messages.StatusExpired, 1, ts
			r.Key, r.Venue = "", ""
			r.Reason, r.Message = messages.ReasonExpired, "the budget of every key is spent until after expires_at"
		}),
		"rejected-venue": with(func(r *messages.ExecutionReport) {
			r.Kind, r.Status, r.Seq, r.TS = messages.KindRejected, messages.StatusRejected, 2, ts
			r.Reason, r.Message = messages.ReasonVenueRejected, "-2010: Account has insufficient balance"
		}),
		"rejected-duplicate": with(func(r *messages.ExecutionReport) {
			r.Kind, r.Status, r.Seq, r.TS = messages.KindRejected, messages.StatusRejected, 0, ts
			r.Key, r.Venue = "", ""
			r.Reason, r.Message = messages.ReasonDuplicate, "client_order_id o-1 was used before"
		}),
		"rejected-invalid": {
			Kind: messages.KindRejected, Strategy: "alpha", Status: messages.StatusRejected,
			Reason: messages.ReasonInvalid, Message: "message is not valid JSON: unexpected end of JSON input", Seq: 1, TS: ts,
		},
		"cancel-rejected": {
			Kind: messages.KindCancelRejected, ClientOrderID: "o-1", Strategy: "alpha", Key: "alpha-1", Venue: "paper",
			Reason: messages.ReasonTooLateToCancel, Message: "order o-1 is filled", TS: ts,
		},
	}
}

func goldenStatuses() map[string]messages.KeyStatus {
	until := ts.Add(30 * time.Second)
	return map[string]messages.KeyStatus{
		"active": {
			Key: "alpha-1", Venue: "paper", State: messages.KeyActive, QueueDepth: 3, Worker: "host-a-4711", TS: ts,
			Limits: []messages.LimitStatus{
				{Name: "ORDERS_10S", Used: 41, Max: 49, Window: 10, ResetsIn: 2.5},
				{Name: "REQUEST_WEIGHT_1M", Used: 1180, Max: 1176, Window: 60, ResetsIn: 0.004},
			},
		},
		"busy": {
			Key: "alpha-3", Venue: "paper", State: messages.KeyActive, QueueDepth: 100, Worker: "host-a-4711", TS: ts,
			Limits:   []messages.LimitStatus{{Name: "orders", Used: 100, Max: 100, Window: 1, ResetsIn: 0.25}},
			Capacity: []messages.CapacityPoint{{InMS: 1250, OrdersBefore: 0}, {InMS: 2250, OrdersBefore: 100}, {InMS: 3000, OrdersBefore: 200}},
		},
		"throttled": {
			Key: "alpha-2", Venue: "paper", State: messages.KeyThrottled, Worker: "host-b-1", Until: &until, TS: ts,
			Limits: []messages.LimitStatus{},
		},
		"down": {
			Key: "beta-1", Venue: "binance", State: messages.KeyDown, Worker: "host-c-9",
			Message: "venue unreachable: dial tcp: i/o timeout", TS: ts,
		},
	}
}

func TestGoldenMessagesMatchSchema(t *testing.T) {
	checkGolden(t, "execution_report.json", "reports", goldenReports())
	checkGolden(t, "key_status.json", "keystatus", goldenStatuses())
}

func checkGolden[M any](t *testing.T, schema, dir string, msgs map[string]M) {
	t.Helper()
	sch := compileSchema(t, schema)
	golden := readDir(t, dir+"/valid")
	for name, m := range msgs {
		t.Run(dir+"/"+name, func(t *testing.T) {
			out := mustMarshal(t, m)
			if err := validate(sch, out); err != nil {
				t.Errorf("schema: got error %v for %s, want none", err, out)
			}
			file := filepath.Join("testdata", dir, "valid", name+".json")
			if *update {
				if err := os.WriteFile(file, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := golden[name+".json"]; !bytes.Equal(out, want) {
				t.Errorf("got\n%s\nwant (%s, rerun with -update if the change is meant)\n%s", out, file, want)
			}
		})
	}
	if !*update && len(golden) != len(msgs) {
		t.Errorf("got %d golden files in testdata/%s/valid, want %d", len(golden), dir, len(msgs))
	}
	for name, data := range readDir(t, dir+"/invalid") {
		t.Run(dir+"/invalid/"+name, func(t *testing.T) {
			if err := validate(sch, data); err == nil {
				t.Errorf("schema: got valid, want invalid")
			}
		})
	}
}

func TestDecodeOrderIntentDecimals(t *testing.T) {
	const order = `{"client_order_id":"o-1","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":%s,"price":"1"}`
	tests := []struct {
		name, quantity string
		want           string // String() and the JSON string written back
	}{
		{"number literal kept exactly", `0.1000000000000000055511151231257827`, "0.1000000000000000055511151231257827"},
		{"number integer", `3`, "3"},
		{"number exponent", `1e-3`, "0.001"},
		{"number upper-case exponent with sign", `2.5E+2`, "250"},
		{"string", `"0.5"`, "0.5"},
		{"string trailing zeros", `"1.50"`, "1.5"},
		{"string leading zeros", `"007"`, "7"},
		{"string exponent", `"15e-1"`, "1.5"},
		{"40 digits in plain form", `"1e39"`, "1" + strings.Repeat("0", 39)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := messages.DecodeOrderIntent(fmt.Appendf(nil, order, tt.quantity), "alpha")
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got := in.Quantity.String(); got != tt.want {
				t.Errorf("got quantity %s, want %s", got, tt.want)
			}
			out, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			if want := `"quantity":"` + tt.want + `"`; !bytes.Contains(out, []byte(want)) {
				t.Errorf("got %s, want it to contain %s", out, want)
			}
		})
	}
}

func TestDecodeOrderIntentDefaults(t *testing.T) {
	tests := []struct {
		name, data string
		want       messages.TimeInForce
	}{
		{"limit defaults to gtc", `{"client_order_id":"a","symbol":"A-B","side":"buy","type":"limit","quantity":"1","price":"1"}`, messages.GTC},
		{"market defaults to ioc", `{"client_order_id":"a","symbol":"A-B","side":"sell","type":"market","quantity":"1"}`, messages.IOC},
		{"limit keeps fok", `{"client_order_id":"a","symbol":"A-B","side":"buy","type":"limit","quantity":"1","price":"1","time_in_force":"fok"}`, messages.FOK},
		{"market keeps fok", `{"client_order_id":"a","symbol":"A-B","side":"buy","type":"market","quantity":"1","time_in_force":"fok"}`, messages.FOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := messages.DecodeOrderIntent([]byte(tt.data), "alpha")
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if in.TimeInForce != tt.want {
				t.Errorf("got time_in_force %q, want %q", in.TimeInForce, tt.want)
			}
			if in.Strategy != "alpha" {
				t.Errorf("got strategy %q, want the subject's %q", in.Strategy, "alpha")
			}
		})
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, data   string
		field        string
		errContains  string
		clientOrder  string // ClientOrderID returned with the error
		decodeCancel bool
	}{
		{"unknown field", `{"client_order_id":"o-1","symbol":"BTC-USDT","side":"buy","type":"limit","quantiy":"1","price":"1"}`,
			"quantiy", "quantiy: unknown field", "o-1", false},
		{"rule broken keeps a valid id", `{"client_order_id":"o-1","symbol":"BTC-USDT","side":"BUY","type":"limit","quantity":"1","price":"1"}`,
			"side", "side: must be buy or sell", "o-1", false},
		{"invalid id is not returned", `{"client_order_id":"o.1","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"1","price":"1"}`,
			"client_order_id", "client_order_id: must match", "", false},
		{"wrong JSON type", `{"client_order_id":"o-1","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":true,"price":"1"}`,
			"quantity", "quantity: must be a decimal", "o-1", false},
		{"strategy of another subject", `{"client_order_id":"o-1","strategy":"beta","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"1"}`,
			"strategy", `"beta" does not match the subject's strategy "alpha"`, "o-1", false},
		{"tag value", `{"client_order_id":"o-1","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"1","tags":{"a":"x","b":2,"c":3}}`,
			"tags.b", "tags.b: must be a string", "o-1", false},
		{"not an object", `[]`, "", "message is not a JSON object", "", false},
		{"cancel unknown field", `{"client_order_id":"o-1","reason":"x"}`, "reason", "reason: unknown field", "o-1", true},
		{"cancel strategy", `{"client_order_id":"o-1","strategy":""}`, "strategy", `"" does not match`, "o-1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			var id string
			if tt.decodeCancel {
				var c messages.CancelIntent
				c, err = messages.DecodeCancelIntent([]byte(tt.data), "alpha")
				id = c.ClientOrderID
			} else {
				var in messages.OrderIntent
				in, err = messages.DecodeOrderIntent([]byte(tt.data), "alpha")
				id = in.ClientOrderID
			}
			var verr *messages.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("got error %v, want a *ValidationError", err)
			}
			if verr.Field != tt.field {
				t.Errorf("got Field %q, want %q", verr.Field, tt.field)
			}
			if !strings.Contains(err.Error(), tt.errContains) {
				t.Errorf("got message %q, want it to contain %q", err.Error(), tt.errContains)
			}
			if id != tt.clientOrder {
				t.Errorf("got client_order_id %q with the error, want %q", id, tt.clientOrder)
			}
		})
	}
}
