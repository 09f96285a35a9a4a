package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Chart is a line chart of figures against a number (e.g. RSS against the
// number of keys), drawn as SVG by [Chart.SVG] for BENCHMARKS.md.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// Target, if not nil, is drawn as a dashed horizontal line labelled
	// TargetLabel (a figure the issue asks for).
	Target      *float64
	TargetLabel string
}

// Series is one line of a Chart: its points joined in the order of X; a
// point per run, and the line through each X's mean.
type Series struct {
	Name   string
	Points []Point
}

// Point is one figure: Y measured at X.
type Point struct{ X, Y float64 }

// Chart geometry, in SVG user units.
const (
	chartW, chartH        = 640, 400
	chartLeft, chartRight = 70, 170 // the legend is on the right
	chartTop, chartBottom = 40, 50
	plotW, plotH          = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
	chartTicks            = 5
	chartPointR           = 3
	chartFont             = `font-family="sans-serif" font-size="12"`
	chartGrid             = `stroke="#ddd"`
	chartTargetStroke     = `stroke="#c00" stroke-dasharray="6 4"`
)

// chartColors are the series' colours, in order.
var chartColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"}

// niceMax is the smallest of 1, 2, 2.5, 5 times a power of ten that is at
// least v: the top of an axis.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// means returns s's points reduced to one per X (their mean), by X.
func (s Series) means() []Point {
	sum := map[float64][2]float64{}
	for _, p := range s.Points {
		a := sum[p.X]
		sum[p.X] = [2]float64{a[0] + p.Y, a[1] + 1}
	}
	out := make([]Point, 0, len(sum))
	for x, a := range sum {
		out = append(out, Point{x, a[0] / a[1]})
	}
	slices.SortFunc(out, func(a, b Point) int {
		switch {
		case a.X < b.X:
			return -1
		case a.X > b.X:
			return 1
		}
		return 0
	})
	return out
}

// Scale maps a point to SVG coordinates: the axes run from 0 to the
// nice top of the largest X and Y (the target included).
func (c Chart) Scale() func(Point) (x, y float64) {
	xMax, yMax := c.maxes()
	return func(p Point) (float64, float64) {
		return chartLeft + p.X/xMax*plotW, chartTop + plotH - p.Y/yMax*plotH
	}
}

func (c Chart) maxes() (xMax, yMax float64) {
	for _, s := range c.Series {
		for _, p := range s.Points {
			xMax, yMax = max(xMax, p.X), max(yMax, p.Y)
		}
	}
	if c.Target != nil {
		yMax = max(yMax, *c.Target)
	}
	return niceMax(xMax), niceMax(yMax * 1.05)
}

// num formats an axis or point figure: no more decimals than it needs.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// SVG writes the chart as a standalone SVG document.
func (c Chart) SVG(w io.Writer) error {
	if len(c.Series) == 0 {
		return errors.New("bench: a chart with no series")
	}
	xMax, yMax := c.maxes()
	at := c.Scale()
	var b bytes.Buffer
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>`+"\n", chartW, chartH, chartW, chartH, chartFont)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", chartLeft, esc(c.Title))
	// Grid and ticks.
	for i := 0; i <= chartTicks; i++ {
		v := yMax * float64(i) / chartTicks
		_, y := at(Point{0, v})
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" %s/>`+"\n", chartLeft, num(y), chartLeft+plotW, num(y), chartGrid)
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" class="ytick">%s</text>`+"\n", chartLeft-6, num(y+4), num(v))
		u := xMax * float64(i) / chartTicks
		x, _ := at(Point{u, 0})
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" %s/>`+"\n", num(x), chartTop, num(x), chartTop+plotH, chartGrid)
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle" class="xtick">%s</text>`+"\n", num(x), chartTop+plotH+16, num(u))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", chartLeft, chartTop, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", chartLeft+plotW/2, chartH-10, esc(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", chartTop+plotH/2, esc(c.YLabel))
	if c.Target != nil {
		_, y := at(Point{0, *c.Target})
		fmt.Fprintf(&b, `<line class="target" x1="%d" y1="%s" x2="%d" y2="%s" %s/>`+"\n", chartLeft, num(y), chartLeft+plotW, num(y), chartTargetStroke)
		fmt.Fprintf(&b, `<text x="%d" y="%s" fill="#c00">%s</text>`+"\n", chartLeft+plotW+6, num(y+4), esc(c.TargetLabel))
	}
	for i, s := range c.Series {
		color := chartColors[i%len(chartColors)]
		var pts []string
		for _, p := range s.means() {
			x, y := at(p)
			pts = append(pts, num(x)+","+num(y))
		}
		fmt.Fprintf(&b, `<polyline class="series" data-name="%s" points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", esc(s.Name), strings.Join(pts, " "), color)
		for _, p := range s.Points {
			x, y := at(p)
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="%d" fill="%s"><title>%s: %s at %s</title></circle>`+"\n", num(x), num(y), chartPointR, color, esc(s.Name), num(p.Y), num(p.X))
		}
		ly := chartTop + 10 + 20*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", chartLeft+plotW+6, ly, chartLeft+plotW+26, ly, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", chartLeft+plotW+30, ly+4, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// ReadResults reads the results of `keyrouter bench --json` runs from r:
