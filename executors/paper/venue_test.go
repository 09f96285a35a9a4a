package paper_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/executors/venuetest"
	"github.com/keyrouter/keyrouter/messages"
)

func TestVenueContract(t *testing.T) {
	venuetest.Run(t, func(t *testing.T) venuetest.Harness {
		x := newExchange(t, paper.Config{Seed: 1, MakerFee: dec("0.001"), TakerFee: dec("0.002")})
		v := paper.NewVenue(x, "key1", paper.VenueOptions{Limits: []paper.RateLimit{
			{Name: "orders_1m", Max: 20, Window: time.Minute, Classes: []string{paper.ClassNew}},
			{Name: "weight_1m", Max: 6000, Window: time.Minute},
		}})
		t.Cleanup(func() { v.Close() })
		return venuetest.Harness{
			Venue:     v,
			SetPrice:  x.SetPrice,
			Orders:    func() []executors.OrderUpdate { return x.AllOrders("key1", "") },
			RateLimit: &venuetest.RateLimitCase{Limit: "orders_1m", Max: 20, Rejections: v.Rejections429},
		}
	})
}

func TestVenueName(t *testing.T) {
	v := paper.NewVenue(newExchange(t, paper.Config{}), "k", paper.VenueOptions{})
	defer v.Close()
	if got := v.Name(); got != "paper" {
		t.Errorf("got %q, want paper", got)
	}
}

