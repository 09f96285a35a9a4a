package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Term is what a process does while it holds a lease. Its ctx ends when
// the lease is lost or the process stops; it returns nil then, or an
// error if it could not go on.
type Term func(ctx context.Context, lease *Lease) error

// Hold stands by for the lease key of kv (follow as for Acquire), runs
// term while holding it, and stands by again each time it is lost, until
// ctx ends; it returns nil then, or Acquire's error. A term that fails is
// logged and its lease released, so that another process may take it;
// this one seeks it again a second later (a backoff on the bus, so on the
// wall clock, not the Leases' clock). The lease is released when ctx
// ends.
func (ls *Leases) Hold(ctx context.Context, kv jetstream.KeyValue, key, follow string, term Term) error {
	for {
		lease, err := ls.Acquire(ctx, kv, key, follow)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		err = runTerm(ctx, lease, term)
		if ctx.Err() != nil {
			_ = lease.Release()
			return nil
		}
		if err != nil {
			// A term that could not start (the bus is unwell): let
			// another process try, and try again in a moment.
			ls.log.Error().Err(err).Str("lease", key).Msg("term failed; releasing the lease")
			_ = lease.Release()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second): // backoff on the bus, on the wall clock
			}
			continue
		}
		ls.log.Warn().Str("lease", key).Str("why", lease.Why()).Msg("lease lost; standing by")
	}
}

// runTerm runs term with a ctx that ends when lease is lost.
func runTerm(ctx context.Context, lease *Lease, term Term) error {
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer lease.AfterLost(cancel)()
	return term(tctx, lease)
}
