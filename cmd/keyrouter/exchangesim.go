package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/keyrouter/keyrouter/executors/binancesim"
	"github.com/keyrouter/keyrouter/executors/okxsim"
)

func cmdExchangeSim(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("exchange-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	venue := fs.String("venue", "binance", "protocol to serve: binance (spot REST and user data streams) or okx (v5 spot REST and private WebSocket)")
	config := fs.String("config", "", "simulator config (YAML) of that venue's simulator; two accounts with one key each if empty")
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve the REST API and streams on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var run func(ctx context.Context, addr string) error
	switch *venue {
	case "binance":
		cfg := binancesim.DefaultConfig()
		if *config != "" {
			var err error
			if cfg, err = binancesim.LoadConfig(*config); err != nil {
				return err
			}
		}
		srv, err := binancesim.New(cfg)
		if err != nil {
			return err
		}
		run = srv.Run
		fmt.Fprintf(stderr, "exchange-sim: serving Binance spot protocol on http://%s\n", *listen)
	case "okx":
		cfg := okxsim.DefaultConfig()
		if *config != "" {
			var err error
			if cfg, err = okxsim.LoadConfig(*config); err != nil {
				return err
			}
		}
		srv, err := okxsim.New(cfg)
		if err != nil {
			return err
		}
		run = srv.Run
		fmt.Fprintf(stderr, "exchange-sim: serving OKX v5 spot protocol on http://%s (private WebSocket ws://%s/ws/v5/private)\n", *listen, *listen)
	default:
		return fmt.Errorf("unknown --venue %q (binance or okx)", *venue)
	}
	ctx, stop := signalContext()
	defer stop()
	return run(ctx, *listen)
}
