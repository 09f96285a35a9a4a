package okx_test

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/executors/okx"
	"github.com/keyrouter/keyrouter/executors/okxsim"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/rs/zerolog"
)

// TestCloseEndsEverything: after the Venue and the simulator close, no
// goroutine of either is left, with the orders channel subscribed, a
// request held by the simulator and prices moving.
func TestCloseEndsEverything(t *testing.T) {
	base0 := runtime.NumGoroutine()
	sc := okxsim.DefaultConfig()
	sc.PriceTick = time.Millisecond
	sc.Faults = okxsim.Faults{TimeoutRate: 1, Paths: []string{"/api/v5/market/ticker"}}
	srv, err := okxsim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v, err := okx.New(context.Background(), okx.Config{
		BaseURL: base, WSURL: "ws" + strings.TrimPrefix(base, "http") + "/ws/v5/private",
		APIKey: "sub1-key", Secret: []byte("sub1-secret"), Passphrase: []byte("sub1-pass"),
		PollInterval: 10 * time.Millisecond, PriceRefresh: 10 * time.Millisecond, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitUp(t, v)
	held := make(chan struct{})
	go func() {
		defer close(held)
		c := &bareClient{base: base}
		c.get("/api/v5/market/ticker?instId=BTC-USDT")
	}()
	bustest.WaitFor(t, "the ticker request to be held", func() bool { return srv.Stats().Timeouts == 1 })
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-v.Updates(); ok {
		t.Error("Updates still open after Close")
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	<-held
	bustest.WaitFor(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= base0 })
}

// bareClient is a client whose connections close with it.
type bareClient struct{ base string }

func (h *bareClient) get(path string) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(h.base + path)
	if err == nil {
		resp.Body.Close()
	}
}
