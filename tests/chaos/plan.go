package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// Profile sizes a run.
type Profile struct {
	Name string
	// Load is how long intents are sent; Rate their steady pace per
	// second; Bursts times BurstSize market orders of s1 at once (past the
	// account's ORDERS limit).
	Load      time.Duration
	Rate      float64
	Bursts    int
	BurstSize int
	// Disruptions during the load.
	ExecutorKills, RouterKills, NodeKills, FaultWindows int
	// Settle bounds the wait, after the load, for every intent's first
	// report and every cancel's answer.
	Settle time.Duration
	// TakeoverMax is the longest takeover allowed after an executor's
	// SIGKILL (the target: 3 s).
	TakeoverMax time.Duration
}

// Short is the run of `go test ./...` (about two minutes); Long is `make
// chaos`'s.
var (
	Short = Profile{Name: "short", Load: 60 * time.Second, Rate: 4, Bursts: 2, BurstSize: 40,
		ExecutorKills: 3, RouterKills: 1, NodeKills: 1, FaultWindows: 1, Settle: 45 * time.Second, TakeoverMax: 3 * time.Second}
	Long = Profile{Name: "long", Load: 6 * time.Minute, Rate: 5, Bursts: 10, BurstSize: 40,
		ExecutorKills: 12, RouterKills: 4, NodeKills: 4, FaultWindows: 3, Settle: 90 * time.Second, TakeoverMax: 3 * time.Second}
)

// EventKind is a disruption.
type EventKind string

// Disruptions.
const (
	KillExecutor EventKind = "kill-executor" // SIGKILL the active executor of Key
	KillRouter   EventKind = "kill-router"   // SIGKILL the active router
	KillNode     EventKind = "kill-node"     // SIGKILL one NATS node (see Stream)
	FaultsOn     EventKind = "faults-on"     // simulator: 5xx, timeouts that take effect, latency
	FaultsOff    EventKind = "faults-off"
)

// Event is one disruption at At after the load starts; a killed process
// is started again Pause later.
type Event struct {
	At    time.Duration
	Kind  EventKind
	Key   string        // KillExecutor
	Pause time.Duration // kills
	// Stream names the stream whose leader node KillNode kills.
	Stream string
}

func (e Event) String() string {
	s := fmt.Sprintf("%6.1fs %s", e.At.Seconds(), e.Kind)
	switch e.Kind {
	case KillExecutor:
		s += " " + e.Key
	case KillNode:
		s += " (leader of " + e.Stream + ")"
	}
	return s
}

// Planned is one intent of the load, sent At after the load starts.
type Planned struct {
	At          time.Duration
	Intent      messages.OrderIntent
	Strategy    string
	CancelAfter time.Duration // after the intent's stored-ack; < 0: never
	// ExpiresIn, if not 0, gives the intent an expires_at this long after
	// it is sent.
	ExpiresIn time.Duration
}

// expiries are the deadlines drawn for some intents: one shorter than a
// takeover, so an order in hand at a kill expires meanwhile, and longer
// ones.
var expiries = []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second}

// Plan is a run's load and disruptions, all drawn from one seed.
type Plan struct {
	Seed    int64
	Profile Profile
	Intents []Planned
	Events  []Event
}

// Start prices of the simulator's symbols (simConfig); limit prices are
// set from them, so the load needs no price feed.
var startPrice = map[string]decimal.Decimal{
	"BTC-USDT": decimal.RequireFromString("60000"),
	"ETH-USDT": decimal.RequireFromString("3000"),
}

// NewPlan draws the load and the disruptions of a run from seed.
func NewPlan(seed int64, p Profile) Plan {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6b6579726f757465))
	plan := Plan{Seed: seed, Profile: p}
	n := 0
	id := func() string {
		n++
		return fmt.Sprintf("c%d-%05d", seed%1000000, n)
	}
	steady := int(p.Load.Seconds() * p.Rate)
	for i := range steady {
		at := time.Duration((float64(i) + rng.Float64()) / p.Rate * float64(time.Second))
		strategy := "s1"
		if rng.Float64() < 0.4 {
			strategy = "s2"
		}
		plan.Intents = append(plan.Intents, drawIntent(rng, at, strategy, id()))
	}
	for b := range p.Bursts {
		slot := p.Load / time.Duration(p.Bursts)
		at := time.Duration(b)*slot + time.Duration(rng.Float64()*float64(slot)*0.8)
		for range p.BurstSize {
			plan.Intents = append(plan.Intents, marketIntent(rng, at, "s1", id(), false))
		}
	}
	sort.SliceStable(plan.Intents, func(i, j int) bool { return plan.Intents[i].At < plan.Intents[j].At })
	plan.Events = drawEvents(rng, p)
	return plan
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

func symbolFor(rng *rand.Rand) string { return pick(rng, "BTC-USDT", "BTC-USDT", "ETH-USDT") }

// smallQty is 1 to 5 minimum-notional-safe units: one fill.
func smallQty(rng *rand.Rand, symbol string) decimal.Decimal {
	unit := decimal.RequireFromString("0.001")
	if symbol == "ETH-USDT" {
		unit = decimal.RequireFromString("0.01")
	}
	return unit.Mul(decimal.NewFromInt(int64(1 + rng.IntN(5))))
}

