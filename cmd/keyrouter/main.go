// Command keyrouter is the order router: one binary for every role and the
// tools around them. Run `keyrouter help` for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/natsconf"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/router"
	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

const usage = `keyrouter: an order router over NATS that partitions orders across venue API keys.

Usage: keyrouter <command> [flags]

Run the system:
  run        everything in one process on an embedded NATS server (default config)
  router     the router role, against an existing NATS (--nats or NATS_URL)
  executor   the executor of one or more keys (--key K[,K2]), against an existing NATS

Use it:
  submit     publish an order intent and print its first report (--follow: all of them)
  cancel     cancel an order and print the outcome
  tail       follow execution reports from the REPORTS stream
  keys       show every key's status (state, limits, queue)
  halt       halt a strategy, a key or everything (--strategy S | --key K | --all [--cancel-open])
  resume     undo a halt (--strategy S | --key K | --all)
  reload     make the routers read their config file again

Tools:
  check      validate a config file and exit (non-zero with the errors)
  deploy nats-config  write the NATS server config, identities (nkeys) and permissions for a config
  bench      measure latency and throughput against a raw-NATS baseline
  bench chart  an SVG chart from saved 'bench --json' outputs (--chart rss --out FILE FILE...)
  exchange-sim  a Binance- or OKX-compatible exchange simulator on loopback (--venue binance|okx, --config, --listen, --admin)
  help       this text

Run 'keyrouter <command> -h' for a command's flags. Every command that
connects to NATS takes --nkey FILE, --creds FILE, --tls-ca, --tls-cert and
--tls-key (or NATS_NKEY, NATS_CREDS, NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) error{
		"run":          cmdRun,
		"router":       cmdRouter,
		"executor":     cmdExecutor,
		"submit":       cmdSubmit,
		"cancel":       cmdCancel,
		"tail":         cmdTail,
		"keys":         cmdKeys,
		"check":        cmdCheck,
		"bench":        cmdBench,
		"exchange-sim": cmdExchangeSim,
		"halt":         cmdHalt,
		"resume":       cmdResume,
		"reload":       cmdReload,
		"deploy":       cmdDeploy,
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "keyrouter: unknown command %q\n\n%s", name, usage)
		return 2
	}
	if err := cmd(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ee exitError
		if errors.As(err, &ee) {
			return int(ee)
		}
		fmt.Fprintf(stderr, "keyrouter %s: %v\n", name, err)
		return 1
	}
	return 0
}

// newFlagSet is the flag set of a subcommand: errors and -h go to stderr,
// and parsing returns errors rather than exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// exitError ends the program with a status after the command printed why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// common flags of the roles.
type roleFlags struct {
	config     string
	nats       string
	logLevel   string
	logFormat  string
	logText    bool
	httpListen string
	instance   string
	creds      natsconf.Credentials
	connect    []nats.Option // from creds, after parse
}

func (r *roleFlags) register(fs *flag.FlagSet, natsDefault, httpDefault string) {
	fs.StringVar(&r.config, "config", "", "config file (YAML); the built-in default config if empty")
	fs.StringVar(&r.nats, "nats", natsDefault, "NATS URL to connect to (default $NATS_URL)")
	fs.StringVar(&r.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&r.logFormat, "log-format", "", "console (readable) or json (one object a line); default: console when stderr is a terminal, else json")
	fs.BoolVar(&r.logText, "log-text", false, "same as --log-format console")
	fs.StringVar(&r.httpListen, "http-listen", httpDefault, `address serving /metrics, /healthz, /readyz (and the dashboard at / on run and router); "" turns it off`)
	fs.StringVar(&r.instance, "instance", "", "this process's name among keyrouter's processes (leases, KeyStatus.worker <key>@<name>); unique; a restart under the same name takes its keys back at once (default host-pid)")
	r.creds.RegisterFlags(fs)
}

// parse parses args, then loads the config, checks the credentials and
// builds the logger.
func (r *roleFlags) parse(fs *flag.FlagSet, args []string, stderr io.Writer) (*configs.Config, zerolog.Logger, error) {
	if err := fs.Parse(args); err != nil {
		return nil, zerolog.Nop(), err
	}
	cfg, err := r.load()
	if err != nil {
		return nil, zerolog.Nop(), err
	}
	if r.connect, err = r.creds.Options(); err != nil {
		return nil, zerolog.Nop(), err
	}
	log, err := r.logger(stderr)
	return cfg, log, err
}

// controlAccountFlag adds --control-account to a role that runs the
// router; its value after parse is resolved by controlAccount.
func controlAccountFlag(fs *flag.FlagSet) *string {
	return fs.String("control-account", "",
		"NATS account whose requests the control service answers, as the server names it in Nats-Request-Info "+
			"(default "+natsconf.OperatorAccount+" when connecting with --nkey or --creds, anyone otherwise; \"any\" for anyone)")
}

// controlAccount resolves --control-account: a secured deployment checks
// the caller unless told otherwise.
func (r *roleFlags) controlAccount(flagValue string) string {
	switch {
	case flagValue == "any":
		return ""
	case flagValue != "":
		return flagValue
	case r.creds.Authenticated():
		return natsconf.OperatorAccount
	}
	return ""
}

// reloader reads the --config file again, or is nil without one.
func (r *roleFlags) reloader() func() (*configs.Config, error) {
	if r.config == "" {
		return nil
	}
	return func() (*configs.Config, error) { return configs.Load(r.config) }
}

func (r *roleFlags) load() (*configs.Config, error) {
	if r.config == "" {
		return configs.Default(), nil
	}
	return configs.Load(r.config)
}

func (r *roleFlags) logger(stderr io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(r.logLevel)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("--log-level: %w", err)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	format := r.logFormat
	switch {
	case r.logText && format == "":
		format = "console"
	case format == "" && isTerminal(stderr):
		format = "console"
	case format == "":
		format = "json"
	}
	var w io.Writer = stderr
	switch format {
	case "console":
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05.000", NoColor: !isTerminal(stderr)}
	case "json":
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: want console or json", r.logFormat)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	var rf roleFlags
	rf.register(fs, "", "127.0.0.1:7070")
	listen := fs.String("nats-listen", "127.0.0.1:4222", "address the embedded NATS server listens on for clients")
	data := fs.String("data", "", "directory for JetStream's files (a temporary one, removed on exit, if empty)")
	syncEvery := fs.String("sync", "always", `how often the embedded server flushes JetStream's files to disk: "always" (after every write: an OS crash loses nothing acked) or an interval such as 1s (faster; an OS crash may lose the last interval's writes)`)
	control := controlAccountFlag(fs)
	cfg, log, err := rf.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	sync, err := parseSync(*syncEvery)
	if err != nil {
		return err
	}
	ka := &app.App{Config: cfg, NATSURL: rf.nats, Listen: *listen, DataDir: *data, Sync: sync, RunRouter: true, Keys: app.AllKeys, Logger: log, Instance: rf.instance,
		RouterOptions: router.Options{Reload: rf.reloader(), ControlAccount: rf.controlAccount(*control)}, HTTPListen: rf.httpListen,
		ConnectOptions: rf.connect}
	if rf.nats != "" {
		ka.Listen = ""
	}
	return serve(ka, &rf, log, func() { printBanner(stdout, ka, cfg) })
}

// printBanner says once, at start, where clients connect, where the
// dashboard is and what this process serves.
func printBanner(w io.Writer, ka *app.App, cfg *configs.Config) {
	fmt.Fprintf(w, "keyrouter is running\n")
	fmt.Fprintf(w, "  clients connect to  %s\n", ka.ClientURL())
	if u := ka.HTTPURL(); u != "" {
		fmt.Fprintf(w, "  dashboard           %s   (and /metrics, /healthz, /readyz)\n", u)
	} else {
		fmt.Fprintf(w, "  dashboard           off (--http-listen \"\")\n")
	}
	for _, id := range sortedKeys(cfg.Strategies) {
		st := cfg.Strategies[id]
		fmt.Fprintf(w, "  strategy %-10s %s over %s\n", id, st.Policy, strings.Join(st.Keys, ", "))
	}
	for _, id := range cfg.KeyIDs() {
		kc := cfg.Keys[id]
		v := cfg.Venues[kc.Venue]
		kind := v.Kind
		if v.Simulate {
			kind += ", simulated in process"
		}
		fmt.Fprintf(w, "  key %-15s venue %s (%s)\n", id, kc.Venue, kind)
	}
	fmt.Fprintf(w, "  Ctrl-C stops (the work in hand is finished first)\n")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func cmdRouter(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("router", stderr)
	var rf roleFlags
	rf.register(fs, envOr("NATS_URL", "nats://127.0.0.1:4222"), "")
	control := controlAccountFlag(fs)
	cfg, log, err := rf.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	return serve(&app.App{Config: cfg, NATSURL: rf.nats, RunRouter: true, Logger: log, Instance: rf.instance,
		RouterOptions: router.Options{Reload: rf.reloader(), ControlAccount: rf.controlAccount(*control)}, HTTPListen: rf.httpListen,
		ConnectOptions: rf.connect}, &rf, log, nil)
}

func cmdExecutor(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("executor", stderr)
	var rf roleFlags
	rf.register(fs, envOr("NATS_URL", "nats://127.0.0.1:4222"), "")
	keys := fs.String("key", "", "key(s) to execute, comma-separated (required)")
	cfg, log, err := rf.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	if *keys == "" {
		return errors.New("--key is required")
	}
	return serve(&app.App{Config: cfg, NATSURL: rf.nats, Keys: keyList(*keys), Logger: log, Instance: rf.instance, HTTPListen: rf.httpListen, ConnectOptions: rf.connect}, &rf, log, nil)
}

// serve runs app until SIGINT or SIGTERM (then drains) and reloads the
// router's config on SIGHUP.
func serve(ka *app.App, rf *roleFlags, log zerolog.Logger, banner func()) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := ka.Start(ctx); err != nil {
		return err
	}
	ev := log.Info().Str("nats", ka.ClientURL()).Bool("router", ka.RunRouter).Strs("keys", ka.Keys)
	if u := ka.HTTPURL(); u != "" {
		ev = ev.Str("http", u)
	}
	ev.Msg("keyrouter running")
	if banner != nil {
		banner()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if rf.config == "" || ka.Router() == nil {
				log.Info().Msg("SIGHUP: nothing to reload (no --config file or no router)")
				continue
			}
			cfg, err := configs.Load(rf.config)
			if err != nil {
				log.Error().Err(err).Msg("SIGHUP: config not reloaded")
				continue
			}
			ka.Router().Reload(cfg)
			log.Info().Str("config", rf.config).Msg("SIGHUP: config reloaded")
		}
	}()
	err := ka.Wait(ctx)
	log.Info().Msg("shutting down: finishing the work in hand")
	if cerr := ka.Close(); err == nil {
		err = cerr
	}
	return err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stderr)
	path := fs.String("config", "", "config file to validate (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("--config is required")
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid:\n", *path)
		var verrs configs.ValidationErrors
		if errors.As(err, &verrs) {
			for _, e := range verrs {
				fmt.Fprintf(stderr, "  %v\n", e)
			}
		} else {
			fmt.Fprintf(stderr, "  %v\n", err)
		}
		return exitError(1)
	}
	fmt.Fprintf(stdout, "%s: ok (%d venues, %d keys, %d strategies)\n", *path, len(cfg.Venues), len(cfg.Keys), len(cfg.Strategies))
	return nil
}

// keyList parses a comma-separated --key flag.
func keyList(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// parseSync reads --sync: "always" (sync after every write) or a positive
// duration.
func parseSync(s string) (time.Duration, error) {
	if s == "always" {
		return app.SyncAlways, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--sync: want always or a positive duration such as 1s, got %q", s)
	}
	return d, nil
}
