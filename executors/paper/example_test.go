package paper_test

import (
	"fmt"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/paper"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

func ExampleExchange() {
	x, err := paper.NewExchange(paper.Config{Seed: 1, TakerFee: decimal.RequireFromString("0.001")})
	if err != nil {
		panic(err)
	}
	// 1.2 BTC is more than one fill (at most 0.5) takes.
	u, _ := x.Place("acct", executors.Order{
		ClientID: "o1", Symbol: "BTC-USDT", Side: messages.Buy, Type: messages.Market,
		Quantity: decimal.RequireFromString("1.2"),
	})
	fmt.Println(u.VenueOrderID, u.Status, u.CumQuantity)
	for _, f := range u.Fills {
		fmt.Println(f.TradeID, f.Quantity, "@", f.Price, "fee", f.Fee, f.FeeAsset, f.Liquidity)
	}

	// A buy below the market rests until the price comes down to it.
	x.Place("acct", executors.Order{
		ClientID: "o2", Symbol: "BTC-USDT", Side: messages.Buy, Type: messages.Limit,
		Quantity: decimal.RequireFromString("0.1"), Price: decimal.RequireFromString("59000"),
	})
	x.SetPrice("BTC-USDT", decimal.RequireFromString("58990"))
	u, _ = x.Query("acct", "BTC-USDT", "o2")
	fmt.Println(u.Status, u.Fills[0].Price, u.Fills[0].Liquidity)

	_, err = x.Place("acct", executors.Order{
		ClientID: "o2", Symbol: "BTC-USDT", Side: messages.Buy, Type: messages.Market,
		Quantity: decimal.RequireFromString("0.1"),
	})
	fmt.Println(err)
	// Output:
	// 1 filled 1.2
	// 1 0.5 @ 60000 fee 30 USDT taker
	// 2 0.5 @ 60000 fee 30 USDT taker
	// 3 0.2 @ 60000 fee 12 USDT taker
	// filled 59000 maker
	// venue rejected DUPLICATE_CLIENT_ID: client order ID o2 was already used
}
