package messages_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyrouter/keyrouter/messages"
)

func ExampleDecodeOrderIntent() {
	data := []byte(`{"client_order_id":"o-1","symbol":"BTC-USDT","side":"buy","type":"limit",
		"quantity":0.1000000000000000055511151231257827,"price":"65000.10"}`)
	in, err := messages.DecodeOrderIntent(data, "alpha")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(in.Strategy, in.Symbol, in.Side, in.Type, in.TimeInForce)
	fmt.Println(in.Quantity, in.Price)
	out, _ := json.Marshal(in)
	fmt.Println(string(out))
	// Output:
	// alpha BTC-USDT buy limit gtc
	// 0.1000000000000000055511151231257827 65000.1
	// {"client_order_id":"o-1","strategy":"alpha","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.1000000000000000055511151231257827","price":"65000.1","time_in_force":"gtc"}
}

func ExampleDecodeOrderIntent_invalid() {
	data := []byte(`{"client_order_id":"o-2","symbol":"BTC-USDT","side":"buy","type":"market","quantiy":"1"}`)
	_, err := messages.DecodeOrderIntent(data, "alpha")
	var verr *messages.ValidationError
	if errors.As(err, &verr) {
		fmt.Printf("field %q: %v\n", verr.Field, err)
	}
	// Output:
	// field "quantiy": quantiy: unknown field
}

func ExampleDecodeCancelIntent() {
	c, err := messages.DecodeCancelIntent([]byte(`{"client_order_id":"o-1"}`), "alpha")
	fmt.Println(c.Strategy, c.ClientOrderID, err)
	// Output:
	// alpha o-1 <nil>
}

func ExampleReportSubject() {
	fmt.Println(messages.OrdersNewSubject("alpha"))
	fmt.Println(messages.OrdersCancelSubject("alpha"))
	fmt.Println(messages.ReportSubject("alpha", messages.KindFill))
	fmt.Println(messages.ReportsWildcard("alpha"))
	fmt.Println(messages.KeyStatusSubject("alpha-1"))
	strategy, ok := messages.StrategyFromSubject("orders.new.alpha")
	fmt.Println(strategy, ok)
	// Output:
	// orders.new.alpha
	// orders.cancel.alpha
	// reports.alpha.fill
	// reports.alpha.>
	// keys.alpha-1.status
	// alpha true
}
