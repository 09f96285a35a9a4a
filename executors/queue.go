package executors

import "time"

// queue is a FIFO of items. It is bounded by its owner (core checks the
// length against the queue size before pushing) and guarded by Worker.mu.
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

// removeFirst takes out the first item for which f is true, if any.
func (q *queue) removeFirst(f func(*item) bool) *item {
	for i := q.head; i < len(q.items); i++ {
		if f(q.items[i]) {
			it := q.items[i]
			copy(q.items[i:], q.items[i+1:])
			q.items[len(q.items)-1] = nil
			q.items = q.items[:len(q.items)-1]
			return it
		}
	}
	return nil
}

// firstReady returns the first item that may go at now: look-ups of
// orders that may be at the venue wait without holding up what is behind
// them (parked is the earliest such look-up's instant); anything else is
// taken in order, backing off or not.
func (q *queue) firstReady(now time.Time) (it *item, parked time.Time) {
	for _, it := range q.items[q.head:] {
		if it.inDoubt && it.notBefore.After(now) {
			if parked.IsZero() || it.notBefore.Before(parked) {
				parked = it.notBefore
			}
			continue
		}
		return it, parked
	}
	return nil, parked
}

// take removes it, which the queue holds (the head, usually).
func (q *queue) take(it *item) {
	if q.peek() == it {
		q.pop()
		return
	}
	q.removeFirst(func(x *item) bool { return x == it })
}

func (q *queue) each(f func(*item)) {
	for _, it := range q.items[q.head:] {
		f(it)
	}
}
