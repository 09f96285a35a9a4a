package main

import (
	"context"
	"fmt"
	"io"

	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/executors/okxsim"
)

// cmdExchangeSim serves an exchange simulator until SIGINT or SIGTERM. It
// prints the URLs it serves on (with the ports picked when --listen or
// --admin end in :0) as its first lines on stderr:
//
//	exchange-sim: serving Binance spot protocol on http://127.0.0.1:8090
//	exchange-sim: admin API on http://127.0.0.1:8091
func cmdExchangeSim(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signalContext()
	defer stop()
	return exchangeSim(ctx, args, stderr)
}

// exchangeSim is exchange-sim until ctx ends.
func exchangeSim(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("exchange-sim", stderr)
	venue := fs.String("venue", "binance", "protocol to serve: binance (spot REST and user data streams) or okx (v5 spot REST and private WebSocket)")
	config := fs.String("config", "", "simulator config (YAML) of that venue's simulator: accounts, keys and secrets, symbols, limits, faults; two accounts with one key each if empty")
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve the venue's REST API and streams on")
	admin := fs.String("admin", "", "binance: address to serve the simulator's admin API on (GET /sim/orders, /sim/stats, /sim/faults; PUT /sim/faults), apart from the venue's API; off if empty")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *venue {
	case "binance":
		cfg, err := simConfig(*config, binancesim.DefaultConfig, binancesim.LoadConfig)
		if err != nil {
			return err
		}
		srv, err := binancesim.New(cfg)
		if err != nil {
			return err
		}
		url, err := serveSim(srv, *listen)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "exchange-sim: serving Binance spot protocol on %s\n", url)
		if *admin != "" {
			aurl, err := srv.StartAdmin(*admin)
			if err != nil {
				srv.Close()
				return err
			}
			fmt.Fprintf(stderr, "exchange-sim: admin API on %s\n", aurl)
		}
		<-ctx.Done()
		return srv.Close()
	case "okx":
		if *admin != "" {
			return fmt.Errorf("--admin is served by the binance simulator only")
		}
		cfg, err := simConfig(*config, okxsim.DefaultConfig, okxsim.LoadConfig)
		if err != nil {
			return err
		}
		srv, err := okxsim.New(cfg)
		if err != nil {
			return err
		}
		url, err := serveSim(srv, *listen)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "exchange-sim: serving OKX v5 spot protocol on %s (private WebSocket %s/ws/v5/private)\n", url, "ws"+url[len("http"):])
		<-ctx.Done()
		return srv.Close()
	}
	return fmt.Errorf("unknown --venue %q (binance or okx)", *venue)
}

// simConfig is a simulator's config: its defaults, or the file at path.
func simConfig[C any](path string, defaults func() C, load func(string) (C, error)) (C, error) {
	if path == "" {
		return defaults(), nil
	}
	return load(path)
}

// serveSim starts a simulator on listen and returns its URL; if it cannot,
// the simulator is closed.
func serveSim(srv interface {
	Start(addr string) (string, error)
	Close() error
}, listen string) (string, error) {
	url, err := srv.Start(listen)
	if err != nil {
		_ = srv.Close()
		return "", err
	}
	return url, nil
}
