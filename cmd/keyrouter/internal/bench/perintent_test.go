package bench

import (
	"strconv"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/binance"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router"
	"github.com/shopspring/decimal"
)

// healthView is the router's view of the keys with nothing halted and no
// open notional: the state of a router that routes freely.
type healthView struct{ *router.Health }

func (healthView) Price(string) (decimal.Decimal, bool) { return decimal.Zero, false }
func (healthView) OpenNotional(string) decimal.Decimal  { return decimal.Zero }
func (healthView) HaltedStrategy(string) bool           { return false }
func (healthView) HaltedKey(string) bool                { return false }
func (v healthView) OpenOrders(key string) int          { return v.Health.OpenOrders(key) }
func (v healthView) Candidate(k string, t time.Time) router.Candidate {
	return v.Health.Candidate(k, t)
}

// published is where BenchmarkIntentCPU hands what it would publish, so
// those buffers are allocated as the router's and the executor's are
// (each kept by its NATS message), not on the stack.
var published []byte

// BenchmarkIntentCPU is the CPU one market intent costs in keyrouter's own
// code on its way from orders.new to its fill, bus and venue left out:
// the router decodes and validates it, chooses its key (policy and risk
// checks over three keys) and encodes the routed order; the executor
// decodes that, takes its budget (the Binance preset's limits), encodes
// its write-ahead record, derives the order's venue-side client ID
// (executors.VenueClientID), builds and signs the venue request with the
// code the Binance adapter's Place sends it with
// (binance.OrderSigner.AppendSignedOrder: the form body, HMAC-SHA256 over
// it, only the HTTP round trip left out), and encodes the accepted and
// fill reports and the final record. One figure for the issue's "≤ 10 µs and ≤ 20
// allocations" target: go test -run '^$' -bench IntentCPU -benchmem
// ./cmd/keyrouter/internal/bench
func BenchmarkIntentCPU(b *testing.B) {
	cfg := configs.Default()
	var strategy string
	for s := range cfg.Strategies {
		strategy = s
		break
	}
	keys := cfg.Strategies[strategy].Keys
	if len(keys) == 0 {
		b.Fatalf("the default config's strategy %s has no keys", strategy)
	}
	now := time.Unix(1_800_000_000, 0)
	h := router.NewHealth(3 * time.Second)
	for _, k := range keys {
		h.Observe(messages.KeyStatus{Key: k, State: messages.KeyActive, TS: now,
			Limits: []messages.LimitStatus{{Name: "orders_10s", Used: 1, Max: 100, Window: 10}}}, now)
	}
	v := healthView{h}
	limits, err := cfg.Keys[keys[0]].BudgetLimits()
	if err != nil {
		b.Fatal(err)
	}
	for i := range limits {
		limits[i].Max *= 1_000_000 // room for every iteration: the budget's work, not its refusals
	}
	bud, err := budget.New(limits, budget.NewGroups())
	if err != nil {
		b.Fatal(err)
	}
	signer, err := binance.NewOrderSigner(binance.KeyHMAC, []byte("a-binance-api-secret-of-64-characters-0123456789abcdef0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	fillPrice := decimal.RequireFromString("100.5")
	fee := decimal.RequireFromString("0.0001")
	var intents [][]byte
	for i := range 1024 {
		intents = append(intents, []byte(`{"client_order_id":"bench-`+strconv.Itoa(i)+`","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.01"}`))
	}
	var buf []byte
	n := 0 // bytes encoded: every encoding is used
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		at := now.Add(time.Duration(i) * time.Microsecond)
		// Router.
		in, err := messages.DecodeOrderIntent(intents[i%len(intents)], strategy)
		if err != nil {
			b.Fatal(err)
		}
		d := router.ChooseKey(cfg, v, &in, at)
		if d.Key == "" {
			b.Fatalf("intent refused: %s %s", d.Reason, d.Message)
		}
		claim := messages.ExecOrder{Intent: in, ReceivedAt: at, IntentSeq: uint64(i + 1), Routed: 1}
		routed := claim.AppendJSON(make([]byte, 0, 512))
		published = routed
		// Executor.
		eo, err := messages.DecodeExecOrder(routed)
		if err != nil {
			b.Fatal(err)
		}
		if ok, _ := bud.TryTake(at, budget.Op{Class: budget.ClassNew, Symbol: eo.Intent.Symbol}); !ok {
			b.Fatal("budget refused")
		}
		rec := messages.OrderRecord{Strategy: eo.Intent.Strategy, ClientOrderID: eo.Intent.ClientOrderID, Key: d.Key,
			Venue: "binance", IntentSeq: eo.IntentSeq, Route: 1, Phase: messages.PhaseSending, SendingAt: at,
			Intent: &eo.Intent, UpdatedAt: at}
		published = rec.AppendJSON(make([]byte, 0, 1024))
		n += len(published)
		// As the executor's venueOrder makes it (its venue-side client
		// ID derived from strategy and client_order_id), and Place signs it.
		vo := executors.Order{ClientID: executors.VenueClientID(eo.Intent.Strategy, eo.Intent.ClientOrderID), Symbol: eo.Intent.Symbol, Side: eo.Intent.Side,
			Type: eo.Intent.Type, TimeInForce: eo.Intent.TimeInForce, Quantity: eo.Intent.Quantity,
			PostOnly: eo.Intent.PostOnly, ReduceOnly: eo.Intent.ReduceOnly}
		query := signer.AppendSignedOrder(make([]byte, 0, 384), vo, "BTCUSDT", 5*time.Second, at)
		acc := messages.NewReport(&eo.Intent, messages.KindAccepted, messages.StatusNew)
		acc.Key, acc.Venue, acc.VenueOrderID, acc.Seq, acc.TS = d.Key, "binance", "12345", 1, at
		acc.LeavesQuantity = eo.Intent.Quantity
		buf = acc.AppendJSON(buf[:0])
		n += len(buf)
		fill := messages.NewReport(&eo.Intent, messages.KindFill, messages.StatusFilled)
		fill.Key, fill.Venue, fill.VenueOrderID, fill.Seq, fill.TS = d.Key, "binance", "12345", 2, at
		fill.Fill = &messages.Fill{Quantity: eo.Intent.Quantity, Price: fillPrice, Fee: fee, FeeAsset: "BNB", TradeID: "t1", Liquidity: messages.Taker}
		fill.CumQuantity, fill.AvgPrice, fill.LeavesQuantity = eo.Intent.Quantity, fillPrice, decimal.Zero
		buf = fill.AppendJSON(buf[:0])
		n += len(buf)
		rec.Phase, rec.Status, rec.VenueOrderID, rec.CumQuantity, rec.AvgPrice = messages.PhaseDone, messages.StatusFilled, "12345", eo.Intent.Quantity, fillPrice
		rec.Trades, rec.Seq = []string{"t1"}, 2
		published = rec.AppendJSON(make([]byte, 0, 1024))
		n += len(published) + len(routed) + len(query)
	}
	if n < b.N*6*64 {
		b.Fatalf("%d bytes encoded over %d intents: too few for six encodings each", n, b.N)
	}
}
