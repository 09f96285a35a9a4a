package budget

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Shape is how a limit counts usage over time.
type Shape string

// The shapes a limit can have. See the package documentation for the exact
// semantics of each and the venues that use them.
const (
	Fixed   Shape = "fixed"   // window aligned to the clock: index = UnixNano / Window
	Sliding Shape = "sliding" // any interval (t-Window, t]
	Bucket  Shape = "bucket"  // token bucket: Max tokens, refilled continuously at Rate
	Decay   Shape = "decay"   // counter up by cost, down continuously at Rate, at most Max
)

// Class is the kind of operation a request is.
type Class string

// The operation classes.
const (
	ClassNew    Class = "new"
	ClassCancel Class = "cancel"
	ClassAmend  Class = "amend"
	ClassQuery  Class = "query"
)

// Scopes that are not groups. A group scope is "account:<id>" or "ip:<id>".
const (
	ScopeKey    = "key"
	ScopeSymbol = "symbol"
)

// Never is the wait TryTake returns for an operation that can never fit
// (its cost exceeds the effective max of a limit).
const Never = time.Duration(math.MaxInt64)

// Sentinel errors.
var (
	// ErrInvalidLimit is wrapped by every validation error of New and NewEnforcer.
	ErrInvalidLimit = errors.New("budget: invalid limit")
	// ErrNeverFits is wrapped by Check when an operation costs more than a
	// limit's effective max, so no amount of waiting lets it through.
	ErrNeverFits = errors.New("budget: operation can never fit")
)

// AgeStep is an extra cost charged to an operation of class Class (cancel
// when empty) on an order younger than Under. The steps of a limit are tried
// in ascending Under; the first one with OrderAge < Under applies, so Kraken's
// "+8 under 5 s ... +1 under 300 s" is six steps.
type AgeStep struct {
	Class Class
	Under time.Duration
	Cost  int64
}

// Limit is one rate limit of a venue key. See the package documentation.
type Limit struct {
	Name  string // e.g. "ORDERS_10S", "REQUEST_WEIGHT_1M"; unique within a budget
	Shape Shape
	// Max is the largest usage allowed: fixed/sliding: cost per window;
	// bucket: burst (bucket size); decay: the counter's ceiling.
	Max int64
	// Window is the window of fixed and sliding limits. For bucket and decay
	// limits with Rate 0 it is the time to earn (or decay) Max, so the rate
	// is exactly Max per Window.
	Window time.Duration
	// Rate is the refill (bucket) or decay (decay) rate in units per second.
	// It is taken as its shortest decimal form and must have at most 6
	// decimal places, so it is represented exactly (as micro-units per second).
	Rate float64
	// Costs is the cost of each operation class; a class absent costs 0.
	Costs map[Class]int64
	// Endpoints, when Op.Endpoint is set and found here, replaces Costs.
	Endpoints map[string]int64
	// AgeCost adds cost by the age of the order an operation acts on.
	AgeCost []AgeStep
	// Scope is "key" (default, also ""), "symbol" (one counter per Op.Symbol),
	// or a group "account:<id>" / "ip:<id>" whose counter is shared through
	// Groups by every budget naming the same scope and limit Name.
	Scope string
	// PerSymbol, with a group scope, keeps one shared counter per
	// Op.Symbol: OKX counts its per-instrument limits per sub-account and
	// instrument, so every key of the sub-account draws on one counter per
	// instrument. With scope "symbol" it changes nothing; with scope "key"
	// it makes the limit per symbol.
	PerSymbol bool
	// Margin is the fraction held back: effective max = floor(Max*(1-Margin));
	// for bucket and decay the rate is reduced by the same fraction.
	Margin float64
}

// Op is one request to the venue.
type Op struct {
	Class    Class
	Endpoint string        // optional; selects Limit.Endpoints
	Symbol   string        // selects the counter of symbol-scoped limits
	OrderAge time.Duration // age of the order canceled or amended (AgeCost)
}