// fakeClock is a settable clock for window arithmetic.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestVenueRateLimitWindows(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0).Add(10 * time.Second)}
	x := newExchange(t, paper.Config{Clock: clk.Now})
	group := paper.NewLimitGroup()
	opts := paper.VenueOptions{Limits: []paper.RateLimit{
		{Name: "key_new", Max: 2, Window: time.Second, Classes: []string{paper.ClassNew}},
		{Name: "account", Max: 3, Window: time.Minute, Group: group},
	}}
	a := paper.NewVenue(x, "acct", opts)
	b := paper.NewVenue(x, "acct", opts)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	place := func(v *paper.Venue) error {
		_, err := v.Place(ctx, marketOrder(newID(), messages.Buy, "0.001"))
		return err
	}

	for i := 0; i < 2; i++ {
		if err := place(a); err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
	}
	err := place(a)
	var ve *executors.VenueError
	if !errors.As(err, &ve) || ve.Kind != executors.Throttled || ve.Reason != messages.ReasonRateLimited || ve.Code != "429" {
		t.Fatalf("third order in a second: got %v, want Throttled 429 rate_limited", err)
	}
	if want := time.Unix(1_700_000_011, 0); !ve.RetryAfter.Equal(want) {
		t.Errorf("RetryAfter: got %v, want %v", ve.RetryAfter, want)
	}
	if got := a.Rejections429(); got != 1 {
		t.Errorf("Rejections429: got %d, want 1", got)
	}

	// The account limit is shared: b's first order is the third of the minute.
	if _, err := b.Query(ctx, "BTC-USDT", "nope"); !errors.Is(err, executors.ErrUnknownOrder) {
		t.Fatalf("query: got %v, want ErrUnknownOrder", err)
	}
	clk.now = clk.now.Add(time.Second)
	err = place(b)
	if !errors.As(err, &ve) || ve.Kind != executors.Throttled {
		t.Fatalf("fourth request of the account in a minute: got %v, want Throttled", err)
	}
	if want := time.Unix(1_700_000_040, 0); !ve.RetryAfter.Equal(want) {
		t.Errorf("RetryAfter: got %v, want %v", ve.RetryAfter, want)
	}
	if got := usageOf(ve.Usage, "account"); got != 3 {
		t.Errorf("account usage: got %d, want 3", got)
	}

	// A new minute resets both.
	clk.now = time.Unix(1_700_000_040, 0)
	u, err := b.Place(ctx, marketOrder(newID(), messages.Buy, "0.001"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := usageOf(u.Usage, "account"), int64(1); got != want {
		t.Errorf("account usage in a new window: got %d, want %d", got, want)
	}
	if got, want := usageOf(u.Usage, "key_new"), int64(1); got != want {
		t.Errorf("key usage in a new window: got %d, want %d", got, want)
	}
}

func usageOf(us []executors.Usage, name string) int64 {
	for _, u := range us {
		if u.Limit == name {
			return u.Used
		}
	}
	return -1
}

func TestVenueLatency(t *testing.T) {
	x := newExchange(t, paper.Config{})
	v := paper.NewVenue(x, "k", paper.VenueOptions{Latency: time.Hour})
	defer v.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := v.Place(ctx, marketOrder("a1", messages.Buy, "0.001"))
	var ve *executors.VenueError
	if !errors.As(err, &ve) || ve.Kind != executors.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	if n := len(x.AllOrders("k", "")); n != 0 {
		t.Errorf("exchange holds %d orders, want 0", n)
	}
}

func TestVenueUpdatesOnlyOwnOrders(t *testing.T) {
	x := newExchange(t, paper.Config{})
	a := paper.NewVenue(x, "acct", paper.VenueOptions{})
	b := paper.NewVenue(x, "acct", paper.VenueOptions{})
	all := paper.NewVenue(x, "acct", paper.VenueOptions{AllAccountOrders: true})
	defer a.Close()
	defer b.Close()
	defer all.Close()
	ctx := context.Background()
	if _, err := b.Place(ctx, marketOrder("fromB", messages.Buy, "0.001")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Place(ctx, marketOrder("fromA", messages.Buy, "0.001")); err != nil {
		t.Fatal(err)
	}
	if u := next(t, a.Updates()); u.ClientID != "fromA" {
		t.Errorf("a: got update of %s, want fromA only", u.ClientID)
	}
	if u := next(t, b.Updates()); u.ClientID != "fromB" {
		t.Errorf("b: got update of %s, want fromB", u.ClientID)
	}
	for _, want := range []string{"fromB", "fromA"} {
		if u := next(t, all.Updates()); u.ClientID != want {
			t.Errorf("all: got update of %s, want %s", u.ClientID, want)
		}
	}
}

func TestVenueClose(t *testing.T) {
	x := newExchange(t, paper.Config{})
	v := paper.NewVenue(x, "k", paper.VenueOptions{})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, ok := <-v.Updates(); ok {
		t.Error("Updates open after Close")
	}
	_, err := v.Place(context.Background(), marketOrder("a", messages.Buy, "0.001"))
	var ve *executors.VenueError
	if !errors.As(err, &ve) || ve.Kind != executors.Unavailable {
		t.Errorf("Place after Close: got %v, want Unavailable", err)
	}
}

func TestVenueOptionsValidate(t *testing.T) {
	for _, o := range []paper.VenueOptions{
		{Latency: -1},
		{Limits: []paper.RateLimit{{Name: "x", Max: 0, Window: time.Second}}},
		{Limits: []paper.RateLimit{{Name: "x", Max: 1, Window: time.Second, Classes: []string{"bogus"}}}},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: got nil, want an error", o)
		}
	}
	g := paper.NewLimitGroup()
	twice := paper.VenueOptions{Limits: []paper.RateLimit{
		{Name: "x", Max: 1, Window: time.Second, Group: g},
		{Name: "x", Max: 2, Window: time.Second, Group: g},
	}}
	if err := twice.Validate(); err == nil {
		t.Error("the same group limit twice: got nil, want an error")
	}
}

func next(t *testing.T, ch <-chan executors.OrderUpdate) executors.OrderUpdate {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	return executors.OrderUpdate{}
}

// A standby that takes over a key adopts an open order by querying it.
func TestVenueQueryAdoptsOpenOrder(t *testing.T) {
	x := newExchange(t, paper.Config{})
	a := paper.NewVenue(x, "acct", paper.VenueOptions{})
	b := paper.NewVenue(x, "acct", paper.VenueOptions{})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	if _, err := a.Place(ctx, limitOrder("rest", messages.Buy, "0.001", "59000", messages.GTC)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Query(ctx, "BTC-USDT", "rest"); err != nil {
		t.Fatal(err)
	}
	x.SetPrice("BTC-USDT", dec("58000"))
	// b may first see the order's acceptance, still in its subscription.
	u := next(t, b.Updates())
	if u.Status == messages.StatusNew {
		u = next(t, b.Updates())
	}
	if u.ClientID != "rest" || u.Status != messages.StatusFilled {
		t.Errorf("b: got %s of %s, want filled of rest", u.Status, u.ClientID)
	}
}
