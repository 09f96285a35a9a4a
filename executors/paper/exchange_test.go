package paper_test

import (
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func newExchange(t testing.TB, cfg paper.Config) *paper.Exchange {
	t.Helper()
	x, err := paper.NewExchange(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

var ids atomic.Int64

func newID() string { return "id" + strconv.FormatInt(ids.Add(1), 10) }

func marketOrder(id string, side messages.Side, qty string) executors.Order {
	return executors.Order{ClientID: id, Symbol: "BTC-USDT", Side: side, Type: messages.Market, Quantity: dec(qty)}
}

func limitOrder(id string, side messages.Side, qty, price string, tif messages.TimeInForce) executors.Order {
	return executors.Order{ClientID: id, Symbol: "BTC-USDT", Side: side, Type: messages.Limit,
		TimeInForce: tif, Quantity: dec(qty), Price: dec(price)}
}

func wantDec(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(dec(want)) {
		t.Errorf("%s: got %s, want %s", what, got, want)
	}
}

func TestNewExchangeRejectsBadConfig(t *testing.T) {
	good := paper.DefaultSymbols()[0]
	for name, mutate := range map[string]func(*paper.SymbolSpec){
		"no tick":        func(s *paper.SymbolSpec) { s.TickSize = decimal.Zero },
		"no step":        func(s *paper.SymbolSpec) { s.StepSize = decimal.Zero },
		"no price":       func(s *paper.SymbolSpec) { s.RefPrice = decimal.Zero },
		"not BASE-QUOTE": func(s *paper.SymbolSpec) { s.Symbol, s.Base, s.Quote = "BTCUSDT", "", "" },
		"negative fill":  func(s *paper.SymbolSpec) { s.MaxFillQty = dec("-1") },
	} {
		s := good
		mutate(&s)
		if _, err := paper.NewExchange(paper.Config{Symbols: []paper.SymbolSpec{s}}); err == nil {
			t.Errorf("%s: got nil, want an error", name)
		}
	}
	if _, err := paper.NewExchange(paper.Config{Symbols: []paper.SymbolSpec{good, good}}); err == nil {
		t.Error("symbol twice: got nil, want an error")
	}
	x := newExchange(t, paper.Config{Symbols: []paper.SymbolSpec{{Symbol: "SOL-USDC", RefPrice: dec("150.004"), TickSize: dec("0.01"), StepSize: dec("0.1")}}})
	s, ok := x.Spec("SOL-USDC")
	if !ok || s.Base != "SOL" || s.Quote != "USDC" {
		t.Errorf("Spec: got %+v %v, want base SOL quote USDC", s, ok)
	}
	wantDec(t, "price rounded to tick", x.Price("SOL-USDC"), "150")
}

func TestPlaceMarketSplitsFills(t *testing.T) {
	x := newExchange(t, paper.Config{TakerFee: dec("0.002"), MakerFee: dec("0.001"),
		Accounts: map[string]map[string]decimal.Decimal{"a": {"USDT": dec("100000")}}})
	u, err := x.Place("a", marketOrder("m1", messages.Buy, "1.2"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != messages.StatusFilled || u.VenueOrderID != "1" || u.Symbol != "BTC-USDT" {
		t.Fatalf("got %+v, want filled order 1 of BTC-USDT", u)
	}
	wantDec(t, "cum", u.CumQuantity, "1.2")
	want := []string{"0.5", "0.5", "0.2"}
	if len(u.Fills) != len(want) {
		t.Fatalf("got %d fills, want %d", len(u.Fills), len(want))
	}
	for i, f := range u.Fills {
		wantDec(t, "fill qty", f.Quantity, want[i])
		wantDec(t, "fill price", f.Price, "60000")
		wantDec(t, "fee", f.Fee, f.Quantity.Mul(dec("120")).String())
		if f.TradeID != strconv.Itoa(i+1) || f.FeeAsset != "USDT" || f.Liquidity != messages.Taker {
			t.Errorf("fill %d: got %+v, want trade %d, fee in USDT, taker", i, f, i+1)
		}
	}
	bal := x.Balances("a")
	wantDec(t, "BTC", bal["BTC"], "1.2")
	wantDec(t, "USDT", bal["USDT"], "27856") // 100000 - 72000 - 144
	for _, h := range x.Holdings("a") {
		wantDec(t, h.Asset+" locked", h.Locked, "0")
	}

	// Selling it back pays the fee from the proceeds.
	if _, err := x.Place("a", marketOrder("m2", messages.Sell, "1.2")); err != nil {
		t.Fatal(err)
	}
	bal = x.Balances("a")
	wantDec(t, "BTC after sell", bal["BTC"], "0")
	wantDec(t, "USDT after sell", bal["USDT"], "99712") // 27856 + 72000 - 144
}

func TestPlaceRefusals(t *testing.T) {
	x := newExchange(t, paper.Config{Accounts: map[string]map[string]decimal.Decimal{
		"poor": {"USDT": dec("10"), "BTC": dec("0.001")},
		"rich": nil,
	}})
	if _, err := x.Place("rich", limitOrder("used", messages.Buy, "0.001", "50000", messages.GTC)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, account, code, text string
		o                         executors.Order
	}{
		{"price off tick", "rich", paper.CodeFilter, "PRICE_FILTER", limitOrder("r1", messages.Buy, "0.001", "50000.005", messages.GTC)},
		{"qty off step", "rich", paper.CodeFilter, "LOT_SIZE", limitOrder("r2", messages.Buy, "0.0010001", "50000", messages.GTC)},
		{"qty too large", "rich", paper.CodeFilter, "LOT_SIZE", marketOrder("r3", messages.Buy, "9000.1")},
		{"notional", "rich", paper.CodeFilter, "MIN_NOTIONAL", limitOrder("r4", messages.Buy, "0.0001", "40000", messages.GTC)},
		{"market notional", "rich", paper.CodeFilter, "MIN_NOTIONAL", marketOrder("r5", messages.Buy, "0.00005")},
		{"zero qty", "rich", paper.CodeInvalid, "quantity", marketOrder("r6", messages.Buy, "0")},
		{"bad side", "rich", paper.CodeInvalid, "side", marketOrder("r7", "up", "1")},
		{"limit no price", "rich", paper.CodeInvalid, "price", limitOrder("r8", messages.Buy, "1", "0", messages.GTC)},
		{"unknown symbol", "rich", paper.CodeUnknownSymbol, "DOGE", executors.Order{ClientID: "r9", Symbol: "DOGE-USDT", Side: messages.Buy, Type: messages.Market, Quantity: dec("1")}},
		{"duplicate", "rich", paper.CodeDuplicateClientID, "used", marketOrder("used", messages.Buy, "0.001")},
		{"quote short", "poor", paper.CodeInsufficientBalance, "USDT", marketOrder("r10", messages.Buy, "0.001")},
		{"base short", "poor", paper.CodeInsufficientBalance, "BTC", marketOrder("r11", messages.Sell, "0.002")},
		{"post-only crossing", "rich", paper.CodeWouldCross, "take", func() executors.Order {
			o := limitOrder("r12", messages.Sell, "0.001", "60000", messages.GTC)
			o.PostOnly = true
			return o
		}()},
	}
	for _, c := range cases {
		u, err := x.Place(c.account, c.o)
		var ve *executors.VenueError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a *executors.VenueError", c.name, err)
			continue
		}
		want := messages.ReasonVenueRejected
		if c.code == paper.CodeFilter {
			want = messages.ReasonInvalid
		}
		if ve.Kind != executors.Rejected || ve.Reason != want || ve.Code != c.code || !strings.Contains(ve.Message, c.text) {
			t.Errorf("%s: got %v (reason %s), want Rejected %s %s mentioning %q", c.name, ve, ve.Reason, want, c.code, c.text)
		}
		if u.Status != messages.StatusRejected {
			t.Errorf("%s: got status %s, want rejected", c.name, u.Status)
		}
	}
	if n := len(x.AllOrders("rich", "")); n != 1 {
		t.Errorf("rich holds %d orders, want 1", n)
	}
	if n := len(x.AllOrders("poor", "")); n != 0 {
		t.Errorf("poor holds %d orders, want 0", n)
	}
	wantDec(t, "poor USDT untouched", x.Balances("poor")["USDT"], "10")

	_, err := x.Place("ghost", marketOrder("g", messages.Buy, "0.001"))
	var ve *executors.VenueError
	if !errors.As(err, &ve) || ve.Kind != executors.KeyInvalid || !errors.Is(err, paper.ErrUnknownAccount) {
		t.Errorf("unknown account: got %v, want KeyInvalid wrapping ErrUnknownAccount", err)
	}
	if err := x.AddAccount("ghost", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Place("ghost", marketOrder("g", messages.Buy, "0.001")); err != nil {
		t.Errorf("after AddAccount: %v", err)
	}
	if err := x.AddAccount("ghost", nil); err == nil {
		t.Error("AddAccount twice: got nil, want an error")
	}
}

func TestRestingOrderFillsOverTicks(t *testing.T) {
	x := newExchange(t, paper.Config{MakerFee: dec("0.001"),
		Accounts: map[string]map[string]decimal.Decimal{"a": {"USDT": dec("100000")}}})
	updates, unsubscribe := x.Subscribe("a")
	defer unsubscribe()

	u, err := x.Place("a", limitOrder("l1", messages.Buy, "1.2", "59000", messages.GTC))
	if err != nil || u.Status != messages.StatusNew {
		t.Fatalf("got %+v, %v; want new", u, err)
	}
	// USDT is the only asset; the order locks 1.2 × 59000 × 1.001.
	wantDec(t, "locked", x.Holdings("a")[0].Locked, "70870.8")
	if got := <-updates; got.Status != messages.StatusNew {
		t.Errorf("first update: got %s, want new", got.Status)
	}

	x.SetPrice("BTC-USDT", dec("59000.01")) // not crossed
	if n := len(updates); n != 0 {
		t.Fatalf("got %d updates before the price crossed", n)
	}
	for i, want := range []struct{ status, cum, fill string }{
		{"partially_filled", "0.5", "0.5"}, {"partially_filled", "1", "0.5"}, {"filled", "1.2", "0.2"},
	} {
		x.SetPrice("BTC-USDT", dec("58999"))
		got := <-updates
		if string(got.Status) != want.status || len(got.Fills) != 1 {
			t.Fatalf("tick %d: got %s with %d fills, want %s with the new fill only", i, got.Status, len(got.Fills), want.status)
		}
		wantDec(t, "cum", got.CumQuantity, want.cum)
		wantDec(t, "fill", got.Fills[0].Quantity, want.fill)
		wantDec(t, "maker price", got.Fills[0].Price, "59000")
		if got.Fills[0].Liquidity != messages.Maker {
			t.Errorf("tick %d: got %s, want maker", i, got.Fills[0].Liquidity)
		}
	}
	q, err := x.Query("a", "BTC-USDT", "l1")
	if err != nil || q.Status != messages.StatusFilled || len(q.Fills) != 3 {
		t.Fatalf("Query: got %+v, %v; want filled with 3 fills", q, err)
	}
	wantDec(t, "USDT", x.Balances("a")["USDT"], "29129.2") // 100000 - 70800 - 70.8
	for _, h := range x.Holdings("a") {
		wantDec(t, h.Asset+" locked", h.Locked, "0")
	}
	if n := len(x.OpenOrders("a", "")); n != 0 {
		t.Errorf("%d open orders, want 0", n)
	}
}

func TestMarketableLimit(t *testing.T) {
	x := newExchange(t, paper.Config{})
	cases := []struct {
		tif    messages.TimeInForce
		status messages.Status
		cum    string
		open   bool
	}{
		{messages.GTC, messages.StatusPartiallyFilled, "0.5", true},
		{messages.IOC, messages.StatusExpired, "0.5", false},
		{messages.FOK, messages.StatusExpired, "0", false},
	}
	for _, c := range cases {
		id := "ml-" + string(c.tif)
		u, err := x.Place("a", limitOrder(id, messages.Buy, "1.2", "61000", c.tif))
		if err != nil {
			t.Fatal(err)
		}
		if u.Status != c.status {
			t.Errorf("%s: got %s, want %s", c.tif, u.Status, c.status)
		}
		wantDec(t, string(c.tif)+" cum", u.CumQuantity, c.cum)
		for _, f := range u.Fills {
			wantDec(t, "taker price is the reference", f.Price, "60000")
		}
		if c.status == messages.StatusExpired && u.Reason != messages.ReasonExpired {
			t.Errorf("%s: got reason %q, want expired", c.tif, u.Reason)
		}
		if _, err := x.Query("a", "BTC-USDT", id); err != nil {
			t.Errorf("%s: Query: %v", c.tif, err)
		}
	}
	open := x.OpenOrders("a", "BTC-USDT")
	if len(open) != 1 || open[0].ClientID != "ml-gtc" {
		t.Errorf("open orders: got %+v, want ml-gtc only", open)
	}
	u, err := x.Place("a", limitOrder("fok-fits", messages.Sell, "0.5", "59000", messages.FOK))
	if err != nil || u.Status != messages.StatusFilled {
		t.Errorf("FOK that fits: got %+v, %v; want filled", u, err)
	}
}

func TestCancel(t *testing.T) {
	x := newExchange(t, paper.Config{Accounts: map[string]map[string]decimal.Decimal{"a": {"BTC": dec("1")}}})
	updates, unsubscribe := x.Subscribe("a")
	defer unsubscribe()
	if _, err := x.Place("a", limitOrder("s1", messages.Sell, "0.4", "70000", messages.GTC)); err != nil {
		t.Fatal(err)
	}
	wantDec(t, "BTC free while resting", x.Balances("a")["BTC"], "0.6")
	<-updates

	if _, err := x.Cancel("a", "ETH-USDT", "s1"); !errors.Is(err, executors.ErrUnknownOrder) {
		t.Errorf("cancel with the wrong symbol: got %v, want ErrUnknownOrder", err)
	}
	if _, err := x.Cancel("a", "BTC-USDT", "nope"); !errors.Is(err, executors.ErrUnknownOrder) {
		t.Errorf("cancel unknown: got %v, want ErrUnknownOrder", err)
	}
	u, err := x.Cancel("a", "BTC-USDT", "s1")
	if err != nil || u.Status != messages.StatusCanceled {
		t.Fatalf("cancel: got %+v, %v; want canceled", u, err)
	}
	if got := <-updates; got.Status != messages.StatusCanceled || got.ClientID != "s1" {
		t.Errorf("update: got %s of %s, want canceled of s1", got.Status, got.ClientID)
	}
	wantDec(t, "BTC released", x.Balances("a")["BTC"], "1")

	u, err = x.Cancel("a", "BTC-USDT", "s1")
	if !errors.Is(err, executors.ErrTooLateToCancel) || u.Status != messages.StatusCanceled {
		t.Errorf("cancel twice: got %s, %v; want the canceled state and ErrTooLateToCancel", u.Status, err)
	}
	var ve *executors.VenueError
	if !errors.As(err, &ve) || ve.Reason != messages.ReasonTooLateToCancel {
		t.Errorf("cancel twice: got %v, want reason too_late_to_cancel", err)
	}
	if _, err := x.Place("a", limitOrder("s1", messages.Sell, "0.4", "70000", messages.GTC)); !errors.As(err, &ve) || ve.Code != paper.CodeDuplicateClientID {
		t.Errorf("reusing a closed order's ID: got %v, want %s", err, paper.CodeDuplicateClientID)
	}
}

func TestStepIsSeededAndOnTick(t *testing.T) {
	a := newExchange(t, paper.Config{Seed: 42})
	b := newExchange(t, paper.Config{Seed: 42})
	c := newExchange(t, paper.Config{Seed: 43})
	same := true
	for i := 0; i < 200; i++ {
		before := a.Price("BTC-USDT")
		a.Step()
		b.Step()
		c.Step()
		p := a.Price("BTC-USDT")
		if !p.Equal(b.Price("BTC-USDT")) {
			t.Fatalf("step %d: same seed, prices %s and %s", i, p, b.Price("BTC-USDT"))
		}
		same = same && p.Equal(c.Price("BTC-USDT"))
		if !p.Mod(dec("0.01")).IsZero() {
			t.Fatalf("step %d: price %s off tick", i, p)
		}
		// At most 0.05% plus half a tick of rounding.
		if limit := before.Mul(dec("0.0005")).Add(dec("0.005")); p.Sub(before).Abs().GreaterThan(limit) {
			t.Fatalf("step %d: moved from %s to %s, more than %s", i, before, p, limit)
		}
	}
	if same {
		t.Error("different seeds walked the same path")
	}
}

func TestStepFillsRestingOrders(t *testing.T) {
	x := newExchange(t, paper.Config{Seed: 7})
	// A buy one tick below and a sell one tick above: any move fills one.
	x.SetPrice("BTC-USDT", dec("60000"))
	if _, err := x.Place("a", limitOrder("b", messages.Buy, "0.001", "59999.99", messages.GTC)); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Place("a", limitOrder("s", messages.Sell, "0.001", "60000.01", messages.GTC)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && len(x.OpenOrders("a", "")) == 2; i++ {
		x.Step()
	}
	if n := len(x.OpenOrders("a", "")); n != 1 {
		t.Errorf("after stepping: %d open orders, want 1", n)
	}
}

func TestOrdersListing(t *testing.T) {
	x := newExchange(t, paper.Config{})
	eth := executors.Order{ClientID: "e", Symbol: "ETH-USDT", Side: messages.Buy, Type: messages.Limit, Quantity: dec("1"), Price: dec("2000")}
	for _, o := range []executors.Order{
		limitOrder("b1", messages.Buy, "0.001", "50000", messages.GTC),
		eth,
		marketOrder("b2", messages.Buy, "0.001"),
		limitOrder("b3", messages.Buy, "0.001", "50000", messages.GTC),
	} {
		if _, err := x.Place("a", o); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(us []executors.OrderUpdate) string {
		var s []string
		for _, u := range us {
			s = append(s, u.ClientID)
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct{ got, want string }{
		{ids(x.OpenOrders("a", "")), "b1,e,b3"},
		{ids(x.OpenOrders("a", "BTC-USDT")), "b1,b3"},
		{ids(x.AllOrders("a", "")), "b1,e,b2,b3"},
		{ids(x.AllOrders("a", "ETH-USDT")), "e"},
		{ids(x.AllOrders("nobody", "")), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	info, err := x.Info("a", "ETH-USDT", "e")
	if err != nil || info.Order.TimeInForce != messages.GTC || info.VenueOrderID != "2" || info.Created.IsZero() {
		t.Errorf("Info: got %+v, %v", info, err)
	}
	if id, ok := x.LookupVenueID("a", "ETH-USDT", "2"); !ok || id != "e" {
		t.Errorf("LookupVenueID: got %q %v, want e", id, ok)
	}
	if _, ok := x.LookupVenueID("a", "BTC-USDT", "2"); ok {
		t.Error("LookupVenueID with the wrong symbol found the order")
	}
}

func TestSubscribeDropsWhenFull(t *testing.T) {
	x := newExchange(t, paper.Config{SubscriberBuffer: 1})
	updates, unsubscribe := x.Subscribe("a")
	for i := 0; i < 3; i++ {
		if _, err := x.Place("a", marketOrder(newID(), messages.Buy, "0.001")); err != nil {
			t.Fatal(err)
		}
	}
	if got := x.Dropped(); got != 2 {
		t.Errorf("Dropped: got %d, want 2", got)
	}
	unsubscribe()
	unsubscribe()
	n := 0
	for range updates {
		n++
	}
	if n != 1 {
		t.Errorf("got %d buffered updates, want 1", n)
	}
}