// largeQty fills in two or three fills (MaxFillQty 0.5 BTC, 5 ETH).
func largeQty(rng *rand.Rand, symbol string) decimal.Decimal {
	if symbol == "ETH-USDT" {
		return decimal.RequireFromString(pick(rng, "8", "12"))
	}
	return decimal.RequireFromString(pick(rng, "0.8", "1.2"))
}

func side(rng *rand.Rand) messages.Side { return pick(rng, messages.Buy, messages.Sell) }

func marketIntent(rng *rand.Rand, at time.Duration, strategy, id string, large bool) Planned {
	sym := symbolFor(rng)
	q := smallQty(rng, sym)
	if large {
		q = largeQty(rng, sym)
	}
	return Planned{At: at, Strategy: strategy, CancelAfter: -1, Intent: messages.OrderIntent{
		ClientOrderID: id, Symbol: sym, Side: side(rng), Type: messages.Market, Quantity: q,
	}}
}

// priceAway is the start price moved by frac (as a fraction) against the
// side (passive) or through it (marketable), on the tick.
func priceAway(symbol string, s messages.Side, frac float64, marketable bool) *decimal.Decimal {
	f := decimal.NewFromFloat(frac)
	up := (s == messages.Buy) == marketable // buy through, or sell passively: above
	mult := decimal.NewFromInt(1).Sub(f)
	if up {
		mult = decimal.NewFromInt(1).Add(f)
	}
	p := startPrice[symbol].Mul(mult).Round(2)
	return &p
}

var cancelDelays = []time.Duration{0, 0, 20 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

// drawIntent draws one intent of the steady load (drawOrder), some with a
// deadline.
func drawIntent(rng *rand.Rand, at time.Duration, strategy, id string) Planned {
	p := drawOrder(rng, at, strategy, id)
	// One in five has a deadline (promise 5): refused at once by the
	// router when no key's budget can meet it, expired by its executor,
	// or asked about past it when it may be at the venue at a takeover.
	if rng.Float64() < 0.2 {
		p.ExpiresIn = pick(rng, expiries...)
	}
	return p
}

// drawOrder draws the order of one intent of the steady load: markets
// (some filled in several fills), limits through the price (filled at
// once, the rest of a
// large one on the next tick, or expired if IOC), near it (filled, or not,
// as the price walks) and far from it (open until canceled); many limits
// get a cancel, some at once after their stored-ack.
func drawOrder(rng *rand.Rand, at time.Duration, strategy, id string) Planned {
	u := rng.Float64()
	switch {
	case u < 0.35:
		return marketIntent(rng, at, strategy, id, false)
	case u < 0.40:
		return marketIntent(rng, at, strategy, id, true)
	}
	sym := symbolFor(rng)
	sd := side(rng)
	p := Planned{At: at, Strategy: strategy, CancelAfter: -1, Intent: messages.OrderIntent{
		ClientOrderID: id, Symbol: sym, Side: sd, Type: messages.Limit, TimeInForce: messages.GTC, Quantity: smallQty(rng, sym),
	}}
	in := &p.Intent
	switch {
	case u < 0.52: // through the price
		in.Price = priceAway(sym, sd, 0.05, true)
		if rng.Float64() < 0.4 {
			in.Quantity = largeQty(rng, sym)
		}
	case u < 0.57: // through, IOC, large: a partial fill then expired
		in.Price = priceAway(sym, sd, 0.05, true)
		in.Quantity, in.TimeInForce = largeQty(rng, sym), messages.IOC
	case u < 0.80: // near: the walk may fill it
		in.Price = priceAway(sym, sd, 0.0005+rng.Float64()*0.003, false)
		if rng.Float64() < 0.5 {
			p.CancelAfter = pick(rng, cancelDelays...)
		}
	default: // far: open until canceled
		in.Price = priceAway(sym, sd, 0.08, false)
		if rng.Float64() < 0.8 {
			p.CancelAfter = pick(rng, cancelDelays...)
		}
	}
	return p
}

// drawEvents spreads the kills over the middle of the load, one per slot
// in a shuffled order, and the fault windows over it.
func drawEvents(rng *rand.Rand, p Profile) []Event {
	var kinds []EventKind
	for range p.ExecutorKills {
		kinds = append(kinds, KillExecutor)
	}
	for range p.RouterKills {
		kinds = append(kinds, KillRouter)
	}
	for range p.NodeKills {
		kinds = append(kinds, KillNode)
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	var evs []Event
	from, to := p.Load/8, p.Load*7/8
	if len(kinds) > 0 {
		slot := (to - from) / time.Duration(len(kinds))
		streams := []string{messages.StreamExec, messages.StreamOrders, messages.StreamReports}
		for i, k := range kinds {
			ev := Event{At: from + time.Duration(i)*slot + time.Duration(rng.Float64()*float64(slot)*0.5), Kind: k}
			switch k {
			case KillExecutor:
				ev.Key, ev.Pause = pick(rng, Keys...), 5*time.Second
			case KillRouter:
				ev.Pause = 3 * time.Second
			case KillNode:
				ev.Stream, ev.Pause = streams[rng.IntN(len(streams))], 5*time.Second
			}
			evs = append(evs, ev)
		}
	}
	if p.FaultWindows > 0 {
		span := (to - from) / time.Duration(p.FaultWindows)
		for i := range p.FaultWindows {
			on := from + time.Duration(i)*span + time.Duration(rng.Float64()*float64(span)*0.2)
			evs = append(evs, Event{At: on, Kind: FaultsOn}, Event{At: on + span*3/4, Kind: FaultsOff})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At < evs[j].At })
	return evs
}
