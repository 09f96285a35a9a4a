package binancesim_test

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

// TestCloseEndsEverything: after Close, no goroutine of the Server is left,
// with a listenKey stream, a WebSocket API session and a held request open.
func TestCloseEndsEverything(t *testing.T) {
	base0 := runtime.NumGoroutine()
	cfg := binancesim.DefaultConfig()
	cfg.PriceTick = time.Millisecond
	cfg.Faults = binancesim.Faults{TimeoutRate: 1, Paths: []string{"/api/v3/ping"}}
	srv, err := binancesim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, base, "acct1-key", "acct1-secret", nil)
	key := listenKey(t, c)
	ws1 := dial(t, base, "/ws/"+key)
	ws2 := dial(t, base, "/ws-api/v3")
	held := make(chan error, 1)
	go func() {
		_, err := c.try(context.Background(), http.MethodGet, "/api/v3/ping", "")
		held <- err
	}()
	bustest.WaitFor(t, "the ping to be held", func() bool { return srv.Stats().Timeouts == 1 })

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	<-held
	ws1.CloseNow()
	ws2.CloseNow()
	c.hc.CloseIdleConnections()
	bustest.WaitFor(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= base0 })
}
