package bench

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
)

// svgNode is any element of an SVG document, with its attributes, text
// and children.
type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []svgNode  `xml:",any"`
}

func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// walk calls f on n and every element under it.
func (n svgNode) walk(f func(svgNode)) {
	f(n)
	for _, c := range n.Nodes {
		c.walk(f)
	}
}

const keysRunsText = `scenario keys: 0 intents (fsync: default)
  100 keys in this process: started in 1.00s
{"scenario":"keys","sync":"default","keys":{"keys":100,"rss_mb":50,"base_rss_mb":30}}
{"scenario":"keys","sync":"default","keys":{"keys":400,"rss_mb":120,"base_rss_mb":30}}
{"scenario":"keys","sync":"default","keys":{"keys":1000,"rss_mb":240,"base_rss_mb":30}}
{"scenario":"keys","sync":"default","keys":{"keys":1000,"rss_mb":260,"base_rss_mb":30}}
{"scenario":"hops","sync":"default","intents":10}
`

// The RSS chart of keys runs: a line through each number of keys' mean,
// a point per run, the 300 MB target, on axes from 0 to 1,000 keys and
// 0 to 500 MB (plot 400 × 310 at (70, 40)).
func TestRSSChartSVG(t *testing.T) {
	results, err := ReadResults(strings.NewReader(keysRunsText))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 5 {
		t.Fatalf("read %d results, want 5 (the text lines skipped)", len(results))
	}
	c, err := RSSChart(results)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.SVG(&b); err != nil {
		t.Fatal(err)
	}
	var doc svgNode
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	if doc.XMLName.Local != "svg" || doc.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root %v, want svg in the SVG namespace", doc.XMLName)
	}
	lines := map[string]string{}
	var circles, texts []string
	var target svgNode
	doc.walk(func(n svgNode) {
		switch n.XMLName.Local {
		case "polyline":
			lines[n.attr("data-name")] = n.attr("points")
		case "circle":
			circles = append(circles, n.attr("cx")+","+n.attr("cy"))
		case "text":
			texts = append(texts, n.Text)
		case "line":
			if n.attr("class") == "target" {
				target = n
			}
		}
	})
	// 1,000 keys: the mean of 240 and 260.
	if got, want := lines["RSS, all processes"], "110,319 230,275.6 470,195"; got != want {
		t.Errorf("RSS line %q, want %q", got, want)
	}
	if got, want := lines["server and router alone"], "110,331.4 230,331.4 470,331.4"; got != want {
		t.Errorf("base line %q, want %q", got, want)
	}
	if got, want := strings.Join(circles, " "), "110,319 230,275.6 470,201.2 470,188.8 110,331.4 230,331.4 470,331.4 470,331.4"; got != want {
		t.Errorf("points %q, want %q", got, want)
	}
	if got := target.attr("y1"); got != "164" {
		t.Errorf("the 300 MB target at y %q, want 164", got)
	}
	for _, want := range []string{"Resident memory against keys (keys scenario)", "keys in one process", "RSS (MB)", "target: 300 MB", "0", "500", "1000", "RSS, all processes"} {
		if !strings.Contains("\x00"+strings.Join(texts, "\x00")+"\x00", "\x00"+want+"\x00") {
			t.Errorf("no text %q in %q", want, texts)
		}
	}
	if _, err := RSSChart(results[4:]); err == nil {
		t.Error("a chart of no keys results: no error")
	}
}

func TestNiceMax(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0, 1}, {1, 1}, {1.5, 2}, {2.2, 2.5}, {315, 500}, {1000, 1000}, {1001, 2000}, {0.03, 0.05}} {
		if got := niceMax(c.in); got != c.want {
			t.Errorf("niceMax(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

const hopsAndSaturateText = `{"scenario":"hops","sync":"default","intents":10,"throughput_per_s":6000,"latency_us":{"p50":300,"p99":1500,"p999":2500},"baseline":{"intents":10,"throughput_per_s":20000,"latency_us":{"p50":250,"p99":1000,"p999":2000}}}
{"scenario":"hops","sync":"default","intents":10,"throughput_per_s":6000,"latency_us":{"p50":400,"p99":1700,"p999":3500},"baseline":{"intents":10,"throughput_per_s":20000,"latency_us":{"p50":250,"p99":1200,"p999":2000}}}
{"scenario":"saturate","sync":"default","throughput_per_s":795,"budget":{"utilization":0.9934},"saturate":{"keys":8,"budget_per_key_per_s":100}}
{"scenario":"saturate","sync":"default","throughput_per_s":2900,"budget":{"utilization":0.9},"saturate":{"keys":32,"budget_per_key_per_s":100}}
{"scenario":"saturate","sync":"default","throughput_per_s":3000,"budget":{"utilization":0.94},"saturate":{"keys":32,"budget_per_key_per_s":100}}
{"scenario":"isolation","sync":"default","intents":10}
`

// The latency, throughput and utilisation charts take their figures from
// the runs of their scenario: a line through each X's mean.
func TestScenarioCharts(t *testing.T) {
	results, err := ReadResults(strings.NewReader(hopsAndSaturateText))
	if err != nil {
		t.Fatal(err)
	}
	means := func(c Chart) map[string][]Point {
		out := map[string][]Point{}
		for _, s := range c.Series {
			for _, p := range s.means() {
				out[s.Name] = append(out[s.Name], Point{math.Round(p.X*1000) / 1000, math.Round(p.Y*1000) / 1000})
			}
		}
		return out
	}
	for _, c := range []struct {
		name   string
		want   map[string][]Point
		target float64
	}{
		{"latency", map[string][]Point{
			"keyrouter":             {{0.301, 350}, {2, 1600}, {3, 3000}},
			"raw JetStream, 3 hops": {{0.301, 250}, {2, 1100}, {3, 2000}},
		}, 0},
		{"throughput", map[string][]Point{
			"accepted per second": {{8, 795}, {32, 2950}},
			"the keys' budget":    {{8, 800}, {32, 3200}},
		}, 0},
		{"utilization", map[string][]Point{"budget used": {{8, 0.993}, {32, 0.92}}}, 0.98},
	} {
		chart, err := Charts[c.name](results)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := means(chart); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: lines %v, want %v", c.name, got, c.want)
		}
		if (chart.Target == nil) != (c.target == 0) || (chart.Target != nil && *chart.Target != c.target) {
			t.Errorf("%s: target %v, want %v", c.name, chart.Target, c.target)
		}
		if err := chart.SVG(io.Discard); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, err := Charts[c.name](results[5:]); err == nil {
			t.Errorf("%s: a chart of no runs of its scenario: no error", c.name)
		}
	}
}
