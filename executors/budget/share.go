package budget

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Sharing a limit between processes.
//
// A group limit (account:<id>, ip:<id>) whose keys run in several
// processes is counted once, in a store the processes share (keyrouter's
// BUDGETS bucket), as a counter of the limit's shape. A process takes
// slices of it, leases: [Share.Grant] computes one on the stored state,
// the process stores the result by compare-and-set, and [Groups.Grant]
// hands the units to its budgets, which spend them and nothing else.
// Budgets over Groups made by NewLeasedGroups do that for every group
// limit and tell the Grantor what they want.
//
// The units of a grant are taken in the store at the instant they could
// be spent last, so the store is never behind the venue: in a fixed window
// they are taken now and may be spent until the window ends; for the other
// shapes they are taken at now+hold and may be spent until then (a request
// sent earlier leaves the venue's window no later than the store's record
// of it). Units not spent are lost to every process (the store cannot know
// they were not sent): grants are sized by demand and hold is short.

// GrantKey names a shared counter: a group scope's limit, and for a
// PerSymbol limit its symbol (which may be "").
type GrantKey struct {
	Scope, Limit, Symbol string
	PerSymbol            bool
}

func (k GrantKey) counterKey() string {
	if k.PerSymbol {
		return k.Scope + "\x00" + k.Limit + "\x00" + k.Symbol
	}
	return k.Scope + "\x00" + k.Limit
}

// Grantor gets units of shared counters granted from the store, for
// budgets over leased Groups. Want is called when a decision found too
// few units granted for an operation costing cost: it must not block,
// nor call the Groups back before returning.
type Grantor interface {
	Want(k GrantKey, cost int64)
}

// NewLeasedGroups returns Groups whose counters are leases of counters
// kept in a shared store: budgets spend only units granted with Grant, and
// tell g when they want more.
func NewLeasedGroups(g Grantor) *Groups {
	gs := NewGroups()
	gs.grantor = g
	return gs
}

// newGroupCounter is the counter of a group limit in gs.
func (gs *Groups) newGroupCounter(s *spec, k GrantKey) *counter {
	c := newCounter(s)
	if gs.grantor != nil {
		c.lease = &lease{key: k, mirror: newCounter(s)}
	}
	return c
}

// Grant hands units of the shared counter k, spendable before until, to
// the budgets over gs, and records state (the store's counter after the
// grant, as Share.Grant returned it) as the store's view. It reports
// whether some budget uses k.
func (gs *Groups) Grant(k GrantKey, units int64, until time.Time, state []byte) (bool, error) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	c := gs.counters[k.counterKey()]
	if c == nil || c.lease == nil {
		return false, nil
	}
	m := newCounter(c.s)
	if err := m.decode(state); err != nil {
		return true, err
	}
	l := c.lease
	l.mirror = m
	if u := until.UnixNano(); units > 0 && u > c.last {
		l.add(units, u)
	}
	return true, nil
}

// Share returns the computation of grants of the shared counter k, known
// to gs because a budget uses it; false if none does.
func (gs *Groups) Share(k GrantKey) (*Share, bool) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	c := gs.counters[k.counterKey()]
	if c == nil {
		return nil, false
	}
	return &Share{s: c.s}, true
}

// Share computes grants of one shared counter on its stored state. It is
// pure: the caller stores the result by compare-and-set.
type Share struct{ s *spec }

// NewShare returns the Share of limit l (its shape, max, window, rate and
// margin: what every process sharing it must agree on).
func NewShare(l Limit) (*Share, error) {
	s, err := compile(l, false)
	if err != nil {
		return nil, err
	}
	return &Share{s: s}, nil
}

