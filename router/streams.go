package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyrouter/keyrouter/configs"
	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrStreamConflict means a stream or bucket exists with a config other than
// the one keyrouter provisions; keyrouter never changes it by itself.
var ErrStreamConflict = errors.New("router: existing stream has a different config")

// StreamConfigs returns the configs of ORDERS, EXEC and REPORTS for sc.
func StreamConfigs(sc configs.Streams) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{{
		Name:        messages.StreamOrders,
		Description: "keyrouter: order and cancel intents from strategies",
		Subjects:    []string{"orders.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    sc.Replicas,
		MaxAge:      sc.OrdersMaxAge,
		Duplicates:  2 * time.Minute,
	}, {
		Name:        messages.StreamExec,
		Description: "keyrouter: orders and cancels routed to a key's executor",
		Subjects:    []string{"exec.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    sc.Replicas,
		Duplicates:  2 * time.Minute,
	}, {
		Name:        messages.StreamReports,
		Description: "keyrouter: execution reports to strategies",
		Subjects:    []string{"reports.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    sc.Replicas,
		MaxAge:      sc.ReportsMaxAge,
		MaxBytes:    sc.ReportsMaxBytes,
	}}
}

// OrderBucketConfig is the config of the order-state KV bucket.
func OrderBucketConfig(sc configs.Streams) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      messages.BucketOrders,
		Description: "keyrouter: order state by strategy.client_order_id (dedupe, cancel routing)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    sc.Replicas,
	}
}

// Buckets are the KV buckets every role uses.
type Buckets struct {
	Orders  jetstream.KeyValue // order state by strategy.client_order_id
	Control jetstream.KeyValue // halts
}

// Provision creates the streams and the buckets if they do not exist.
// Re-running it changes nothing; a stream that exists with another config
// is an error wrapping ErrStreamConflict, and is left as it is.
func Provision(ctx context.Context, js jetstream.JetStream, sc configs.Streams) (Buckets, error) {
	for _, cfg := range StreamConfigs(sc) {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return Buckets{}, fmt.Errorf("%w: stream %s (subjects %v): compare `nats stream info %s` with keyrouter's streams settings: %v",
					ErrStreamConflict, cfg.Name, cfg.Subjects, cfg.Name, err)
			}
			return Buckets{}, fmt.Errorf("router: creating stream %s: %w", cfg.Name, err)
		}
	}
	var b Buckets
	for _, c := range []struct {
		cfg jetstream.KeyValueConfig
		dst *jetstream.KeyValue
	}{{OrderBucketConfig(sc), &b.Orders}, {ControlBucketConfig(sc.Replicas), &b.Control}} {
		kv, err := js.CreateKeyValue(ctx, c.cfg)
		if err != nil {
			if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return Buckets{}, fmt.Errorf("%w: KV bucket %s: %v", ErrStreamConflict, c.cfg.Bucket, err)
			}
			return Buckets{}, fmt.Errorf("router: creating KV bucket %s: %w", c.cfg.Bucket, err)
		}
		*c.dst = kv
	}
	return b, nil
}
