package paper

import (
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

// SymbolSpec describes one tradable symbol and its filters.
type SymbolSpec struct {
	Symbol string // venue-neutral form, BTC-USDT
	// Base and Quote are the assets; derived from Symbol when empty.
	Base, Quote string
	// RefPrice is the starting reference price.
	RefPrice decimal.Decimal
	// TickSize: a limit price must be a multiple of it.
	TickSize decimal.Decimal
	// StepSize: a quantity must be a multiple of it.
	StepSize decimal.Decimal
	// MinQty and MaxQty bound a quantity; a zero MaxQty means no bound.
	MinQty, MaxQty decimal.Decimal
	// MinNotional is the least price × quantity of an order.
	MinNotional decimal.Decimal
	// Volatility is the largest relative move of one Step, e.g. 0.0005.
	Volatility decimal.Decimal
	// MaxFillQty is the most one fill (and one tick of a resting order)
	// takes; zero means no limit. Larger orders fill in several fills.
	MaxFillQty decimal.Decimal
}

// Config configures an Exchange.
type Config struct {
	// Symbols are the tradable symbols; DefaultSymbols if empty.
	Symbols []SymbolSpec
	// Seed seeds the random walk of Step, so a run is reproducible.
	Seed int64
	// MakerFee and TakerFee are fee rates on the notional, e.g. 0.001.
	MakerFee, TakerFee decimal.Decimal
	// Accounts holds each account's starting balance per asset. Nil: any
	// account is accepted and unlimited. Otherwise only listed accounts
	// exist (see AddAccount), and a nil balance map is unlimited.
	Accounts map[string]map[string]decimal.Decimal
	// Clock is the time source; time.Now if nil.
	Clock func() time.Time
	// SubscriberBuffer is the capacity of each Subscribe channel; 1024 if
	// zero.
	SubscriberBuffer int
	// ReuseClosedClientIDs accepts a client ID again once every order of
	// the account with it is closed, as Binance does; lookups by client ID
	// then find the newest order with it (the *ByVenueID methods name one
	// exactly). False (the default): a client ID is never accepted twice.
	ReuseClosedClientIDs bool
}

// DefaultSymbols returns BTC-USDT (about 60000, tick 0.01, step 0.00001,
// min notional 5, at most 0.5 per fill) and ETH-USDT (about 3000, tick 0.01,
// step 0.0001, min notional 5, at most 5 per fill).
func DefaultSymbols() []SymbolSpec {
	d := decimal.RequireFromString
	return []SymbolSpec{
		{
			Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT",
			RefPrice: d("60000"), TickSize: d("0.01"), StepSize: d("0.00001"),
			MinQty: d("0.00001"), MaxQty: d("9000"), MinNotional: d("5"),
			Volatility: d("0.0005"), MaxFillQty: d("0.5"),
		},
		{
			Symbol: "ETH-USDT", Base: "ETH", Quote: "USDT",
			RefPrice: d("3000"), TickSize: d("0.01"), StepSize: d("0.0001"),
			MinQty: d("0.0001"), MaxQty: d("90000"), MinNotional: d("5"),
			Volatility: d("0.0005"), MaxFillQty: d("5"),
		},
	}
}

// Errors of an Exchange, for errors.Is. Refusals of an order are
// *executors.VenueError; these are wrapped in their Err.
var (
	ErrUnknownAccount = errors.New("paper: unknown account")
	ErrUnknownSymbol  = errors.New("paper: unknown symbol")
)

// Refusal codes in executors.VenueError.Code.
const (
	CodeFilter              = "FILTER"
	CodeDuplicateClientID   = "DUPLICATE_CLIENT_ID"
	CodeInsufficientBalance = "INSUFFICIENT_BALANCE"
	CodeWouldCross          = "WOULD_CROSS"
	CodeUnknownSymbol       = "UNKNOWN_SYMBOL"
	CodeUnknownAccount      = "UNKNOWN_ACCOUNT"
	CodeInvalid             = "INVALID"
	CodeUnknownOrder        = "UNKNOWN_ORDER"
	CodeOrderClosed         = "ORDER_CLOSED"
)

// Exchange is a simulated multi-account exchange. It is safe for concurrent
// use; see the package documentation for its matching model.
type Exchange struct {
	clock    func() time.Time
	makerFee decimal.Decimal
	takerFee decimal.Decimal
	lockFee  decimal.Decimal // 1 + max(maker, taker, 0): what a buy locks per quote unit
	subBuf   int
	open     bool // accounts not in Config.Accounts are created unlimited
	reuseIDs bool // Config.ReuseClosedClientIDs

	dropped atomic.Int64

	mu          sync.Mutex // guards everything below
	rng         *rand.Rand
	books       []*book // in Config order, so Step is deterministic
	bySymbol    map[string]*book
	accounts    map[string]*account
	nextOrderID uint64
	nextTradeID uint64
	nextSubID   int
}

type book struct {
	spec    SymbolSpec
	price   decimal.Decimal
	resting []*order // open limit orders of every account, in arrival order
}

type account struct {
	name      string
	unlimited bool
	balances  map[string]*balance
	orders    map[string]*order // by client ID: the newest accepted order with it, forever
	byID      map[uint64]*order
	all       []*order // in venue order ID order
	open      map[*order]struct{}
	subs      map[int]*subscriber
}

type balance struct {
	free, locked decimal.Decimal
}

// subscriber is a channel of updates (Subscribe), or a func taking them
// (a Venue's, see Venue.offer).
type subscriber struct {
	ch      chan executors.OrderUpdate
	fn      func(executors.OrderUpdate) bool
	dropped int64
}

// NewExchange validates cfg and returns an Exchange at the symbols'
// reference prices.
func NewExchange(cfg Config) (*Exchange, error) {
	if len(cfg.Symbols) == 0 {
		cfg.Symbols = DefaultSymbols()
	}
	x := &Exchange{
		clock:    cfg.Clock,
		makerFee: cfg.MakerFee,
		takerFee: cfg.TakerFee,
		subBuf:   cfg.SubscriberBuffer,
		open:     cfg.Accounts == nil,
		reuseIDs: cfg.ReuseClosedClientIDs,
		rng:      rand.New(rand.NewSource(cfg.Seed)),
		bySymbol: make(map[string]*book, len(cfg.Symbols)),
		accounts: make(map[string]*account),
	}
	if x.clock == nil {
		x.clock = time.Now
	}
	switch {
	case x.subBuf < 0:
		return nil, errors.New("paper: negative subscriber buffer")
	case x.subBuf == 0:
		x.subBuf = 1024
	}
	x.lockFee = decimal.Max(cfg.MakerFee, cfg.TakerFee, decimal.Zero).Add(decimal.NewFromInt(1))
	for i, s := range cfg.Symbols {
		if err := normalize(&s); err != nil {
			return nil, fmt.Errorf("paper: symbol %d: %w", i, err)
		}
		if _, dup := x.bySymbol[s.Symbol]; dup {
			return nil, fmt.Errorf("paper: symbol %s listed twice", s.Symbol)
		}
		b := &book{spec: s, price: s.RefPrice}
		x.books = append(x.books, b)
		x.bySymbol[s.Symbol] = b
	}
	for name, bals := range cfg.Accounts {
		if err := x.addAccount(name, bals); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func normalize(s *SymbolSpec) error {
	if s.Symbol == "" {
		return errors.New("empty symbol")
	}
	if s.Base == "" || s.Quote == "" {
		base, quote, ok := strings.Cut(s.Symbol, "-")
		if !ok || base == "" || quote == "" {
			return fmt.Errorf("%s: base and quote not given and not BASE-QUOTE", s.Symbol)
		}
		s.Base, s.Quote = base, quote
	}
	for _, f := range []struct {
		name string
		v    decimal.Decimal
	}{{"ref price", s.RefPrice}, {"tick size", s.TickSize}, {"step size", s.StepSize}} {
		if !f.v.IsPositive() {
			return fmt.Errorf("%s: %s must be > 0", s.Symbol, f.name)
		}
	}
	for _, f := range []struct {
		name string
		v    decimal.Decimal
	}{{"min qty", s.MinQty}, {"max qty", s.MaxQty}, {"min notional", s.MinNotional}, {"volatility", s.Volatility}, {"max fill qty", s.MaxFillQty}} {
		if f.v.IsNegative() {
			return fmt.Errorf("%s: %s must be >= 0", s.Symbol, f.name)
		}
	}
	s.RefPrice = roundToTick(s.RefPrice, s.TickSize)
	return nil
}

// AddAccount creates an account with the given balances (nil: unlimited).
// It fails if the account exists.
func (x *Exchange) AddAccount(name string, balances map[string]decimal.Decimal) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.addAccount(name, balances)
}

func (x *Exchange) addAccount(name string, balances map[string]decimal.Decimal) error {
	if name == "" {
		return errors.New("paper: empty account name")
	}
	if _, ok := x.accounts[name]; ok {
		return fmt.Errorf("paper: account %s exists", name)
	}
	a := newAccount(name, balances == nil)
	for asset, v := range balances {
		if v.IsNegative() {
			return fmt.Errorf("paper: account %s: negative %s balance", name, asset)
		}
		a.balances[asset] = &balance{free: v}
	}
	x.accounts[name] = a
	return nil
}

func newAccount(name string, unlimited bool) *account {
	return &account{
		name:      name,
		unlimited: unlimited,
		balances:  make(map[string]*balance),
		orders:    make(map[string]*order),
		byID:      make(map[uint64]*order),
		open:      make(map[*order]struct{}),
		subs:      make(map[int]*subscriber),
	}
}

// account returns the named account, creating it if the Exchange is open.
// x.mu must be held.
func (x *Exchange) account(name string) (*account, error) {
	a, ok := x.accounts[name]
	if ok {
		return a, nil
	}
	if !x.open || name == "" {
		return nil, &executors.VenueError{
			Kind: executors.KeyInvalid, Reason: messages.ReasonVenueRejected,
			Code: CodeUnknownAccount, Message: "unknown account " + name, Err: ErrUnknownAccount,
		}
	}
	a = newAccount(name, true)
	x.accounts[name] = a
	return a, nil
}

// Spec returns the symbol's specification with its starting RefPrice.
func (x *Exchange) Spec(symbol string) (SymbolSpec, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	b, ok := x.bySymbol[symbol]
	if !ok {
		return SymbolSpec{}, false
	}
	return b.spec, true
}

// Symbols returns every symbol's specification, in Config order.
func (x *Exchange) Symbols() []SymbolSpec {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]SymbolSpec, len(x.books))
	for i, b := range x.books {
		out[i] = b.spec
	}
	return out
}

