package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/shopspring/decimal"
)

func TestMarketIntentFills(t *testing.T) {
	ka := testApp(t, nil)
	c := newClient(t, ka)
	c.submit("alpha", `{"client_order_id":"m1","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.75","tags":{"book":"x"}}`)
	last := c.waitReport("alpha", "m1", "status filled", func(r messages.ExecutionReport) bool { return r.Status == messages.StatusFilled })
	rs := c.reports("alpha", "m1")
	checkSeq(t, rs)
	if rs[0].Kind != messages.KindAccepted || rs[0].Status != messages.StatusNew {
		t.Fatalf("first report = %s/%s, want accepted/new", rs[0].Kind, rs[0].Status)
	}
	if rs[0].Key != "alpha-1" || rs[0].Venue != "binance" || rs[0].VenueOrderID == "" {
		t.Errorf("accepted: key %q venue %q venue_order_id %q; want alpha-1, binance, an ID", rs[0].Key, rs[0].Venue, rs[0].VenueOrderID)
	}
	// 0.75 BTC is more than one fill of the simulated venue (0.5): partial fills.
	fills := 0
	sum := decimal.Zero
	for _, r := range rs[1:] {
		if r.Kind != messages.KindFill || r.Fill == nil {
			t.Fatalf("after accepted: %s without a fill", r.Kind)
		}
		fills++
		sum = sum.Add(r.Fill.Quantity)
		if !r.CumQuantity.Equal(sum) || !r.LeavesQuantity.Equal(decimal.RequireFromString("0.75").Sub(sum)) {
			t.Errorf("fill %d: cum %s leaves %s, want %s and %s", fills, r.CumQuantity, r.LeavesQuantity, sum, decimal.RequireFromString("0.75").Sub(sum))
		}
		if !r.Fill.Fee.IsPositive() || r.Fill.FeeAsset != "USDT" {
			t.Errorf("fill fee %s %s, want a positive fee in USDT", r.Fill.Fee, r.Fill.FeeAsset)
		}
		if r.Tags["book"] != "x" {
			t.Errorf("fill report lost the tags: %v", r.Tags)
		}
	}
	if fills < 2 {
		t.Errorf("fills = %d, want at least 2 (partial fills of a large order)", fills)
	}
	if !last.CumQuantity.Equal(decimal.RequireFromString("0.75")) || !last.LeavesQuantity.IsZero() || last.AvgPrice.IsZero() {
		t.Errorf("last report: cum %s leaves %s avg %s", last.CumQuantity, last.LeavesQuantity, last.AvgPrice)
	}
}

func TestLimitRestsThenCancel(t *testing.T) {
	ka := testApp(t, nil)
	c := newClient(t, ka)
	c.submit("beta", `{"client_order_id":"l1","symbol":"ETH-USDT","side":"buy","type":"limit","quantity":"0.1","price":"100"}`)
	acc := c.waitKind("beta", "l1", messages.KindAccepted)
	if acc.Status != messages.StatusNew || acc.Key != "beta-1" {
		t.Fatalf("accepted: status %s key %s", acc.Status, acc.Key)
	}
	open := ka.Exchange("binance").OpenOrders("beta-1", "ETH-USDT")
	if len(open) != 1 {
		t.Fatalf("open orders at the venue = %d, want 1", len(open))
	}
	c.cancel("beta", "l1")
	can := c.waitKind("beta", "l1", messages.KindCanceled)
	if can.Status != messages.StatusCanceled || !can.LeavesQuantity.IsZero() || !can.CumQuantity.IsZero() {
		t.Errorf("canceled: status %s cum %s leaves %s", can.Status, can.CumQuantity, can.LeavesQuantity)
	}
	checkSeq(t, c.reports("beta", "l1"))
	if n := len(ka.Exchange("binance").OpenOrders("beta-1", "ETH-USDT")); n != 0 {
		t.Errorf("open orders after cancel = %d, want 0", n)
	}
	// Canceling again is too late; canceling what never existed is unknown.
	c.cancel("beta", "l1")
	c.cancel("beta", "never")
	if r := c.waitKind("beta", "l1", messages.KindCancelRejected); r.Reason != messages.ReasonTooLateToCancel {
		t.Errorf("second cancel: reason %s, want too_late_to_cancel", r.Reason)
	}
	if r := c.waitKind("beta", "never", messages.KindCancelRejected); r.Reason != messages.ReasonUnknownOrder {
		t.Errorf("cancel of unknown order: reason %s, want unknown_order", r.Reason)
	}
}

