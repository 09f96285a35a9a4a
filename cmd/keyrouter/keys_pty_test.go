package main

import (
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
)

// TestMain lets a test run this test binary as the keyrouter command
// (KEYROUTER_AS_MAIN=1), on a terminal of its own.
func TestMain(m *testing.M) {
	if os.Getenv("KEYROUTER_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// ptyOutput collects what a program writes to its terminal.
type ptyOutput struct{ bustest.Buffer }

// frames splits the output at each redraw (cursor home).
func (o *ptyOutput) frames() []string {
	parts := strings.Split(o.String(), ansiHome)
	return parts[1:]
}

// `keyrouter keys` on a terminal redraws its table until interrupted: the
// budget bar of a key fills as orders go out, and Ctrl-C gives the shell
// its screen back.
func TestKeysLiveRedraws(t *testing.T) {
	ka := testApp(t, parseConfig(t, monitorConfig), func(a *app.App) { a.Listen = "127.0.0.1:-1" })
	c := newClient(t, ka)

	cmd := exec.Command(os.Args[0], "keys", "--nats", ka.ClientURL(), "--every", "200ms")
	cmd.Env = append(os.Environ(), "KEYROUTER_AS_MAIN=1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 160})
	if err != nil {
		t.Fatalf("starting keys on a pty: %v", err)
	}
	defer tty.Close()
	var out ptyOutput
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&out, tty); close(copied) }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	idle := regexp.MustCompile(`alpha-1\s+paper\s+active\s+orders_10s ░{10} 0/200`)
	bustest.WaitFor(t, "a frame with alpha-1 idle", func() bool {
		for _, f := range out.frames() {
			if idle.MatchString(f) {
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(out.String(), ansiAltScreen) {
		t.Errorf("keys did not switch to the alternate screen: %q", head(out.String()))
	}
	for i := range 5 {
		c.submit("alpha", marketIntentBTC("k"+string(rune('a'+i))))
	}
	c.waitKind("alpha", "ke", messages.KindAccepted)
	busy := regexp.MustCompile(`alpha-1\s+paper\s+active\s+orders_10s █░{9} [1-5]/200`)
	n := len(out.frames())
	bustest.WaitFor(t, "a later frame with alpha-1's bar filled", func() bool {
		fs := out.frames()
		for _, f := range fs[n:] {
			if busy.MatchString(f) {
				return true
			}
		}
		return false
	})

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("keys after Ctrl-C: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("keys did not stop on SIGINT")
	}
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	if s := out.String(); !strings.HasSuffix(strings.TrimRight(s, "\r\n"), ansiMainScreen) {
		t.Errorf("keys did not give the shell its screen back; output ends %q", tail(s))
	}
	if got := len(out.frames()); got < 3 {
		t.Errorf("%d frames drawn, want several", got)
	}
}

func head(s string) string { return s[:min(len(s), 80)] }
func tail(s string) string { return s[max(0, len(s)-80):] }