// Price returns the symbol's current reference price, zero if unknown.
func (x *Exchange) Price(symbol string) decimal.Decimal {
	x.mu.Lock()
	defer x.mu.Unlock()
	if b, ok := x.bySymbol[symbol]; ok {
		return b.price
	}
	return decimal.Zero
}

// Balances returns the account's free (unlocked) amount of each asset it
// has held; nil for an unknown account.
func (x *Exchange) Balances(account string) map[string]decimal.Decimal {
	x.mu.Lock()
	defer x.mu.Unlock()
	a, ok := x.accounts[account]
	if !ok {
		return nil
	}
	out := make(map[string]decimal.Decimal, len(a.balances))
	for asset, b := range a.balances {
		out[asset] = b.free
	}
	return out
}

// Holding is one asset of an account.
type Holding struct {
	Asset  string
	Free   decimal.Decimal
	Locked decimal.Decimal // held by open orders
}

// Holdings returns the account's assets with free and locked amounts,
// sorted by asset; nil for an unknown account.
func (x *Exchange) Holdings(account string) []Holding {
	x.mu.Lock()
	defer x.mu.Unlock()
	a, ok := x.accounts[account]
	if !ok {
		return nil
	}
	out := make([]Holding, 0, len(a.balances))
	for asset, b := range a.balances {
		out = append(out, Holding{Asset: asset, Free: b.free, Locked: b.locked})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out
}

// Dropped returns how many updates were lost, over all subscribers, because
// a subscriber's channel was full.
func (x *Exchange) Dropped() int64 { return x.dropped.Load() }
