package chaos

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// RepoRoot is the directory of the module's go.mod, found from the
// working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

var natsServerRe = regexp.MustCompile(`(?m)^\s*github\.com/nats-io/nats-server/v2\s+(v\S+)`)

// NATSServerVersion is the nats-server version go.mod pins.
func NATSServerVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	m := natsServerRe.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("go.mod does not require github.com/nats-io/nats-server/v2")
	}
	return string(m[1]), nil
}

// Binaries are the programs the suite runs.
type Binaries struct {
	NATSServer string
	Keyrouter  string
}

// Build makes <root>/.cache/bin/nats-server (go install of the version
// go.mod pins, or go build of it within the module if that fails; kept
// and reused while it reports that version) and
// <root>/.cache/bin/keyrouter (go build ./cmd/keyrouter, every run: the
// build cache makes an unchanged tree cheap).
func Build(root string, logf func(string, ...any)) (Binaries, error) {
	bin := filepath.Join(root, ".cache", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return Binaries{}, err
	}
	b := Binaries{NATSServer: filepath.Join(bin, "nats-server"), Keyrouter: filepath.Join(bin, "keyrouter")}
	version, err := NATSServerVersion(root)
	if err != nil {
		return b, err
	}
	have, _ := exec.Command(b.NATSServer, "--version").Output()
	if !strings.Contains(string(have), strings.TrimPrefix(version, "v")) {
		logf("building nats-server %s (go install) into %s", version, bin)
		cmd := exec.Command("go", "install", "github.com/nats-io/nats-server/v2@"+version)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOBIN="+bin)
		if err := run(cmd); err != nil {
			// go install pkg@version resolves nats-server's own
			// requirements, which an offline module cache may lack; the
			// same version built inside this module needs only what the
			// module already uses.
			logf("go install failed (%v); building nats-server %s within the module instead", err, version)
			cmd := exec.Command("go", "build", "-o", b.NATSServer, "github.com/nats-io/nats-server/v2")
			cmd.Dir = root
			if err2 := run(cmd); err2 != nil {
				return b, fmt.Errorf("building nats-server %s: %w; %w", version, err, err2)
			}
		}
	}
	cmd := exec.Command("go", "build", "-o", b.Keyrouter, "./cmd/keyrouter")
	cmd.Dir = root
	if err := run(cmd); err != nil {
		return b, fmt.Errorf("building keyrouter: %w", err)
	}
	return b, nil
}

func run(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return nil
}
