package bus

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
var ErrStreamConflict = errors.New("bus: existing stream has a different config")

// Windows of the streams' Nats-Msg-Id dedupe: a publish retried after a
// lost ack within this long is stored once.
const dupWindow = 2 * time.Minute

// maxConsumers is EXEC's consumer limit: one consumer per key, and the
// server's default of 1,000 per stream would cap the keys.
const maxConsumers = 1 << 20

// RecordTTL is how long the order-state record of a closed order stays
// (it tells a late cancel how the order ended); the dedupe claim in EXEC
// stays for the dedupe horizon.
const RecordTTL = 10 * time.Minute

// StreamConfigs returns the configs of ORDERS, EXEC and REPORTS for sc.
func StreamConfigs(sc configs.Streams) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{{
		Name:        messages.StreamOrders,
		Description: "keyrouter: order and cancel intents from strategies, orders handed back by executors",
		// Only the contract's subjects: junk such as orders.new.a.b is
		// not stored, so nothing is stored that no consumer answers.
		Subjects:   []string{messages.OrdersNewPrefix + "*", messages.OrdersCancelPrefix + "*", messages.OrdersReroutePrefix + "*"},
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   sc.Replicas,
		MaxAge:     sc.OrdersMaxAge,
		Duplicates: dupWindow,
	}, {
		Name: messages.StreamExec,
		Description: "keyrouter: orders routed to keys (one subject per order: its dedupe claim) and cancels; " +
			"kept for the dedupe horizon",
		// No direct gets: a follower may answer those, and a claim read
		// must see every claim stored (reads go to the stream leader).
		Subjects:     []string{messages.ExecPrefix + ">"},
		Retention:    jetstream.LimitsPolicy,
		Storage:      jetstream.FileStorage,
		Replicas:     sc.Replicas,
		MaxAge:       sc.DedupeHorizon,
		Duplicates:   dupWindow,
		MaxConsumers: maxConsumers,
	}, {
		Name:        messages.StreamReports,
		Description: "keyrouter: execution reports to strategies",
		Subjects:    []string{messages.ReportsPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    sc.Replicas,
		MaxAge:      sc.ReportsMaxAge,
		MaxBytes:    sc.ReportsMaxBytes,
		Duplicates:  dupWindow,
	}}
}

// BucketConfigs returns the configs of the ORDERSTATE and CONTROL buckets.
func BucketConfigs(sc configs.Streams) []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{{
		Bucket:      messages.BucketOrders,
		Description: "keyrouter: each key's orders in hand (<key>.<strategy>.<id>) and its executor lease (<key>.=lease)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    sc.Replicas,
		// Enables per-message TTLs: a closed order's record expires.
		LimitMarkerTTL: time.Minute,
	}, {
		Bucket:      messages.BucketControl,
		Description: "keyrouter: halts, the router lease, process heartbeats, reload requests",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    sc.Replicas,
	}, {
		Bucket:      messages.BucketBudgets,
		Description: "keyrouter: rate limits shared by keys in several processes (account and IP scopes): every process's grants",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    sc.Replicas,
	}}
}

// Buckets are the KV buckets every role uses.
type Buckets struct {
	Orders  jetstream.KeyValue // order state and executor leases
	Control jetstream.KeyValue // halts, router lease, heartbeats
	Budgets jetstream.KeyValue // shared rate limits
}

// Provision creates the streams and the buckets if they do not exist.
// Re-running it changes nothing; a stream that exists with another config
// is an error wrapping ErrStreamConflict, and is left as it is.
func Provision(ctx context.Context, js jetstream.JetStream, sc configs.Streams) (Buckets, error) {
	for _, cfg := range StreamConfigs(sc) {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return Buckets{}, fmt.Errorf("%w: stream %s (subjects %v): compare `nats stream info %s` with keyrouter's streams settings "+
					"(upgrading from a version whose EXEC was a work queue: drain it, then delete EXEC and ORDERSTATE): %v",
					ErrStreamConflict, cfg.Name, cfg.Subjects, cfg.Name, err)
			}
			return Buckets{}, fmt.Errorf("bus: creating stream %s: %w", cfg.Name, err)
		}
	}
	var b Buckets
	dst := []*jetstream.KeyValue{&b.Orders, &b.Control, &b.Budgets}
	for i, cfg := range BucketConfigs(sc) {
		kv, err := js.CreateKeyValue(ctx, cfg)
		if err != nil {
			if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return Buckets{}, fmt.Errorf("%w: KV bucket %s: %v", ErrStreamConflict, cfg.Bucket, err)
			}
			return Buckets{}, fmt.Errorf("bus: creating KV bucket %s: %w", cfg.Bucket, err)
		}
		*dst[i] = kv
	}
	return b, nil
}
