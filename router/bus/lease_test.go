package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/keyrouter/keyrouter/router/bus/clocktest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const ttl = 2 * time.Second

// proc is one simulated keyrouter process: its own connection and
// Leases.
type proc struct {
	nc *nats.Conn
	js jetstream.JetStream
	b  bus.Buckets
	ls *bus.Leases
}

func startProc(t *testing.T, s *server.Server, clock bus.Clock, instance string) *proc {
	t.Helper()
	nc, js := bustest.JetStream(t, s)
	b, ls := bus.StartTestLeases(t, js, clock, instance, ttl)
	return &proc{nc: nc, js: js, b: b, ls: ls}
}

func (p *proc) acquire(ctx context.Context, key string) (*bus.Lease, error) {
	return p.ls.Acquire(ctx, p.b.Orders, key, "*.=lease")
}

// acquireAsync starts an Acquire and returns where its result arrives.
func (p *proc) acquireAsync(t *testing.T, key string) <-chan *bus.Lease {
	ch := make(chan *bus.Lease, 1)
	go func() {
		l, err := p.acquire(t.Context(), key)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("acquire %s: %v", key, err)
			}
			return
		}
		ch <- l
	}()
	return ch
}

// fencedWrite writes a record fenced by l.
func fencedWrite(t *testing.T, js jetstream.JetStream, l *bus.Lease, key string) error {
	t.Helper()
	m := nats.NewMsg("$KV.ORDERSTATE." + key)
	m.Data = []byte(`{}`)
	l.Fence(m)
	_, err := js.PublishMsg(t.Context(), m)
	return err
}

func TestStandbyTakesLeaseOnlyAfterHolderIsSilentForTTL(t *testing.T) {
	s := bustest.Server(t)
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	a := startProc(t, s, clock, "a")
	b := startProc(t, s, clock, "b")

	la, err := a.acquire(t.Context(), "k1.=lease")
	if err != nil {
		t.Fatal(err)
	}
	if err := fencedWrite(t, a.js, la, "k1.s.o1"); err != nil {
		t.Fatalf("fenced write by the holder: %v", err)
	}
	got := b.acquireAsync(t, "k1.=lease")

	// a is alive: its heartbeat keeps moving, b keeps waiting.
	for range 8 {
		clock.Advance(ttl / 4)
		bustest.WaitFor(t, "a's heartbeat", func() bool { return clock.Waiters() >= 2 })
	}
	select {
	case <-got:
		t.Fatal("b took the lease while a was alive")
	default:
	}

	// a dies without a word (its connection is gone: no release).
	a.nc.Close()
	clock.Advance(ttl + ttl/4)
	var lb *bus.Lease
	bustest.WaitFor(t, "b to take the lease", func() bool {
		select {
		case lb = <-got:
			return true
		default:
			clock.Advance(ttl / 8)
			return false
		}
	})
	if lb.Rev() == la.Rev() {
		t.Fatalf("the lease revision did not change on takeover (%d)", lb.Rev())
	}
	// The fencing token: a's view is stale, so its writes are refused.
	nc2, js2 := bustest.JetStream(t, s)
	defer nc2.Close()
	if err := fencedWrite(t, js2, la, "k1.s.o2"); !bus.IsConflict(err) {
		t.Fatalf("write fenced by the old holder's lease: err %v, want a conflict", err)
	}
	if err := fencedWrite(t, b.js, lb, "k1.s.o2"); err != nil {
		t.Fatalf("write fenced by the new holder: %v", err)
	}
}

func TestReleasedLeaseIsTakenAtOnceAndLossIsSeen(t *testing.T) {
	s := bustest.Server(t)
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	a := startProc(t, s, clock, "a")
	b := startProc(t, s, clock, "b")
	la, err := a.acquire(t.Context(), "k1.=lease")
	if err != nil {
		t.Fatal(err)
	}
	got := b.acquireAsync(t, "k1.=lease")
	if err := la.Release(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-la.Lost():
	default:
		t.Fatal("a released lease is not lost")
	}
	var lb *bus.Lease
	bustest.WaitFor(t, "b to take the released lease (no TTL wait: the clock does not move)", func() bool {
		select {
		case lb = <-got:
			return true
		default:
			return false
		}
	})

	// a comes back and takes it over as the dead-peer rule allows only
	// after b goes silent; meanwhile b is told when it loses it.
	b.nc.Close()
	clock.Advance(2 * ttl)
	la2, err := a.acquire(t.Context(), "k1.=lease")
	if err != nil {
		t.Fatal(err)
	}
	if la2.Rev() <= lb.Rev() {
		t.Fatalf("revision went from %d to %d", lb.Rev(), la2.Rev())
	}
}

func TestRestartedInstanceTakesItsLeaseBack(t *testing.T) {
	s := bustest.Server(t)
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	a := startProc(t, s, clock, "a")
	if _, err := a.acquire(t.Context(), "k1.=lease"); err != nil {
		t.Fatal(err)
	}
	a.nc.Close() // SIGKILL
	a2 := startProc(t, s, clock, "a")
	ctx, cancel := context.WithTimeout(t.Context(), bustest.Patience)
	defer cancel()
	if _, err := a2.acquire(ctx, "k1.=lease"); err != nil {
		t.Fatalf("the restarted instance did not get its lease back without waiting: %v", err)
	}
}

func TestFencedWriteFailureDeclaresLeaseLost(t *testing.T) {
	s := bustest.Server(t)
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	a := startProc(t, s, clock, "a")
	la, err := a.acquire(t.Context(), "k1.=lease")
	if err != nil {
		t.Fatal(err)
	}
	if !la.Confirm(t.Context()) {
		t.Fatal("Confirm says a held lease is lost")
	}
	// Someone overwrites the entry behind the watch's back.
	if _, err := a.b.Orders.Put(t.Context(), "k1.=lease", []byte(`{"holder":"x","incarnation":"y"}`)); err != nil {
		t.Fatal(err)
	}
	bustest.WaitFor(t, "the loss to be seen", func() bool { return !la.Held() || !la.Confirm(t.Context()) })
	select {
	case <-la.Lost():
	default:
		t.Fatal("Lost not closed")
	}
}
