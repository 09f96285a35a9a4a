package messages

import (
	"time"

	"github.com/shopspring/decimal"
)

// Side is the side of an order.
type Side string

// Sides.
const (
	Buy  Side = "buy"
	Sell Side = "sell"
)

// OrderType is the type of an order.
type OrderType string

// Order types.
const (
	Limit  OrderType = "limit"
	Market OrderType = "market"
)

// TimeInForce says how long an order may rest.
type TimeInForce string

// Times in force.
const (
	GTC TimeInForce = "gtc"
	IOC TimeInForce = "ioc"
	FOK TimeInForce = "fok"
)

// ReportKind is the event an ExecutionReport announces; it is also the last
// token of the report's subject.
type ReportKind string

// Report kinds.
const (
	KindAccepted       ReportKind = "accepted"
	KindRejected       ReportKind = "rejected"
	KindFill           ReportKind = "fill"
	KindCanceled       ReportKind = "canceled"
	KindExpired        ReportKind = "expired"
	KindCancelRejected ReportKind = "cancel_rejected"
)

// Status is an order's status after a report's event.
type Status string

// Order statuses.
const (
	StatusNew             Status = "new"
	StatusPartiallyFilled Status = "partially_filled"
	StatusFilled          Status = "filled"
	StatusCanceled        Status = "canceled"
	StatusRejected        Status = "rejected"
	StatusExpired         Status = "expired"
)

// Terminal reports whether no further event can follow this status.
func (s Status) Terminal() bool {
	switch s {
	case StatusFilled, StatusCanceled, StatusRejected, StatusExpired:
		return true
	}
	return false
}

// OrderIntent is what a strategy publishes on orders.new.<strategy>.
type OrderIntent struct {
	ClientOrderID string            `json:"client_order_id"`
	Strategy      string            `json:"strategy,omitempty"`
	Symbol        string            `json:"symbol"`
	Side          Side              `json:"side"`
	Type          OrderType         `json:"type"`
	Quantity      decimal.Decimal   `json:"quantity"`
	Price         *decimal.Decimal  `json:"price,omitempty"`
	TimeInForce   TimeInForce       `json:"time_in_force,omitempty"`
	PostOnly      bool              `json:"post_only,omitempty"`
	ReduceOnly    bool              `json:"reduce_only,omitempty"`
	Venue         string            `json:"venue,omitempty"`
	Key           string            `json:"key,omitempty"`
	ExpiresAt     *time.Time        `json:"expires_at,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
}

// CancelIntent is what a strategy publishes on orders.cancel.<strategy>.
type CancelIntent struct {
	ClientOrderID string `json:"client_order_id"`
	Strategy      string `json:"strategy,omitempty"`
}

// Fill is one execution of an order at the venue.
type Fill struct {
	Quantity  decimal.Decimal `json:"quantity"`
	Price     decimal.Decimal `json:"price"`
	Fee       decimal.Decimal `json:"fee"`
	FeeAsset  string          `json:"fee_asset,omitempty"`
	TradeID   string          `json:"trade_id"`
	Liquidity Liquidity       `json:"liquidity,omitempty"`
}

// Liquidity says whether a fill added or took liquidity.
type Liquidity string

// Liquidity values.
const (
	Maker Liquidity = "maker"
	Taker Liquidity = "taker"
)

// ExecutionReport is what keyrouter publishes on reports.<strategy>.<kind>.
type ExecutionReport struct {
	Kind           ReportKind        `json:"kind"`
	ClientOrderID  string            `json:"client_order_id"`
	Strategy       string            `json:"strategy"`
	Symbol         string            `json:"symbol,omitempty"`
	Side           Side              `json:"side,omitempty"`
	Type           OrderType         `json:"type,omitempty"`
	Quantity       decimal.Decimal   `json:"quantity,omitzero"`
	Price          *decimal.Decimal  `json:"price,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	Key            string            `json:"key,omitempty"`
	Venue          string            `json:"venue,omitempty"`
	VenueOrderID   string            `json:"venue_order_id,omitempty"`
	Status         Status            `json:"status,omitempty"`
	Fill           *Fill             `json:"fill,omitempty"`
	CumQuantity    decimal.Decimal   `json:"cum_quantity"`
	LeavesQuantity decimal.Decimal   `json:"leaves_quantity"`
	AvgPrice       decimal.Decimal   `json:"avg_price,omitzero"`
	Reason         Reason            `json:"reason,omitempty"`
	Message        string            `json:"message,omitempty"`
	Seq            uint64            `json:"seq"`
	TS             time.Time         `json:"ts"`
}

// KeyState is the health of an API key partition.
type KeyState string

