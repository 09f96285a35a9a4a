package chaos

import (
	"slices"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// clean is a run where every promise held: a market order filled (s1/a),
// a limit order canceled after its stored-ack (s2/b), an intent the router
// rejected (s1/c).
func clean() Input {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := func(s, id string, typ messages.OrderType, qty string) *Record {
		return &Record{Strategy: s, Sent: t0, Acked: t0.Add(time.Millisecond),
			Intent: messages.OrderIntent{ClientOrderID: id, Strategy: s, Symbol: "BTC-USDT", Side: messages.Buy, Type: typ, Quantity: d(qty)}}
	}
	a, b, c := rec("s1", "a", messages.Market, "0.001"), rec("s2", "b", messages.Limit, "0.002"), rec("s1", "c", messages.Market, "5")
	b.Cancel = &CancelRecord{Sent: t0.Add(time.Second), Acked: t0.Add(time.Second)}
	rep := func(r *Record, kind messages.ReportKind, seq uint64, status messages.Status, cum string) messages.ExecutionReport {
		return messages.ExecutionReport{Kind: kind, Strategy: r.Strategy, ClientOrderID: r.Intent.ClientOrderID, Quantity: r.Intent.Quantity,
			Seq: seq, Status: status, CumQuantity: d(cum), Key: "k1"}
	}
	fill := rep(a, messages.KindFill, 2, messages.StatusFilled, "0.001")
	fill.Fill = &messages.Fill{TradeID: "10", Quantity: d("0.001"), Price: d("60000")}
	rej := rep(c, messages.KindRejected, 1, messages.StatusRejected, "0")
	rej.Reason = messages.ReasonRisk
	logged := func(vid string, status messages.Status, cum string, fills ...messages.Fill) binancesim.LoggedOrder {
		return binancesim.LoggedOrder{VenueOrderID: vid, Symbol: "BTC-USDT", Status: status, CumQuantity: d(cum), Fills: fills}
	}
	return Input{
		Records: []*Record{a, b, c},
		Reports: []messages.ExecutionReport{
			rep(a, messages.KindAccepted, 1, messages.StatusNew, "0"), fill,
			rep(b, messages.KindAccepted, 1, messages.StatusNew, "0"), rep(b, messages.KindCanceled, 2, messages.StatusCanceled, "0"),
			rej,
		},
		Venue: []binancesim.ClientOrders{
			{Account: "acct1", ClientOrderID: executors.VenueClientID("s1", "a"), Placements: 1,
				Orders: []binancesim.LoggedOrder{logged("1", messages.StatusFilled, "0.001", *fill.Fill)}},
			{Account: "acct2", ClientOrderID: executors.VenueClientID("s2", "b"), Placements: 1,
				Orders: []binancesim.LoggedOrder{logged("2", messages.StatusCanceled, "0")}},
		},
		Takeovers:   []Takeover{{Kill: Kill{At: t0, Key: "k1", Worker: "k1@k1-a"}, By: "k1@k1-b", After: time.Second, OK: true}},
		Routers:     []RouterTakeover{{At: t0, Router: "r1", Leased: true, By: "r2", After: time.Second, OK: true}},
		TakeoverMax: 3 * time.Second,
	}
}

func checks(res Result) []string {
	var out []string
	for _, v := range res.Violations {
		if !slices.Contains(out, v.Check) {
			out = append(out, v.Check)
		}
	}
	return out
}

func TestCheckClean(t *testing.T) {
	res := Check(clean())
	if len(res.Violations) != 0 {
		t.Fatalf("clean run: got %+v", res.Violations)
	}
	if res.Intents != 3 || res.Stored != 3 || res.CancelsStored != 1 || res.VenueOrders != 2 || res.VenueFills != 1 || res.Lost != 0 || res.Duplicates != 0 {
		t.Errorf("figures: got %+v", res)
	}
	if res.FirstReports["accepted"] != 2 || res.FirstReports["rejected/risk"] != 1 {
		t.Errorf("first reports: got %v", res.FirstReports)
	}
}

// Each check fires on the run it is there to catch, and reports the
// figures that go with it.
func TestCheckFires(t *testing.T) {
	reports := func(in *Input, keep func(messages.ExecutionReport) bool) {
		var out []messages.ExecutionReport
		for _, r := range in.Reports {
			if keep(r) {
				out = append(out, r)
			}
		}
		in.Reports = out
	}
	is := func(id string, kind messages.ReportKind) func(messages.ExecutionReport) bool {
		return func(r messages.ExecutionReport) bool { return r.ClientOrderID == id && r.Kind == kind }
	}
	not := func(f func(messages.ExecutionReport) bool) func(messages.ExecutionReport) bool {
		return func(r messages.ExecutionReport) bool { return !f(r) }
	}
	find := func(in *Input, f func(messages.ExecutionReport) bool) *messages.ExecutionReport {
		for i := range in.Reports {
			if f(in.Reports[i]) {
				return &in.Reports[i]
			}
		}
		t.Fatal("no such report")
		return nil
	}
	for _, c := range []struct {
		name   string
		mutate func(in *Input)
		want   []string
		lost   int
		dup    int
	}{
		{"intent never answered", func(in *Input) { reports(in, func(r messages.ExecutionReport) bool { return r.ClientOrderID != "c" }) },
			[]string{CheckFirstReport}, 1, 0},
		{"accepted twice", func(in *Input) { in.Reports = append(in.Reports, *find(in, is("a", messages.KindAccepted))) },
			[]string{CheckFirstReport}, 0, 1},
		{"expired as a second first report", func(in *Input) {
			x := *find(in, is("b", messages.KindAccepted))
			x.Kind, x.Status = messages.KindExpired, messages.StatusExpired
			in.Reports = append(in.Reports, x)
		}, []string{CheckFirstReport}, 0, 1},
		{"placed past its expires_at", func(in *Input) {
			exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			in.Records[0].Intent.ExpiresAt = &exp
			in.Venue[0].Orders[0].Created = exp.Add(expiryGrace + time.Millisecond)
		}, []string{CheckAfterExpiry}, 0, 0},
		{"placed twice at the venue", func(in *Input) {
			e := in.Venue[0]
			e.Account, e.Orders = "acct2", []binancesim.LoggedOrder{{VenueOrderID: "3", Status: messages.StatusNew}}
			in.Venue = append(in.Venue, e)
		}, []string{CheckVenueDup}, 0, 1},
		{"placed again after closing", func(in *Input) {
			in.Venue[1].Orders = append(in.Venue[1].Orders, binancesim.LoggedOrder{VenueOrderID: "4", Status: messages.StatusCanceled})
			in.Venue[1].Placements = 2
		}, []string{CheckVenueDup}, 0, 1},
		{"venue order of no intent", func(in *Input) {
			in.Venue = append(in.Venue, binancesim.ClientOrders{Account: "acct1", ClientOrderID: "stray", Orders: []binancesim.LoggedOrder{{VenueOrderID: "5"}}})
		}, []string{CheckVenueUnknown}, 0, 0},
		{"venue order never reported", func(in *Input) { reports(in, func(r messages.ExecutionReport) bool { return r.ClientOrderID != "a" }) },
			[]string{CheckFillUnrep, CheckFirstReport, CheckUnreported}, 1, 0},
		{"fill reported twice", func(in *Input) { in.Reports = append(in.Reports, *find(in, is("a", messages.KindFill))) },
			[]string{CheckFillRepeated}, 0, 0},
		{"fill of the wrong size", func(in *Input) {
			f := find(in, is("a", messages.KindFill))
			fill := *f.Fill
			fill.Quantity = d("0.002")
			f.Fill = &fill
		}, []string{CheckFillMismatch}, 0, 0},
		{"fill the venue does not have", func(in *Input) {
			x := *find(in, is("a", messages.KindFill))
			x.Fill = &messages.Fill{TradeID: "99", Quantity: d("0.001"), Price: d("60000")}
			in.Reports = append(in.Reports, x)
		}, []string{CheckFillUnknown}, 0, 0},
		{"fill of another order", func(in *Input) {
			x := *find(in, is("b", messages.KindCanceled))
			x.Kind, x.Fill = messages.KindFill, &messages.Fill{TradeID: "10", Quantity: d("0.001"), Price: d("60000")}
			in.Reports = append(in.Reports, x)
		}, []string{CheckFillRepeated, CheckFillUnknown}, 0, 0},
		{"cum above quantity", func(in *Input) { find(in, is("a", messages.KindFill)).CumQuantity = d("0.0011") },
			[]string{CheckCumOver}, 0, 0},
		{"cancel overtook its order", func(in *Input) {
			x := find(in, is("b", messages.KindCanceled))
			x.Kind, x.Reason, x.Status, x.Seq = messages.KindCancelRejected, messages.ReasonUnknownOrder, "", 0
			in.Venue[1].Orders[0].Status = messages.StatusNew
		}, []string{CheckCancelUnknown, CheckCancelNotDone}, 0, 0},
		{"cancel never answered", func(in *Input) { reports(in, not(is("b", messages.KindCanceled))) },
			[]string{CheckCancelUnans, CheckFinalState}, 0, 0},
		{"venue 429", func(in *Input) { in.Stats.Rejected429 = 2 }, []string{CheckVenue429}, 0, 0},
		{"venue 418", func(in *Input) { in.Stats.Banned418 = 1 }, []string{CheckVenue429}, 0, 0},
		{"no takeover", func(in *Input) { in.Takeovers[0].OK = false }, []string{CheckTakeover}, 0, 0},
		{"slow takeover", func(in *Input) { in.Takeovers[0].After = 4 * time.Second }, []string{CheckTakeover}, 0, 0},
		{"router lease never taken", func(in *Input) { in.Routers = []RouterTakeover{{Router: "r1", Leased: true}} }, []string{CheckTakeover}, 0, 0},
		{"router lease taken late", func(in *Input) {
			in.Routers = []RouterTakeover{{Router: "r1", Leased: true, OK: true, By: "r2", After: 5 * time.Second}}
		}, []string{CheckTakeover}, 0, 0},
		{"no router lease to time", func(in *Input) { in.Routers = []RouterTakeover{{Router: "r1"}} }, nil, 0, 0},
		{"report of no intent", func(in *Input) {
			x := in.Reports[0]
			x.ClientOrderID = "zz"
			in.Reports = append(in.Reports, x)
		}, []string{CheckReportUnknown}, 0, 0},
		{"undecodable report", func(in *Input) { in.Undecodable = 1 }, []string{CheckUndecodable}, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := clean()
			c.mutate(&in)
			res := Check(in)
			got := checks(res)
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("checks: got %v, want %v\n%+v", got, want, res.Violations)
			}
			if res.Lost != c.lost || res.Duplicates != c.dup {
				t.Errorf("lost %d duplicates %d, want %d and %d", res.Lost, res.Duplicates, c.lost, c.dup)
			}
		})
	}
}

