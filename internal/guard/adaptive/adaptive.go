// Package adaptive limits the requests in flight to an upstream with a
// limit that follows the upstream's latency, as Netflix's
// concurrency-limits and Envoy's adaptive concurrency filter do, and sheds
// the least deserving requests first when the limit is reached.
//
// Finished requests are taken in samples: a sample closes once it spans
// Options.Window of the caller's clock and holds at least Options.Sample
// requests; its latency is their average. Two algorithms set the limit
// from the samples:
//
//   - gradient (Netflix's Gradient2): a long-term latency, an exponential
//     average over LongWindow samples, stands for what the upstream
//     normally answers in. Each sample scales the limit by tolerance ×
//     long / sample, clamped to [0.5, 1], adds a queue allowance of 4 and
//     is smoothed (a fifth of the step). Latency rising above tolerance ×
//     its usual value shrinks the limit within a few samples; as it falls
//     back the limit grows again by the allowance. When the long-term
//     latency is more than twice the sample's (a slowdown that is over)
//     it is cut by 5% a sample, so it does not hold the limit down. A limit
//     that did not hold requests back (fewer than half of it in flight)
//     is left as it is.
//   - vegas (TCP Vegas): from the lowest latency seen (the no-load
//     latency), the queue is limit × (1 − noLoad/sample); the limit grows
//     by one while the queue is under 3 and shrinks by one over 6.
//
// Shedding is by Class: each request may fill only its share of the limit,
// so as the limit shrinks the riskiest requests are refused first, then
// anonymous ones, then identified ones; allowlisted partners may exceed
// the limit by half. Identified and allowlisted requests also have a
// reserve, a quarter of the limit each (none for a client at the throttle
// band), that they get even when the rest is full: a flood
// that fills what it may does not shed the few identified users, as in
// Netflix's partitioned limiters, where a partition under its guaranteed
// share is admitted whatever the total. So at most 2 × the limit is in
// flight.
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
	// Window is the shortest span of one sample (default 100ms).
	Window time.Duration
	// Sample is the fewest finished requests in one sample (default 10).
	Sample int
	// LongWindow is how many samples the gradient's long-term latency
	// averages over (default 600).
	LongWindow int
}

// Class is what the limiter knows of a request when it asks for a slot.
type Class struct {
	// Risk is the client's risk score as a share of the throttle band
	// (0: none, 1 or more: at the band).
	Risk        float64
	Identified  bool // a verified identity
	Allowlisted bool
}

// Priority names the classes in metrics, lowest first.
type Priority uint8

// Priorities: Risky is a request whose client's risk is at least half the
// throttle band; Anonymous one without a verified identity.
const (
	Risky Priority = iota
	Anonymous
	Identified
	Allowlisted
)

// Priority returns the class's metric name.
func (c Class) Priority() Priority {
	switch {
	case c.Allowlisted:
		return Allowlisted
	case c.Risk >= 0.5:
		return Risky
	case c.Identified:
		return Identified
	}
	return Anonymous
}

// Share returns the part of the limit requests of class c may fill: 1.5
// for allowlisted ones; 1 for identified and 0.8 for anonymous ones,
// each reduced by half of Risk (at most by half), so the riskier a client
// the sooner it is shed.
func (c Class) Share() float64 {
	if c.Allowlisted {
		return 1.5
	}
	s := 0.8
	if c.Identified {
		s = 1
	}
	return s * (1 - 0.5*min(1, max(0, c.Risk)))
}

// Limiter is one upstream's adaptive limit. It is safe for concurrent use.
type Limiter struct {
	opts Options

	mu       sync.Mutex
	limit    float64
	inflight int
	pools    [3]int // in flight: unused, identified, allowlisted
	// the sample being taken
	n       int
	sum     time.Duration
	maxIn   int // the most requests in flight during the sample
	started time.Time
	// gradient
	long    float64
	samples int
	// vegas
	noLoad time.Duration
	shed   [Allowlisted + 1]uint64
}

// queueAllowance is what the gradient adds to the scaled limit each
// sample (Gradient2's default queue size).
const queueAllowance = 4

// smoothing is the share of each step the gradient takes.
const smoothing = 0.2

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
	if o.Window <= 0 {
		o.Window = 100 * time.Millisecond
	}
	if o.Sample <= 0 {
		o.Sample = 10
	}
	if o.LongWindow <= 0 {
		o.LongWindow = 600
	}
	return &Limiter{opts: o, limit: float64(o.Initial)}
}

// reserve is the share of the limit identified and allowlisted requests
// get whatever else is in flight.
const reserve = 0.25

// Ticket is a slot taken: what Release needs to return it.
type Ticket struct {
	p    Priority
	pool uint8 // 0 none, 1 identified, 2 allowlisted
}

// Priority returns the class the slot was taken for.
func (t Ticket) Priority() Priority { return t.p }

// Acquire takes a slot for a request of class c, and reports false when
// c's share of the limit is full and its reserve (if any) too: the request
// is to be shed. A caller that got a slot calls Release exactly once with
// the Ticket.
func (l *Limiter) Acquire(c Class) (Ticket, bool) {
	t := Ticket{p: c.Priority()}
	risk := min(1, max(0, c.Risk))
	switch {
	case c.Allowlisted:
		t.pool, risk = 2, 0
	case c.Identified:
		t.pool = 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if float64(l.inflight) >= math.Max(1, math.Floor(l.limit*c.Share()+1e-9)) &&
		(t.pool == 0 || risk >= 1 || float64(l.pools[t.pool]) >= math.Max(1, math.Floor(l.limit*reserve))) {
		l.shed[t.p]++
		return t, false
	}
	l.inflight++
	l.pools[t.pool]++
	l.maxIn = max(l.maxIn, l.inflight)
	return t, true
}

// Release returns the slot t at now with the request's latency; dropped
// is true when the request has no meaningful latency (the client went
// away), which then does not count.
func (l *Limiter) Release(t Ticket, now time.Time, latency time.Duration, dropped bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	l.pools[t.pool]--
	if dropped || latency <= 0 {
		return
	}
	if l.n == 0 {
		l.started = now
	}
	l.n++
	l.sum += latency
	if l.n < l.opts.Sample || now.Sub(l.started) < l.opts.Window {
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
	short := float64(sample)
	// The long-term latency: an average over the first samples, then an
	// exponential one over LongWindow.
	l.samples++
	const warmup = 10
	if l.samples <= warmup {
		l.long += (short - l.long) / float64(l.samples)
	} else {
		l.long += (short - l.long) * 2 / float64(l.opts.LongWindow+1)
	}
	if l.long/short > 2 {
		l.long *= 0.95
	}
	if float64(busy) < l.limit/2 {
		return // the limit did not hold requests back
	}
	g := math.Max(0.5, math.Min(1, l.opts.Tolerance*l.long/short))
	next := l.limit*g + queueAllowance
	l.limit = l.limit*(1-smoothing) + next*smoothing
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
	Shed     [Allowlisted + 1]uint64 // requests shed, by Priority
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
