package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/bench"
	"github.com/rs/zerolog"
)

func cmdBench(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "chart" {
		return cmdBenchChart(args[1:], stdout, stderr)
	}
	fs := newFlagSet("bench", stderr)
	var o bench.Options
	scenario := fs.String("scenario", "hops", "scenario: hops (latency and throughput of the intent → accepted path, beside raw NATS), saturate (N keys under twice their budget), isolation (a strategy's latency beside another's surge on other keys), keys (start N keys and trade through all: start-up, RSS, idle CPU)")
	fs.IntVar(&o.Intents, "intents", 20000, "intents sent for the throughput measurement")
	fs.IntVar(&o.LatencyIntents, "latency-intents", 2000, "intents sent one at a time for the latency measurement")
	fs.IntVar(&o.Inflight, "inflight", 512, "intents in flight for the throughput measurement")
	fs.IntVar(&o.Keys, "keys", 1, "keys (saturate: one strategy per key; keys: the keys started)")
	fs.IntVar(&o.Procs, "procs", 0, "keys: run the executors in this many `keyrouter executor` processes (0: in the bench's process)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "duration of time-bound scenarios")
	asJSON := fs.Bool("json", false, "end with one JSON object of the results")
	logLevel := fs.String("log-level", "error", "log level of the system under test")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (keys: of the idle interval)")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file (at the end of the run; keys: of the idle interval, while every key runs)")
	syncEvery := fs.String("sync", "", `how often the embedded server flushes JetStream's files to disk: "always" (keyrouter run's default), an interval such as 1s, or empty for nats-server's default (every 2 minutes); the baseline pays the same`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Intents < 1 || o.LatencyIntents < 1 || o.Inflight < 1 || o.Keys < 1 || o.Procs < 0 {
		return errors.New("--intents, --latency-intents, --inflight and --keys must be positive, --procs not negative")
	}
	if *syncEvery != "" {
		sync, err := parseSync(*syncEvery)
		if err != nil {
			return err
		}
		o.Sync = sync
	}
	lvl, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		return err
	}
	if o.Procs > 0 {
		if o.Executable, err = os.Executable(); err != nil {
			return err
		}
	}
	o.Logger = zerolog.New(stderr).Level(lvl).With().Timestamp().Logger()
	if isTerminal(stderr) {
		o.Progress = stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		o.CPUProfile = f
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		o.HeapProfile = f
	}
	ctx, stop := signalContext()
	defer stop()
	res, err := bench.Run(ctx, bench.Scenario(*scenario), o)
	if o.Progress != nil {
		fmt.Fprintln(stderr) // end the progress line
	}
	if err != nil {
		return err
	}
	bench.Print(stdout, res)
	if *asJSON {
		data, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(data))
	}
	return nil
}
