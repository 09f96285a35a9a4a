package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// DefaultLeaseTTL is how long a lease holder may stay silent before a
// standby takes its leases.
const DefaultLeaseTTL = 2 * time.Second

// heartbeatPrefix prefixes each process's heartbeat key in CONTROL.
const heartbeatPrefix = "proc."

// ErrLeaseLost is returned by work fenced by a lease that is no longer
// held.
var ErrLeaseLost = errors.New("bus: lease lost")

// LeaseOptions configure Leases; zero values take the defaults.
type LeaseOptions struct {
	// Instance names this process among all keyrouter processes: unique,
	// ^[A-Za-z0-9_-]{1,64}$. A restart under the same name takes the
	// leases its earlier run held at once.
	Instance string
	// Role is written in the heartbeat, for operators.
	Role string
	// TTL: a process whose heartbeat has not changed for this long is
	// dead and its leases may be taken (default DefaultLeaseTTL).
	// Heartbeats are written every TTL/4.
	TTL    time.Duration
	Clock  Clock
	Logger zerolog.Logger
}

// LeaseValue is what a lease entry holds.
type LeaseValue struct {
	Holder      string    `json:"holder"` // instance; "" when released
	Incarnation string    `json:"incarnation,omitempty"`
	Since       time.Time `json:"since,omitzero"`
}

type heartbeat struct {
	Instance    string    `json:"instance"`
	Incarnation string    `json:"incarnation"`
	Role        string    `json:"role,omitempty"`
	Started     time.Time `json:"started"`
	TS          time.Time `json:"ts"`
}

type beatSeen struct {
	inc  string
	rev  uint64
	seen time.Time // when this process saw the revision change
}

type entryKey struct{ bucket, key string }

type entrySeen struct {
	val    LeaseValue
	rev    uint64
	exists bool
}

// Leases is one process's view of every lease it holds or waits for, and
// of every process's heartbeat. Create with NewLeases, start with Start.
type Leases struct {
	ctl  jetstream.KeyValue
	opts LeaseOptions
	inc  string
	log  zerolog.Logger

	mu       sync.Mutex
	ctx      context.Context // Start's
	started  time.Time
	lastBeat time.Time // our last heartbeat written
	beats    map[string]beatSeen
	entries  map[entryKey]entrySeen
	follows  map[string]bool // bucket+"\x00"+filter
	held     map[entryKey]*Lease
	wake     chan struct{} // closed and replaced on every change seen
	done     chan struct{} // closed when the heartbeat loop ended
}

