package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// examples is how many violations of one check the summary lists.
const examples = 8

// Summary is the report's figures, then every broken check with its count
// and examples.
func (rep *Report) Summary() string {
	var b strings.Builder
	res := &rep.Result
	var ok []time.Duration
	for _, t := range res.Takeovers {
		if t.OK {
			ok = append(ok, t.After)
		}
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i] < ok[j] })
	p50, pmax := "-", "-"
	if len(ok) > 0 {
		p50 = ok[(len(ok)-1)/2].Round(time.Millisecond).String()
		pmax = ok[len(ok)-1].Round(time.Millisecond).String()
	}
	fmt.Fprintf(&b, "chaos %s run, seed %d, %s\n", rep.Plan.Profile.Name, rep.Plan.Seed, rep.Duration.Round(time.Second))
	fmt.Fprintf(&b, "  intents %d (stored-acked %d), cancels %d (stored-acked %d), reports %d\n",
		res.Intents, res.Stored, res.Cancels, res.CancelsStored, res.Reports)
	var kinds []string
	for _, k := range sortedKeys(res.FirstReports) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, res.FirstReports[k]))
	}
	fmt.Fprintf(&b, "  first reports: %s\n", strings.Join(kinds, ", "))
	fmt.Fprintf(&b, "  venue orders %d, venue fills %d; venue answered 429 %d times, 418 %d times; faults: %d 5xx, %d timeouts (%d took effect)\n",
		res.VenueOrders, res.VenueFills, rep.Stats.Rejected429, rep.Stats.Banned418, rep.Stats.Errors5xx, rep.Stats.Timeouts, rep.Stats.TimeoutsApplied)
	fmt.Fprintf(&b, "  takeovers %d of %d executor kills, takeover time p50 %s max %s\n", len(ok), len(res.Takeovers), p50, pmax)
	for _, t := range res.Takeovers {
		if t.OK {
			fmt.Fprintf(&b, "    %s: %s killed, %s active after %s\n", t.Key, t.Worker, t.By, t.After.Round(time.Millisecond))
		} else {
			fmt.Fprintf(&b, "    %s: %s killed, no takeover within %s\n", t.Key, t.Worker, takeoverDeadline)
		}
	}
	for _, t := range res.Routers {
		fmt.Fprintf(&b, "  %s\n", t)
	}
	fmt.Fprintf(&b, "  lost %d, duplicates %d\n", res.Lost, res.Duplicates)
	for _, s := range rep.Exited {
		fmt.Fprintf(&b, "  note: %s\n", s)
	}
	if len(res.Violations) == 0 {
		b.WriteString("  every check passed\n")
		return b.String()
	}
	byCheck := map[string][]Violation{}
	var checks []string
	for _, v := range res.Violations {
		if byCheck[v.Check] == nil {
			checks = append(checks, v.Check)
		}
		byCheck[v.Check] = append(byCheck[v.Check], v)
	}
	fmt.Fprintf(&b, "  FAILED: %d violations of %d checks:\n", len(res.Violations), len(checks))
	for _, c := range checks {
		vs := byCheck[c]
		fmt.Fprintf(&b, "  %s: %d\n", c, len(vs))
		for i, v := range vs {
			if i == examples {
				fmt.Fprintf(&b, "      ... and %d more\n", len(vs)-examples)
				break
			}
			fmt.Fprintf(&b, "      %s: %s\n", v.Subject, v.Detail)
		}
	}
	return b.String()
}
