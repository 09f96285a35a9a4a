package configs_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors/budget"
	"github.com/keyrouter/keyrouter/executors/paper"
)

// A limit the budget cannot hold is refused at load, at its path, with
// the budget's reason: `check` refuses it, not `run`.
func TestLimitsAreCheckedByTheBudget(t *testing.T) {
	for _, tc := range []struct {
		name, keys, want string
	}{
		{"sliding too large", `k: {venue: p, limits: [{name: s, shape: sliding, max: 100000000, window: 1s}]}`,
			"keys.k.limits[0].max: 100000000 too large for an exact sliding window"},
		{"rate too precise", `k: {venue: p, limits: [{name: d, shape: decay, max: 5, rate: 0.1234567}]}`,
			"keys.k.limits[0].rate: 0.1234567 must have at most 6 decimal places"},
		{"margin leaves nothing", `k: {venue: p, limits: [{name: m, shape: fixed, max: 1, window: 1s, margin: 0.5}]}`,
			"keys.k.limits[0].margin: 0.5 leaves no budget of Max 1"},
		{"negative age cost", `k: {venue: p, limits: [{name: a, shape: fixed, max: 9, window: 1s, age_costs: [{under: 1s, cost: -1}]}]}`,
			"keys.k.limits[0].age_costs[0]: needs Under > 0 and Cost >= 0"},
		{"name used twice", `k: {venue: p, limits: [{name: a, shape: fixed, max: 1, window: 1s}, {name: a, shape: fixed, max: 2, window: 1s}]}`,
			"keys.k.limits[1].name: used by two limits of one budget"},
		{"an account's keys disagree", `
  k: {venue: p, account: acct, limits: [{name: a, shape: fixed, max: 1, window: 1s, scope: account}]}
  k2: {venue: p, account: acct, limits: [{name: a, shape: fixed, max: 2, window: 1s, scope: account}]}`,
			"keys.k2.limits[0].scope: group account:p/acct already has a with another shape"},
		{"venue limit twice", `k: {venue: p, limits: [{name: a, shape: fixed, max: 1, window: 1s}], venue_limits: [{name: v, shape: fixed, max: 1, window: 1s}, {name: v, shape: fixed, max: 1, window: 2s}]}`,
			"keys.k.venue_limits[1].name: used by two limits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := configs.Parse([]byte("venues: {p: {kind: paper}}\nkeys:\n  " + strings.TrimSpace(tc.keys) + "\nstrategies: {s: {keys: [k]}}\n"))
			var verrs configs.ValidationErrors
			if !errors.As(err, &verrs) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ValidationErrors with %q", err, tc.want)
			}
		})
	}
}

// Every config that loads (what `check` accepts) builds every key's
// budget with shared counters and every paper venue's limits, exactly as
// the executors do when `run` starts them. The configs are random
// combinations of limit settings, valid and not.
func TestEveryAcceptedConfigBuildsItsBudgets(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 1))
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	// or is good, or once in a while one of bad: edge cases, most of
	// which a budget refuses.
	or := func(good string, bad ...string) string {
		if rng.IntN(40) == 0 {
			return pick(bad...)
		}
		return good
	}
	// Sound limits of every shape, now and then with an edge case.
	limit := func(name string, shapes ...string) string {
		shape := pick(shapes...)
		size := or(pick("window: 1s", "window: 10s"), "window: 0s", "rate: 1")
		if shape == "bucket" || shape == "decay" {
			size = or(pick("rate: 1", "rate: 0.5", "window: 10s"), "rate: 0.0000001", "window: 1s, rate: 2")
		}
		return fmt.Sprintf("{name: %s, shape: %s, max: %s, %s%s%s%s}", name, shape,
			or(pick("1", "2", "10", "100"), "0", "100000000", "1048576", "1048577"), size,
			or("", ", margin: 0.9"), pick("", "", ", margin: 0.1", ", scope: account", ", scope: symbol", ", scope: ip:a"),
			pick("", ", costs: {new: 1}", ", costs: {cancel: 1, amend: 1}", ", costs: {new: 2, query: 1}", ", age_costs: [{under: 1s, cost: 3}]"))
	}
	shapes := []string{"fixed", "sliding", "bucket", "decay"}
	// Keys of one account share account-scope limits: they must agree.
	shared := limit("x", shapes...)
	accepted := 0
	for i := range 400 {
		if i%20 == 0 {
			shared = limit("x", shapes...)
		}
		var y strings.Builder
		y.WriteString("venues: {p: {kind: paper}}\nkeys:\n")
		for k := range 3 {
			first := shared
			if rng.IntN(4) == 0 {
				first = limit("x", shapes...)
			}
			fmt.Fprintf(&y, "  k%d:\n    venue: p\n    account: %s\n    limits: [%s, %s]\n", k, pick("a", "b"), first, limit(or("y", "x"), shapes...))
			if rng.IntN(3) == 0 {
				fmt.Fprintf(&y, "    venue_limits: [%s]\n", limit("v", or("fixed", "sliding")))
			}
		}
		y.WriteString("strategies: {s: {keys: [k0, k1, k2]}}\n")
		c, err := configs.Parse([]byte(y.String()))
		if err != nil {
			continue
		}
		accepted++
		groups := budget.NewGroups()
		paperGroups := map[string]*paper.LimitGroup{}
		for _, id := range c.KeyIDs() {
			k := c.Keys[id]
			ls, err := k.BudgetLimits()
			if err == nil {
				_, err = budget.New(ls, groups)
			}
			if err != nil {
				t.Fatalf("config %d loads, but key %s's budget does not build: %v\n%s", i, id, err, y.String())
			}
			g := paperGroups[k.Account]
			if g == nil {
				g = paper.NewLimitGroup()
				paperGroups[k.Account] = g
			}
			pl, err := paper.LimitsOf(k.PaperLimits(), g)
			if err == nil {
				err = paper.VenueOptions{Limits: pl}.Validate()
			}
			if err != nil {
				t.Fatalf("config %d loads, but key %s's paper venue limits do not: %v\n%s", i, id, err, y.String())
			}
		}
	}
	if accepted < 20 || accepted > 380 {
		t.Errorf("%d of 400 random configs loaded: the test needs both kinds", accepted)
	}
	t.Logf("%d of 400 random configs loaded", accepted)
}
