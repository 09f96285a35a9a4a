package bus

import (
	"context"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/keyrouter/keyrouter/router/bus/clocktest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// startTestLeases starts one simulated process's Leases over js (its own
// connection), the streams provisioned, a lease TTL of ttl on clock.
func startTestLeases(t *testing.T, js jetstream.JetStream, clock Clock, instance string, ttl time.Duration) (Buckets, *Leases) {
	t.Helper()
	b, err := Provision(t.Context(), js, configs.Streams{Replicas: 1, OrdersMaxAge: time.Hour, ReportsMaxAge: time.Hour, ReportsMaxBytes: 1 << 20, DedupeHorizon: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := NewLeases(b.Control, LeaseOptions{Instance: instance, TTL: ttl, Clock: clock, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := ls.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return b, ls
}

// A standby whose watch missed the holder's latest heartbeat (it lags
// after a NATS node came back) reads the heartbeat before it takes the
// lease, and leaves a live holder's lease alone. Without that read, two
// processes whose heartbeats had both stalled took the lease from each
// other back and forth (chaos run, seed 761366).
func TestLeaseNotTakenFromAHolderWhoseHeartbeatTheWatchMissed(t *testing.T) {
	const ttl = 2 * time.Second
	s := bustest.Server(t)
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	start := func(instance string) (*Leases, Buckets) {
		_, js := bustest.JetStream(t, s)
		b, ls := startTestLeases(t, js, clock, instance, ttl)
		return ls, b
	}
	la, ba := start("a")
	lb, bb := start("b")
	held, err := la.Acquire(t.Context(), ba.Orders, "k1.=lease", "*.=lease")
	if err != nil {
		t.Fatal(err)
	}
	seen := func() beatSeen {
		lb.mu.Lock()
		defer lb.mu.Unlock()
		return lb.beats["a"]
	}
	bustest.WaitFor(t, "b to see a's heartbeat", func() bool { return seen().rev != 0 })
	// b's view as a lagging watch leaves it: an older revision of a's
	// heartbeat, seen two TTLs ago. (Nothing writes a's heartbeat while
	// the clock stands still, so the watch does not correct it.)
	lb.mu.Lock()
	b := lb.beats["a"]
	lb.beats["a"] = beatSeen{inc: b.inc, rev: b.rev - 1, seen: clock.Now().Add(-2 * ttl)}
	lb.mu.Unlock()

	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan *Lease, 1)
	go func() {
		l, _ := lb.Acquire(ctx, bb.Orders, "k1.=lease", "*.=lease")
		got <- l
	}()
	bustest.WaitFor(t, "b to read a's heartbeat, or take the lease", func() bool {
		return seen().seen.Equal(clock.Now()) || len(got) > 0
	})
	cancel()
	if l := <-got; l != nil {
		t.Fatalf("b took the lease (%s) from a, whose heartbeat had moved", l.Taken())
	}
	if !held.Held() {
		t.Fatal("a lost its lease")
	}
}
