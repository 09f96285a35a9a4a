package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/messages"
)

// Input is everything a run observed.
type Input struct {
	Records     []*Record
	Reports     []messages.ExecutionReport // the REPORTS stream, in order
	Undecodable int                        // REPORTS messages that are no report
	Venue       []binancesim.ClientOrders  // the simulator's order log
	Stats       binancesim.Stats
	Takeovers   []Takeover
	Routers     []RouterTakeover
	TakeoverMax time.Duration
}

// The checks, by name.
const (
	CheckFirstReport   = "first-report"     // exactly one first report (accepted, rejected, expired) per intent
	CheckVenueDup      = "venue-duplicate"  // at most one venue order per (strategy, client_order_id)
	CheckVenueUnknown  = "venue-unknown"    // no venue order keyrouter had no intent for
	CheckUnreported    = "venue-unreported" // every venue order reported accepted
	CheckFinalState    = "final-state"      // a closed venue order's status reported
	CheckFillUnrep     = "fill-unreported"  // every venue fill reported ...
	CheckFillRepeated  = "fill-repeated"    // ... exactly once (by trade ID) ...
	CheckFillMismatch  = "fill-mismatch"    // ... with the venue's quantity and price ...
	CheckFillUnknown   = "fill-unknown"     // ... and no fill the venue does not have for that order
	CheckCumOver       = "cum-over"         // cum_quantity never above quantity
	CheckCancelUnknown = "cancel-unknown-order"
	CheckCancelUnans   = "cancel-unanswered"
	CheckCancelNotDone = "cancel-not-applied" // the order still open at the venue after its cancel
	CheckAfterExpiry   = "venue-after-expiry" // a venue order placed past its intent's expires_at (and the request's validity)
	CheckVenue429      = "venue-429"
	CheckUndecodable   = "report-undecodable"
	CheckReportUnknown = "report-unknown" // a report of no intent the load sent
	CheckTakeover      = "takeover"       // of an executor (KeyStatus) or a router (lease)
)

// expiryGrace is how long after its intent's expires_at a venue order may
// still be created: a Place sent before the deadline can be held (the
// simulator's timeout fault) and take effect until its recvWindow passes,
// 5 s by the Binance adapter's default. One created later was sent late.
const expiryGrace = 5 * time.Second

// Violation is one broken promise.
type Violation struct {
	Check   string
	Subject string // strategy/client_order_id, a trade ID, a key ...
	Detail  string
}

// Result is the figures of a run and what broke.
type Result struct {
	Intents, Stored, Cancels, CancelsStored int
	Reports, VenueOrders, VenueFills        int
	Lost, Duplicates                        int
	// FirstReports counts the intents' first reports by kind (and
	// reason), e.g. "accepted", "rejected/venue_unavailable".
	FirstReports map[string]int
	Takeovers    []Takeover
	Routers      []RouterTakeover
	Violations   []Violation
}

// first reports whether r is an intent's first report: accepted,
// rejected, or expired as the order's first event.
func first(r messages.ExecutionReport) bool {
	switch r.Kind {
	case messages.KindAccepted, messages.KindRejected:
		return true
	case messages.KindExpired:
		return r.Seq <= 1
	}
	return false
}

type venueOrder struct {
	account string
	binancesim.LoggedOrder
}

