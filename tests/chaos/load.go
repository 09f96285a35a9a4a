package chaos

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go/jetstream"
)

// Record is what the load did with one planned intent.
type Record struct {
	Strategy string
	Intent   messages.OrderIntent
	// Sent is the first publish attempt; Acked the stored-ack (zero if
	// none came: the intent may or may not be stored).
	Sent, Acked time.Time
	Attempts    int
	Cancel      *CancelRecord // nil: no cancel sent
}

// CancelRecord is the cancel of an intent, sent only after the intent's
// stored-ack.
type CancelRecord struct {
	Sent, Acked time.Time
	Attempts    int
}

// Key is "strategy/client_order_id".
func (r *Record) Key() string { return r.Strategy + "/" + r.Intent.ClientOrderID }

// Load sends a plan's intents and cancels with JetStream publishes,
// waiting for each stored-ack; a publish that fails (a node down, a
// timeout) is sent again with the same Nats-Msg-Id (the intent's
// client_order_id, honoured by ORDERS for 2 minutes) until acked or a
// minute has passed.
type Load struct {
	js  jetstream.JetStream
	sem chan struct{} // bounds the publishes in flight
	wg  sync.WaitGroup

	mu   sync.Mutex
	recs []*Record
}

// publishPatience bounds the retries of one publish.
const publishPatience = time.Minute

// RunLoad sends plan's intents at their times from start until ctx ends or
// all are sent; their cancels follow each stored-ack by the planned delay.
// Wait waits for the last publishes.
func RunLoad(ctx context.Context, js jetstream.JetStream, plan Plan, start time.Time) *Load {
	l := &Load{js: js, sem: make(chan struct{}, 64)}
	for _, p := range plan.Intents {
		select {
		case <-ctx.Done():
			return l
		case <-time.After(time.Until(start.Add(p.At))):
		}
		rec := &Record{Strategy: p.Strategy, Intent: p.Intent}
		rec.Intent.Strategy = p.Strategy
		if p.ExpiresIn > 0 {
			exp := time.Now().Add(p.ExpiresIn).UTC()
			rec.Intent.ExpiresAt = &exp
		}
		l.mu.Lock()
		l.recs = append(l.recs, rec)
		l.mu.Unlock()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.sem <- struct{}{}
			defer func() { <-l.sem }()
			data, _ := json.Marshal(rec.Intent)
			sent, acked, n := l.publish(ctx, messages.OrdersNewSubject(p.Strategy), rec.Intent.ClientOrderID, data)
			l.mu.Lock()
			rec.Sent, rec.Acked, rec.Attempts = sent, acked, n
			l.mu.Unlock()
			if acked.IsZero() || p.CancelAfter < 0 {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(p.CancelAfter):
			}
			c := &CancelRecord{}
			data, _ = json.Marshal(messages.CancelIntent{ClientOrderID: rec.Intent.ClientOrderID, Strategy: p.Strategy})
			c.Sent, c.Acked, c.Attempts = l.publish(ctx, messages.OrdersCancelSubject(p.Strategy), "x-"+rec.Intent.ClientOrderID, data)
			l.mu.Lock()
			rec.Cancel = c
			l.mu.Unlock()
		}()
	}
	return l
}

// publish sends data until JetStream acks it (or the patience or ctx run
// out) and returns the first attempt's time, the ack's (zero if none) and
// the attempts.
func (l *Load) publish(ctx context.Context, subject, msgID string, data []byte) (sent, acked time.Time, attempts int) {
	sent = time.Now()
	for time.Since(sent) < publishPatience && ctx.Err() == nil {
		attempts++
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := l.js.Publish(pctx, subject, data, jetstream.WithMsgID(msgID))
		cancel()
		if err == nil {
			return sent, time.Now(), attempts
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	return sent, time.Time{}, attempts
}

// Wait waits for every publish and cancel, then returns the records.
func (l *Load) Wait() []*Record {
	l.wg.Wait()
	return l.Records()
}

// Records returns the records so far (copies).
func (l *Load) Records() []*Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Record, len(l.recs))
	for i, r := range l.recs {
		c := *r
		if r.Cancel != nil {
			cc := *r.Cancel
			c.Cancel = &cc
		}
		out[i] = &c
	}
	return out
}
