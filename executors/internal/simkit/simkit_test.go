package simkit

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// One seed draws one sequence of faults; Paths limits the failures to
// the paths (of any method, or of one) it names.
func TestInjectorIsReproducible(t *testing.T) {
	cfg := Faults{Error5xxRate: 0.3, TimeoutRate: 0.3, TimeoutAppliesRate: 0.5, LatencyJitter: time.Millisecond,
		Paths: []string{"/api/a", "POST /api/b"}}
	a, b := NewInjector(cfg, 7, 1), NewInjector(cfg, 7, 1)
	kinds := map[FaultKind]int{}
	for range 200 {
		fa, fb := a.Draw("GET", "/api/a"), b.Draw("GET", "/api/a")
		if fa != fb {
			t.Fatalf("same seed, different faults: %+v and %+v", fa, fb)
		}
		kinds[fa.Kind]++
	}
	if kinds[NoFault] == 0 || kinds[Error5xx] == 0 || kinds[Timeout] == 0 {
		t.Errorf("fault kinds drawn %v, want each", kinds)
	}
	for range 50 {
		if f := a.Draw("GET", "/api/b"); f.Kind != NoFault {
			t.Fatalf("GET /api/b failed (%v): only POST is listed", f.Kind)
		}
	}
}

func TestFaultsValidate(t *testing.T) {
	for _, tc := range []struct {
		f    Faults
		want string
	}{
		{Faults{Error5xxRate: 1.5}, "faults.error_5xx_rate"},
		{Faults{Error5xxRate: 0.6, TimeoutRate: 0.6}, "error_5xx_rate + timeout_rate"},
		{Faults{Latency: -1}, "latency"},
	} {
		if err := tc.f.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.f, err, tc.want)
		}
	}
	if err := (Faults{Error5xxRate: 0.5, TimeoutRate: 0.5}).Validate(); err != nil {
		t.Errorf("valid faults: %v", err)
	}
}

// Close stops the listeners and waits for what the Host started; nothing
// starts after it.
func TestHostClose(t *testing.T) {
	h := NewHost()
	url, err := h.Serve("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(url); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	ended := make(chan struct{})
	h.Go(func() {
		<-h.Context().Done()
		close(ended)
	})
	closedThen := false
	if err := h.Close(func() { closedThen = true }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	default:
		t.Error("Close returned before the goroutine it waits for ended")
	}
	if !closedThen {
		t.Error("Close did not run its then")
	}
	if h.Go(func() {}) {
		t.Error("Go ran a goroutine after Close")
	}
	if _, err := h.Serve("127.0.0.1:0", nil); err != ErrClosed {
		t.Errorf("Serve after Close: %v, want ErrClosed", err)
	}
	if h.Sleep(context.Background(), time.Hour) {
		t.Error("Sleep waited on a closed Host")
	}
}
