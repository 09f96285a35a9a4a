package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/keyrouter/keyrouter/executors/binancesim"
)

func cmdExchangeSim(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("exchange-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "simulator config (YAML); two accounts with one key each if empty")
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve the Binance-compatible REST API and streams on")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintf(stderr, "exchange-sim: serving Binance spot protocol on http://%s\n", *listen)
	return srv.Run(ctx, *listen)
}
