package binance

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// paramsPayload is the signed payload of o as Place built it before
// OrderSigner: ordered params, String() decimals, url.QueryEscape, string
// concatenation, url.QueryEscape. It is the reference AppendSignedOrder
// must equal.
func paramsPayload(s signer, o executors.Order, native string, recvWindow time.Duration, ts time.Time) string {
	p := params{}.
		add("symbol", native).
		add("side", map[messages.Side]string{messages.Buy: "BUY", messages.Sell: "SELL"}[o.Side]).
		add("type", binanceType(o))
	if binanceType(o) == "LIMIT" {
		tif := "GTC"
		switch o.TimeInForce {
		case messages.IOC:
			tif = "IOC"
		case messages.FOK:
			tif = "FOK"
		}
		p = p.add("timeInForce", tif)
	}
	p = p.add("quantity", o.Quantity.String())
	if o.Type != messages.Market {
		p = p.add("price", o.Price.String())
	}
	p = p.add("newClientOrderId", o.ClientID).add("newOrderRespType", "FULL")
	var payload string
	for i, kv := range p {
		if i > 0 {
			payload += "&"
		}
		payload += url.QueryEscape(kv.k) + "=" + url.QueryEscape(kv.v)
	}
	payload += "&recvWindow=" + strconv.FormatInt(recvWindow.Milliseconds(), 10) +
		"&timestamp=" + strconv.FormatInt(ts.UnixMilli(), 10)
	return payload + "&signature=" + url.QueryEscape(s.sign(payload))
}

func TestAppendSignedOrderMatchesParams(t *testing.T) {
	hm, err := NewOrderSigner(KeyHMAC, []byte(docSecret))
	if err != nil {
		t.Fatal(err)
	}
	// Ed25519 signatures are deterministic, and their base64 needs
	// percent-encoding.
	ed, err := NewOrderSigner(KeyEd25519, ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Seed())
	if err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMilli(1_499_827_319_559).Add(123 * time.Microsecond)
	market := executors.Order{ClientID: "kr0000000000000000000000000000a1", Symbol: "BTC-USDT", Side: messages.Buy,
		Type: messages.Market, TimeInForce: messages.IOC, Quantity: d("0.01")}
	orders := map[string]executors.Order{
		"market":            market,
		"limit GTC":         limitOrder("kr0000000000000000000000000000a2", "sell", "1.50", "20000.10"),
		"limit IOC":         with(limitOrder("x", "buy", "1", "0.1"), func(o *executors.Order) { o.TimeInForce = messages.IOC }),
		"limit FOK":         with(limitOrder("x", "buy", "1", "0.1"), func(o *executors.Order) { o.TimeInForce = messages.FOK }),
		"post only":         with(limitOrder("x", "buy", "1", "0.1"), func(o *executors.Order) { o.PostOnly = true }),
		"no side":           with(market, func(o *executors.Order) { o.Side = "" }),
		"big decimals":      with(limitOrder("x", "buy", "123456789012345678901.5", "1e-20"), nil),
		"exponent":          with(market, func(o *executors.Order) { o.Quantity = decimal.New(15, 2) }),
		"negative":          with(market, func(o *executors.Order) { o.Quantity = d("-0.000100") }),
		"id to escape":      with(market, func(o *executors.Order) { o.ClientID = "a b&c=d/é+%~._-" }),
		"symbol to escape":  with(market, func(o *executors.Order) { o.Symbol = "A&B" }),
		"zero quantity":     with(market, func(o *executors.Order) { o.Quantity = decimal.Decimal{} }),
		"reduce only limit": with(limitOrder("x", "sell", "2", "3"), func(o *executors.Order) { o.ReduceOnly = true }),
	}
	for name, o := range orders {
		for sname, s := range map[string]OrderSigner{"hmac": hm, "ed25519": ed} {
			t.Run(name+"/"+sname, func(t *testing.T) {
				native := "BTCUSDT"
				if name == "symbol to escape" {
					native = o.Symbol
				}
				want := paramsPayload(s.s, o, native, 5*time.Second, ts)
				if got := string(s.AppendSignedOrder(nil, o, native, 5*time.Second, ts)); got != want {
					t.Fatalf("got  %s\nwant %s", got, want)
				}
				// Appended after what dst holds, which is not signed.
				if got := string(s.AppendSignedOrder([]byte("prefix?"), o, native, 5*time.Second, ts)); got != "prefix?"+want {
					t.Fatalf("after a prefix: got %s\nwant prefix?%s", got, want)
				}
			})
		}
	}
}

