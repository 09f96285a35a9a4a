package bench

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestWritesPerMarketOrder counts the stream writes a market order costs,
// the figure the hops ratio is bounded by (BENCHMARKS.md): over 100
// market orders through one paper key that fills them at once, each
// stream's last sequence rises by one intent in ORDERS, one claim in EXEC,
// two reports (accepted, fill) in REPORTS and two records (the
// write-ahead, the final one) in ORDERSTATE, which also holds the key's
// saved budget counters (a write now and then). A change that adds or
// saves a write per order shows here.
func TestWritesPerMarketOrder(t *testing.T) {
	ka, nc, stop, err := start(t.Context(), Options{Logger: zerolog.Nop()}, []string{"w1"}, 1_000_000, 100_000,
		map[string]configs.Strategy{"w": {Keys: []string{"w1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	streams := []string{messages.StreamOrders, messages.StreamExec, messages.StreamReports, "KV_" + messages.BucketOrders}
	lastSeqs := func() map[string]uint64 {
		m := map[string]uint64{}
		for _, name := range streams {
			s, err := js.Stream(t.Context(), name)
			if err != nil {
				t.Fatalf("stream %s: %v", name, err)
			}
			m[name] = s.CachedInfo().State.LastSeq
		}
		return m
	}
	// Heard from: its executor has started (its start-up writes are done).
	bustest.WaitFor(t, "key w1 active", func() bool {
		s, seen := ka.Router().Health().State("w1", time.Now())
		return seen && s == messages.KeyActive
	})
	before := lastSeqs()
	var reports atomic.Int64
	if _, err := nc.Subscribe("reports.w.>", func(*nats.Msg) { reports.Add(1) }); err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		data := `{"client_order_id":"c` + strconv.Itoa(i) + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`
		if err := nc.Publish(messages.OrdersNewSubject("w"), []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	// Two reports an order, and every final record stored.
	bustest.WaitFor(t, "two reports an order", func() bool { return reports.Load() >= 2*n })
	bustest.WaitFor(t, "the final records", func() bool { return lastSeqs()["KV_"+messages.BucketOrders]-before["KV_"+messages.BucketOrders] >= 2*n })
	after := lastSeqs()
	per := func(name string) float64 { return float64(after[name]-before[name]) / n }
	t.Logf("writes per market order: ORDERS %.2f, EXEC %.2f, REPORTS %.2f, ORDERSTATE %.2f",
		per(messages.StreamOrders), per(messages.StreamExec), per(messages.StreamReports), per("KV_"+messages.BucketOrders))
	for name, want := range map[string]float64{messages.StreamOrders: 1, messages.StreamExec: 1, messages.StreamReports: 2} {
		if got := per(name); got != want {
			t.Errorf("%s: %.2f writes per order, want %.0f", name, got, want)
		}
	}
	if got := per("KV_" + messages.BucketOrders); got < 2 || got > 2.05 {
		t.Errorf("ORDERSTATE: %.2f writes per order, want 2 (and a few budget saves)", got)
	}
	if r := reports.Load(); r != 2*n {
		t.Errorf("%d reports for %d orders, want %d", r, n, 2*n)
	}
}