// Grant takes up to want units from the counter stored as state (nil: a
// counter never used) at now, and returns the state to store, the units
// got, and until when they may be spent. If none fit now, got is 0 and
// retry says when some will, as far as the state tells. hold is how long
// the units of a sliding, bucket or decay limit stay spendable (they are
// taken in the store at now+hold).
func (sh *Share) Grant(state []byte, now time.Time, want int64, hold time.Duration) (next []byte, got int64, until, retry time.Time, err error) {
	c := newCounter(sh.s)
	if err := c.decode(state); err != nil {
		return nil, 0, time.Time{}, time.Time{}, err
	}
	at := now.UnixNano()
	if sh.s.shape != Fixed {
		at += int64(hold)
	}
	at = c.advance(at)
	want = min(want, sh.s.max)
	for got = want; got > 0 && !c.fits(at, got); got-- {
	}
	if got == 0 {
		return nil, 0, time.Time{}, time.Unix(0, c.earliest(at, 1)), nil
	}
	c.take(at, got)
	end := at
	if sh.s.shape == Fixed {
		end = (c.idx + 1) * sh.s.window
	}
	return c.encode(), got, time.Unix(0, end), time.Time{}, nil
}

// counterState is a counter as stored: shared between processes, or a
// key's own counters handed from one active executor to the next.
type counterState struct {
	Last int64      `json:"last"`
	Idx  int64      `json:"idx,omitempty"`
	Used int64      `json:"used,omitempty"`
	Ring [][2]int64 `json:"ring,omitempty"`
	Tat  int64      `json:"tat,omitempty"`
	Frac int64      `json:"frac,omitempty"`
}

func (c *counter) encode() []byte {
	st := counterState{Last: c.last, Idx: c.idx, Used: c.used, Tat: c.tat, Frac: c.frac}
	for i := 0; i < c.n; i++ {
		sl := c.ring[(c.head+i)%len(c.ring)]
		st.Ring = append(st.Ring, [2]int64{sl.t, sl.c})
	}
	data, _ := json.Marshal(st)
	return data
}

// decode sets c (new) to a stored state; nil is a counter never used.
func (c *counter) decode(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	var st counterState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("budget: stored counter: %w", err)
	}
	c.last, c.idx, c.used, c.tat, c.frac = st.Last, st.Idx, st.Used, st.Tat, st.Frac
	if c.s.shape == Sliding {
		for _, e := range st.Ring {
			if c.n == len(c.ring) {
				break
			}
			c.push(e[0], e[1])
		}
	}
	return nil
}

// Snapshot is the state of a budget's own counters (key and symbol scope;
// group limits are kept by their store), for the next executor of its key.
func (b *Budget) Snapshot() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]json.RawMessage{}
	for _, sl := range b.limits {
		if sl.s.group {
			continue
		}
		if sl.bySymbol == nil {
			out[sl.s.name] = sl.c.encode()
			continue
		}
		for sym, c := range sl.bySymbol {
			out[sl.s.name+"\x00"+sym] = c.encode()
		}
	}
	data, _ := json.Marshal(out)
	return data
}

// Restore replaces the budget's own counters with a Snapshot's (limits
// the snapshot does not name are left as they are).
func (b *Budget) Restore(data []byte) error {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("budget: snapshot: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		name, sym, perSymbol := cut0(k)
		for _, sl := range b.limits {
			if sl.s.name != name || sl.s.group {
				continue
			}
			c := newCounter(sl.s)
			if err := c.decode(in[k]); err != nil {
				return err
			}
			if perSymbol && sl.bySymbol != nil {
				sl.bySymbol[sym] = c
			} else if !perSymbol && sl.bySymbol == nil {
				sl.c = c
			}
		}
	}
	return nil
}

func cut0(k string) (string, string, bool) {
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
}

// Spent counts op as sent at at in the budget's own counters, whether or
// not it fits: a request an earlier executor of the key sent after its
// last Snapshot. A counter that has seen a later instant counts it then
// (never backwards), unless it would no longer count: at is in a fixed
// window already over, or a sliding window's length ago.
func (b *Budget) Spent(at time.Time, op Op) {
	ns := at.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sl := range b.limits {
		if sl.s.group {
			continue
		}
		if cost := sl.s.cost(op); cost > 0 {
			c := sl.counterFor(op)
			if c.expired(ns) {
				continue
			}
			c.force(c.advance(ns), cost)
		}
	}
}
