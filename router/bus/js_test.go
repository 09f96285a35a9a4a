package bus_test

import (
	"testing"

	"github.com/keyrouter/keyrouter/router/bus"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/nats-io/nats.go/jetstream"
)

// Reads leave no consumer behind: a stream holds 1,000 by default, and an
// executor per key reads its records at every start.
func TestReadsLeaveNoConsumer(t *testing.T) {
	p := startProc(t, bustest.Server(t), nil, "p")
	for _, k := range []string{"a.s.1", "a.s.2", "b.s.1"} {
		if _, err := p.b.Orders.Put(t.Context(), k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	const stream = "KV_ORDERSTATE"
	for range 3 {
		m, found, err := bus.ReadLast(t.Context(), p.js, stream, "$KV.ORDERSTATE.a.s.2")
		if err != nil || !found || string(m.Data()) != "a.s.2" {
			t.Fatalf("ReadLast: %v %v %v", m, found, err)
		}
		if _, found, err := bus.ReadLast(t.Context(), p.js, stream, "$KV.ORDERSTATE.none"); err != nil || found {
			t.Fatalf("ReadLast of nothing: found %v, %v", found, err)
		}
		n := 0
		if err := bus.ScanLast(t.Context(), p.js, stream, "$KV.ORDERSTATE.a.>", func(jetstream.Msg) error { n++; return nil }); err != nil || n != 2 {
			t.Fatalf("ScanLast: %d records, %v; want 2", n, err)
		}
	}
	s, err := p.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Errorf("%d consumers left on %s after 9 reads, want 0", info.State.Consumers, stream)
	}
}