func TestTakeovers(t *testing.T) {
	t0 := time.Now()
	sts := []Status{
		{At: t0.Add(-time.Second), Key: "k1", Worker: "k1@b", State: messages.KeyActive},           // before the kill
		{At: t0.Add(100 * time.Millisecond), Key: "k1", Worker: "k1@a", State: messages.KeyActive}, // the killed one's last
		{At: t0.Add(200 * time.Millisecond), Key: "k2", Worker: "k2@b", State: messages.KeyActive}, // another key
		{At: t0.Add(300 * time.Millisecond), Key: "k1", Worker: "k1@b", State: messages.KeyDown},
		{At: t0.Add(900 * time.Millisecond), Key: "k1", Worker: "k1@b", State: messages.KeyActive},
	}
	got := Takeovers([]Kill{{At: t0, Key: "k1", Worker: "k1@a"}, {At: t0, Key: "k3", Worker: "k3@a"}}, sts, time.Minute)
	if !got[0].OK || got[0].By != "k1@b" || got[0].After != 900*time.Millisecond {
		t.Errorf("k1: got %+v, want k1@b after 900ms", got[0])
	}
	if got[1].OK {
		t.Errorf("k3: got %+v, want no takeover", got[1])
	}
	if late := Takeovers([]Kill{{At: t0, Key: "k1", Worker: "k1@a"}}, sts, 500*time.Millisecond); late[0].OK {
		t.Errorf("past the deadline: got %+v, want no takeover", late[0])
	}
}