// Key states.
const (
	KeyActive    KeyState = "active"
	KeyThrottled KeyState = "throttled"
	KeyBanned    KeyState = "banned"
	KeyHalted    KeyState = "halted"
	KeyDown      KeyState = "down"
)

// KeyStatusHeartbeat is the longest an active executor stays silent on
// keys.<key>.status: a status that did not change is published again this
// often (one that changed, within a second). Keys that idle cost one small
// message per this interval each, not one a second.
const KeyStatusHeartbeat = 5 * time.Second

// Usable reports whether new orders may be routed to a key in this state.
func (s KeyState) Usable() bool { return s == KeyActive }

// LimitStatus is one rate limit of a key as seen by its executor. Window and
// ResetsIn are in seconds.
type LimitStatus struct {
	Name     string  `json:"name"`
	Used     float64 `json:"used"`
	Max      float64 `json:"max"`
	Window   float64 `json:"window"`
	ResetsIn float64 `json:"resets_in"`
}

// KeyStatus is what an executor publishes on keys.<key>.status: at once
// on a change of state, within a second of any other change (queue, open
// orders, budget used, prices), and at least every KeyStatusHeartbeat
// while nothing changes.
type KeyStatus struct {
	Key        string        `json:"key"`
	Venue      string        `json:"venue"`
	State      KeyState      `json:"state"`
	Limits     []LimitStatus `json:"limits"`
	QueueDepth int           `json:"queue_depth"`
	// QueueCancel counts the cancels among QueueDepth (the rest are new
	// orders).
	QueueCancel int `json:"queue_cancel,omitempty"`
	// OpenOrders counts the key's orders at the venue not yet closed.
	OpenOrders int `json:"open_orders"`
	// Prices are the venue's reference prices of the symbols it trades,
	// where the venue tells them (the risk checks' price band uses them).
	Prices map[string]decimal.Decimal `json:"prices,omitempty"`
	Worker string                     `json:"worker"`
	// Until is when a throttled or banned key may be used again.
	Until *time.Time `json:"until,omitempty"`
	// Message says why a key is down or halted.
	Message string `json:"message,omitempty"`
	// Capacity says when the key's budget could send more new orders,
	// after everything queued at TS: the order that has OrdersBefore of
	// them ahead of it goes at TS + InMS at the earliest, for the steps
	// given (see EarliestNew). The router uses it to refuse at once an
	// intent the key cannot send before its expires_at. Present while the
	// key's queue holds requests or its budget makes a new order wait;
	// when absent, a new order could go at once.
	Capacity []CapacityPoint `json:"capacity,omitempty"`
	TS       time.Time       `json:"ts"`
}

// CapacityPoint is one step of KeyStatus.Capacity: a new order with
// OrdersBefore new orders ahead of it (arriving after the status, behind
// everything queued) goes InMS milliseconds after the status's TS at the
// earliest (rounded down). Steps come in time order.
type CapacityPoint struct {
	InMS         int64 `json:"in_ms"`
	OrdersBefore int   `json:"orders_before"`
}

// EarliestNew returns the earliest instant the key of status s could send
// a new order arriving after s was taken with k others ahead of it, by
// s.Capacity, never later than it could: the instant of the last step
// with k or fewer orders before it. false: s says nothing that holds it
// back (no capacity given).
func (s *KeyStatus) EarliestNew(k int) (time.Time, bool) {
	if len(s.Capacity) == 0 {
		return time.Time{}, false
	}
	i := 0
	for i+1 < len(s.Capacity) && s.Capacity[i+1].OrdersBefore <= k {
		i++
	}
	return s.TS.Add(time.Duration(s.Capacity[i].InMS) * time.Millisecond), true
}

// SameAs reports whether s says what o says, apart from when it was taken:
// TS and each limit's ResetsIn are not compared.
func (s *KeyStatus) SameAs(o *KeyStatus) bool {
	if s.Key != o.Key || s.Venue != o.Venue || s.State != o.State || s.QueueDepth != o.QueueDepth ||
		s.QueueCancel != o.QueueCancel || s.OpenOrders != o.OpenOrders || s.Worker != o.Worker ||
		s.Message != o.Message || len(s.Limits) != len(o.Limits) || len(s.Prices) != len(o.Prices) {
		return false
	}
	if (s.Until == nil) != (o.Until == nil) || s.Until != nil && !s.Until.Equal(*o.Until) {
		return false
	}
	for i, l := range s.Limits {
		m := o.Limits[i]
		if l.Name != m.Name || l.Used != m.Used || l.Max != m.Max || l.Window != m.Window {
			return false
		}
	}
	for sym, p := range s.Prices {
		if q, ok := o.Prices[sym]; !ok || !p.Equal(q) {
			return false
		}
	}
	return true
}