// spec is a validated, compiled Limit.
type spec struct {
	name      string
	shape     Shape
	scope     string
	perSymbol bool
	group     bool
	max       int64 // effective max
	window    int64 // ns; fixed and sliding
	// bucket and decay: one unit is earned (decayed) every den/num ns.
	num, den  int64
	classCost [4]int64
	costs     map[Class]int64
	endpoints map[string]int64
	age       []AgeStep
}

func classIndex(c Class) int {
	switch c {
	case ClassNew:
		return 0
	case ClassCancel:
		return 1
	case ClassAmend:
		return 2
	case ClassQuery:
		return 3
	}
	return -1
}

// cost is what op consumes from this limit.
func (s *spec) cost(op Op) int64 {
	var c int64
	found := false
	if op.Endpoint != "" && s.endpoints != nil {
		c, found = s.endpoints[op.Endpoint]
	}
	if !found {
		if i := classIndex(op.Class); i >= 0 {
			c = s.classCost[i]
		} else {
			c = s.costs[op.Class]
		}
	}
	if len(s.age) > 0 {
		class := op.Class
		for _, st := range s.age {
			if st.Class == class && op.OrderAge < st.Under {
				c += st.Cost
				break
			}
		}
	}
	return c
}

// LimitError is a limit New or NewEnforcer refuses: the limit's Name, the
// Limit field at fault (Name, Shape, Max, Window, Rate, Margin, Scope,
// Costs, Endpoints or AgeCost[i]) and why. It wraps ErrInvalidLimit, so a
// caller that only needs to know can use errors.Is; one that maps the
// field to its own terms (a config file's path) uses errors.As.
type LimitError struct {
	Limit  string
	Field  string
	Reason string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v %q: %s: %s", ErrInvalidLimit, e.Limit, e.Field, e.Reason)
}

// Unwrap returns ErrInvalidLimit.
func (e *LimitError) Unwrap() error { return ErrInvalidLimit }

