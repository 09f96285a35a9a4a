package chaos_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/tests/chaos"
)

var (
	long = flag.Bool("chaos.long", os.Getenv("CHAOS_LONG") == "1", "run the long profile (make chaos; env CHAOS_LONG=1)")
	seed = flag.Int64("chaos.seed", envInt("CHAOS_SEED"), "seed of the load and the disruptions (env CHAOS_SEED; default 1, or the clock for the long run)")
	keep = flag.Bool("chaos.keep", os.Getenv("CHAOS_KEEP") == "1", "keep the run's directory (configs, data, logs) even when it passes")
)

func envInt(name string) int64 {
	n, _ := strconv.ParseInt(os.Getenv(name), 10, 64)
	return n
}

// TestChaos runs keyrouter as separate processes on a 3-node NATS cluster
// with the Binance simulator, under load, while it kills processes and
// turns faults on, then checks the promises from the REPORTS stream and
// the venue's order log. See the package documentation.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos suite runs processes for minutes; skipped with -short")
	}
	profile := chaos.Short
	if *long {
		profile = chaos.Long
	}
	s := *seed
	if s == 0 {
		s = 1
		if *long {
			s = time.Now().UnixNano() % 1_000_000
		}
	}
	root, err := chaos.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	logf := func(format string, args ...any) { t.Logf(format, args...) }
	bin, err := chaos.Build(root, logf)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(root, ".cache", "chaos")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, fmt.Sprintf("%s-seed%d-", profile.Name, s))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), profile.Load+profile.Settle+5*time.Minute)
	defer cancel()
	rep, err := chaos.Run(ctx, bin, chaos.Options{Seed: s, Profile: profile, Dir: dir, Logf: logf})
	failed := err != nil || len(rep.Result.Violations) > 0
	if rep != nil && err == nil {
		summary := rep.Summary()
		_ = os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(summary), 0o644)
		t.Log("\n" + summary)
	}
	switch {
	case err != nil:
		t.Errorf("chaos run (seed %d) did not complete: %v\nlogs: %s", s, err, dir)
	case failed:
		t.Errorf("chaos run (seed %d): %d promises broken (listed above); rerun with -chaos.seed=%d; logs: %s",
			s, len(rep.Result.Violations), s, dir)
	}
	if !failed && !*keep {
		_ = os.RemoveAll(dir)
	}
}
