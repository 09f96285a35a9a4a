package configs

import (
	"errors"
	"fmt"
	"time"
)

// ErrNoPassphrase means an okx key names no passphrase.
var ErrNoPassphrase = errors.New("configs: key has no passphrase_env or passphrase_file")

// validateOKXVenue checks a venue of kind okx: recv_window is the expTime
// window of new orders (OKX does not process an order after it).
func validateOKXVenue(p string, v Venue, bad func(string, string, ...any)) {
	if v.UserStream != "" {
		bad(p+".user_stream", "is a binance setting; okx always uses its private WebSocket")
	}
	if v.RecvWindow < 0 || v.RecvWindow > time.Minute {
		bad(p+".recv_window", "must be at most 60s")
	}
	if v.Timeout < 0 {
		bad(p+".timeout", "must not be negative")
	}
	if v.Simulate && (v.BaseURL != "" || v.WSURL != "" || v.Demo) {
		bad(p, "simulate serves its own URLs: leave base_url and ws_url empty and demo off")
	}
}

// validateNotOKXVenue refuses okx-only settings on another kind of venue.
func validateNotOKXVenue(p string, v Venue, bad func(string, string, ...any)) {
	if v.Kind != "okx" && v.Demo {
		bad(p+".demo", "is an okx setting")
	}
}

// validateOKXKey checks what is particular to okx keys: the passphrase,
// a second secret, is named like the secret, and only okx keys have one.
func validateOKXKey(p string, k Key, v Venue, bad func(string, string, ...any)) {
	if v.Kind != "okx" {
		if k.PassphraseEnv != "" || k.PassphraseFile != "" {
			bad(p, "passphrase_env and passphrase_file are for okx keys")
		}
		return
	}
	if k.PassphraseEnv != "" && k.PassphraseFile != "" {
		bad(p, "passphrase_env and passphrase_file are exclusive")
	}
	if k.KeyType != "" && k.KeyType != "hmac" {
		bad(p+".key_type", "okx keys are hmac")
	}
	if !v.Simulate && (k.APIKey == "" || k.SecretEnv == "" && k.SecretFile == "" || k.PassphraseEnv == "" && k.PassphraseFile == "") {
		bad(p, "an okx key needs api_key, secret_env or secret_file, and passphrase_env or passphrase_file")
	}
}

// LoadPassphrase loads the passphrase of okx key id from the environment
// variable or the file its config names, like LoadSecret (a file readable
// by group or others is refused). Only the executor serving the key calls
// this; errors name the key and the source, never the passphrase.
func (c *Config) LoadPassphrase(id string) ([]byte, error) {
	k, ok := c.Keys[id]
	if !ok {
		return nil, fmt.Errorf("configs: unknown key %q", id)
	}
	b, err := loadSecret(id, "passphrase", k.PassphraseEnv, k.PassphraseFile)
	if b == nil && err == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoPassphrase, id)
	}
	return b, err
}