// every line that is a JSON object is one Result; other lines (the
// human-readable summary) are skipped.
func ReadResults(r io.Reader) ([]*Result, error) {
	var out []*Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var res Result
		if err := json.Unmarshal(line, &res); err != nil {
			return nil, fmt.Errorf("bench: a result line: %w", err)
		}
		out = append(out, &res)
	}
	return out, sc.Err()
}

// RSSChart is the chart of resident memory against the number of keys of
// keys runs (other results are skipped): the whole run's, and the server's
// and router's alone, beside the target of 300 MB at 1,000 keys.
func RSSChart(results []*Result) (Chart, error) {
	all := Series{Name: "RSS, all processes"}
	base := Series{Name: "server and router alone"}
	for _, r := range results {
		if k := r.Keys; k != nil {
			all.Points = append(all.Points, Point{float64(k.Keys), k.RSSMB})
			base.Points = append(base.Points, Point{float64(k.Keys), k.BaseRSSMB})
		}
	}
	if len(all.Points) == 0 {
		return Chart{}, errors.New("bench: no keys results to chart")
	}
	target := 300.0
	return Chart{Title: "Resident memory against keys (keys scenario)", XLabel: "keys in one process",
		YLabel: "RSS (MB)", Series: []Series{all, base}, Target: &target, TargetLabel: "target: 300 MB"}, nil
}

// Charts are the charts `keyrouter bench chart --chart NAME` draws, by
// name, each from the results of the runs it reads (others skipped).
var Charts = map[string]func([]*Result) (Chart, error){
	"rss":         RSSChart,
	"latency":     LatencyChart,
	"throughput":  ThroughputChart,
	"utilization": UtilizationChart,
}

// nines is a percentile's place on the latency chart's X axis: the number
// of nines, -log10(1 - p/100) (p50 0.3, p99 2, p99.9 3), which keeps the
// tail apart.
func nines(p float64) float64 { return -math.Log10(1 - p/100) }

// LatencyChart is the chart of intent → accepted latency percentiles
// (p50, p99, p99.9) of hops runs, keyrouter's beside raw JetStream's three
// hops in the same runs.
func LatencyChart(results []*Result) (Chart, error) {
	kr := Series{Name: "keyrouter"}
	raw := Series{Name: "raw JetStream, 3 hops"}
	add := func(s *Series, p Percentiles) {
		s.Points = append(s.Points, Point{nines(50), p.P50}, Point{nines(99), p.P99}, Point{nines(99.9), p.P999})
	}
	for _, r := range results {
		if r.Scenario != Hops || r.Baseline == nil {
			continue
		}
		add(&kr, r.LatencyUS)
		add(&raw, r.Baseline.LatencyUS)
	}
	if len(kr.Points) == 0 {
		return Chart{}, errors.New("bench: no hops results with a baseline to chart")
	}
	return Chart{Title: "Intent → accepted latency (hops scenario)",
		XLabel: "percentile, in nines: 0.3 = p50, 2 = p99, 3 = p99.9", YLabel: "latency (µs)",
		Series: []Series{kr, raw}}, nil
}

// saturatePoints calls f with the number of keys and the figures of each
// saturate run.
func saturatePoints(results []*Result, f func(keys float64, r *Result)) error {
	n := 0
	for _, r := range results {
		if r.Saturate != nil && r.Budget != nil {
			f(float64(r.Saturate.Keys), r)
			n++
		}
	}
	if n == 0 {
		return errors.New("bench: no saturate results to chart")
	}
	return nil
}

// ThroughputChart is the chart of orders accepted per second against the
// number of keys of saturate runs (each key's strategy sending twice its
// budget), beside what the keys' budgets allow.
func ThroughputChart(results []*Result) (Chart, error) {
	got := Series{Name: "accepted per second"}
	budget := Series{Name: "the keys' budget"}
	err := saturatePoints(results, func(keys float64, r *Result) {
		got.Points = append(got.Points, Point{keys, r.ThroughputPerS})
		budget.Points = append(budget.Points, Point{keys, keys * float64(r.Saturate.BudgetPerKeyPerS)})
	})
	if err != nil {
		return Chart{}, err
	}
	return Chart{Title: "Throughput against keys at twice their budget (saturate)", XLabel: "keys",
		YLabel: "orders per second", Series: []Series{got, budget}}, nil
}

// UtilizationChart is the chart of budget utilisation against the number
// of keys of saturate runs, beside the target of 0.98.
func UtilizationChart(results []*Result) (Chart, error) {
	u := Series{Name: "budget used"}
	err := saturatePoints(results, func(keys float64, r *Result) {
		u.Points = append(u.Points, Point{keys, r.Budget.Utilization})
	})
	if err != nil {
		return Chart{}, err
	}
	target := 0.98
	return Chart{Title: "Budget utilisation against keys at twice their budget (saturate)", XLabel: "keys",
		YLabel: "share of the budget used", Series: []Series{u}, Target: &target, TargetLabel: "target: 0.98"}, nil
}