func TestRejections(t *testing.T) {
	ka := testApp(t, nil)
	c := newClient(t, ka)
	cases := []struct {
		name, strategy, id, body string
		reason                   messages.Reason
		inMessage                string
	}{
		{"invalid JSON", "alpha", "", `{"client_order_id":"bad1",`, messages.ReasonInvalid, "JSON"},
		{"unknown field", "alpha", "bad2", `{"client_order_id":"bad2","symbol":"BTC-USDT","side":"buy","type":"market","quantiy":"1"}`, messages.ReasonInvalid, "quantiy"},
		{"negative quantity", "alpha", "bad3", `{"client_order_id":"bad3","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"-1"}`, messages.ReasonInvalid, "quantity"},
		{"limit without price", "alpha", "bad4", `{"client_order_id":"bad4","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"1"}`, messages.ReasonInvalid, "price"},
		{"strategy mismatch", "alpha", "bad5", `{"client_order_id":"bad5","strategy":"beta","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"1"}`, messages.ReasonInvalid, "strategy"},
		{"unknown strategy", "gamma", "bad6", `{"client_order_id":"bad6","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"1"}`, messages.ReasonUnknownStrategy, "gamma"},
		{"key not allowed", "alpha", "bad7", `{"client_order_id":"bad7","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"1","key":"beta-1"}`, messages.ReasonNotPermitted, "beta-1"},
		{"key that does not exist", "alpha", "bad8", `{"client_order_id":"bad8","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"1","key":"nokey"}`, messages.ReasonNotPermitted, "nokey"},
		{"venue not allowed", "alpha", "bad9", `{"client_order_id":"bad9","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"1","venue":"kraken"}`, messages.ReasonNotPermitted, "kraken"},
		{"venue refuses the filter", "alpha", "bad10", `{"client_order_id":"bad10","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.001","price":"100.001"}`, messages.ReasonInvalid, "PRICE_FILTER"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.submit(tc.strategy, tc.body)
			r := c.waitKind(tc.strategy, tc.id, messages.KindRejected)
			if r.Reason != tc.reason {
				t.Errorf("reason %s, want %s (message %q)", r.Reason, tc.reason, r.Message)
			}
			if !strings.Contains(strings.ToLower(r.Message), strings.ToLower(tc.inMessage)) {
				t.Errorf("message %q does not mention %q", r.Message, tc.inMessage)
			}
			if r.Status != messages.StatusRejected || r.Seq != 1 {
				t.Errorf("status %s seq %d, want rejected 1", r.Status, r.Seq)
			}
			if got := len(c.reports(tc.strategy, tc.id)); got != 1 {
				t.Errorf("%d reports, want exactly 1", got)
			}
		})
	}
}

func TestDuplicateIntent(t *testing.T) {
	ka := testApp(t, nil)
	c := newClient(t, ka)
	body := `{"client_order_id":"d1","symbol":"BTC-USDT","side":"sell","type":"market","quantity":"0.01"}`
	c.submit("alpha", body)
	c.waitKind("alpha", "d1", messages.KindAccepted)
	c.submit("alpha", body)
	dup := c.waitReport("alpha", "d1", "duplicate", func(r messages.ExecutionReport) bool { return r.Reason == messages.ReasonDuplicate })
	if dup.Kind != messages.KindRejected || dup.Seq != 0 {
		t.Errorf("duplicate report: kind %s seq %d, want rejected with seq 0", dup.Kind, dup.Seq)
	}
	// A third copy, even with another body, is a duplicate too.
	c.submit("alpha", strings.Replace(body, "0.01", "0.02", 1))
	bustest.WaitFor(t, "second duplicate", func() bool {
		n := 0
		for _, r := range c.reports("alpha", "d1") {
			if r.Reason == messages.ReasonDuplicate {
				n++
			}
		}
		return n == 2
	})
	accepted := 0
	for _, r := range c.reports("alpha", "d1") {
		if r.Kind == messages.KindAccepted {
			accepted++
		}
	}
	if accepted != 1 {
		t.Errorf("accepted %d times, want once", accepted)
	}
	if n := len(ka.Exchange("binance").AllOrders("alpha-1", "")); n != 1 {
		t.Errorf("orders at the venue = %d, want 1", n)
	}
	// The same client_order_id from another strategy is another order.
	c.submit("beta", body)
	c.waitKind("beta", "d1", messages.KindAccepted)
}

