// Package configs is keyrouter's configuration: the schema, loading with
// strict decoding, defaults, validation with the field's path in every
// error, secret loading for one key at a time, and the default config that
// `keyrouter run` uses when given no file (embedded with go:embed).
//
// Decimals (fees, notionals) are decoded once, at load, into [Decimal];
// a strategy's key policy is checked and defaulted at load. Rate limits
// are checked by the budget package itself: Validate builds every key's
// budget ([Key.BudgetLimits]) as the executors will, so a config that
// `keyrouter check` accepts is one `keyrouter run` starts.
//
// Of this module it imports only messages (the ID rule) and
// executors/budget (the limit rules). A *Config is read-only once loaded
// and safe to share between goroutines.
package configs
