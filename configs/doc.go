// Package configs is keyrouter's configuration: the schema, loading with
// strict decoding, defaults, validation with the field's path in every
// error, secret loading for one key at a time, and the default config that
// `keyrouter run` uses when given no file (embedded with go:embed).
//
// It imports nothing else of this module. A *Config is read-only once
// loaded and safe to share between goroutines.
package configs
