package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/natsconf"
	"github.com/keyrouter/keyrouter/configs"
)

const deployUsage = `Usage: keyrouter deploy <tool> [flags]

Tools:
  nats-config  write DIR/nats-server.conf, DIR/accounts.conf and an nkey per
               identity (DIR/nkeys/<identity>.nk, mode 600) from a config
`

func cmdDeploy(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, deployUsage)
		if len(args) == 0 {
			return exitError(2)
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "nats-config":
		return cmdNATSConfig(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "keyrouter deploy: unknown tool %q\n\n%s", args[0], deployUsage)
	return exitError(2)
}

func cmdNATSConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("deploy nats-config", stderr)
	config := fs.String("config", "", "keyrouter config (YAML) to make identities for (required)")
	out := fs.String("out", "", "directory to write the files into (required); existing seeds in DIR/nkeys are kept")
	var o natsconf.Options
	fs.StringVar(&o.Listen, "listen", "0.0.0.0:4222", "client address of the server, host:port")
	fs.StringVar(&o.HTTP, "http", "", "monitoring address of the server, host:port, for its /healthz (none if empty; keep it on loopback)")
	fs.StringVar(&o.StoreDir, "store", "/data/jetstream", "JetStream storage directory of the server")
	fs.StringVar(&o.Cluster, "cluster", "", "cluster name (a cluster takes each node's server_name from $SERVER_NAME)")
	fs.StringVar(&o.ClusterListen, "cluster-listen", "0.0.0.0:6222", "route address of a clustered server")
	routes := fs.String("routes", "", "routes of the cluster, comma-separated URLs (nats://host:6222,...)")
	fs.StringVar(&o.TLS.CA, "tls-ca", "", "CA the server verifies client and route certificates with (a path on the server)")
	fs.StringVar(&o.TLS.Cert, "tls-cert", "", "server certificate, for clients and routes (a path on the server)")
	fs.StringVar(&o.TLS.Key, "tls-key", "", "key of the server certificate (a path on the server)")
	fs.BoolVar(&o.TLS.NoVerify, "tls-no-client-cert", false, "do not require client certificates (clients still need their nkey)")
	rotate := fs.String("rotate", "", "identities to give a new seed, comma-separated, or all (their old seed stops working at the next reload)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config == "" || *out == "" {
		return errors.New("--config and --out are required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg, err := configs.Load(*config)
	if err != nil {
		return err
	}
	o.Routes = keyList(*routes)
	o.Rotate = keyList(*rotate)
	o.Command = commandLine(append([]string{"keyrouter", "deploy", "nats-config"}, withoutFlag(args, "rotate")...))
	res, err := natsconf.Generate(cfg, *out, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(*out, natsconf.ServerConfFile), filepath.Join(*out, natsconf.AccountsConfFile))
	for _, id := range res.Identities {
		state := "kept"
		for _, c := range res.Created {
			if c == id.Name {
				state = "new seed"
			}
		}
		fmt.Fprintf(stdout, "  %-24s %-9s %-8s inbox %s\n", id.Name, id.Account(), state, id.InboxPrefix())
	}
	if len(res.Orphans) > 0 {
		fmt.Fprintf(stdout, "not in the config any more (their key files are left in %s; delete them): %s\n",
			filepath.Join(*out, natsconf.NKeysDir), strings.Join(res.Orphans, ", "))
	}
	fmt.Fprintln(stdout, "reload a running server to apply: nats-server --signal reload (or send it SIGHUP)")
	return nil
}

// withoutFlag drops --name and its value from args (a one-off flag the
// recorded command line must not repeat).
func withoutFlag(args []string, name string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		switch {
		case a == name && i+1 < len(args) && args[i] != "--":
			i++
		case strings.HasPrefix(a, name+"=") && strings.HasPrefix(args[i], "-"):
		default:
			out = append(out, args[i])
		}
	}
	return out
}

// commandLine joins args as a shell would need them, so the line in the
// files' header can be run again.
func commandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
