// Package bustest holds what keyrouter's tests share: an embedded NATS
// server with JetStream that listens on no port, in-process connections
// to it, WaitFor, the one polling helper (tests wait for outcomes, never
// for time), and Buffer, an output that goroutines write and tests read.
package bustest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server starts an embedded NATS server with JetStream (file storage in a
// temporary directory) that clients reach in process only; it is shut
// down when the test ends.
func Server(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		JetStream: true, StoreDir: t.TempDir(), DontListen: true, NoLog: true, NoSigs: true,
		ServerName: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Conn returns an in-process connection to s, closed when the test ends.
func Conn(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context over a new in-process connection.
func JetStream(t testing.TB, s *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := Conn(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Patience is how long WaitFor waits before failing the test. Waiting
// that long means the outcome did not come: no test depends on it.
const Patience = 15 * time.Second

// WaitFor polls f until it is true, failing the test (naming what it
// waited for) if it is not within Patience.
func WaitFor(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", Patience, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Buffer is a bytes.Buffer safe for concurrent use: a log sink or an
// output written by goroutines and read by the test. The zero value is
// empty and ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
