package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/keyrouter/keyrouter/router/bus/bustest"
	"github.com/rs/zerolog"
)

// duplicateField returns the first field a JSON object line names twice.
func duplicateField(line string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		return "", err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		k := tok.(string)
		if seen[k] {
			return k, nil
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", err
		}
	}
	return "", nil
}

// Every log line of a session through the Binance adapter (debug level:
// every request) names each field once.
func TestLogLinesNameEachFieldOnce(t *testing.T) {
	var logs bustest.Buffer
	ka := testApp(t, nil, func(a *app.App) { a.Logger = zerolog.New(&logs).Level(zerolog.DebugLevel).With().Timestamp().Logger() })
	c := newClient(t, ka)
	c.submit("alpha", marketIntentBTC("log1"))
	c.waitKind("alpha", "log1", messages.KindFill)
	c.submit("beta", `{"client_order_id":"log2","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.1","price":"100"}`)
	c.waitKind("beta", "log2", messages.KindAccepted)
	c.cancel("beta", "log2")
	c.waitKind("beta", "log2", messages.KindCanceled)
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	lines, venueLines := 0, 0
	for sc.Scan() {
		lines++
		dup, err := duplicateField(sc.Text())
		if err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if dup != "" {
			t.Errorf("field %q twice in %s", dup, sc.Text())
		}
		if strings.Contains(sc.Text(), `"binance request"`) {
			venueLines++
		}
	}
	if venueLines == 0 {
		t.Fatalf("no Binance request line among %d lines: the test saw nothing of the adapter", lines)
	}
}

// --log-format picks the writer: json lines when stderr is not a
// terminal (as here), console on request, --log-text as its alias.
func TestLogFormat(t *testing.T) {
	for _, tc := range []struct {
		args []string
		json bool
	}{
		{nil, true},
		{[]string{"--log-format", "json"}, true},
		{[]string{"--log-format", "console"}, false},
		{[]string{"--log-text"}, false},
	} {
		var rf roleFlags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		rf.register(fs, "", "")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		log, err := rf.logger(&out)
		if err != nil {
			t.Fatal(err)
		}
		log.Info().Str("key", "k1").Msg("hello")
		isJSON := json.Valid(bytes.TrimSpace(out.Bytes()))
		if isJSON != tc.json {
			t.Errorf("%v: %q, want json %v", tc.args, out.String(), tc.json)
		}
	}
	var rf roleFlags
	rf.logFormat = "xml"
	if _, err := rf.logger(io.Discard); err == nil {
		t.Error("--log-format xml accepted")
	}
}
