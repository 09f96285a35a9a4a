package bus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PriorityGroup is the pinned priority group of every keyrouter consumer:
// the server delivers to one client of it at a time.
const PriorityGroup = "active"

// PullExpiry is how long a pinned consumer's pull request lasts. The
// server keeps a client's pin only while it pulls at least once every
// PinnedTTL; with the library's default (30 s) an idle, healthy client
// lost its pin every PinnedTTL and its messages waited for the next pull.
const PullExpiry = 5 * time.Second

// PinnedTTL is the consumers' PinnedTTL for a lease TTL: several pulls'
// worth, so a healthy client keeps its pin. A takeover does not wait for
// it: the new holder unpins its predecessor (Unpin).
func PinnedTTL(leaseTTL time.Duration) time.Duration {
	return max(3*PullExpiry, 4*leaseTTL)
}

// Unpin takes the pin of consumer name from whoever holds it, so the
// caller's pulls are served at once rather than after PinnedTTL. It
// retries for up to Timeout; a consumer without a pin is not an error.
func Unpin(ctx context.Context, s jetstream.Stream, name string) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	var err error
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err = s.UnpinConsumer(ctx, name, PriorityGroup)
		if err == nil || errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}
