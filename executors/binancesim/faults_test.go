package binancesim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

func Test5xxRate(t *testing.T) {
	run := func() (int, binancesim.Stats) {
		cfg := binancesim.DefaultConfig()
		cfg.Seed = 7
		cfg.Faults.Error5xxRate = 0.2
		srv, base := start(t, cfg)
		c := newClient(t, base, "", "", nil)
		n := 0
		for range 500 {
			a := c.public(http.MethodGet, "/api/v3/ping", nil)
			switch a.status {
			case http.StatusOK:
			case http.StatusServiceUnavailable:
				wantErr(t, a, http.StatusServiceUnavailable, -1001, "")
				n++
			default:
				t.Fatalf("status %d", a.status)
			}
		}
		return n, srv.Stats()
	}
	n, st := run()
	if n < 70 || n > 130 {
		t.Fatalf("503s: got %d of 500 at rate 0.2", n)
	}
	if st.Errors5xx != int64(n) {
		t.Fatalf("Stats.Errors5xx: got %d, want %d", st.Errors5xx, n)
	}
	if again, _ := run(); again != n {
		t.Fatalf("same seed: got %d 503s, then %d", n, again)
	}
}

// TestTimeouts holds orders unanswered; about half still take effect.
func TestTimeouts(t *testing.T) {
	cfg := binancesim.DefaultConfig()
	cfg.Seed = 3
	cfg.Faults = binancesim.Faults{TimeoutRate: 1, TimeoutAppliesRate: 0.5, Paths: []string{"/api/v3/order"}}
	srv, base := start(t, cfg)
	c := newClient(t, base, "acct1-key", "acct1-secret", nil)
	const n = 40
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		p := form("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT", "timeInForce", "GTC",
			"quantity", "0.001", "price", "50000", "newClientOrderId", fmt.Sprintf("to-%d", i),
			"timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
		payload := p.Encode()
		done := make(chan error, 1)
		go func() {
			_, err := c.try(ctx, http.MethodPost, "/api/v3/order", payload+"&signature="+sign("acct1-secret", payload))
			done <- err
		}()
		bustest.WaitFor(t, "the request to be held", func() bool { return srv.Stats().Timeouts == int64(i+1) })
		cancel() // the client gives up
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("order %d: got %v, want context.Canceled", i, err)
		}
	}
	st := srv.Stats()
	placed := len(srv.Exchange().AllOrders("acct1", "BTC-USDT"))
	if st.TimeoutsApplied < n/4 || st.TimeoutsApplied > 3*n/4 || int64(placed) != st.TimeoutsApplied {
		t.Fatalf("applied: stats %d, engine %d, of %d", st.TimeoutsApplied, placed, n)
	}
	// Other paths answer normally, and the client can find out what happened.
	a := c.signed(http.MethodGet, "/api/v3/allOrders", url.Values{"symbol": {"BTCUSDT"}})
	wantStatus(t, a, http.StatusOK)
	var list []orderResp
	a.decode(t, &list)
	if len(list) != placed {
		t.Fatalf("allOrders: got %d, want %d", len(list), placed)
	}
}

func TestTimeoutReleasedAtClose(t *testing.T) {
	cfg := binancesim.DefaultConfig()
	cfg.Faults = binancesim.Faults{TimeoutRate: 1}
	srv, err := binancesim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, base, "", "", nil)
	done := make(chan error, 1)
	go func() {
		_, err := c.try(context.Background(), http.MethodGet, "/api/v3/ping", "")
		done <- err
	}()
	bustest.WaitFor(t, "the request to be held", func() bool { return srv.Stats().Timeouts == 1 })
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	<-done // answered or cut off, but not held forever
}

func TestLatency(t *testing.T) {
	cfg := binancesim.DefaultConfig()
	cfg.Faults = binancesim.Faults{Latency: 30 * time.Millisecond, LatencyJitter: 10 * time.Millisecond}
	_, base := start(t, cfg)
	c := newClient(t, base, "", "", nil)
	t0 := time.Now()
	wantStatus(t, c.public(http.MethodGet, "/api/v3/ping", nil), http.StatusOK)
	if d := time.Since(t0); d < 30*time.Millisecond {
		t.Fatalf("ping took %v, want >= 30ms", d)
	}
}

func TestDropStream(t *testing.T) {
	cfg := binancesim.DefaultConfig()
	cfg.Faults.DropStreamEvery = 3
	srv, base := start(t, cfg)
	c := newClient(t, base, "acct1-key", "acct1-secret", nil)
	key := listenKey(t, c)
	conn := dial(t, base, "/ws/"+key)
	// A market order makes NEW, TRADE and an account update: three events.
	wantStatus(t, c.signed(http.MethodPost, "/api/v3/order", form("symbol", "ETHUSDT", "side", "BUY", "type", "MARKET", "quantity", "0.01")), http.StatusOK)
	for range 3 {
		readEvent(t, conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := conn.Read(ctx)
	if err == nil || websocket.CloseStatus(err) != -1 || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after 3 events: got %v, want the connection cut without a close frame", err)
	}
	bustest.WaitFor(t, "the drop to be counted", func() bool { return srv.Stats().StreamDrops == 1 })
	// The listen key still works: reconnect.
	conn = dial(t, base, "/ws/"+key)
	wantStatus(t, c.signed(http.MethodPost, "/api/v3/order", form("symbol", "ETHUSDT", "side", "SELL", "type", "MARKET", "quantity", "0.01")), http.StatusOK)
	if ev := readEvent(t, conn); ev.E != "executionReport" {
		t.Fatalf("after reconnecting: got %+v", ev)
	}
}
