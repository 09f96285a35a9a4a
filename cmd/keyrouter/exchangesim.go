package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/keyrouter/keyrouter/executors/binancesim"
)

// cmdExchangeSim serves the Binance simulator until SIGINT or SIGTERM. It
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
	fs := flag.NewFlagSet("exchange-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "simulator config (YAML: accounts, keys and secrets, symbols, limits, faults); two accounts with one key each if empty")
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve the Binance-compatible REST API and streams on")
	admin := fs.String("admin", "", "address to serve the simulator's admin API on (GET /sim/orders, /sim/stats, /sim/faults; PUT /sim/faults), apart from the Binance API; off if empty")
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
	url, err := srv.Start(*listen)
	if err != nil {
		srv.Close()
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
}
