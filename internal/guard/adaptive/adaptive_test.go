package adaptive

import (
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"
)

// upstream is a simulated upstream: it serves capacity requests at once in
// base time each; beyond that they share it (latency grows with the
// requests in flight), as a server whose workers are all busy does.
type upstream struct {
	base     time.Duration
	capacity int
}

func (u upstream) latency(inflight int) time.Duration {
	return u.base * time.Duration(max(u.capacity, inflight)) / time.Duration(u.capacity)
}

// sim drives clients in a closed loop through l against u on the fake
// clock, one millisecond at a time, for d: each client sends a request,
// waits for its answer, and sends the next; a shed client retries after
// 10ms. It returns the limit at the end and the mean latency of the
// requests that finished in the last second.
type sim struct {
	l       *Limiter
	c       *clock.Fake
	clients int
	busy    []time.Time // when each client's request ends (zero: idle)
	took    []time.Duration
	ticket  []Ticket
	retry   []time.Time
	flight  int
}

func newSim(l *Limiter, c *clock.Fake, clients int) *sim {
	return &sim{l: l, c: c, clients: clients, busy: make([]time.Time, clients), took: make([]time.Duration, clients), ticket: make([]Ticket, clients), retry: make([]time.Time, clients)}
}

func (s *sim) run(u upstream, d time.Duration) (limit int, recent time.Duration) {
	end := s.c.Now().Add(d)
	var sum time.Duration
	var n int
	for now := s.c.Now(); now.Before(end); now = s.c.Now() {
		for i := range s.clients {
			if !s.busy[i].IsZero() && !now.Before(s.busy[i]) {
				s.l.Release(s.ticket[i], now, s.took[i], false)
				s.flight--
				s.busy[i] = time.Time{}
				if end.Sub(now) <= time.Second {
					sum += s.took[i]
					n++
				}
			}
		}
		for i := range s.clients {
			if !s.busy[i].IsZero() || now.Before(s.retry[i]) {
				continue
			}
			t, ok := s.l.Acquire(Class{Identified: true})
			if !ok {
				s.retry[i] = now.Add(10 * time.Millisecond)
				continue
			}
			s.ticket[i] = t
			s.flight++
			s.took[i] = u.latency(s.flight)
			s.busy[i] = now.Add(s.took[i])
		}
		s.c.Advance(time.Millisecond)
	}
	if n > 0 {
		recent = sum / time.Duration(n)
	}
	return s.l.Stats().Limit, recent
}

// TestLimitFollowsLatency: on an injected clock, 300 clients in a closed
// loop against an upstream that serves 100 at once in 10ms. The limit
// grows while the upstream keeps up; when the upstream slows down (it
// serves only 20 at once) the rising latency shrinks the limit, which
// brings the latency back near the tolerance; when the upstream recovers
// the limit grows back. Both algorithms.
func TestLimitFollowsLatency(t *testing.T) {
	healthy := upstream{base: 10 * time.Millisecond, capacity: 100}
	slow := upstream{base: 10 * time.Millisecond, capacity: 20}
	for _, vegas := range []bool{false, true} {
		c := clock.NewFake(time.Unix(1_700_000_000, 0))
		l := New(Options{Vegas: vegas, Initial: 20, Min: 4, Max: 400})
		s := newSim(l, c, 300)
		high, _ := s.run(healthy, 30*time.Second)
		if high < 100 {
			t.Errorf("vegas=%v: limit %d after 30s against a healthy upstream, want at least its capacity (100)", vegas, high)
		}
		low, lat := s.run(slow, 10*time.Second)
		// Unlimited, 300 in flight at 20 at once would take 150ms each.
		if low > high/2 || lat > 60*time.Millisecond {
			t.Errorf("vegas=%v: limit %d (was %d), latency %v after 10s of a slow upstream; want at most half and latency at most 60ms (150ms unlimited)", vegas, low, high, lat)
		}
		back, _ := s.run(healthy, 30*time.Second)
		if back < 100 {
			t.Errorf("vegas=%v: limit %d 30s after the upstream recovered (was %d), want at least 100", vegas, back, low)
		}
		t.Logf("vegas=%v: limit %d healthy, %d slow (latency %v), %d recovered", vegas, high, low, lat, back)
	}
}

