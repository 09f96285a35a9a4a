package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/bench"
)

// cmdBenchChart is `keyrouter bench chart`: an SVG chart drawn from the
// saved output of `keyrouter bench --json` runs (the files named).
func cmdBenchChart(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench chart", stderr)
	kind := fs.String("chart", "rss", "the chart: rss (resident memory against keys, from --scenario keys runs), "+
		"latency (percentiles beside raw JetStream, from hops runs), throughput or utilization (against keys, from saturate runs)")
	out := fs.String("out", "", "write the SVG to this file (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("bench chart: name the files holding `keyrouter bench --json` output")
	}
	var results []*bench.Result
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		rs, err := bench.ReadResults(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, rs...)
	}
	draw, ok := bench.Charts[*kind]
	if !ok {
		return fmt.Errorf("bench chart: unknown chart %q (known: latency, rss, throughput, utilization)", *kind)
	}
	c, err := draw(results)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := c.SVG(&b); err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(b.Bytes())
		return err
	}
	return os.WriteFile(*out, b.Bytes(), 0o644)
}
