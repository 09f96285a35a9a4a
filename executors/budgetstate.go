package executors

import (
	"context"
	"encoding/json"
	"time"

	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus"
)

// budgetState is what the active worker of a key leaves of its own rate
// counters (BudgetKey) for the next one, so a takeover starts from the
// budget already spent in the current windows, never from a full one.
type budgetState struct {
	TS       time.Time       `json:"ts"`
	Counters json.RawMessage `json:"counters"`
}

// saveBudget writes the key's own counters if they changed since the
// last write (fenced, like every write of the key's state).
func (t *term) saveBudget(ctx context.Context) {
	t.mu.Lock()
	spends := t.c.spends
	same := spends == t.savedSpends
	t.mu.Unlock()
	if same {
		return
	}
	data, _ := json.Marshal(budgetState{TS: t.clock.Now().UTC(), Counters: t.budget.Snapshot()})
	if err := t.fencedPut(ctx, messages.BudgetKey(t.opts.Key), data, 0); err != nil {
		t.log.Warn().Err(err).Msg("budget state not saved")
		return
	}
	t.mu.Lock()
	t.savedSpends = spends
	t.mu.Unlock()
}

// restoreBudget takes up what the previous active worker left: its last
// saved counters, plus every order it wrote ahead (was about to send)
// after saving them. Cancels and look-ups sent in that gap are not known
// (at most StatusEvery of them); where the venue reports usage, its
// headers correct the count.
func (t *term) restoreBudget(ctx context.Context, recs []messages.OrderRecord) {
	since := time.Time{}
	m, found, err := bus.ReadLast(ctx, t.js, "KV_"+messages.BucketOrders, messages.OrderStateSubject(messages.BudgetKey(t.opts.Key)))
	if err != nil {
		t.log.Warn().Err(err).Msg("the previous worker's budget state not read; counting its recent orders only")
	}
	if found {
		var st budgetState
		if json.Unmarshal(m.Data(), &st) == nil {
			if err := t.budget.Restore(st.Counters); err != nil {
				t.log.Warn().Err(err).Msg("budget state not restored")
			} else {
				since = st.TS
			}
		}
	}
	n := 0
	for _, rec := range recs {
		if rec.SendingAt.After(since) && rec.Intent != nil {
			t.budget.Spent(rec.SendingAt, budget.Op{Class: budget.ClassNew, Symbol: rec.Intent.Symbol})
			n++
		}
	}
	if found || n > 0 {
		t.log.Info().Time("saved", since).Int("orders_after", n).Msg("budget restored from the previous worker")
	}
}
