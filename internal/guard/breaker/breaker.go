// Package breaker holds circuit breakers: a Breaker stops sending requests
// to an upstream that is failing, so that it is not retried into the
// ground, and probes it back into use. It counts failures in a row and the
// share of failures over a sliding window (slow answers count as failures
// when asked to), opens for a while, then lets a few probes through
// (half-open): all succeeding close it, one failing opens it again.
//
// Time is always the caller's: every method takes now, so tests drive it
// with a fake clock.
package breaker

import (
	"sync"
	"time"
)

// Options configures a Breaker. Zero fields get the defaults named.
type Options struct {
	// ConsecutiveFailures opens the circuit after that many failures in a
	// row; 0 turns the check off.
	ConsecutiveFailures int
	// FailureRatio opens it when at least that share of the outcomes in
	// the last Window failed, once MinRequests (default 20) were seen in
	// it; 0 turns the check off. Window defaults to 10s.
	FailureRatio float64
	MinRequests  int
	Window       time.Duration
	// SlowCall counts an answer slower than this as a failure; 0: off.
	SlowCall time.Duration
	// OpenFor is how long an open circuit refuses (default 30s); Probes is
	// how many requests a half-open circuit lets through (default 1).
	OpenFor time.Duration
	Probes  int
}

// State is a circuit's state.
type State uint8

// States, in the order of their metric value.
const (
	Closed State = iota
	HalfOpen
	Open
)

func (s State) String() string {
	return [...]string{Closed: "closed", HalfOpen: "half_open", Open: "open"}[s]
}

// buckets is how many slices the ratio window is cut into.
const buckets = 10

type bucket struct {
	start          int64 // unix nanoseconds the bucket began; 0: empty
	total, failing int
}

// Breaker is one circuit. It is safe for concurrent use.
type Breaker struct {
	opts Options

	mu          sync.Mutex
	state       State
	generation  uint64 // bumped on every change of state
	consecutive int
	window      [buckets]bucket
	openUntil   int64
	probes      int // probes let through in this half-open spell
	probesOK    int
	opens       uint64
}

// New returns a closed Breaker.
func New(o Options) *Breaker {
	if o.MinRequests <= 0 {
		o.MinRequests = 20
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Second
	}
	if o.OpenFor <= 0 {
		o.OpenFor = 30 * time.Second
	}
	if o.Probes <= 0 {
		o.Probes = 1
	}
	return &Breaker{opts: o}
}

// Ticket is what Allow hands out and Done takes back: it ties an outcome
// to the state the request was let through in.
type Ticket struct {
	generation uint64
	probe      bool
}

// Allow reports whether a request may go to the upstream at now. When it
// may not, retryAfter says when to try again. A caller that was allowed
// calls Done exactly once with the Ticket.
func (b *Breaker) Allow(now time.Time) (t Ticket, ok bool, retryAfter time.Duration) {
	n := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open {
		if n < b.openUntil {
			return Ticket{}, false, time.Duration(b.openUntil - n)
		}
		b.set(HalfOpen)
	}
	if b.state == HalfOpen {
		if b.probes >= b.opts.Probes {
			return Ticket{}, false, time.Second
		}
		b.probes++
		return Ticket{generation: b.generation, probe: true}, true, 0
	}
	return Ticket{generation: b.generation}, true, 0
}

// Done records the outcome of a request Allow let through: failed when the
// upstream answered 5xx or not at all, with its latency. An outcome from
// before the circuit last changed state is ignored, but for a probe's.
func (b *Breaker) Done(now time.Time, t Ticket, failed bool, latency time.Duration) {
	if b.opts.SlowCall > 0 && latency > b.opts.SlowCall {
		failed = true
	}
	n := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.generation != b.generation {
		return
	}
	if b.state == HalfOpen {
		if !t.probe {
			return
		}
		if failed {
			b.open(n)
			return
		}
		if b.probesOK++; b.probesOK >= b.opts.Probes {
			b.set(Closed)
		}
		return
	}
	if failed {
		b.consecutive++
	} else {
		b.consecutive = 0
	}
	total, failing := b.count(n, failed)
	switch {
	case b.opts.ConsecutiveFailures > 0 && b.consecutive >= b.opts.ConsecutiveFailures,
		b.opts.FailureRatio > 0 && total >= b.opts.MinRequests && float64(failing) >= b.opts.FailureRatio*float64(total):
		b.open(n)
	}
}

// count adds an outcome to the window at n and returns the window's totals.
func (b *Breaker) count(n int64, failed bool) (total, failing int) {
	width := int64(b.opts.Window) / buckets
	start := n - n%max(1, width)
	cur := &b.window[(n/max(1, width))%buckets]
	if cur.start != start {
		*cur = bucket{start: start}
	}
	cur.total++
	if failed {
		cur.failing++
	}
	for i := range b.window {
		w := &b.window[i]
		if w.start != 0 && n-w.start < int64(b.opts.Window) {
			total += w.total
			failing += w.failing
		}
	}
	return total, failing
}

func (b *Breaker) open(n int64) {
	b.set(Open)
	b.openUntil = n + int64(b.opts.OpenFor)
	b.opens++
}

// set moves to state s, starting its counts afresh.
func (b *Breaker) set(s State) {
	b.state = s
	b.generation++
	b.consecutive, b.probes, b.probesOK = 0, 0, 0
	b.window = [buckets]bucket{}
}

// State returns the circuit's state at now (an open circuit whose time is
// up reports half-open) and how many times it has opened.
func (b *Breaker) State(now time.Time) (State, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && now.UnixNano() >= b.openUntil {
		return HalfOpen, b.opens
	}
	return b.state, b.opens
}

// Group is a set of breakers by name (one per route), made on first use
// with one Options. It is safe for concurrent use.
type Group struct {
	mu    sync.Mutex
	opts  Options
	byKey map[string]*Breaker
}

// NewGroup returns an empty Group.
func NewGroup() *Group { return &Group{byKey: map[string]*Breaker{}} }

// Get returns the breaker named name under opts; when opts differ from
// those of the group's breakers (a reload changed them), every breaker
// starts afresh.
func (g *Group) Get(name string, opts Options) *Breaker {
	g.mu.Lock()
	defer g.mu.Unlock()
	if opts != g.opts {
		g.opts, g.byKey = opts, map[string]*Breaker{}
	}
	b := g.byKey[name]
	if b == nil {
		b = New(opts)
		g.byKey[name] = b
	}
	return b
}

// Each calls f with every breaker's name, in no order.
func (g *Group) Each(f func(name string, b *Breaker)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, b := range g.byKey {
		f(name, b)
	}
}
