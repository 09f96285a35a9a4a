package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/natsconf"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clientFlags are the connection flags of the client commands.
type clientFlags struct {
	url   string
	creds natsconf.Credentials
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "nats", envOr("NATS_URL", "nats://127.0.0.1:4222"), "NATS URL (default $NATS_URL)")
	c.creds.RegisterFlags(fs)
}

// connect connects with the command's credentials.
func (c *clientFlags) connect() (*nats.Conn, error) {
	opts, err := c.creds.Options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(c.url, append([]nats.Option{nats.Name("keyrouter-cli")}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.url, err)
	}
	return nc, nil
}

func (c *clientFlags) dial() (*nats.Conn, jetstream.JetStream, error) {
	nc, err := c.connect()
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

type tagFlags map[string]string

func (t tagFlags) String() string { return fmt.Sprint(map[string]string(t)) }
func (t tagFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("tag %q: want name=value", s)
	}
	t[k] = v
	return nil
}

func cmdSubmit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("submit", stderr)
	var cf clientFlags
	cf.register(fs)
	strategy := fs.String("strategy", "alpha", "strategy ID")
	id := fs.String("id", "", "client_order_id (default: generated)")
	symbol := fs.String("symbol", "BTC-USDT", "symbol, BASE-QUOTE")
	side := fs.String("side", "buy", "buy or sell")
	typ := fs.String("type", "market", "market or limit")
	qty := fs.String("qty", "0.001", "quantity (decimal)")
	price := fs.String("price", "", "limit price (decimal)")
	tif := fs.String("tif", "", "time in force: gtc, ioc, fok")
	key := fs.String("key", "", "pin to this key")
	venue := fs.String("venue", "", "restrict to keys of this venue")
	expiresIn := fs.Duration("expires-in", 0, "set expires_at this long from now")
	postOnly := fs.Bool("post-only", false, "post only")
	follow := fs.Bool("follow", false, "print every report of the order until it is closed")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for a report")
	asJSON := fs.Bool("json", false, "print reports as JSON lines")
	tags := tagFlags{}
	fs.Var(tags, "tag", "tag name=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		*id = "cli-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	intent := map[string]any{
		"client_order_id": *id, "symbol": *symbol, "side": *side, "type": *typ, "quantity": *qty,
	}
	for k, v := range map[string]string{"price": *price, "time_in_force": *tif, "key": *key, "venue": *venue} {
		if v != "" {
			intent[k] = v
		}
	}
	if *postOnly {
		intent["post_only"] = true
	}
	if *expiresIn > 0 {
		intent["expires_at"] = time.Now().Add(*expiresIn).UTC().Format(time.RFC3339Nano)
	}
	if len(tags) > 0 {
		intent["tags"] = map[string]string(tags)
	}
	data, _ := json.Marshal(intent)
	return sendAndWatch(&cf, *strategy, *id, messages.OrdersNewSubject(*strategy), data, *timeout, stdout, *asJSON,
		func(r *messages.ExecutionReport) bool {
			return !*follow || r.Status.Terminal() || r.Kind == messages.KindRejected
		})
}

func cmdCancel(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cancel", stderr)
	var cf clientFlags
	cf.register(fs)
	strategy := fs.String("strategy", "alpha", "strategy ID")
	id := fs.String("id", "", "client_order_id of the order to cancel (required)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the outcome")
	asJSON := fs.Bool("json", false, "print reports as JSON lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("--id is required")
	}
	data, _ := json.Marshal(messages.CancelIntent{ClientOrderID: *id})
	return sendAndWatch(&cf, *strategy, *id, messages.OrdersCancelSubject(*strategy), data, *timeout, stdout, *asJSON,
		func(r *messages.ExecutionReport) bool {
			return r.Kind == messages.KindCanceled || r.Kind == messages.KindCancelRejected
		})
}

// sendAndWatch publishes data on subject through JetStream and prints the
// reports of (strategy, id) until last says that was the last one.
func sendAndWatch(cf *clientFlags, strategy, id, subject string, data []byte, timeout time.Duration, stdout io.Writer, asJSON bool,
	last func(*messages.ExecutionReport) bool) error {
	nc, js, err := cf.dial()
	if err != nil {
		return err
	}
	defer nc.Close()
	reports, stop, err := watchOrder(nc, strategy, id)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := js.Publish(ctx, subject, data); err != nil {
		return fmt.Errorf("publishing to %s: %w", subject, err)
	}
	return printReports(ctx, stdout, reports, asJSON, last)
}

