package messages

import "github.com/shopspring/decimal"

// ValidSymbol reports whether s is a venue-neutral symbol BASE-QUOTE, each
// part 1 to 20 upper-case letters or digits.
func ValidSymbol(s string) bool {
	dash := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-':
			if dash >= 0 {
				return false
			}
			dash = i
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return dash > 0 && dash <= MaxSymbolPartLen && len(s)-dash-1 >= 1 && len(s)-dash-1 <= MaxSymbolPartLen
}

// Validate checks the rules of the contract's OrderIntent table that do not
// depend on configuration. It returns a *ValidationError or nil.
func (in *OrderIntent) Validate() error {
	switch {
	case in.ClientOrderID == "":
		return fieldErr("client_order_id", "required")
	case !ValidClientOrderID(in.ClientOrderID):
		return fieldErr("client_order_id", "must match ^[A-Za-z0-9_-]{1,36}$")
	case in.Strategy != "" && !ValidID(in.Strategy):
		return fieldErr("strategy", "must match ^[A-Za-z0-9_-]{1,64}$")
	case in.Symbol == "":
		return fieldErr("symbol", "required")
	case !ValidSymbol(in.Symbol):
		return fieldErr("symbol", "must be BASE-QUOTE in upper case, like BTC-USDT; got %q", clip(in.Symbol))
	case in.Side == "":
		return fieldErr("side", "required")
	case in.Side != Buy && in.Side != Sell:
		return fieldErr("side", "must be buy or sell; got %q", clip(string(in.Side)))
	case in.Type == "":
		return fieldErr("type", "required")
	case in.Type != Limit && in.Type != Market:
		return fieldErr("type", "must be limit or market; got %q", clip(string(in.Type)))
	case !in.Quantity.IsPositive():
		return fieldErr("quantity", "must be greater than 0")
	case in.Type == Limit && in.Price == nil:
		return fieldErr("price", "required for a limit order")
	case in.Type == Limit && !in.Price.IsPositive():
		return fieldErr("price", "must be greater than 0")
	case in.Type == Market && in.Price != nil:
		return fieldErr("price", "must be absent for a market order")
	}
	switch in.TimeInForce {
	case "", GTC, IOC, FOK:
	default:
		return fieldErr("time_in_force", "must be gtc, ioc or fok; got %q", clip(string(in.TimeInForce)))
	}
	if in.Type == Market && in.TimeInForce == GTC {
		return fieldErr("time_in_force", "a market order cannot rest: use ioc or fok")
	}
	if in.PostOnly && (in.Type == Market || in.TimeInForce == IOC || in.TimeInForce == FOK) {
		return fieldErr("post_only", "only for a limit gtc order")
	}
	if in.Venue != "" && !ValidID(in.Venue) {
		return fieldErr("venue", "must match ^[A-Za-z0-9_-]{1,64}$")
	}
	if in.Key != "" && !ValidID(in.Key) {
		return fieldErr("key", "must match ^[A-Za-z0-9_-]{1,64}$")
	}
	return checkTags(in.Tags)
}

// Notional is quantity times price, or zero for an order without a price.
func (in *OrderIntent) Notional() decimal.Decimal {
	if in.Price == nil {
		return decimal.Zero
	}
	return in.Quantity.Mul(*in.Price)
}
