package binance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

var signatureValue = regexp.MustCompile(`signature=[0-9a-fA-F%+/=]{8,}`)

// leaks reports what of the key material or a signed request s contains.
func leaks(s string) []string {
	var out []string
	if strings.Contains(s, docSecret) {
		out = append(out, "secret")
	}
	if strings.Contains(s, docAPIKey) {
		out = append(out, "full API key")
	}
	if signatureValue.MatchString(s) {
		out = append(out, "signature")
	}
	if strings.Contains(s, "timestamp=") {
		out = append(out, "signed query")
	}
	return out
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	f := newFake(t)
	v, logs := newTestVenue(t, f, func(c *Config) { c.Timeout = 100 * time.Millisecond })
	ctx := context.Background()
	var errs []error

	// Transport failures: net/http's *url.Error quotes the URL, and a GET's
	// URL carries the signed query.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + l.Addr().String()
	l.Close()
	good := v.cfg.BaseURL
	v.cfg.BaseURL = closed
	_, err := v.Query(ctx, "BTC-USDT", "kr0000000000000000000000000000s1")
	errs = append(errs, err)
	_, err = v.Cancel(ctx, "BTC-USDT", "kr0000000000000000000000000000s1")
	errs = append(errs, err)
	v.cfg.BaseURL = good

	// A timeout on a signed GET.
	f.setHook(func(w http.ResponseWriter, r *http.Request, p url.Values) bool {
		if r.URL.Path == "/api/v3/order" {
			<-r.Context().Done()
			return true
		}
		return false
	})
	_, err = v.Query(ctx, "BTC-USDT", "kr0000000000000000000000000000s1")
	errs = append(errs, err)
	_, err = v.Place(ctx, limitOrder("kr0000000000000000000000000000s2", "buy", "0.001", "20000"))
	errs = append(errs, err)

	// A proxy page echoing the request.
	f.setHook(func(w http.ResponseWriter, r *http.Request, p url.Values) bool {
		if r.URL.Path == "/api/v3/order" {
			http.Error(w, "bad gateway for "+r.URL.String(), http.StatusBadGateway)
			return true
		}
		return false
	})
	_, err = v.Query(ctx, "BTC-USDT", "kr0000000000000000000000000000s1")
	errs = append(errs, err)

	// The key refused.
	f.setHook(answer(401, `{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}`, nil))
	_, err = v.Place(ctx, limitOrder("kr0000000000000000000000000000s3", "buy", "0.001", "20000"))
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if l := leaks(s); l != nil {
				t.Errorf("case %d: error leaks %v: %s", i, l, s)
			}
		}
	}
	v.Close()
	out := logs.String()
	if !strings.Contains(out, `"api_key":"vmPUZE…"`) {
		t.Errorf("no key hint in the invalid-key log line:\n%s", out)
	}
	if l := leaks(out); l != nil {
		t.Errorf("logs leak %v:\n%s", l, out)
	}
}

func TestConfigPrintsRedacted(t *testing.T) {
	c := Config{BaseURL: TestnetBaseURL, APIKey: docAPIKey, Secret: []byte(docSecret), Logger: zerolog.Nop()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		s := fmt.Sprintf(verb, c)
		if strings.Contains(s, docSecret) || strings.Contains(s, docAPIKey) || !strings.Contains(s, "<redacted>") {
			t.Errorf("%s: %s", verb, s)
		}
	}
	if s := fmt.Sprint(&c); strings.Contains(s, docSecret) {
		t.Errorf("pointer: %s", s)
	}
	if s := fmt.Sprint([]Config{c}); strings.Contains(s, docSecret) {
		t.Errorf("slice: %s", s)
	}
}

func TestConfigErrorsNeverQuoteTheSecret(t *testing.T) {
	for _, c := range []Config{
		{APIKey: docAPIKey, Secret: []byte(docSecret), KeyType: KeyEd25519},
		{APIKey: docAPIKey, Secret: []byte(docSecret), KeyType: "rsa"},
	} {
		_, err := New(context.Background(), c)
		if err == nil || strings.Contains(err.Error(), docSecret) {
			t.Errorf("New: %v", err)
		}
	}
}