// watchOrder subscribes to the reports of one order. The subscription is
// core NATS: fine for a person watching; a program that must not miss a
// report reads the REPORTS stream (see tail).
func watchOrder(nc *nats.Conn, strategy, id string) (<-chan *messages.ExecutionReport, func(), error) {
	ch := make(chan *messages.ExecutionReport, 256)
	sub, err := nc.Subscribe(messages.ReportsWildcard(strategy), func(m *nats.Msg) {
		var r messages.ExecutionReport
		if json.Unmarshal(m.Data, &r) == nil && r.ClientOrderID == id {
			select {
			case ch <- &r:
			default:
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return ch, func() { _ = sub.Unsubscribe() }, nil
}

func printReports(ctx context.Context, w io.Writer, ch <-chan *messages.ExecutionReport, asJSON bool, last func(*messages.ExecutionReport) bool) error {
	for {
		select {
		case <-ctx.Done():
			return errors.New("no report in time (is keyrouter running?)")
		case r := <-ch:
			printReport(w, r, asJSON)
			if last(r) {
				if r.Kind == messages.KindRejected || r.Kind == messages.KindCancelRejected {
					return exitError(3)
				}
				return nil
			}
		}
	}
}

func printReport(w io.Writer, r *messages.ExecutionReport, asJSON bool) {
	if asJSON {
		data, _ := json.Marshal(r)
		fmt.Fprintln(w, string(data))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s %-16s %-15s seq=%d", r.TS.Local().Format("15:04:05.000000"), r.Strategy, r.ClientOrderID, r.Kind, r.Seq)
	if r.Status != "" {
		fmt.Fprintf(&b, " status=%s", r.Status)
	}
	if r.Symbol != "" {
		fmt.Fprintf(&b, " %s %s %s %s", r.Side, r.Type, r.Quantity, r.Symbol)
	}
	if r.Price != nil {
		fmt.Fprintf(&b, " @ %s", r.Price)
	}
	if r.Key != "" {
		fmt.Fprintf(&b, " key=%s", r.Key)
	}
	if r.Fill != nil {
		fmt.Fprintf(&b, " fill=%s@%s fee=%s%s", r.Fill.Quantity, r.Fill.Price, r.Fill.Fee, r.Fill.FeeAsset)
	}
	if r.Kind != messages.KindRejected && r.Kind != messages.KindCancelRejected && r.Symbol != "" {
		fmt.Fprintf(&b, " cum=%s leaves=%s", r.CumQuantity, r.LeavesQuantity)
		if !r.AvgPrice.IsZero() {
			fmt.Fprintf(&b, " avg=%s", r.AvgPrice.StringFixed(8))
		}
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, " reason=%s", r.Reason)
	}
	if r.Message != "" {
		fmt.Fprintf(&b, " (%s)", r.Message)
	}
	fmt.Fprintln(w, b.String())
}

func cmdTail(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", stderr)
	var cf clientFlags
	cf.register(fs)
	strategy := fs.String("strategy", "", "only this strategy's reports")
	since := fs.String("since", "", "start at a time (RFC 3339) or this long ago (e.g. 10m); default: new reports only")
	seq := fs.Uint64("seq", 0, "start at this REPORTS stream sequence")
	asJSON := fs.Bool("json", false, "print reports as JSON lines")
	n := fs.Int("n", 0, "stop after this many reports (0: follow until interrupted)")
	apiPrefix := fs.String("js-api-prefix", os.Getenv("NATS_JS_API_PREFIX"),
		"JetStream API prefix (default $NATS_JS_API_PREFIX; "+natsconf.OperatorJSAPIPrefix+" when the identity's account has no JetStream, as the operator's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nc, js, err := cf.dial()
	if err != nil {
		return err
	}
	defer nc.Close()
	if *apiPrefix == "" && cf.creds.Authenticated() {
		// The operator's account has no JetStream of its own (the server
		// says so): it reaches KEYROUTER's through an import under a prefix.
		actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			*apiPrefix = natsconf.OperatorJSAPIPrefix
		}
	}
	if *apiPrefix != "" {
		if js, err = jetstream.NewWithAPIPrefix(nc, *apiPrefix); err != nil {
			return err
		}
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	if *strategy != "" {
		cfg.FilterSubjects = []string{messages.ReportsWildcard(*strategy)}
	}
	switch {
	case *seq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, *seq
	case *since != "":
		t, err := time.Parse(time.RFC3339Nano, *since)
		if err != nil {
			d, derr := time.ParseDuration(*since)
			if derr != nil {
				return fmt.Errorf("--since %q: want an RFC 3339 time or a duration", *since)
			}
			t = time.Now().Add(-d)
		}
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	ctx, stop := signalContext()
	defer stop()
	cons, err := js.OrderedConsumer(ctx, messages.StreamReports, cfg)
	if err != nil {
		return fmt.Errorf("reading REPORTS: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); it.Stop() }()
	for count := 0; *n == 0 || count < *n; count++ {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return err
		}
		var r messages.ExecutionReport
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			fmt.Fprintf(stderr, "undecodable report on %s: %v\n", m.Subject(), err)
			continue
		}
		printReport(stdout, &r, *asJSON)
	}
	return nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
