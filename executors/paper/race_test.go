package paper_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// TestConcurrentPlaceCancel hammers one account from several goroutines
// while the price walks, then checks that no asset was made or lost: the
// final balances equal the start plus what the fills say.
func TestConcurrentPlaceCancel(t *testing.T) {
	start := map[string]decimal.Decimal{"USDT": dec("10000000"), "BTC": dec("100")}
	x := newExchange(t, paper.Config{Seed: 3, MakerFee: dec("0.001"), TakerFee: dec("0.002"),
		Accounts: map[string]map[string]decimal.Decimal{"a": start}})
	updates, unsubscribe := x.Subscribe("a")
	go func() {
		for range updates { // drain, so the subscription is exercised
		}
	}()
	defer unsubscribe()

	ctx, stop := context.WithCancel(context.Background())
	var walker sync.WaitGroup
	walker.Add(1)
	go func() {
		defer walker.Done()
		for ctx.Err() == nil {
			x.Step()
		}
	}()

	const workers, perWorker = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				side := messages.Buy
				if i%2 == 1 {
					side = messages.Sell
				}
				var o executors.Order
				switch i % 4 {
				case 0, 1:
					o = marketOrder(id, side, "0.013")
				default:
					p := x.Price("BTC-USDT").Add(dec("0.05"))
					if side == messages.Sell {
						p = p.Sub(dec("0.1"))
					}
					o = limitOrder(id, side, "0.7", p.String(), messages.GTC)
				}
				if _, err := x.Place("a", o); err != nil {
					t.Errorf("Place %s: %v", id, err)
					return
				}
				if i%3 == 0 {
					_, err := x.Cancel("a", "BTC-USDT", id)
					if err != nil && !errors.Is(err, executors.ErrTooLateToCancel) {
						t.Errorf("Cancel %s: %v", id, err)
					}
				}
				if _, err := x.Query("a", "BTC-USDT", id); err != nil {
					t.Errorf("Query %s: %v", id, err)
				}
				x.OpenOrders("a", "")
			}
		}()
	}
	wg.Wait()
	stop()
	walker.Wait()

	for _, u := range x.OpenOrders("a", "") {
		if _, err := x.Cancel("a", u.Symbol, u.ClientID); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]decimal.Decimal{"USDT": start["USDT"], "BTC": start["BTC"]}
	infos := x.Orders("a", "", false)
	if len(infos) != workers*perWorker {
		t.Fatalf("got %d orders, want %d", len(infos), workers*perWorker)
	}
	for _, in := range infos {
		for _, f := range in.Fills {
			n := f.Quantity.Mul(f.Price)
			if in.Order.Side == messages.Buy {
				want["BTC"] = want["BTC"].Add(f.Quantity)
				want["USDT"] = want["USDT"].Sub(n).Sub(f.Fee)
			} else {
				want["BTC"] = want["BTC"].Sub(f.Quantity)
				want["USDT"] = want["USDT"].Add(n).Sub(f.Fee)
			}
		}
	}
	for _, h := range x.Holdings("a") {
		if !h.Locked.IsZero() {
			t.Errorf("%s: %s still locked with no open order", h.Asset, h.Locked)
		}
		if !h.Free.Equal(want[h.Asset]) {
			t.Errorf("%s: got %s, want %s from the fills", h.Asset, h.Free, want[h.Asset])
		}
	}
}

func BenchmarkPlaceMarket(b *testing.B) {
	x := newExchange(b, paper.Config{TakerFee: dec("0.001")})
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%d", i)
	}
	o := marketOrder("", messages.Buy, "0.001")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.ClientID = ids[i]
		if _, err := x.Place("a", o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlaceMarketParallel(b *testing.B) {
	x := newExchange(b, paper.Config{TakerFee: dec("0.001")})
	var mu sync.Mutex
	n := 0
	o := marketOrder("", messages.Buy, "0.001")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		o := o
		for pb.Next() {
			mu.Lock()
			n++
			o.ClientID = fmt.Sprintf("p-%d", n)
			mu.Unlock()
			if _, err := x.Place("a", o); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVenuePlaceMarket(b *testing.B) {
	x := newExchange(b, paper.Config{TakerFee: dec("0.001")})
	v := paper.NewVenue(x, "a", paper.VenueOptions{Limits: []paper.RateLimit{
		{Name: "orders", Max: 1 << 40, Window: 1 << 40, Classes: []string{paper.ClassNew}},
	}})
	defer v.Close()
	go func() {
		for range v.Updates() {
		}
	}()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%d", i)
	}
	o := marketOrder("", messages.Buy, "0.001")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.ClientID = ids[i]
		if _, err := v.Place(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
}
