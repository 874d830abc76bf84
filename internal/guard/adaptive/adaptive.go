// Package adaptive limits the requests in flight to an upstream with a
// limit that follows the upstream's latency, as Netflix's
// concurrency-limits and Envoy's adaptive concurrency filter do, and sheds
// the least deserving requests first when the limit is reached.
//
// Two algorithms set the limit from the latencies of finished requests,
// taken in samples of a few requests each:
//
//   - gradient (after Gradient2): the limit is scaled by tolerance ×
//     no-load latency / the sample's latency, clamped to [0.5, 1], plus a
//     queue allowance of √limit, and smoothed. The no-load latency is the
//     lowest sample seen, forgotten slowly (so that a change of the
//     upstream's speed is learnt), not an average that would drift up with
//     the load.
//   - vegas (TCP Vegas): from the lowest latency seen (the no-load
//     latency), the queue is limit × (1 − noLoad/sample); the limit grows
//     by one while the queue is under 3 and shrinks by one over 6.
//
// Shedding is by Priority: each class may fill only its share of the
// limit, so as the upstream slows the riskiest requests are refused
// first, then anonymous ones, then identified ones; allowlisted partners
// may exceed the limit by half.
package adaptive

import (
	"math"
	"sync"
	"time"
)

// Options configures a Limiter. Zero fields get the defaults named.
type Options struct {
	Vegas   bool // the vegas algorithm; gradient otherwise
	Initial int  // default 20
	Min     int  // default 4
	Max     int  // default 1000
	// Tolerance is the slowdown the gradient accepts before it shrinks
	// the limit (default 2).
	Tolerance float64
	// Sample is how many finished requests make one sample (default 10).
	Sample int
}

// Priority is how deserving a request is of a slot, lowest first.
type Priority uint8

// Priorities. Risky is a request whose client has a risk score; an
// anonymous one has no verified identity.
const (
	Risky Priority = iota
	Anonymous
	Identified
	Allowlisted
)

// share is the part of the limit each priority may fill.
var share = [...]float64{Risky: 0.5, Anonymous: 0.8, Identified: 1, Allowlisted: 1.5}

// Limiter is one upstream's adaptive limit. It is safe for concurrent use.
type Limiter struct {
	opts Options

	mu       sync.Mutex
	limit    float64
	inflight int
	// the sample being taken
	n      int
	sum    time.Duration
	maxIn  int // the most requests in flight during the sample
	long   float64
	noLoad time.Duration
	shed   [len(share)]uint64
}

// New returns a Limiter at opts.Initial.
func New(o Options) *Limiter {
	if o.Min <= 0 {
		o.Min = 4
	}
	if o.Max <= 0 {
		o.Max = 1000
	}
	if o.Initial <= 0 {
		o.Initial = 20
	}
	o.Initial = min(max(o.Initial, o.Min), o.Max)
	if o.Tolerance < 1 {
		o.Tolerance = 2
	}
	if o.Sample <= 0 {
		o.Sample = 10
	}
	return &Limiter{opts: o, limit: float64(o.Initial)}
}

// Acquire takes a slot for a request of priority p, and reports false
// when p's share of the limit is full: the request is to be shed. A caller
// that got a slot calls Release exactly once.
func (l *Limiter) Acquire(p Priority) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if float64(l.inflight) >= math.Max(1, l.limit*share[p]) {
		l.shed[p]++
		return false
	}
	l.inflight++
	l.maxIn = max(l.maxIn, l.inflight)
	return true
}

// Release returns a slot with the request's latency; dropped is true when
// the request failed without a meaningful latency (the client went away),
// which then does not count.
func (l *Limiter) Release(latency time.Duration, dropped bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	if dropped || latency <= 0 {
		return
	}
	l.n++
	l.sum += latency
	if l.n < l.opts.Sample {
		return
	}
	sample := l.sum / time.Duration(l.n)
	busy := l.maxIn
	l.n, l.sum, l.maxIn = 0, 0, l.inflight
	if l.opts.Vegas {
		l.vegas(sample)
	} else {
		l.gradient(sample, busy)
	}
	l.limit = min(max(l.limit, float64(l.opts.Min)), float64(l.opts.Max))
}

func (l *Limiter) gradient(sample time.Duration, busy int) {
	s := float64(sample)
	if l.long == 0 || s < l.long {
		l.long = s
	} else {
		l.long += (s - l.long) / 1000 // forget a no-load latency slowly
	}
	if float64(busy) < l.limit/2 {
		return // the limit was not what held the requests back
	}
	g := math.Max(0.5, math.Min(1, l.opts.Tolerance*l.long/s))
	next := l.limit*g + math.Sqrt(l.limit)
	l.limit = l.limit*0.8 + next*0.2
}

func (l *Limiter) vegas(sample time.Duration) {
	if l.noLoad == 0 || sample < l.noLoad {
		l.noLoad = sample
	}
	queue := l.limit * (1 - float64(l.noLoad)/float64(sample))
	switch {
	case queue < 3:
		l.limit++
	case queue > 6:
		l.limit--
	}
}

// Stats is a snapshot of a Limiter.
type Stats struct {
	Limit    int
	InFlight int
	Shed     [len(share)]uint64 // requests shed, by Priority
}

// Stats returns the limit, the requests in flight and those shed.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Limit: int(l.limit), InFlight: l.inflight, Shed: l.shed}
}

func (p Priority) String() string {
	return [...]string{Risky: "risky", Anonymous: "anonymous", Identified: "identified", Allowlisted: "allowlisted"}[p]
}
