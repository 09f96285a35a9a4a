package configs

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrNoSecret means a key names no secret.
var ErrNoSecret = errors.New("configs: key has no secret_env or secret_file")

// LoadSecret loads the secret of key id from the environment variable or
// the file its config names. A file readable by group or others is refused.
// Only the executor serving the key calls this. Errors name the key and the
// source, never the secret.
func (c *Config) LoadSecret(id string) ([]byte, error) {
	k, ok := c.Keys[id]
	if !ok {
		return nil, fmt.Errorf("configs: unknown key %q", id)
	}
	b, err := loadSecret(id, "secret", k.SecretEnv, k.SecretFile)
	if b == nil && err == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSecret, id)
	}
	return b, err
}

// loadSecret reads a secret (what: "secret", "passphrase") of key id from
// the environment variable env or the file file; nil and no error if both
// are empty.
func loadSecret(id, what, env, file string) ([]byte, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("configs: key %s: environment variable %s is not set", id, env)
		}
		return []byte(v), nil
	case file != "":
		fi, err := os.Stat(file)
		if err != nil {
			return nil, fmt.Errorf("configs: key %s: %s file: %w", id, what, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("configs: key %s: %s file %s is readable by group or others (mode %v); chmod 600 it", id, what, file, fi.Mode().Perm())
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("configs: key %s: %s file: %w", id, what, err)
		}
		s := strings.TrimSpace(string(data))
		if s == "" {
			return nil, fmt.Errorf("configs: key %s: %s file %s is empty", id, what, file)
		}
		return []byte(s), nil
	}
	return nil, nil
}