func TestExpiredIntentNeverReachesVenue(t *testing.T) {
	ka := testApp(t, nil)
	c := newClient(t, ka)
	past := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	c.submit("alpha", `{"client_order_id":"e1","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.01","expires_at":"`+past+`"}`)
	r := c.waitKind("alpha", "e1", messages.KindExpired)
	if r.Reason != messages.ReasonExpired || r.Status != messages.StatusExpired || r.Seq != 1 {
		t.Errorf("expired report: reason %s status %s seq %d", r.Reason, r.Status, r.Seq)
	}
	// A later intent is processed after it: once it is accepted, e1 has
	// had every chance to reach the venue.
	c.submit("alpha", `{"client_order_id":"e2","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.01"}`)
	c.waitKind("alpha", "e2", messages.KindAccepted)
	id := executors.VenueClientID("alpha", "e1")
	for _, key := range []string{"alpha-1", "alpha-2"} {
		for _, o := range ka.Exchange("binance").AllOrders(key, "") {
			if o.ClientID == id {
				t.Fatalf("expired intent reached the venue on %s", key)
			}
		}
	}
	if got := len(c.reports("alpha", "e1")); got != 1 {
		t.Errorf("%d reports for the expired intent, want 1", got)
	}
}

// Promise 1: every message on orders.new gets exactly one first report.
func TestExactlyOneFirstReport(t *testing.T) {
	ka := testApp(t, nil)
	c := newClient(t, ka)
	const n = 200
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("o%d", i)
		ids = append(ids, id)
		var body string
		switch i % 5 {
		case 0:
			body = fmt.Sprintf(`{"client_order_id":%q,"symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`, id)
		case 1:
			body = fmt.Sprintf(`{"client_order_id":%q,"symbol":"ETH-USDT","side":"sell","type":"limit","quantity":"0.01","price":"99999"}`, id)
		case 2:
			body = fmt.Sprintf(`{"client_order_id":%q,"symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0"}`, id)
		case 3:
			body = fmt.Sprintf(`{"client_order_id":%q,"symbol":"BTC-USDT","side":"buy","type":"market","quantity":"1","expires_at":%q}`, id, past)
		case 4:
			body = fmt.Sprintf(`{"client_order_id":%q,"symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001","key":"beta-2"}`, id)
		}
		c.submit("alpha", body)
	}
	first := func(r messages.ExecutionReport) bool {
		return r.Kind == messages.KindAccepted || r.Kind == messages.KindRejected || r.Kind == messages.KindExpired
	}
	bustest.WaitFor(t, "a first report for every intent", func() bool {
		for _, id := range ids {
			ok := false
			for _, r := range c.reports("alpha", id) {
				ok = ok || first(r)
			}
			if !ok {
				return false
			}
		}
		return true
	})
	// Let stragglers (a second first report would be a bug) arrive.
	c.submit("alpha", `{"client_order_id":"last","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	c.waitKind("alpha", "last", messages.KindAccepted)
	for _, id := range ids {
		n := 0
		for _, r := range c.reports("alpha", id) {
			if first(r) && r.Seq <= 1 {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d first reports, want 1: %v", id, n, kinds(c.reports("alpha", id)))
		}
	}
}

func TestQuantityLiteralKeptExactly(t *testing.T) {
	ka := testApp(t, nil)
	c := newClient(t, ka)
	c.submit("alpha", `{"client_order_id":"q1","symbol":"ETH-USDT","side":"buy","type":"limit","quantity":0.1000,"price":100.00}`)
	r := c.waitKind("alpha", "q1", messages.KindAccepted)
	if r.Quantity.String() != "0.1" || r.Price.String() != "100" {
		t.Errorf("quantity %s price %s", r.Quantity, r.Price)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, raw := range c.raw {
		if strings.Contains(string(raw), `"q1"`) && !strings.Contains(string(raw), `"quantity":"0.1"`) {
			t.Errorf("quantity not written as a JSON string: %s", raw)
		}
	}
}
