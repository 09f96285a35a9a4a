package messages_test

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/keyrouter/keyrouter/messages"
)

// addCorpus seeds f with every JSON file under testdata/<dirs>.
func addCorpus(f *testing.F, dirs ...string) {
	f.Helper()
	for _, dir := range dirs {
		paths, err := filepath.Glob(filepath.Join("testdata", dir, "*", "*.json"))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

// checkDecodeError asserts the error contract of the decoders.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var verr *messages.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got error %T %v, want a *messages.ValidationError", err, err)
	}
	if verr.Rule == "" {
		t.Fatalf("got ValidationError %+v with an empty Rule, want a rule", verr)
	}
}

// checkSchemaAgrees asserts that the schema accepts what Go accepts, and
// that what Go alone rejects breaks one of the goOnly rules (strategy
// against the subject, decimal size).
func checkSchemaAgrees(t *testing.T, sch *jsonschema.Schema, data []byte, goErr error) {
	t.Helper()
	if longExponent.Match(data) {
		return // the validator's big.Rat would spend minutes on 1e999999999
	}
	schemaErr := validate(sch, data)
	if goErr == nil && schemaErr != nil {
		t.Fatalf("Go accepts %q, the schema does not: %v", data, schemaErr)
	}
	var verr *messages.ValidationError
	if goErr != nil && schemaErr == nil && errors.As(goErr, &verr) &&
		verr.Field != "strategy" && verr.Field != "quantity" && verr.Field != "price" {
		t.Fatalf("the schema accepts %q, Go does not: %v", data, goErr)
	}
}

var longExponent = regexp.MustCompile(`[eE][+-]?0*[0-9]{4}`)

func FuzzDecodeOrderIntent(f *testing.F) {
	addCorpus(f, "intents")
	f.Add([]byte(`{"client_order_id":"a","symbol":"A-B","side":"buy","type":"limit","quantity":1e3,"price":"1.5e-3"}`))
	sch := compileSchema(f, "order_intent.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := messages.DecodeOrderIntent(data, "alpha")
		checkSchemaAgrees(t, sch, data, err)
		if err != nil {
			checkDecodeError(t, err)
			if in.ClientOrderID != "" && !messages.ValidClientOrderID(in.ClientOrderID) {
				t.Fatalf("got client_order_id %q on error, want a valid one or none", in.ClientOrderID)
			}
			return
		}
		out, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("json.Marshal of a decoded intent: %v", err)
		}
		again, err := messages.DecodeOrderIntent(out, "alpha")
		if err != nil {
			t.Fatalf("decoding re-marshaled %s: %v", out, err)
		}
		if !intentsEqual(in, again) {
			t.Fatalf("got %+v after a round trip through %s, want %+v", again, out, in)
		}
	})
}

func FuzzDecodeCancelIntent(f *testing.F) {
	addCorpus(f, "cancels")
	f.Add([]byte(`{"client_order_id":"a","strategy":"alpha"}`))
	sch := compileSchema(f, "cancel_intent.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := messages.DecodeCancelIntent(data, "alpha")
		checkSchemaAgrees(t, sch, data, err)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("json.Marshal of a decoded cancel: %v", err)
		}
		again, err := messages.DecodeCancelIntent(out, "alpha")
		if err != nil {
			t.Fatalf("decoding re-marshaled %s: %v", out, err)
		}
		if again != c {
			t.Fatalf("got %+v after a round trip through %s, want %+v", again, out, c)
		}
	})
}

// intentsEqual compares decimals by value, times by instant, and treats an
// empty tags object like an absent one (omitempty drops it).
func intentsEqual(a, b messages.OrderIntent) bool {
	if !a.Quantity.Equal(b.Quantity) || (a.Price == nil) != (b.Price == nil) ||
		a.Price != nil && !a.Price.Equal(*b.Price) {
		return false
	}
	if (a.ExpiresAt == nil) != (b.ExpiresAt == nil) || a.ExpiresAt != nil && !a.ExpiresAt.Equal(*b.ExpiresAt) {
		return false
	}
	if !maps.Equal(a.Tags, b.Tags) {
		return false
	}
	return a.ClientOrderID == b.ClientOrderID && a.Strategy == b.Strategy && a.Symbol == b.Symbol &&
		a.Side == b.Side && a.Type == b.Type && a.TimeInForce == b.TimeInForce &&
		a.PostOnly == b.PostOnly && a.ReduceOnly == b.ReduceOnly && a.Venue == b.Venue && a.Key == b.Key
}
