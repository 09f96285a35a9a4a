package natsconf

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
)

// Credentials say how a keyrouter process or client command proves who it
// is to NATS and checks the server: every connection keyrouter makes is
// built from them (Options).
type Credentials struct {
	NKeyFile  string // an nkey seed file (nkeys/<identity>.nk)
	CredsFile string // a JWT creds file, for an operator/JWT deployment
	TLSCA     string // CA to verify the server with
	TLSCert   string // client certificate (mutual TLS)
	TLSKey    string // its key
	// InboxPrefix replaces _INBOX; default _INBOX_<identity> when the
	// seed or creds file is named <identity>.nk or <identity>.creds.
	InboxPrefix string
}

// RegisterFlags adds --nkey, --creds, --tls-ca, --tls-cert, --tls-key and
// --inbox-prefix to fs, each defaulting to its environment variable
// (NATS_NKEY, NATS_CREDS, NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY,
// NATS_INBOX_PREFIX).
func (c *Credentials) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.NKeyFile, "nkey", os.Getenv("NATS_NKEY"), "nkey seed file to connect with (default $NATS_NKEY)")
	fs.StringVar(&c.CredsFile, "creds", os.Getenv("NATS_CREDS"), "NATS credentials file (JWT) to connect with (default $NATS_CREDS)")
	fs.StringVar(&c.TLSCA, "tls-ca", os.Getenv("NATS_TLS_CA"), "CA certificate to verify the NATS server with (default $NATS_TLS_CA)")
	fs.StringVar(&c.TLSCert, "tls-cert", os.Getenv("NATS_TLS_CERT"), "client certificate for NATS (default $NATS_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", os.Getenv("NATS_TLS_KEY"), "key of the client certificate (default $NATS_TLS_KEY)")
	fs.StringVar(&c.InboxPrefix, "inbox-prefix", os.Getenv("NATS_INBOX_PREFIX"),
		"inbox prefix (default $NATS_INBOX_PREFIX, else _INBOX_<identity> for an <identity>.nk or .creds file)")
}

// Authenticated reports whether the credentials name an identity.
func (c Credentials) Authenticated() bool { return c.NKeyFile != "" || c.CredsFile != "" }

// Identity is the identity the seed or creds file is named after, or "".
func (c Credentials) Identity() string {
	for _, f := range []struct{ path, ext string }{{c.NKeyFile, ".nk"}, {c.CredsFile, ".creds"}} {
		if f.path == "" {
			continue
		}
		base := filepath.Base(f.path)
		if name, ok := strings.CutSuffix(base, f.ext); ok && messages.ValidID(name) {
			return name
		}
	}
	return ""
}

// Inbox is the inbox prefix the connection uses ("" for NATS's default).
func (c Credentials) Inbox() string {
	if c.InboxPrefix != "" {
		return c.InboxPrefix
	}
	if id := c.Identity(); id != "" {
		return InboxPrefix(id)
	}
	return ""
}

// ErrCredentials means the credentials contradict each other or name a
// file that cannot be used.
var ErrCredentials = errors.New("natsconf: credentials")

// Options returns the connection options of c: authentication, TLS and the
// inbox prefix. Files are checked now, so a bad path fails at start, not
// at the first reconnect.
func (c Credentials) Options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case c.NKeyFile != "" && c.CredsFile != "":
		return nil, fmt.Errorf("%w: --nkey and --creds are exclusive", ErrCredentials)
	case c.NKeyFile != "":
		if err := privateFile(c.NKeyFile); err != nil {
			return nil, err
		}
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --nkey %s: %v", ErrCredentials, c.NKeyFile, err)
		}
		opts = append(opts, o)
	case c.CredsFile != "":
		if err := privateFile(c.CredsFile); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, fmt.Errorf("%w: --tls-cert and --tls-key go together", ErrCredentials)
	}
	for _, f := range []string{c.TLSCA, c.TLSCert, c.TLSKey} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCredentials, err)
		}
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if p := c.Inbox(); p != "" {
		opts = append(opts, nats.CustomInboxPrefix(p))
	}
	return opts, nil
}

// privateFile checks that a secret file exists and that others (not owner,
// not group) have no access to it. Group access is allowed: Kubernetes
// mounts secrets readable by the pod's fsGroup.
func privateFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCredentials, err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return fmt.Errorf("%w: %s is open to others (mode %v); chmod 600 it", ErrCredentials, path, fi.Mode().Perm())
	}
	return nil
}
