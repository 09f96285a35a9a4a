package executors

import (
	"time"

	"github.com/keyrouter/keyrouter/messages"
	"github.com/nats-io/nats.go/jetstream"
)

// item is one message waiting in a key's queue.
type item struct {
	msg    jetstream.Msg
	order  *order               // for a new order
	cancel *messages.ExecCancel // for a cancel
	// inDoubt: the order may already be at the venue (a redelivery, or an
	// answer that left the outcome unknown); ask the venue before sending.
	inDoubt   bool
	attempts  int
	route     int       // how often the order was handed to a key (ExecOrder.Routed)
	notBefore time.Time // backoff after a failed attempt
}

// queue is a FIFO of items. It is bounded by its owner (Worker checks the
// length against QueueSize before pushing) and guarded by Worker.mu.
type queue struct {
	items []*item
	head  int
}

func (q *queue) len() int { return len(q.items) - q.head }

func (q *queue) push(it *item) { q.items = append(q.items, it) }

// pushFront puts an item back at the head (a retry keeps its place).
func (q *queue) pushFront(it *item) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = it
		return
	}
	q.items = append([]*item{it}, q.items...)
}

func (q *queue) peek() *item {
	if q.len() == 0 {
		return nil
	}
	return q.items[q.head]
}

func (q *queue) pop() *item {
	it := q.peek()
	if it == nil {
		return nil
	}
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return it
}

// has reports whether order o is queued.
func (q *queue) has(o *order) bool {
	for _, it := range q.items[q.head:] {
		if it.order == o {
			return true
		}
	}
	return false
}

// remove takes out the item of order o, if queued, and returns it.
func (q *queue) remove(o *order) *item {
	for i := q.head; i < len(q.items); i++ {
		if q.items[i].order == o {
			it := q.items[i]
			copy(q.items[i:], q.items[i+1:])
			q.items[len(q.items)-1] = nil
			q.items = q.items[:len(q.items)-1]
			return it
		}
	}
	return nil
}

// removeIf takes out every item for which f is true, in order.
func (q *queue) removeIf(f func(*item) bool) []*item {
	var out []*item
	kept := q.items[:q.head]
	for _, it := range q.items[q.head:] {
		if f(it) {
			out = append(out, it)
		} else {
			kept = append(kept, it)
		}
	}
	clear(q.items[len(kept):])
	q.items = kept
	return out
}

func (q *queue) each(f func(*item)) {
	for _, it := range q.items[q.head:] {
		f(it)
	}
}
