package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/monitor"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
)

func cmdKeys(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys", stderr)
	var cf clientFlags
	cf.register(fs)
	once := fs.Bool("once", false, "print one snapshot (after --wait) and exit; the default when stdout is not a terminal")
	// An idle key is heard from every messages.KeyStatusHeartbeat.
	wait := fs.Duration("wait", messages.KeyStatusHeartbeat+500*time.Millisecond, "with --once or --json: how long to listen for heartbeats (an idle key reports every 5s)")
	every := fs.Duration("every", time.Second, "live: how often the table is redrawn")
	asJSON := fs.Bool("json", false, "print one snapshot as KeyStatus JSON lines (for scripts) and exit")
	// Without the processes' heartbeats (the router's view has them), a
	// key idle for a heartbeat must not show down.
	timeout := fs.Duration("heartbeat-timeout", messages.KeyStatusHeartbeat+3*time.Second, "live: a key silent this long shows down (an idle key reports every 5s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nc, err := cf.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	if *asJSON || *once || !isTerminal(stdout) {
		return keysOnce(nc, stdout, *wait, *asJSON)
	}
	ctx, stop := signalContext()
	defer stop()
	return keysLive(ctx, nc, cf.url, stdout, *every, *timeout)
}

// keysOnce listens to heartbeats for wait and prints the keys heard.
func keysOnce(nc *nats.Conn, stdout io.Writer, wait time.Duration, asJSON bool) error {
	seen := map[string]messages.KeyStatus{}
	ch := make(chan messages.KeyStatus, 1024)
	sub, err := nc.Subscribe(messages.KeysPrefix+"*.status", func(m *nats.Msg) {
		var st messages.KeyStatus
		if json.Unmarshal(m.Data, &st) == nil {
			select {
			case ch <- st:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	deadline := time.After(wait)
collect:
	for {
		select {
		case st := <-ch:
			seen[st.Key] = st
		case <-deadline:
			break collect
		}
	}
	if len(seen) == 0 {
		return errors.New("no key status heard (is an executor running?)")
	}
	ids := make([]string, 0, len(seen))
	for k := range seen {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	if asJSON {
		for _, k := range ids {
			data, _ := json.Marshal(seen[k])
			fmt.Fprintln(stdout, string(data))
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVENUE\tSTATE\tQUEUE\tLIMITS\tWORKER")
	for _, k := range ids {
		st := seen[k]
		var ls []string
		for _, l := range st.Limits {
			ls = append(ls, fmt.Sprintf("%s %s/%s", l.Name, strconv.FormatFloat(l.Used, 'f', -1, 64), strconv.FormatFloat(l.Max, 'f', -1, 64)))
		}
		state := string(st.State)
		if st.Until != nil {
			state += " until " + st.Until.Local().Format("15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", st.Key, st.Venue, state, st.QueueDepth, strings.Join(ls, ", "), st.Worker)
	}
	return tw.Flush()
}

// Terminal control sequences of the live table.
const (
	ansiAltScreen  = "\x1b[?1049h\x1b[?25l" // alternate screen, cursor hidden
	ansiMainScreen = "\x1b[?25h\x1b[?1049l" // back to the shell's screen
	ansiHome       = "\x1b[H"
	ansiClearEOL   = "\x1b[K"
	ansiClearBelow = "\x1b[J"
)

// keysLive redraws the keys table every `every` until ctx is done, on the
// terminal's alternate screen (the shell's screen comes back on exit).
func keysLive(ctx context.Context, nc *nats.Conn, url string, w io.Writer, every, timeout time.Duration) error {
	view := monitor.NewView(nil, timeout)
	sub, err := nc.Subscribe(messages.KeysPrefix+"*.status", func(m *nats.Msg) {
		var st messages.KeyStatus
		if json.Unmarshal(m.Data, &st) == nil {
			view.ObserveStatus(st, time.Now())
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	// Accepted reports give the keys' rates, rejected ones their last
	// error: a plain subscription is enough for a person watching.
	var subs []*nats.Subscription
	for _, kind := range []messages.ReportKind{messages.KindAccepted, messages.KindRejected, messages.KindExpired, messages.KindCancelRejected} {
		s, err := nc.Subscribe(messages.ReportsPrefix+"*."+string(kind), func(m *nats.Msg) {
			_ = view.ObserveReportJSON(m.Data, time.Now())
		})
		if err != nil {
			return err
		}
		subs = append(subs, s)
	}
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	fmt.Fprint(w, ansiAltScreen)
	defer fmt.Fprint(w, ansiMainScreen)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		frame := renderKeys(view.Snapshot(time.Now()), url, every, nc.Status())
		fmt.Fprint(w, ansiHome+strings.ReplaceAll(frame, "\n", ansiClearEOL+"\n")+ansiClearBelow)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// barWidth is the width of a limit's bar in the live table.
const barWidth = 10

// bar draws used of max as a bar of barWidth cells.
func bar(used, max float64) string {
	n := 0
	if max > 0 {
		n = int(used / max * barWidth)
		if used > 0 && n == 0 {
			n = 1
		}
		n = min(n, barWidth)
	}
	return strings.Repeat("█", n) + strings.Repeat("░", barWidth-n)
}

// renderKeys is one frame of the live table.
func renderKeys(s monitor.Snapshot, url string, every time.Duration, status nats.Status) string {
	var b strings.Builder
	conn := ""
	if status != nats.CONNECTED {
		conn = "  [NATS " + strings.ToLower(status.String()) + "]"
	}
	fmt.Fprintf(&b, "keyrouter keys — %s — %s (redrawn every %s; Ctrl-C quits)%s\n\n", url, s.TS.Local().Format("15:04:05"), every, conn)
	if len(s.Keys) == 0 {
		b.WriteString("waiting for the first key status (is an executor running?)\n")
		return b.String()
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVENUE\tSTATE\tLIMITS\tQUEUE\tSENT/S\tLAST ERROR")
	for _, k := range s.Keys {
		state := k.State
		if k.Until != nil {
			state += fmt.Sprintf(" %.0fs", max(0, time.Until(*k.Until).Seconds()))
		}
		var ls []string
		for _, l := range k.Limits {
			ls = append(ls, fmt.Sprintf("%s %s %s/%s", l.Name, bar(l.Used, l.Max),
				strconv.FormatFloat(l.Used, 'f', -1, 64), strconv.FormatFloat(l.Max, 'f', -1, 64)))
		}
		queue := strconv.Itoa(k.QueueNew)
		if k.QueueCancel > 0 {
			queue += fmt.Sprintf("+%dc", k.QueueCancel)
		}
		lastErr := k.LastError
		if k.Message != "" && k.State != string(messages.KeyActive) {
			lastErr = k.Message
		}
		if len(lastErr) > 60 {
			lastErr = lastErr[:59] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f\t%s\n", k.Key, k.Venue, state, strings.Join(ls, "  "), queue, k.PerSecond, lastErr)
	}
	_ = tw.Flush()
	return b.String()
}