// The plan is a function of the seed.
func TestPlanSeeded(t *testing.T) {
	a, b, c := NewPlan(7, Short), NewPlan(7, Short), NewPlan(8, Short)
	if len(a.Intents) != len(b.Intents) || len(a.Events) != len(b.Events) {
		t.Fatal("same seed, different plans")
	}
	for i := range a.Intents {
		x, y := a.Intents[i], b.Intents[i]
		if x.At != y.At || x.Intent.ClientOrderID != y.Intent.ClientOrderID || !x.Intent.Quantity.Equal(y.Intent.Quantity) || x.CancelAfter != y.CancelAfter || x.ExpiresIn != y.ExpiresIn {
			t.Fatalf("intent %d differs: %+v vs %+v", i, x, y)
		}
	}
	for i := range a.Events {
		if a.Events[i] != b.Events[i] {
			t.Fatalf("event %d differs: %v vs %v", i, a.Events[i], b.Events[i])
		}
	}
	if slices.Equal(a.Events, c.Events) {
		t.Error("seeds 7 and 8 drew the same disruptions")
	}
	kills := map[EventKind]int{}
	for _, e := range a.Events {
		kills[e.Kind]++
		if e.At < 0 || e.At > Short.Load {
			t.Errorf("%v outside the load", e)
		}
	}
	if kills[KillExecutor] != Short.ExecutorKills || kills[KillRouter] != Short.RouterKills || kills[KillNode] != Short.NodeKills || kills[FaultsOn] != Short.FaultWindows {
		t.Errorf("disruptions: got %v", kills)
	}
	deadlines := 0
	for _, p := range a.Intents {
		if !messages.ValidClientOrderID(p.Intent.ClientOrderID) {
			t.Errorf("client_order_id %q is not valid", p.Intent.ClientOrderID)
		}
		if p.ExpiresIn > 0 {
			deadlines++
		}
	}
	if deadlines == 0 || deadlines > len(a.Intents)/2 {
		t.Errorf("%d of %d intents have a deadline, want about one in five", deadlines, len(a.Intents))
	}
}
