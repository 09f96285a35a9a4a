package bench

import (
	"strconv"
	"sync"
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
// the figure the hops ratio is bounded by (BENCHMARKS.md). Over 100 market
// orders through one paper key that fills them at once, each stream's last
// sequence rises by one intent in ORDERS, one claim in EXEC and two
// reports (accepted, fill) in REPORTS an order. ORDERSTATE gets two
// records an order (the write-ahead, the final one), or three when the
// fill is heard after the venue's answer to the Place (the accepted state
// is recorded in between), plus the key's saved budget counters now and
// then. A change that adds or saves a write per order shows here.
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
	kv := "KV_" + messages.BucketOrders
	streams := []string{messages.StreamOrders, messages.StreamExec, messages.StreamReports, kv}
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
	var reports, recordWrites atomic.Int64
	var recordsMu sync.Mutex
	records := map[string]int{} // record writes by order
	if _, err := nc.Subscribe("reports.w.>", func(*nats.Msg) { reports.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("$KV."+messages.BucketOrders+"."+messages.OrderStateKey("w1", "w", "*"), func(m *nats.Msg) {
		recordsMu.Lock()
		records[m.Subject]++
		recordsMu.Unlock()
		recordWrites.Add(1)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	before := lastSeqs()
	const n = 100
	for i := range n {
		data := `{"client_order_id":"c` + strconv.Itoa(i) + `","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`
		if err := nc.Publish(messages.OrdersNewSubject("w"), []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	bustest.WaitFor(t, "two reports an order", func() bool { return reports.Load() >= 2*n })
	// The final record is written after the reports: wait for it too
	// (at least two records an order), or a slow run counts an order's
	// write-ahead alone.
	bustest.WaitFor(t, "the final records", func() bool {
		recordsMu.Lock()
		defer recordsMu.Unlock()
		if len(records) < n {
			return false
		}
		for _, c := range records {
			if c < 2 {
				return false
			}
		}
		return lastSeqs()[kv]-before[kv] >= uint64(recordWrites.Load())
	})
	after := lastSeqs()
	per := func(name string) float64 { return float64(after[name]-before[name]) / n }
	recordsMu.Lock()
	byCount := map[int]int{} // orders by their number of records
	for _, c := range records {
		byCount[c]++
	}
	recordsMu.Unlock()
	t.Logf("writes per market order: ORDERS %.2f, EXEC %.2f, REPORTS %.2f, ORDERSTATE %.2f; orders by their record writes %v",
		per(messages.StreamOrders), per(messages.StreamExec), per(messages.StreamReports), per(kv), byCount)
	for name, want := range map[string]float64{messages.StreamOrders: 1, messages.StreamExec: 1, messages.StreamReports: 2} {
		if got := per(name); got != want {
			t.Errorf("%s: %.2f writes per order, want %.0f", name, got, want)
		}
	}
	for c, orders := range byCount {
		if c < 2 || c > 3 {
			t.Errorf("%d orders had %d record writes; want 2 (write-ahead, final) or 3 (and accepted)", orders, c)
		}
	}
	// ORDERSTATE holds nothing else of this key but its budget counters.
	if other := after[kv] - before[kv] - uint64(recordWrites.Load()); other > 5 {
		t.Errorf("%d ORDERSTATE writes besides the orders' records", other)
	}
	if r := reports.Load(); r != 2*n {
		t.Errorf("%d reports for %d orders, want %d", r, n, 2*n)
	}
}