// TestSmallSamplesWait: a sample closes only after Window of the clock,
// however many requests finish before it.
func TestSmallSamplesWait(t *testing.T) {
	c := clock.NewFake(time.Unix(1_700_000_000, 0))
	l := New(Options{Initial: 20, Min: 4, Max: 400, Window: time.Second})
	for range 100 { // fast, with 20 in flight: the limit would grow
		var ts [20]Ticket
		for i := range ts {
			ts[i], _ = l.Acquire(Class{Identified: true})
		}
		for _, t := range ts {
			l.Release(t, c.Now(), time.Millisecond, false)
		}
	}
	if got := l.Stats().Limit; got != 20 {
		t.Errorf("limit %d within one window, want 20", got)
	}
	for range 5 { // five windows: the limit grows by 4/5 each
		c.Advance(time.Second)
		var ts [16]Ticket
		for i := range ts {
			ts[i], _ = l.Acquire(Class{Identified: true})
		}
		for _, t := range ts {
			l.Release(t, c.Now(), time.Millisecond, false)
		}
	}
	if got := l.Stats().Limit; got != 24 {
		t.Errorf("limit %d after five windows closed, want 24", got)
	}
}

// TestShedsRiskiestFirst: at a full limit the riskiest requests are shed
// first, then anonymous, then identified; allowlisted ones last.
func TestShedsRiskiestFirst(t *testing.T) {
	l := New(Options{Initial: 10, Min: 10, Max: 10})
	steps := []struct {
		name string
		c    Class
		want []bool
	}{
		{"identified", Class{Identified: true}, []bool{true, true, true, true}},
		{"anonymous at the throttle band (share 0.4)", Class{Risk: 1}, []bool{false}},
		{"identified at half the band (share 0.75)", Class{Risk: 0.5, Identified: true}, []bool{true}},
		{"anonymous at half the band (share 0.6)", Class{Risk: 0.5}, []bool{true, false}},
		{"anonymous (share 0.8)", Class{}, []bool{true, true, false}},
		{"identified (share 1; own reserve of 2 used)", Class{Identified: true}, []bool{true, true, false}},
		{"allowlisted at the band (share 1.5)", Class{Allowlisted: true, Risk: 1}, []bool{true, true, true, true, true, false}},
	}
	for _, st := range steps {
		for i, want := range st.want {
			if _, got := l.Acquire(st.c); got != want {
				t.Errorf("%s, request %d: got a slot %v, want %v (%+v)", st.name, i+1, got, want, l.Stats())
			}
		}
	}
	st := l.Stats()
	if st.InFlight != 15 || st.Shed != [4]uint64{2, 1, 1, 1} {
		t.Errorf("stats %+v, want 15 in flight and shed 2 risky, 1 of each other", st)
	}
	l.Release(Ticket{p: Identified, pool: 1}, time.Unix(0, 0), time.Millisecond, false)
	if st := l.Stats(); st.InFlight != 14 {
		t.Errorf("in flight %d after a release", st.InFlight)
	}
}

// TestReserve: identified and allowlisted clients get a quarter of the
// limit each whatever fills the rest, but for a client at the throttle
// band; anonymous ones get none.
func TestReserve(t *testing.T) {
	l := New(Options{Initial: 10, Min: 10, Max: 10})
	for range 8 {
		l.Acquire(Class{})
	}
	for range 7 {
		l.Acquire(Class{Allowlisted: true})
	}
	// 15 in flight, above the limit: only the identified reserve is left.
	for i, want := range []bool{true, true, false} {
		if _, got := l.Acquire(Class{Identified: true}); got != want {
			t.Errorf("identified request %d over the limit: got a slot %v, want %v", i+1, got, want)
		}
	}
	if tk, got := l.Acquire(Class{Identified: true, Risk: 0.6}); got || tk.Priority() != Risky {
		t.Errorf("a risky identified client got a slot from a full reserve (%v)", tk.Priority())
	}
	if _, got := l.Acquire(Class{}); got {
		t.Error("an anonymous client got a slot over the limit")
	}
	if st := l.Stats(); st.InFlight != 17 {
		t.Errorf("in flight %d, want 17", st.InFlight)
	}
	// A client at the throttle band has no reserve.
	l = New(Options{Initial: 20, Min: 20, Max: 20})
	for range 16 {
		l.Acquire(Class{})
	}
	if _, got := l.Acquire(Class{Identified: true, Risk: 1}); got {
		t.Error("an identified client at the band got a slot from the reserve")
	}
}

// BenchmarkAcquireRelease is the limiter's cost per request.
func BenchmarkAcquireRelease(b *testing.B) {
	l := New(Options{})
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		tk, ok := l.Acquire(Class{Identified: true})
		if !ok {
			b.Fatal("shed")
		}
		now = now.Add(time.Millisecond)
		l.Release(tk, now, time.Millisecond, false)
	}
}
