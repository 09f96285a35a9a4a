package executors

import (
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
)

// Budget is the rate budget of a key, as the worker uses it. Every method
// takes the instant; none reads the clock. FromBudget adapts a
// *budget.Budget.
type Budget interface {
	Earliest(now time.Time, op budget.Op) (time.Time, bool)
	TryTake(now time.Time, op budget.Op) (bool, time.Duration)
	Observe(now time.Time, limit string, used int64)
	Status(now time.Time) []budget.LimitState
	// Clone returns a private copy with the usage so far, to plan on:
	// taking from it affects nothing else.
	Clone() Budget
	// Snapshot is the state of the key's own counters, for the next
	// active worker of the key; Restore takes one up; Spent counts a
	// request a predecessor sent after its last snapshot.
	Snapshot() []byte
	Restore(snapshot []byte) error
	Spent(at time.Time, op budget.Op)
}

// FromBudget returns b as a worker's Budget.
func FromBudget(b *budget.Budget) Budget { return localBudget{b} }

type localBudget struct{ *budget.Budget }

func (b localBudget) Clone() Budget { return localBudget{b.Budget.Clone()} }

var _ Budget = localBudget{}
