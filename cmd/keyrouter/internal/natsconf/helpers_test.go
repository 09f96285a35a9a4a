package natsconf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/app"
	"github.com/keyrouter/keyrouter/cmd/keyrouter/internal/natsconf"
	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/router"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// testConfig has two strategies with a key each on the in-process paper
// venue.
const testConfig = `
venues: {paper: {kind: paper, seed: 1}}
keys:
  alpha-1: {venue: paper}
  beta-1: {venue: paper}
strategies:
  alpha: {keys: [alpha-1], risk: {max_open_notional: "100000000"}}
  beta: {keys: [beta-1]}
`

func parseConfig(t *testing.T, y string) *configs.Config {
	t.Helper()
	cfg, err := configs.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// certs are a test CA and certificates it signed, as PEM files.
type certs struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// makeCerts writes a CA, a server certificate for 127.0.0.1 and localhost
// (good for routes too) and a client certificate into dir.
func makeCerts(t *testing.T, dir string) certs {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyrouter test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	c := certs{CA: filepath.Join(dir, "ca.pem")}
	writePEM(t, c.CA, "CERTIFICATE", caDER)
	issue := func(name string, serial int64, usage []x509.ExtKeyUsage, server bool) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
		}
		if server {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		cert, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, cert, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", kder)
		return cert, keyFile
	}
	c.ServerCert, c.ServerKey = issue("server", 2, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, true)
	c.ClientCert, c.ClientKey = issue("client", 3, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false)
	return c
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// bus is a NATS server started in process from the files the generator
// wrote for a config, with TLS on.
type bus struct {
	t     *testing.T
	cfg   *configs.Config
	dir   string
	certs certs
	srv   *server.Server
	// roleErrs collects the async errors of keyrouter's own roles: a
	// subject the permission table forgot shows up here.
	roleErrs asyncErrs
}

// startBus generates the NATS config of cfg into a temporary directory
// and starts a server with it (the server's own config loader, as
// nats-server -c would).
func startBus(t *testing.T, cfg *configs.Config) *bus {
	t.Helper()
	b := &bus{t: t, cfg: cfg, dir: t.TempDir(), roleErrs: asyncErrs{ch: make(chan struct{}, 1)}}
	b.certs = makeCerts(t, t.TempDir())
	b.generate()
	opts, err := server.ProcessConfigFile(filepath.Join(b.dir, natsconf.ServerConfFile))
	if err != nil {
		t.Fatalf("the generated config does not load: %v", err)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	b.srv = srv
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return b
}

func (b *bus) options(listen string) natsconf.Options {
	return natsconf.Options{Listen: listen, StoreDir: filepath.Join(b.dir, "jetstream"),
		TLS: natsconf.TLS{CA: b.certs.CA, Cert: b.certs.ServerCert, Key: b.certs.ServerKey}}
}

// generate (re)writes the server files for b.cfg.
func (b *bus) generate() natsconf.Result {
	b.t.Helper()
	listen := "127.0.0.1:-1"
	if b.srv != nil {
		listen = b.srv.Addr().String()
	}
	res, err := natsconf.Generate(b.cfg, b.dir, b.options(listen))
	if err != nil {
		b.t.Fatal(err)
	}
	return res
}

// creds are the credentials of identity, with the test client certificate.
func (b *bus) creds(identity string) natsconf.Credentials {
	return natsconf.Credentials{
		NKeyFile: filepath.Join(b.dir, natsconf.NKeysDir, identity+".nk"),
		TLSCA:    b.certs.CA, TLSCert: b.certs.ClientCert, TLSKey: b.certs.ClientKey,
	}
}

func (b *bus) url() string { return b.srv.ClientURL() }

// asyncErrs collects the errors the server reports on a connection
// asynchronously: a refused publish or subscription surfaces only there.
type asyncErrs struct {
	mu   sync.Mutex
	errs []string
	ch   chan struct{}
}

func (e *asyncErrs) add(err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err.Error())
	e.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
	default:
	}
}

// expect waits for an error naming a permissions violation of what
// ("Publish to" or "Subscription to") on subject.
func (e *asyncErrs) expect(t *testing.T, what, subject string) {
	t.Helper()
	want := strings.ToLower("permissions violation for " + what + " \"" + subject + "\"")
	deadline := time.After(5 * time.Second)
	for {
		e.mu.Lock()
		for _, s := range e.errs {
			if strings.Contains(strings.ToLower(s), want) {
				e.mu.Unlock()
				return
			}
		}
		errs := append([]string(nil), e.errs...)
		e.mu.Unlock()
		select {
		case <-e.ch:
		case <-deadline:
			t.Fatalf("no permissions violation for %s %q; async errors: %q", what, subject, errs)
		}
	}
}

// none fails if any error was reported.
func (e *asyncErrs) none(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) > 0 {
		t.Fatalf("unexpected async errors: %q", e.errs)
	}
}

// connect connects as identity with its credentials (nkey, TLS, its inbox
// prefix) and collects the connection's async errors.
func (b *bus) connect(identity string) (*nats.Conn, *asyncErrs) {
	b.t.Helper()
	opts, err := b.creds(identity).Options()
	if err != nil {
		b.t.Fatal(err)
	}
	errs := &asyncErrs{ch: make(chan struct{}, 1)}
	opts = append(opts, nats.Name(identity), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs.add(err) }))
	nc, err := nats.Connect(b.url(), opts...)
	if err != nil {
		b.t.Fatalf("connecting as %s: %v", identity, err)
	}
	b.t.Cleanup(nc.Close)
	return nc, errs
}

// startRole starts one keyrouter role as an app.App connected with
// identity's credentials.
func (b *bus) startRole(identity string, mutate func(*app.App)) *app.App {
	b.t.Helper()
	opts, err := b.creds(identity).Options()
	if err != nil {
		b.t.Fatal(err)
	}
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		b.roleErrs.add(fmt.Errorf("%s: %w", identity, err))
	}))
	ka := &app.App{Config: b.cfg, NATSURL: b.url(), ConnectOptions: opts,
		Logger: zerolog.New(zerolog.NewTestWriter(b.t)).Level(zerolog.WarnLevel).With().Str("identity", identity).Logger()}
	mutate(ka)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ka.Start(ctx); err != nil {
		b.t.Fatalf("starting %s: %v", identity, err)
	}
	b.t.Cleanup(func() {
		if err := ka.Close(); err != nil {
			b.t.Errorf("closing %s: %v", identity, err)
		}
	})
	return ka
}

// startKeyrouter starts the router and one executor per key, each as its
// own identity, and returns the router.
func (b *bus) startKeyrouter(routerOpts router.Options) *app.App {
	b.t.Helper()
	rt := b.startRole("router", func(a *app.App) { a.RunRouter, a.RouterOptions = true, routerOpts })
	for _, k := range b.cfg.KeyIDs() {
		b.startRole("executor-"+k, func(a *app.App) { a.Keys = []string{k} })
	}
	return rt
}
