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
	switch {
	case k.SecretEnv != "":
		v, ok := os.LookupEnv(k.SecretEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("configs: key %s: environment variable %s is not set", id, k.SecretEnv)
		}
		return []byte(v), nil
	case k.SecretFile != "":
		fi, err := os.Stat(k.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("configs: key %s: secret file: %w", id, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("configs: key %s: secret file %s is readable by group or others (mode %v); chmod 600 it", id, k.SecretFile, fi.Mode().Perm())
		}
		data, err := os.ReadFile(k.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("configs: key %s: secret file: %w", id, err)
		}
		s := strings.TrimSpace(string(data))
		if s == "" {
			return nil, fmt.Errorf("configs: key %s: secret file %s is empty", id, k.SecretFile)
		}
		return []byte(s), nil
	}
	return nil, fmt.Errorf("key %s: %w", id, ErrNoSecret)
}
