package configs

import (
	"github.com/keyrouter/keyrouter/executors/budget"
)

// BudgetLimits returns the key's rate budget in the budget package's
// terms: its preset's limits, or its own. A limit of scope account is
// shared by the keys of one account of the key's venue (budget scope
// account:<venue>/<account>); a preset's IP-scoped limits by the keys of
// one IP of the venue. For a config that Validate accepted it does not
// fail, and budget.New accepts what it returns.
func (k Key) BudgetLimits() ([]budget.Limit, error) {
	if k.Preset != "" {
		return budget.Preset(k.Preset, budget.PresetOptions{Account: k.Venue + "/" + k.Account, IP: k.Venue + "/" + k.IP})
	}
	out := make([]budget.Limit, 0, len(k.Limits))
	for _, l := range k.Limits {
		out = append(out, l.budget(k))
	}
	return out, nil
}

// PaperLimits returns the limits the simulated paper venue enforces on
// the key itself, in the budget package's terms: its venue_limits if
// given (an empty list is none), or else the fixed ones of its limits (the
// paper venue counts fixed windows only).
func (k Key) PaperLimits() []budget.Limit {
	if k.VenueLimits != nil {
		return k.venueLimits()
	}
	var out []budget.Limit
	for _, l := range k.Limits {
		if l.Shape == string(budget.Fixed) {
			out = append(out, l.budget(k))
		}
	}
	return out
}

func (k Key) venueLimits() []budget.Limit {
	out := make([]budget.Limit, 0, len(k.VenueLimits))
	for _, l := range k.VenueLimits {
		out = append(out, l.budget(k))
	}
	return out
}

// budget is l as the budget package takes it, for key k.
func (l Limit) budget(k Key) budget.Limit {
	bl := budget.Limit{
		Name: l.Name, Shape: budget.Shape(l.Shape), Max: l.Max, Window: l.Window,
		Rate: l.Rate, Margin: l.Margin, Scope: l.Scope, Costs: make(map[budget.Class]int64, len(l.Costs)),
	}
	if l.Scope == "account" {
		bl.Scope = "account:" + k.Venue + "/" + k.Account
	}
	for c, v := range l.Costs {
		bl.Costs[budget.Class(c)] = v
	}
	for _, a := range l.AgeCosts {
		bl.AgeCost = append(bl.AgeCost, budget.AgeStep{Class: budget.Class(a.Class), Under: a.Under, Cost: a.Cost})
	}
	return bl
}