func invalid(name, field, format string, args ...any) error {
	return &LimitError{Limit: name, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// MaxSliding is the largest effective Max of a sliding limit: its exact
// window keeps up to one entry per unit.
const MaxSliding = 1 << 20

// exactRate returns Rate as micro-units per second, exactly, or an error.
func exactRate(name string, rate float64) (int64, error) {
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate <= 0 {
		return 0, invalid(name, "Rate", "must be a positive number, got %v", rate)
	}
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(rate, 'f', -1, 64))
	if !ok {
		return 0, invalid(name, "Rate", "cannot read %v", rate)
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	if !r.IsInt() || !r.Num().IsInt64() || r.Num().Int64() > 1<<53 {
		return 0, invalid(name, "Rate", "%v must have at most 6 decimal places", rate)
	}
	return r.Num().Int64(), nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// compile validates l. raw keeps Max and the rate unreduced by Margin (for
// enforcers, which model the venue).
func compile(l Limit, raw bool) (*spec, error) {
	n := l.Name
	if n == "" {
		return nil, invalid(n, "Name", "must not be empty")
	}
	s := &spec{name: n, shape: l.Shape}
	if l.Max <= 0 {
		return nil, invalid(n, "Max", "must be > 0, got %d", l.Max)
	}
	if math.IsNaN(l.Margin) || l.Margin < 0 || l.Margin >= 1 {
		return nil, invalid(n, "Margin", "must be in [0, 1), got %v", l.Margin)
	}
	keep := 1 - l.Margin
	if raw {
		keep = 1
	}
	s.max = int64(math.Floor(float64(l.Max) * keep))
	if l.Margin == 0 || raw {
		s.max = l.Max
	}
	if s.max <= 0 {
		return nil, invalid(n, "Margin", "%v leaves no budget of Max %d", l.Margin, l.Max)
	}
	switch l.Shape {
	case Fixed, Sliding:
		if l.Window <= 0 {
			return nil, invalid(n, "Window", "must be > 0 for a %s limit, got %v", l.Shape, l.Window)
		}
		if l.Rate != 0 {
			return nil, invalid(n, "Rate", "must be 0 for a %s limit (use Max per Window)", l.Shape)
		}
		s.window = int64(l.Window)
		if l.Shape == Sliding && s.max > MaxSliding {
			return nil, invalid(n, "Max", "%d too large for an exact sliding window (at most %d); use fixed or bucket", s.max, MaxSliding)
		}
	case Bucket, Decay:
		switch {
		case l.Rate != 0 && l.Window != 0:
			return nil, invalid(n, "Rate", "set Rate or Window for a %s limit, not both", l.Shape)
		case l.Rate != 0:
			r, err := exactRate(n, l.Rate)
			if err != nil {
				return nil, err
			}
			s.num, s.den = r, 1_000_000*int64(time.Second)
		case l.Window > 0:
			s.num, s.den = l.Max, int64(l.Window)
		default:
			return nil, invalid(n, "Rate", "a %s limit needs Rate > 0 or Window > 0", l.Shape)
		}
		if !raw && l.Margin != 0 {
			// Slow the rate by the margin too; rounding down keeps it safe.
			s.num = int64(math.Floor(float64(s.num) * keep))
			if s.num <= 0 {
				return nil, invalid(n, "Margin", "%v leaves no rate", l.Margin)
			}
		}
		g := gcd(s.num, s.den)
		s.num, s.den = s.num/g, s.den/g
		// Every duration of up to Max units must fit comfortably in int64 ns.
		hi, lo := bits.Mul64(uint64(s.max), uint64(s.den))
		if hi >= uint64(s.num) {
			return nil, invalid(n, "Rate", "too slow for Max %d", s.max)
		}
		if q, _ := bits.Div64(hi, lo, uint64(s.num)); q >= 1<<61 {
			return nil, invalid(n, "Rate", "too slow for Max %d", s.max)
		}
	case "":
		return nil, invalid(n, "Shape", "must be set (fixed, sliding, bucket or decay)")
	default:
		return nil, invalid(n, "Shape", "unknown shape %q (fixed, sliding, bucket or decay)", l.Shape)
	}
	switch sc := l.Scope; {
	case sc == "" || sc == ScopeKey:
		s.scope = ScopeKey
		if l.PerSymbol {
			s.scope, s.perSymbol = ScopeSymbol, true
		}
	case sc == ScopeSymbol:
		s.scope, s.perSymbol = ScopeSymbol, true
	case strings.HasPrefix(sc, "account:") && len(sc) > len("account:"),
		strings.HasPrefix(sc, "ip:") && len(sc) > len("ip:"):
		s.scope, s.group, s.perSymbol = sc, true, l.PerSymbol
	default:
		return nil, invalid(n, "Scope", "%q is not key, symbol, account:<id> or ip:<id>", sc)
	}
	s.costs = make(map[Class]int64, len(l.Costs))
	for c, v := range l.Costs {
		if v < 0 {
			return nil, invalid(n, "Costs", "cost of %q is negative (%d)", c, v)
		}
		s.costs[c] = v
		if i := classIndex(c); i >= 0 {
			s.classCost[i] = v
		}
	}
	if len(l.Endpoints) > 0 {
		s.endpoints = make(map[string]int64, len(l.Endpoints))
		for e, v := range l.Endpoints {
			if v < 0 {
				return nil, invalid(n, "Endpoints", "weight of %q is negative (%d)", e, v)
			}
			s.endpoints[e] = v
		}
	}
	for i, st := range l.AgeCost {
		if st.Under <= 0 || st.Cost < 0 {
			return nil, invalid(n, fmt.Sprintf("AgeCost[%d]", i), "needs Under > 0 and Cost >= 0, got %v and %d", st.Under, st.Cost)
		}
		if st.Class == "" {
			st.Class = ClassCancel
		}
		s.age = append(s.age, st)
	}
	sort.SliceStable(s.age, func(i, j int) bool { return s.age[i].Under < s.age[j].Under })
	return s, nil
}

// sameCounter reports whether two specs can share one counter.
func (s *spec) sameCounter(o *spec) bool {
	return s.shape == o.shape && s.max == o.max && s.window == o.window && s.num == o.num && s.den == o.den
}
