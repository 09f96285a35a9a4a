package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Timeout bounds every single request to the bus (a publish's ack, a KV
// read): past it the caller treats the request as failed and retries or
// gives the message back. Nothing in keyrouter waits on the bus for ever.
const Timeout = 5 * time.Second

// ErrTimeout is returned when the bus did not answer within Timeout.
var ErrTimeout = errors.New("bus: no answer in time")

// IsConflict reports whether err is a compare-and-set conflict: a publish
// whose expected last (subject) sequence did not hold. One server answers
// 10071, a replicated stream 10164; both mean the same.
func IsConflict(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// Await waits for a publish's ack, at most Timeout and never past ctx.
func Await(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	t := time.NewTimer(Timeout)
	defer t.Stop()
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-t.C:
		return nil, fmt.Errorf("%w: publish to %s", ErrTimeout, f.Msg().Subject)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// AwaitAll waits for every future; the first error is returned.
func AwaitAll(ctx context.Context, fs []jetstream.PubAckFuture) error {
	var first error
	for _, f := range fs {
		if _, err := Await(ctx, f); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Bounded returns ctx limited to Timeout.
func Bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, Timeout)
}

// Headers keyrouter sets on its own messages.
const (
	// HeaderIntentSeq carries the ORDERS sequence of the intent a claim
	// is for, so a redelivered intent is told apart from a re-sent one
	// without decoding the claim.
	HeaderIntentSeq = "Kr-Intent-Seq"
	// HeaderRoute carries a claim's ExecOrder.Routed.
	HeaderRoute = "Kr-Route"
)

// Claim is the last claim of an order: which key holds it (RefusedKey if
// the router refused it), the claim's EXEC sequence and what it says.
type Claim struct {
	Key       string
	Seq       uint64
	IntentSeq uint64
	Route     int
	Msg       *jetstream.RawStreamMsg
}

// LastClaim returns the last message on subjects (an ExecClaimSubjects
// pattern) in stream, or ok false if there is none.
func LastClaim(ctx context.Context, stream jetstream.Stream, subjects string) (Claim, bool, error) {
	ctx, cancel := Bounded(ctx)
	defer cancel()
	m, err := stream.GetLastMsgForSubject(ctx, subjects)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Claim{}, false, nil
	}
	if err != nil {
		return Claim{}, false, err
	}
	return ClaimOf(m), true, nil
}

// ClaimOf reads a claim from its stream message.
func ClaimOf(m *jetstream.RawStreamMsg) Claim {
	c := Claim{Seq: m.Sequence, Msg: m}
	if es, ok := parseKeyToken(m.Subject); ok {
		c.Key = es
	}
	c.IntentSeq, _ = strconv.ParseUint(m.Header.Get(HeaderIntentSeq), 10, 64)
	c.Route, _ = strconv.Atoi(m.Header.Get(HeaderRoute))
	return c
}

// parseKeyToken returns the second token of exec.<key>....
func parseKeyToken(subject string) (string, bool) {
	const p = "exec."
	if len(subject) <= len(p) || subject[:len(p)] != p {
		return "", false
	}
	rest := subject[len(p):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '.' {
			return rest[:i], true
		}
	}
	return "", false
}

// ClaimMsg builds a claim message on subject for an intent at ORDERS
// sequence intentSeq, route route.
func ClaimMsg(subject string, data []byte, intentSeq uint64, route int) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(HeaderIntentSeq, strconv.FormatUint(intentSeq, 10))
	m.Header.Set(HeaderRoute, strconv.Itoa(route))
	return m
}

// ReadLast returns the last message on subject in stream, read from the
// stream's leader (a KV Get may be answered by a follower that has not
// seen the latest write), and found false if there is none. It reads
// through an ordered consumer filtered to subject, so a permission on
// the filter scopes what an identity may read.
func ReadLast(ctx context.Context, js jetstream.JetStream, stream, subject string) (jetstream.Msg, bool, error) {
	ctx, cancel := Bounded(ctx)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subject},
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		InactiveThreshold: readerInactive,
	})
	if err != nil {
		return nil, false, err
	}
	defer dropReader(js, stream, cons)
	if cons.CachedInfo().NumPending == 0 {
		return nil, false, nil
	}
	m, err := cons.Next(jetstream.FetchMaxWait(Timeout))
	if err != nil {
		return nil, false, err
	}
	if deleted(m.Headers()) {
		return nil, false, nil
	}
	return m, true, nil
}

// readerInactive is how long the server keeps a reader's consumer that
// was not dropped (its delete failed): a stream holds 1,000 consumers by
// default, and nats.go's ordered consumers stay 5 minutes otherwise (an
// executor per key reading its records at start would fill KV_ORDERSTATE
// at about 500 keys).
const readerInactive = 30 * time.Second

// dropReader deletes the consumer a read went through, at once: one
// consumer per read would otherwise stay until readerInactive.
func dropReader(js jetstream.JetStream, stream string, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	_ = js.DeleteConsumer(ctx, stream, info.Name)
}

// ScanLast calls fn with the last value of every subject matching filter
// in stream (KV records: the current state of each key), in stream order,
// and returns once it has seen them all. Deleted KV keys are skipped.
func ScanLast(ctx context.Context, js jetstream.JetStream, stream, filter string, fn func(jetstream.Msg) error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*Timeout)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{filter},
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		InactiveThreshold: readerInactive,
	})
	if err != nil {
		return err
	}
	defer dropReader(js, stream, cons)
	info := cons.CachedInfo()
	pending := info.NumPending
	if pending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return err
	}
	defer it.Stop()
	for pending > 0 {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("bus: scanning %s %s: %w", stream, filter, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		pending = meta.NumPending
		if deleted(m.Headers()) {
			continue
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// deleted reports whether a KV message is a delete, a purge or a marker
// left by an expired TTL.
func deleted(h nats.Header) bool {
	if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		return true
	}
	return h.Get(jetstream.MarkerReasonHeader) != ""
}

// Update is one key's value as Watch delivers it.
type Update struct {
	Key   string
	Value []byte // nil: deleted
	Rev   uint64
	// Initial: the value the key had when the watch started, not a change.
	Initial bool
}

// Watch follows the keys of kv matching filters until ctx ends: fn is
// called with each key's current value at start and on every change, from
// one goroutine. Watch returns once the current values have been
// delivered, or an error if they were not within Timeout.
func Watch(ctx context.Context, kv jetstream.KeyValue, filters []string, fn func(Update)) error {
	w, err := kv.WatchFiltered(ctx, filters)
	if err != nil {
		return err
	}
	ready := make(chan struct{})
	go func() {
		defer w.Stop()
		caughtUp := false
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					if !caughtUp {
						caughtUp = true
						close(ready)
					}
					continue
				}
				u := Update{Key: e.Key(), Rev: e.Revision(), Initial: !caughtUp}
				if e.Operation() == jetstream.KeyValuePut {
					u.Value = e.Value()
				}
				fn(u)
			}
		}
	}()
	t := time.NewTimer(Timeout)
	defer t.Stop()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%w: watching %s %v", ErrTimeout, kv.Bucket(), filters)
	}
}
