package main

import (
	"strings"
	"testing"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// okxConfig is two strategies on two keys of one sub-account of a
// simulated OKX venue, with the okx budget preset.
func okxConfig(t *testing.T, venueExtra, keyExtra string) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse([]byte(`
venues:
  okx: {kind: okx, simulate: true` + venueExtra + `}
keys:
  o1: {venue: okx, account: sub1` + keyExtra + `}
  o2: {venue: okx, account: sub1` + keyExtra + `}
strategies:
  s: {keys: [o1]}
  t: {keys: [o2]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Fills and cancels through the whole program, over HTTP and WebSocket
// to the OKX simulator.
func TestOKXThroughSimulator(t *testing.T) {
	ka := testApp(t, okxConfig(t, "", ""))
	c := newClient(t, ka)

	c.submit("s", `{"client_order_id":"m1","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	last := c.waitReport("s", "m1", "filled", func(r messages.ExecutionReport) bool { return r.Status == messages.StatusFilled })
	rs := c.reports("s", "m1")
	checkSeq(t, rs)
	if rs[0].Kind != messages.KindAccepted || rs[0].Venue != "okx" || rs[0].VenueOrderID == "" || rs[0].Key != "o1" {
		t.Errorf("first report %+v", rs[0])
	}
	if last.Fill == nil || !last.Fill.Fee.IsPositive() || last.Fill.TradeID == "" {
		t.Errorf("fill %+v, want a fee and a trade ID", last.Fill)
	}

	// A resting order fills when the market crosses it.
	c.submit("t", `{"client_order_id":"r1","symbol":"ETH-USDT","side":"buy","type":"limit","quantity":"0.01","price":"2900"}`)
	c.waitKind("t", "r1", messages.KindAccepted)
	ka.Exchange("okx").SetPrice("ETH-USDT", mustDec(t, "2899"))
	if r := c.waitKind("t", "r1", messages.KindFill); r.Fill.Liquidity != messages.Maker || r.Status != messages.StatusFilled {
		t.Errorf("resting fill %+v", r)
	}

	c.submit("t", `{"client_order_id":"l1","symbol":"ETH-USDT","side":"sell","type":"limit","quantity":"0.01","price":"9000"}`)
	c.waitKind("t", "l1", messages.KindAccepted)
	c.cancel("t", "l1")
	if r := c.waitKind("t", "l1", messages.KindCanceled); r.Status != messages.StatusCanceled {
		t.Errorf("canceled: status %s", r.Status)
	}
	c.cancel("t", "l1")
	c.waitKind("t", "l1", messages.KindCancelRejected)

	// An instrument rule the order cannot meet is refused before it costs
	// budget or a request.
	c.submit("s", `{"client_order_id":"f1","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.001","price":"50000.001"}`)
	r := c.waitKind("s", "f1", messages.KindRejected)
	if r.Reason != messages.ReasonInvalid || !strings.Contains(r.Message, "tickSz") {
		t.Errorf("rule violation: reason %s message %q", r.Reason, r.Message)
	}
	sim := ka.OKXSimulator("okx")
	if n := len(sim.Orders("sub1")); n != 3 {
		t.Errorf("venue holds %d orders, want 3", n)
	}
	if d := sim.Duplicates(); len(d) != 0 {
		t.Errorf("duplicate placements %v", d)
	}
}

func mustDec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