// NewLeases returns the lease view of process opts.Instance, whose
// heartbeats go to the CONTROL bucket ctl.
func NewLeases(ctl jetstream.KeyValue, opts LeaseOptions) (*Leases, error) {
	if opts.Instance == "" || len(opts.Instance) > 64 || strings.ContainsAny(opts.Instance, ".*> ") {
		return nil, fmt.Errorf("bus: instance name %q must match ^[A-Za-z0-9_-]{1,64}$", opts.Instance)
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultLeaseTTL
	}
	if opts.Clock == nil {
		opts.Clock = RealClock
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Leases{
		ctl: ctl, opts: opts, inc: hex.EncodeToString(b[:]),
		log:   opts.Logger.With().Str("instance", opts.Instance).Logger(),
		beats: map[string]beatSeen{}, entries: map[entryKey]entrySeen{},
		follows: map[string]bool{}, held: map[entryKey]*Lease{},
		wake: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Instance returns this process's instance name.
func (ls *Leases) Instance() string { return ls.opts.Instance }

// TTL returns the lease TTL.
func (ls *Leases) TTL() time.Duration { return ls.opts.TTL }

// Start writes the first heartbeat, follows everyone's, and keeps
// writing ours every TTL/4 until ctx ends; then it releases the leases
// held and removes the heartbeat. Done is closed after that.
func (ls *Leases) Start(ctx context.Context) error {
	ls.mu.Lock()
	ls.ctx = ctx
	ls.started = ls.opts.Clock.Now()
	ls.mu.Unlock()
	if err := Watch(ctx, ls.ctl, []string{heartbeatPrefix + "*"}, ls.seeBeat); err != nil {
		return fmt.Errorf("bus: following heartbeats: %w", err)
	}
	if err := ls.beat(ctx); err != nil {
		return fmt.Errorf("bus: writing heartbeat: %w", err)
	}
	go ls.loop(ctx)
	return nil
}

// Done is closed once Start's context ended and the leases were released.
func (ls *Leases) Done() <-chan struct{} { return ls.done }

func (ls *Leases) loop(ctx context.Context) {
	defer close(ls.done)
	every := ls.opts.TTL / 4
	for {
		select {
		case <-ctx.Done():
			ls.releaseAll()
			return
		case <-ls.opts.Clock.After(every):
		}
		if err := ls.beat(ctx); err != nil && ctx.Err() == nil {
			ls.mu.Lock()
			silent := ls.opts.Clock.Now().Sub(ls.lastBeat)
			ls.mu.Unlock()
			ls.log.Warn().Err(err).Dur("silent", silent).Msg("heartbeat not written")
			if silent > ls.opts.TTL*3/4 {
				// A standby may take our leases any moment now: stop
				// using them first.
				ls.loseAll("heartbeat not written for " + silent.String())
			}
		}
	}
}

func (ls *Leases) beat(ctx context.Context) error {
	now := ls.opts.Clock.Now()
	data, _ := json.Marshal(heartbeat{Instance: ls.opts.Instance, Incarnation: ls.inc, Role: ls.opts.Role, Started: ls.started.UTC(), TS: now.UTC()})
	ctx, cancel := Bounded(ctx)
	defer cancel()
	if _, err := ls.ctl.Put(ctx, heartbeatPrefix+ls.opts.Instance, data); err != nil {
		return err
	}
	ls.mu.Lock()
	ls.lastBeat = now
	// An Acquire that found our heartbeat stale waits for a change: the
	// watch may have shown it this beat before lastBeat was set.
	ls.notifyLocked()
	ls.mu.Unlock()
	return nil
}

// seeBeat records a heartbeat change (Watch callback).
func (ls *Leases) seeBeat(u Update) {
	inst, value, rev := strings.TrimPrefix(u.Key, heartbeatPrefix), u.Value, u.Rev
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if value == nil {
		delete(ls.beats, inst)
	} else {
		var hb heartbeat
		if json.Unmarshal(value, &hb) != nil {
			return
		}
		if b, ok := ls.beats[inst]; !ok || b.rev != rev {
			ls.beats[inst] = beatSeen{inc: hb.Incarnation, rev: rev, seen: ls.opts.Clock.Now()}
		}
	}
	ls.notifyLocked()
}

// Alive reports whether process instance's heartbeat changed within the
// lease TTL, as this process has seen it.
func (ls *Leases) Alive(instance string) bool {
	now := ls.opts.Clock.Now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	b, ok := ls.beats[instance]
	return ok && now.Sub(b.seen) <= ls.opts.TTL
}

func (ls *Leases) notifyLocked() {
	close(ls.wake)
	ls.wake = make(chan struct{})
}

// follow makes sure the lease entries of kv matching filter are followed.
func (ls *Leases) follow(kv jetstream.KeyValue, filter string) error {
	id := kv.Bucket() + "\x00" + filter
	ls.mu.Lock()
	ctx, ok := ls.ctx, ls.follows[id]
	ls.follows[id] = true
	ls.mu.Unlock()
	if ok {
		return nil
	}
	if ctx == nil {
		return errors.New("bus: Leases not started")
	}
	bucket := kv.Bucket()
	err := Watch(ctx, kv, []string{filter}, func(u Update) {
		ls.seeEntry(entryKey{bucket, u.Key}, u.Value, u.Rev)
	})
	if err != nil {
		ls.mu.Lock()
		delete(ls.follows, id)
		ls.mu.Unlock()
	}
	return err
}

func (ls *Leases) seeEntry(k entryKey, value []byte, rev uint64) {
	e := entrySeen{rev: rev, exists: value != nil}
	if value != nil {
		_ = json.Unmarshal(value, &e.val)
	}
	ls.mu.Lock()
	if old, ok := ls.entries[k]; ok && old.rev > rev {
		ls.mu.Unlock()
		return // an older update, seen after a direct read
	}
	ls.entries[k] = e
	l := ls.held[k]
	mine := ls.isMine(e.val)
	ls.notifyLocked()
	ls.mu.Unlock()
	if l != nil && rev != l.Rev() && !mine {
		l.lose(fmt.Sprintf("taken by %s", e.val.Holder))
	}
}

func (ls *Leases) isMine(v LeaseValue) bool {
	return v.Holder == ls.opts.Instance && v.Incarnation == ls.inc
}

// takeable says whether entry e may be taken now, and why. ls.mu held.
func (ls *Leases) takeable(e entrySeen, now time.Time) (bool, string) {
	if now.Sub(ls.lastBeat) > ls.opts.TTL/2 {
		// Our own heartbeat is not being written: a lease taken now would
		// be given up at once.
		return false, ""
	}
	switch {
	case !e.exists:
		return true, "new"
	case e.val.Holder == "":
		return true, "released"
	case e.val.Holder == ls.opts.Instance && e.val.Incarnation != ls.inc:
		return true, "held by an earlier run of this instance"
	case e.val.Holder == ls.opts.Instance:
		return true, "ours again, our heartbeat back"
	}
	b, ok := ls.beats[e.val.Holder]
	switch {
	case !ok:
		return true, e.val.Holder + " has no heartbeat"
	case b.inc != e.val.Incarnation:
		return true, e.val.Holder + " restarted"
	case now.Sub(b.seen) > ls.opts.TTL:
		return true, fmt.Sprintf("%s silent for %v", e.val.Holder, now.Sub(b.seen).Round(time.Millisecond))
	}
	return false, ""
}

// beatUnseen reads holder's heartbeat directly and reports whether it
// changed since this process last saw it, which then counts as seen now.
// The watch that feeds the heartbeats can lag a holder's writes, as after
// a NATS node came back: two processes whose heartbeats both stalled then
// each took the lease from the other, back and forth, each term starting
// over. A failed read says nothing (false).
func (ls *Leases) beatUnseen(ctx context.Context, holder string) bool {
	ctx, cancel := Bounded(ctx)
	defer cancel()
	e, err := ls.ctl.Get(ctx, heartbeatPrefix+holder)
	if err != nil {
		return false
	}
	ls.mu.Lock()
	b, ok := ls.beats[holder]
	ls.mu.Unlock()
	if ok && b.rev >= e.Revision() {
		return false
	}
	ls.seeBeat(Update{Key: e.Key(), Value: e.Value(), Rev: e.Revision()})
	return true
}

// Acquire waits until this process holds the lease key of kv and returns
// it: at once if the entry is free, released, or held by an earlier run
// of this instance; after the holder's heartbeat has been silent for TTL
// otherwise. follow is a KV filter matching key under which one watch
// serves every lease of its kind (e.g. "*.=lease"). Acquire returns
// ctx's error when ctx ends first.
func (ls *Leases) Acquire(ctx context.Context, kv jetstream.KeyValue, key, follow string) (*Lease, error) {
	if err := ls.follow(kv, follow); err != nil {
		return nil, err
	}
	k := entryKey{kv.Bucket(), key}
	for {
		ls.mu.Lock()
		if l := ls.held[k]; l != nil {
			ls.mu.Unlock()
			return nil, fmt.Errorf("bus: lease %s already held by this process", key)
		}
		e, ok := ls.entries[k]
		if !ok {
			e = entrySeen{}
		}
		take, why := ls.takeable(e, ls.opts.Clock.Now())
		wake := ls.wake
		_, beats := ls.beats[e.val.Holder]
		ls.mu.Unlock()
		if take && beats && e.exists && e.val.Holder != ls.opts.Instance && ls.beatUnseen(ctx, e.val.Holder) {
			continue // the holder's heartbeat moved after all: judge again
		}
		if take {
			l, err := ls.take(ctx, kv, k, e)
			if err == nil {
				l.taken, l.takenOver = why, e.exists && e.val.Holder != "" && e.val.Holder != ls.opts.Instance
				ls.log.Info().Str("lease", key).Str("why", why).Uint64("rev", l.Rev()).Msg("lease taken")
				return l, nil
			}
			if !IsConflict(err) && ctx.Err() == nil {
				ls.log.Warn().Err(err).Str("lease", key).Msg("taking lease failed; will retry")
			}
			// Someone else moved first: read the entry as it is now
			// rather than wait for the watch.
			ls.refresh(ctx, kv, k)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		case <-ls.opts.Clock.After(ls.opts.TTL / 4):
		}
	}
}

func (ls *Leases) refresh(ctx context.Context, kv jetstream.KeyValue, k entryKey) {
	ctx, cancel := Bounded(ctx)
	defer cancel()
	e, err := kv.Get(ctx, k.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		ls.mu.Lock()
		ls.entries[k] = entrySeen{}
		ls.mu.Unlock()
	case err == nil:
		ls.seeEntry(k, e.Value(), e.Revision())
	}
}

func (ls *Leases) take(ctx context.Context, kv jetstream.KeyValue, k entryKey, e entrySeen) (*Lease, error) {
	v := LeaseValue{Holder: ls.opts.Instance, Incarnation: ls.inc, Since: ls.opts.Clock.Now().UTC()}
	data, _ := json.Marshal(v)
	ctx, cancel := Bounded(ctx)
	defer cancel()
	var rev uint64
	var err error
	if e.exists {
		rev, err = kv.Update(ctx, k.key, data, e.rev)
	} else {
		rev, err = kv.Create(ctx, k.key, data)
	}
	if err != nil {
		return nil, err
	}
	l := &Lease{ls: ls, kv: kv, k: k, rev: rev}
	l.lostCtx, l.markLost = context.WithCancel(context.Background())
	ls.mu.Lock()
	ls.held[k] = l
	ls.entries[k] = entrySeen{val: v, rev: rev, exists: true}
	ls.mu.Unlock()
	return l, nil
}

func (ls *Leases) loseAll(why string) {
	ls.mu.Lock()
	held := make([]*Lease, 0, len(ls.held))
	for _, l := range ls.held {
		held = append(held, l)
	}
	ls.mu.Unlock()
	for _, l := range held {
		l.lose(why)
	}
}

func (ls *Leases) releaseAll() {
	ls.mu.Lock()
	held := make([]*Lease, 0, len(ls.held))
	for _, l := range ls.held {
		held = append(held, l)
	}
	ls.mu.Unlock()
	for _, l := range held {
		_ = l.Release()
	}
	ctx, cancel := Bounded(context.Background())
	defer cancel()
	_ = ls.ctl.Delete(ctx, heartbeatPrefix+ls.opts.Instance)
}

// Lease is a lease this process holds until Lost is closed or it is
// released.
type Lease struct {
	ls *Leases
	kv jetstream.KeyValue
	k  entryKey

	taken     string // how it was taken: "new", "released", "<holder> silent for 2s", ...
	takenOver bool   // from another process that held it

	mu  sync.Mutex
	rev uint64
	// lostCtx ends when the lease is lost: its Done is Lost, and
	// AfterLost hangs work on it without a goroutine per lease.
	lostCtx  context.Context
	markLost context.CancelFunc
	lostWhy  string
	released bool
}

// Taken says how the lease was taken ("new", "released", "x silent for
// 2.1s", ...).
func (l *Lease) Taken() string { return l.taken }

// TakenOver reports whether the lease was taken from another process
// that held it (a takeover), rather than new or released.
func (l *Lease) TakenOver() bool { return l.takenOver }

// Key returns the lease's KV key.
func (l *Lease) Key() string { return l.k.key }

// Rev returns the lease entry's revision: the fencing token.
func (l *Lease) Rev() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev
}

// Lost is closed when the lease is no longer held (another process took
// it, a fenced write found it gone, or our heartbeat stopped).
func (l *Lease) Lost() <-chan struct{} { return l.lostCtx.Done() }

// AfterLost arranges for f to run in its own goroutine once the lease is
// lost (at once if it is), unless stop is called first; stop reports
// whether it stopped f (context.AfterFunc's contract).
func (l *Lease) AfterLost(f func()) (stop func() bool) { return context.AfterFunc(l.lostCtx, f) }

// Held reports whether the lease is still held as far as this process
// knows.
func (l *Lease) Held() bool {
	select {
	case <-l.lostCtx.Done():
		return false
	default:
		return true
	}
}

// Why says why the lease was lost.
func (l *Lease) Why() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostWhy
}

// lose marks the lease lost. Lock order: never Lease.mu and Leases.mu
// together.
func (l *Lease) lose(why string) {
	l.mu.Lock()
	select {
	case <-l.lostCtx.Done():
		l.mu.Unlock()
		return
	default:
	}
	l.lostWhy = why
	l.markLost()
	released := l.released
	l.mu.Unlock()
	l.ls.mu.Lock()
	if l.ls.held[l.k] == l {
		delete(l.ls.held, l.k)
	}
	l.ls.mu.Unlock()
	if !released {
		l.ls.log.Warn().Str("lease", l.k.key).Str("why", why).Msg("lease lost")
	}
}

// Subject is the lease entry's subject, for fenced writes to the same
// stream.
func (l *Lease) Subject() string { return "$KV." + l.k.bucket + "." + l.k.key }

// Fence makes m a write that the stream stores only while this lease is
// held (its entry's last sequence is still Rev).
func (l *Lease) Fence(m *nats.Msg) {
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, l.Subject())
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(l.Rev(), 10))
}

// Confirm is called after a fenced write failed with a conflict: it
// reads the entry and declares the lease lost unless this process still
// holds it (then the write may be retried).
func (l *Lease) Confirm(ctx context.Context) bool {
	l.ls.refresh(ctx, l.kv, l.k)
	l.ls.mu.Lock()
	e := l.ls.entries[l.k]
	mine := e.exists && l.ls.isMine(e.val)
	l.ls.mu.Unlock()
	if mine && e.rev == l.Rev() {
		return l.Held()
	}
	l.lose("a fenced write found it taken")
	return false
}

// Release gives the lease up so a standby takes it at once.
func (l *Lease) Release() error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil
	}
	l.released = true
	held := true
	select {
	case <-l.lostCtx.Done():
		held = false
	default:
	}
	rev := l.rev
	l.mu.Unlock()
	l.lose("released")
	if !held {
		return nil
	}
	data, _ := json.Marshal(LeaseValue{})
	ctx, cancel := Bounded(context.Background())
	defer cancel()
	_, err := l.kv.Update(ctx, l.k.key, data, rev)
	return err
}
