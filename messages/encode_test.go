package messages

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// plainReport has ExecutionReport's fields and tags but not its methods,
// so encoding/json encodes it by reflection.
type plainReport ExecutionReport

func TestReportEncodingMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	strs := []string{"", "a", "alpha-1", `quo"te`, `back\slash`, "tab\tnl\n", "<html>&", "ünïcode €", "\u2028\u2029", "bad\xffutf8", "\x01ctl\x1f"}
	decs := []decimal.Decimal{decimal.Zero, decimal.RequireFromString("0.000"), decimal.RequireFromString("1.5"),
		decimal.RequireFromString("-0.0001"), decimal.RequireFromString("123456789.123456789")}
	pick := func() string { return strs[rng.Intn(len(strs))] }
	dec := func() decimal.Decimal { return decs[rng.Intn(len(decs))] }
	for i := 0; i < 2000; i++ {
		r := ExecutionReport{
			Kind: ReportKind(pick()), ClientOrderID: pick(), Strategy: pick(), Symbol: pick(),
			Side: Side(pick()), Type: OrderType(pick()), Quantity: dec(), Key: pick(), Venue: pick(),
			VenueOrderID: pick(), Status: Status(pick()), CumQuantity: dec(), LeavesQuantity: dec(),
			AvgPrice: dec(), Reason: Reason(pick()), Message: pick(), Seq: uint64(rng.Intn(5)),
			TS: time.Unix(rng.Int63n(4e9), rng.Int63n(1e9)).In(time.FixedZone("z", 3600*(rng.Intn(5)-2))),
		}
		if rng.Intn(2) == 0 {
			p := dec()
			r.Price = &p
		}
		if rng.Intn(2) == 0 {
			r.Tags = map[string]string{pick(): pick(), pick(): pick(), "b": pick()}
		}
		if rng.Intn(2) == 0 {
			r.Fill = &Fill{Quantity: dec(), Price: dec(), Fee: dec(), FeeAsset: pick(), TradeID: pick(), Liquidity: Liquidity(pick())}
		}
		want, err := json.Marshal(plainReport(r))
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func BenchmarkReportEncoding(b *testing.B) {
	p := decimal.RequireFromString("60000.5")
	r := ExecutionReport{Kind: KindFill, ClientOrderID: "o-123", Strategy: "alpha", Symbol: "BTC-USDT", Side: Buy,
		Type: Limit, Quantity: decimal.RequireFromString("0.75"), Price: &p, Tags: map[string]string{"book": "mm"},
		Key: "alpha-1", Venue: "binance", VenueOrderID: "12345", Status: StatusPartiallyFilled,
		Fill:        &Fill{Quantity: decimal.RequireFromString("0.5"), Price: p, Fee: decimal.RequireFromString("0.03"), FeeAsset: "USDT", TradeID: "t1", Liquidity: Maker},
		CumQuantity: decimal.RequireFromString("0.5"), LeavesQuantity: decimal.RequireFromString("0.25"), AvgPrice: p, Seq: 2, TS: time.Now()}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = r.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(plainReport(r))
		}
	})
}
