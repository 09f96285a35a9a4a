package router

import (
	"context"
	"errors"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// createRecord stores data under key in the order-state bucket unless the
// key exists (then it returns an error matching jetstream.ErrKeyExists).
// It is kv.Create through the asynchronous publisher, which sustains
// several times the rate of one request per write; the bucket never
// deletes, so "exists" is simply "has a last sequence".
func (r *Router) createRecord(ctx context.Context, key string, data []byte) error {
	m := nats.NewMsg(messages.OrderStateSubject(key))
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	m.Data = data
	err := r.publishWait(ctx, nil, m)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return jetstream.ErrKeyExists
	}
	return err
}

// publishWait publishes m with the asynchronous publisher and waits until
// JetStream stored it. With a turn, the publish is issued in the turn's
// place in line (and the turn passed on before waiting for the ack).
func (r *Router) publishWait(ctx context.Context, t *turn, m *nats.Msg, opts ...jetstream.PublishOpt) error {
	if t != nil {
		t.wait()
	}
	f, err := r.js.PublishMsgAsync(m, opts...)
	t.release()
	if err != nil {
		return err
	}
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