func with(o executors.Order, mut func(*executors.Order)) executors.Order {
	if mut != nil {
		mut(&o)
	}
	return o
}

// The signed payload of a GET is what the concatenations made of it.
func TestAppendSignedMatchesConcatenation(t *testing.T) {
	s, err := newSigner(KeyHMAC, []byte(docSecret))
	if err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMilli(1_700_000_000_001)
	for _, p := range []params{nil, params{}.add("symbol", "BTCUSDT").add("origClientOrderId", "kr a/b")} {
		want := p.encode()
		if want != "" {
			want += "&"
		}
		want = signPayload(s, want+"recvWindow=5000&timestamp=1700000000001")
		if got := string(appendSigned(p.appendTo(nil), 0, s, 5*time.Second, ts)); got != want {
			t.Fatalf("params %v: got %s, want %s", p, got, want)
		}
	}
}

// The pooled HMAC states sign as a fresh hmac.New does, from many
// goroutines at once (run with -race).
func TestHMACSignerConcurrentUse(t *testing.T) {
	secret := []byte(docSecret)
	s := newHMACSigner(secret)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := range 500 {
				payload := "symbol=BTCUSDT&n=" + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				m := hmac.New(sha256.New, secret)
				m.Write([]byte(payload))
				want := hex.EncodeToString(m.Sum(nil))
				buf = s.appendSignature(buf[:0], []byte(payload))
				if string(buf) != want {
					t.Errorf("goroutine %d, payload %d: got %s, want %s", g, i, buf, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	// The secret given is copied: changing it later changes nothing.
	secret[0] ^= 1
	if got, want := s.sign("a"), hmacHex([]byte(docSecret), "a"); got != want {
		t.Fatalf("after the caller changed its secret: got %s, want %s", got, want)
	}
}

func hmacHex(secret []byte, payload string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

func TestAppendQueryEscapeMatchesURL(t *testing.T) {
	for c := range 256 {
		s := "a" + string([]byte{byte(c)}) + "b"
		if got, want := string(appendQueryEscape([]byte("x"), s)), "x"+url.QueryEscape(s); got != want {
			t.Fatalf("byte %#x: got %q, want %q", c, got, want)
		}
	}
}

func FuzzAppendQueryEscape(f *testing.F) {
	for _, s := range []string{"", "BTCUSDT", "0.01", "a b&c=d/é+%~._-", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendQueryEscape([]byte("x"), s)), "x"+url.QueryEscape(s); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}

func BenchmarkAppendSignedOrder(b *testing.B) {
	o := executors.Order{ClientID: "kr0000000000000000000000000000a1", Symbol: "BTC-USDT", Side: messages.Buy,
		Type: messages.Market, TimeInForce: messages.IOC, Quantity: d("0.01")}
	ts := time.UnixMilli(1_800_000_000_000)
	hm, err := NewOrderSigner(KeyHMAC, []byte(docSecret))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("AppendSignedOrder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = hm.AppendSignedOrder(make([]byte, 0, 384), o, "BTCUSDT", 5*time.Second, ts)
		}
	})
	// What Place ran before: params, String, concatenation, hmac.New.
	var old signer = oldHMAC{[]byte(docSecret)}
	b.Run("params", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = paramsPayload(old, o, "BTCUSDT", 5*time.Second, ts)
		}
	})
}

// oldHMAC is the HMAC signer before its states were pooled.
type oldHMAC struct{ secret []byte }

func (s oldHMAC) sign(payload string) string { return hmacHex(s.secret, payload) }

func (s oldHMAC) appendSignature(dst, payload []byte) []byte {
	return append(dst, s.sign(string(payload))...)
}