// Check applies every check to a run's observations.
func Check(in Input) Result {
	res := Result{Takeovers: in.Takeovers, Routers: in.Routers, FirstReports: map[string]int{}}
	bad := func(check, subject, format string, args ...any) {
		res.Violations = append(res.Violations, Violation{check, subject, fmt.Sprintf(format, args...)})
	}
	recs := map[string]*Record{}     // by strategy/client_order_id
	byVenueID := map[string]string{} // venue client ID -> strategy/client_order_id
	for _, r := range in.Records {
		recs[r.Key()] = r
		byVenueID[executors.VenueClientID(r.Strategy, r.Intent.ClientOrderID)] = r.Key()
		res.Intents++
		if !r.Acked.IsZero() {
			res.Stored++
		}
		if r.Cancel != nil {
			res.Cancels++
			if !r.Cancel.Acked.IsZero() {
				res.CancelsStored++
			}
		}
	}
	if in.Undecodable > 0 {
		bad(CheckUndecodable, "REPORTS", "%d messages are not an ExecutionReport", in.Undecodable)
	}

	reps := map[string][]messages.ExecutionReport{}
	unknownReports := map[string]int{}
	for _, r := range in.Reports {
		k := r.Strategy + "/" + r.ClientOrderID
		if recs[k] == nil {
			unknownReports[k]++
			continue
		}
		reps[k] = append(reps[k], r)
	}
	res.Reports = len(in.Reports)
	for _, k := range sortedKeys(unknownReports) {
		bad(CheckReportUnknown, k, "%d reports for an intent the load never sent", unknownReports[k])
	}

	// The venue's orders, per intent.
	venue := map[string][]venueOrder{}
	type trade struct {
		intent, venueOrderID string
		fill                 messages.Fill
	}
	trades := map[string]trade{}
	for _, e := range in.Venue {
		k, ok := byVenueID[e.ClientOrderID]
		for _, o := range e.Orders {
			res.VenueOrders++
			if !ok {
				bad(CheckVenueUnknown, e.Account+"/"+e.ClientOrderID, "venue order %s (%s %s %s %s) matches no intent of the load",
					o.VenueOrderID, o.Side, o.Type, o.Quantity, o.Symbol)
				continue
			}
			venue[k] = append(venue[k], venueOrder{e.Account, o})
			for _, f := range o.Fills {
				res.VenueFills++
				trades[f.TradeID] = trade{k, o.VenueOrderID, f}
			}
		}
	}

	lost, dup := map[string]bool{}, map[string]bool{}
	for _, r := range in.Records {
		k := r.Key()
		rs := reps[k]
		var firsts []string
		accepted := false
		statuses := map[messages.Status]bool{}
		for _, x := range rs {
			if first(x) {
				firsts = append(firsts, fmt.Sprintf("%s(seq %d, key %s)", x.Kind, x.Seq, x.Key))
				kind := string(x.Kind)
				if x.Reason != "" && x.Kind != messages.KindAccepted {
					kind += "/" + string(x.Reason)
				}
				res.FirstReports[kind]++
			}
			accepted = accepted || x.Kind == messages.KindAccepted
			statuses[x.Status] = true
			if x.Quantity.IsPositive() && x.CumQuantity.GreaterThan(x.Quantity) {
				bad(CheckCumOver, k, "%s report seq %d: cum_quantity %s above quantity %s", x.Kind, x.Seq, x.CumQuantity, x.Quantity)
			}
		}
		switch {
		case len(firsts) == 0 && !r.Acked.IsZero():
			lost[k] = true
			bad(CheckFirstReport, k, "no first report for an intent stored-acked at %s", r.Acked.Format("15:04:05.000"))
		case len(firsts) > 1:
			dup[k] = true
			bad(CheckFirstReport, k, "%d first reports: %s", len(firsts), strings.Join(firsts, ", "))
		}

		vos := venue[k]
		if exp := r.Intent.ExpiresAt; exp != nil {
			for _, o := range vos {
				if o.Created.After(exp.Add(expiryGrace)) {
					bad(CheckAfterExpiry, k, "venue order %s/%s created at %s, %v after expires_at %s",
						o.account, o.VenueOrderID, o.Created.Format("15:04:05.000"), o.Created.Sub(*exp).Round(time.Millisecond), exp.Format("15:04:05.000"))
				}
			}
		}
		if len(vos) > 1 {
			dup[k] = true
			var ds []string
			for _, o := range vos {
				ds = append(ds, fmt.Sprintf("%s/%s %s cum %s", o.account, o.VenueOrderID, o.Status, o.CumQuantity))
			}
			bad(CheckVenueDup, k, "%d venue orders: %s", len(vos), strings.Join(ds, "; "))
		}
		for _, o := range vos {
			if !accepted {
				lost[k] = true
				bad(CheckUnreported, k, "venue order %s/%s (%s, cum %s) never reported accepted", o.account, o.VenueOrderID, o.Status, o.CumQuantity)
			}
		}
		if len(vos) == 1 && vos[0].Status.Terminal() && accepted && !statuses[vos[0].Status] {
			bad(CheckFinalState, k, "venue order %s is %s; no report says so (reported: %s)", vos[0].VenueOrderID, vos[0].Status, statusList(statuses))
		}

		// Cancels.
		c := r.Cancel
		if c == nil || c.Acked.IsZero() {
			continue
		}
		var canceled bool
		var refusals []string
		for _, x := range rs {
			switch x.Kind {
			case messages.KindCanceled:
				canceled = true
			case messages.KindCancelRejected:
				refusals = append(refusals, string(x.Reason))
				if x.Reason == messages.ReasonUnknownOrder && (accepted || len(vos) > 0) {
					bad(CheckCancelUnknown, k, "cancel stored %s after the intent's stored-ack (%s) answered unknown_order; the order was %s",
						c.Acked.Sub(r.Acked).Round(time.Millisecond), r.Acked.Format("15:04:05.000"), venueStatus(vos))
				}
			}
		}
		if !canceled && len(refusals) == 0 {
			bad(CheckCancelUnans, k, "cancel stored-acked at %s never answered (no canceled or cancel_rejected report); the order is %s",
				c.Acked.Format("15:04:05.000"), venueStatus(vos))
		}
		for _, o := range vos {
			if !o.Status.Terminal() {
				bad(CheckCancelNotDone, k, "venue order %s/%s still %s after a cancel stored-acked at %s (answers: canceled=%v refused=%v)",
					o.account, o.VenueOrderID, o.Status, c.Acked.Format("15:04:05.000"), canceled, refusals)
			}
		}
	}

	// Fills: every venue trade reported once, as the venue has it.
	seen := map[string]int{}
	for _, x := range in.Reports {
		if x.Kind != messages.KindFill || x.Fill == nil {
			continue
		}
		k := x.Strategy + "/" + x.ClientOrderID
		tid := x.Fill.TradeID
		seen[tid]++
		t, ok := trades[tid]
		switch {
		case !ok:
			bad(CheckFillUnknown, k, "fill report seq %d, trade %s: the venue has no such trade", x.Seq, tid)
		case t.intent != k:
			bad(CheckFillUnknown, k, "fill report seq %d, trade %s: the venue's trade belongs to %s (order %s)", x.Seq, tid, t.intent, t.venueOrderID)
		case !t.fill.Quantity.Equal(x.Fill.Quantity) || !t.fill.Price.Equal(x.Fill.Price):
			bad(CheckFillMismatch, k, "trade %s reported %s @ %s, venue %s @ %s", tid, x.Fill.Quantity, x.Fill.Price, t.fill.Quantity, t.fill.Price)
		}
	}
	for _, tid := range sortedKeys(trades) {
		t := trades[tid]
		switch n := seen[tid]; {
		case n == 0:
			bad(CheckFillUnrep, t.intent, "venue trade %s of order %s (%s @ %s) never reported", tid, t.venueOrderID, t.fill.Quantity, t.fill.Price)
		case n > 1:
			bad(CheckFillRepeated, t.intent, "venue trade %s of order %s reported %d times", tid, t.venueOrderID, n)
		}
	}

	if in.Stats.Rejected429 > 0 || in.Stats.Banned418 > 0 {
		bad(CheckVenue429, "venue", "the venue answered 429 %d times and 418 %d times", in.Stats.Rejected429, in.Stats.Banned418)
	}
	for _, t := range in.Takeovers {
		subject := t.Key + " (killed " + t.Worker + ")"
		switch {
		case !t.OK:
			bad(CheckTakeover, subject, "no other worker active within %s of the SIGKILL at %s", takeoverDeadline, t.At.Format("15:04:05.000"))
		case in.TakeoverMax > 0 && t.After > in.TakeoverMax:
			bad(CheckTakeover, subject, "took %s (by %s), over %s", t.After.Round(time.Millisecond), t.By, in.TakeoverMax)
		}
	}
	for _, t := range in.Routers {
		subject := "router " + t.Router
		switch {
		case !t.Leased:
		case !t.OK:
			bad(CheckTakeover, subject, "no live router held the router lease within %s of the SIGKILL at %s", takeoverDeadline, t.At.Format("15:04:05.000"))
		case in.TakeoverMax > 0 && t.After > in.TakeoverMax:
			bad(CheckTakeover, subject, "router lease taken by %s after %s, over %s", t.By, t.After.Round(time.Millisecond), in.TakeoverMax)
		}
	}
	res.Lost, res.Duplicates = len(lost), len(dup)
	sort.SliceStable(res.Violations, func(i, j int) bool { return res.Violations[i].Check < res.Violations[j].Check })
	return res
}

// takeoverDeadline is how long after a kill a takeover is looked for.
const takeoverDeadline = 30 * time.Second

func venueStatus(vos []venueOrder) string {
	if len(vos) == 0 {
		return "not at the venue"
	}
	var s []string
	for _, o := range vos {
		s = append(s, fmt.Sprintf("%s at the venue (order %s, cum %s)", o.Status, o.VenueOrderID, o.CumQuantity))
	}
	return strings.Join(s, "; ")
}

func statusList(m map[messages.Status]bool) string {
	var s []string
	for st := range m {
		if st != "" {
			s = append(s, string(st))
		}
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
