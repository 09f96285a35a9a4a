package binance

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/internal/venuekit"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

func TestStreamDeliversFills(t *testing.T) {
	for _, proto := range []string{StreamWSAPI, StreamListenKey} {
		t.Run(proto, func(t *testing.T) {
			f := newFake(t)
			v, _ := newTestVenue(t, f, func(c *Config) {
				c.UserStream = proto
				if proto == StreamListenKey {
					c.WSURL = f.wsURL()
				}
			})
			bustest.WaitFor(t, "stream up", v.streamUp.Load)
			ctx := context.Background()
			id := executors.VenueClientID("alpha", "rest-1")
			if _, err := v.Place(ctx, limitOrder(id, "sell", "1", "31000")); err != nil {
				t.Fatal(err)
			}
			// Someone else's order on the same account is not forwarded.
			f.mu.Lock()
			f.orders["web_abc"] = &fakeOrder{orderJSON: orderJSON{Symbol: "BTCUSDT", OrderID: 1, ClientOrderID: "web_abc", OrigQty: "1", ExecutedQty: "0", Status: "NEW", Side: "BUY", Type: "LIMIT"}}
			f.mu.Unlock()
			f.fill("web_abc", "0.5", "29000.00")

			f.fill(id, "0.4", "31000.00")
			u := nextUpdate(t, v, id)
			if u.Status != messages.StatusPartiallyFilled || !u.CumQuantity.Equal(d("0.4")) || len(u.Fills) != 1 || u.Symbol != "BTC-USDT" {
				t.Fatalf("first update: %+v", u)
			}
			if fl := u.Fills[0]; !fl.Quantity.Equal(d("0.4")) || !fl.Price.Equal(d("31000")) || !fl.Fee.Equal(d("0.0004")) ||
				fl.FeeAsset != "BNB" || fl.Liquidity != messages.Maker || fl.TradeID == "" {
				t.Fatalf("fill: %+v", fl)
			}
			f.fill(id, "0.6", "31000.01")
			u = nextUpdate(t, v, id)
			if u.Status != messages.StatusFilled || !u.CumQuantity.Equal(d("1")) || !u.Fills[0].Quantity.Equal(d("0.6")) {
				t.Fatalf("second update: %+v", u)
			}
			select {
			case x := <-v.Updates():
				t.Fatalf("unexpected update %+v", x)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

// A cancel's executionReport carries the cancel request's ID in c and the
// order's in C.
func TestParseExecutionReportCancel(t *testing.T) {
	v := &Venue{}
	v.orders = venuekit.NewTracker("binance", nil, v.log)
	raw := `{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"cancelXYZ","S":"BUY","o":"LIMIT","f":"GTC",
	"q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"kr0123456789abcdefghijklmnopqrst",
	"x":"CANCELED","X":"CANCELED","r":"NONE","i":4293153,"l":"0.00000000","z":"0.25000000","L":"0.00000000","n":"0",
	"N":null,"T":1499405658657,"t":-1,"I":8641984,"w":false,"m":false,"M":false,"O":1499405658657,"Z":"0.00000000",
	"Y":"0.00000000","Q":"0.00000000","V":"NONE"}`
	var ev map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	u, native, ok, err := v.parseExecutionReport(ev)
	if err != nil || !ok {
		t.Fatalf("got ok %v, err %v", ok, err)
	}
	if u.ClientID != "kr0123456789abcdefghijklmnopqrst" || u.Status != messages.StatusCanceled || u.VenueOrderID != "4293153" ||
		!u.CumQuantity.Equal(d("0.25")) || len(u.Fills) != 0 || native != "ETHBTC" {
		t.Fatalf("got %+v", u)
	}
}

// While the stream is down, REST polling finds the fill; when it is back
// the stream takes over again.
func TestStreamDropFallsBackToPolling(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	bustest.WaitFor(t, "stream up", v.streamUp.Load)
	id := executors.VenueClientID("alpha", "poll-1")
	if _, err := v.Place(context.Background(), limitOrder(id, "buy", "2", "20000")); err != nil {
		t.Fatal(err)
	}
	f.dropWS()
	bustest.WaitFor(t, "stream down", func() bool { return !v.streamUp.Load() })

	f.fill(id, "0.5", "20000.00") // no stream: only polling can see it
	u := nextUpdate(t, v, id)
	if u.Status != messages.StatusPartiallyFilled || !u.CumQuantity.Equal(d("0.5")) || len(u.Fills) != 1 || u.Fills[0].Liquidity != messages.Maker {
		t.Fatalf("polled update: %+v", u)
	}
	f.fill(id, "1.5", "20000.00")
	u = nextUpdate(t, v, id)
	if u.Status != messages.StatusFilled || !u.CumQuantity.Equal(d("2")) || len(u.Fills) != 2 {
		t.Fatalf("polled update: %+v", u)
	}
	if f.count("GET /api/v3/openOrders") == 0 {
		t.Fatal("no openOrders poll")
	}
	f.wsDown.Store(false)
	bustest.WaitFor(t, "stream back", v.streamUp.Load)
	if f.wsN.Load() < 2 {
		t.Fatalf("%d stream connections, want a reconnect", f.wsN.Load())
	}
}

// When Updates is full the reader does not wait long: the update is left to
// the poller, which delivers the order's full state once there is room.
func TestFullUpdatesRecoveredByPolling(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, func(c *Config) { c.PollInterval = 20 * time.Millisecond })
	bustest.WaitFor(t, "stream up", v.streamUp.Load)
	id := executors.VenueClientID("alpha", "full-1")
	if _, err := v.Place(context.Background(), limitOrder(id, "buy", "1", "20000")); err != nil {
		t.Fatal(err)
	}
	for len(v.updates) < cap(v.updates) { // fill the channel
		v.updates <- executors.OrderUpdate{ClientID: "filler"}
	}
	start := time.Now()
	f.fill(id, "1", "20000.00")
	bustest.WaitFor(t, "order marked for the poller", v.orders.Dirty)
	if time.Since(start) > 2*time.Second {
		t.Fatal("reader blocked on a full channel")
	}
	// Drain: the poller now sends the full state.
	u := nextUpdate(t, v, id)
	if u.Status != messages.StatusFilled || !u.CumQuantity.Equal(d("1")) || len(u.Fills) != 1 {
		t.Fatalf("recovered update: %+v", u)
	}
	bustest.WaitFor(t, "dirty cleared", func() bool { return !v.orders.Dirty() })
}

func TestCloseClosesUpdates(t *testing.T) {
	f := newFake(t)
	v, _ := newTestVenue(t, f, nil)
	bustest.WaitFor(t, "stream up", v.streamUp.Load)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-v.Updates(); ok {
		t.Fatal("Updates still open after Close")
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
}
