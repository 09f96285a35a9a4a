package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/executors"
	"github.com/keyrouter/keyrouter/messages"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestSeriesCountsPerSecond(t *testing.T) {
	var s series
	s.add(t0, 2)
	s.add(t0.Add(500*time.Millisecond), 1)
	s.add(t0.Add(2*time.Second), 4)
	got := s.last(t0.Add(3*time.Second), 4)
	want := []uint32{0, 3, 0, 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("last 4 s = %v, want %v", got, want)
	}
	if r := s.rate(t0.Add(3*time.Second), 3); r != 7.0/3 {
		t.Errorf("rate = %v, want 7/3", r)
	}
	// A slot reused after the ring wrapped holds only the new second.
	s.add(t0.Add(historySeconds*time.Second), 1)
	if got := s.last(t0.Add((historySeconds+1)*time.Second), 1); got[0] != 1 {
		t.Errorf("wrapped slot = %d, want 1", got[0])
	}
}

func TestViewKeyStates(t *testing.T) {
	cfg := configs.Default()
	v := NewView(cfg, 3*time.Second)
	s := v.Snapshot(t0)
	if len(s.Keys) != 4 || s.Keys[0].Key != "alpha-1" || s.Keys[0].State != "unknown" {
		t.Fatalf("before any heartbeat: %+v, want the config's 4 keys, unknown", s.Keys)
	}
	until := t0.Add(5 * time.Second)
	v.ObserveStatus(messages.KeyStatus{Key: "alpha-1", Venue: "binance", State: messages.KeyThrottled, Until: &until,
		QueueDepth: 5, QueueCancel: 2, Limits: []messages.LimitStatus{{Name: "o", Used: 9, Max: 10, Window: 10}}}, t0)
	k := v.Snapshot(t0.Add(time.Second)).Keys[0]
	if k.State != "throttled" || k.QueueNew != 3 || k.QueueCancel != 2 || k.Limits[0].Used != 9 || k.HeartbeatMS != 1000 {
		t.Errorf("after a throttled heartbeat: %+v", k)
	}
	k = v.Snapshot(t0.Add(4 * time.Second)).Keys[0]
	if k.State != "down" || !strings.Contains(k.Message, "no heartbeat") {
		t.Errorf("silent past the timeout: state %s message %q, want down, no heartbeat", k.State, k.Message)
	}
	g := v.gauges(t0.Add(time.Second))
	for _, kg := range g {
		if kg.key == "alpha-1" && (kg.state != "throttled" || kg.queueNew != 3) {
			t.Errorf("gauges of alpha-1: %+v", kg)
		}
	}
	// A key that idles is heard from every 5 s: it stays as it was while
	// its worker's process is alive.
	v.SetAlive(func(worker string) bool { return worker == "alpha-2@p1" })
	v.ObserveStatus(messages.KeyStatus{Key: "alpha-2", Venue: "binance", State: messages.KeyActive, Worker: "alpha-2@p1"}, t0)
	if k := v.Snapshot(t0.Add(messages.KeyStatusHeartbeat)).Keys[1]; k.Key != "alpha-2" || k.State != "active" {
		t.Errorf("an idle key of a live process, a heartbeat after its status: %s %s, want alpha-2 active", k.Key, k.State)
	}
	if k := v.Snapshot(t0.Add(4 * time.Second)).Keys[0]; k.State != "down" {
		t.Errorf("alpha-1, of no live process, silent past the timeout: %s, want down", k.State)
	}
}

func TestViewReportsAndHalts(t *testing.T) {
	v := NewView(configs.Default(), 0)
	v.ObserveIntent("alpha", t0)
	for i := range maxRejections + 5 {
		v.ObserveReport(&report{Kind: messages.KindRejected, Strategy: "alpha", ClientOrderID: fmt.Sprint(i),
			Key: "alpha-2", Reason: messages.ReasonRateLimited, Message: "queue full", TS: t0}, t0)
	}
	v.ObserveReport(&report{Kind: messages.KindAccepted, Strategy: "alpha", Key: "alpha-1"}, t0)
	v.ObserveReport(&report{Kind: messages.KindFill, Strategy: "alpha", Key: "alpha-1"}, t0)
	if err := v.ObserveReportJSON([]byte(`{"kind":"expired","strategy":"beta","client_order_id":"x","reason":"expired"}`), t0); err != nil {
		t.Fatal(err)
	}
	v.SetHalt("key.beta-2", &Halt{Reason: "maintenance"})
	v.SetHalt("all", &Halt{})
	v.SetHalt("all", nil)
	v.SetHalt("lease.router", &Halt{}) // not a halt
	s := v.Snapshot(t0.Add(time.Second))
	if len(s.Rejections) != maxRejections || s.Rejections[0].Strategy != "beta" || s.Rejections[1].ClientOrderID != fmt.Sprint(maxRejections+4) {
		t.Errorf("rejections: %d, newest %+v; want %d, newest first", len(s.Rejections), s.Rejections[0], maxRejections)
	}
	a := s.Strategies[0]
	if a.Strategy != "alpha" || a.Intents != 1 || a.Accepted != 1 || a.Fills != 1 || a.Rejected[messages.ReasonRateLimited] != maxRejections+5 || a.Policy != "least_loaded" {
		t.Errorf("alpha: %+v", a)
	}
	if k := s.Keys[1]; k.Key != "alpha-2" || k.LastError != "rate_limited: queue full" {
		t.Errorf("alpha-2's last error %q", k.LastError)
	}
	if k := s.Keys[0]; k.Rate[len(k.Rate)-1] != 1 {
		t.Errorf("alpha-1's rate %v, want the accepted order in the last second", k.Rate[len(k.Rate)-3:])
	}
	if len(s.Halts) != 1 || s.Halts[0].Scope != "key" || s.Halts[0].Target != "beta-2" || s.Halts[0].Reason != "maintenance" {
		t.Errorf("halts %+v, want key beta-2 only", s.Halts)
	}
}

func TestReadiness(t *testing.T) {
	h := newHealth(func() time.Time { return t0 })
	if ok, why := h.Ready(); ok || why != "not connected to NATS yet" {
		t.Errorf("before connecting: %v %q", ok, why)
	}
	m := New(Options{Now: func() time.Time { return t0 }})
	m.Router()
	e := m.Executor("k1", "binance")
	if ok, _ := m.health.Ready(); ok {
		t.Error("ready without NATS")
	}
	// Without a connection the rest is not looked at; check the roles
	// and venue through the unexported parts.
	m.health.mu.Lock()
	waiting := []string{}
	for _, r := range m.health.expected {
		if !m.health.bound[r] {
			waiting = append(waiting, r)
		}
	}
	m.health.mu.Unlock()
	if strings.Join(waiting, ",") != "router,executor k1" {
		t.Errorf("waiting for %v", waiting)
	}
	e.Serving(true)
	e.VenueRequest(executors.OpPlace, time.Millisecond, &executors.VenueError{Kind: executors.Unavailable, Err: errors.New("connection refused")})
	if _, bad := m.health.venues["k1"]; !bad {
		t.Error("an unreachable venue is not recorded")
	}
	e.VenueRequest(executors.OpPlace, time.Millisecond, nil)
	if _, bad := m.health.venues["k1"]; bad {
		t.Error("a venue that answered is still unreachable")
	}
}
