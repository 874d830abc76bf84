package breaker

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)

func call(t *testing.T, b *Breaker, at time.Time, failed bool, latency time.Duration) bool {
	t.Helper()
	tk, ok, _ := b.Allow(at)
	if ok {
		b.Done(at, tk, failed, latency)
	}
	return ok
}

func TestConsecutiveFailuresAndProbes(t *testing.T) {
	b := New(Options{ConsecutiveFailures: 3, OpenFor: 10 * time.Second, Probes: 2})
	now := t0
	call(t, b, now, true, 0)
	call(t, b, now, true, 0)
	call(t, b, now, false, 0) // a success resets the run
	call(t, b, now, true, 0)
	call(t, b, now, true, 0)
	if s, _ := b.State(now); s != Closed {
		t.Fatalf("state %s after 2 failures in a row, want closed", s)
	}
	call(t, b, now, true, 0)
	if s, opens := b.State(now); s != Open || opens != 1 {
		t.Fatalf("state %s (%d opens) after 3 in a row, want open once", s, opens)
	}
	if _, ok, retry := b.Allow(now.Add(4 * time.Second)); ok || retry != 6*time.Second {
		t.Fatalf("open: allowed %v, retry after %s; want refused, 6s", ok, retry)
	}
	// Half-open: two probes; a third request waits.
	now = now.Add(10 * time.Second)
	p1, ok1, _ := b.Allow(now)
	p2, ok2, _ := b.Allow(now)
	if _, ok3, _ := b.Allow(now); !ok1 || !ok2 || ok3 {
		t.Fatalf("half-open let through %v %v %v, want 2 probes only", ok1, ok2, ok3)
	}
	b.Done(now, p1, false, 0)
	b.Done(now, p2, true, 0) // one probe fails: open again
	if s, opens := b.State(now); s != Open || opens != 2 {
		t.Fatalf("state %s after a failed probe, want open again", s)
	}
	now = now.Add(10 * time.Second)
	p1, _, _ = b.Allow(now)
	p2, _, _ = b.Allow(now)
	b.Done(now, p1, false, 0)
	b.Done(now, p2, false, 0)
	if s, _ := b.State(now); s != Closed {
		t.Fatalf("state %s after both probes succeeded, want closed", s)
	}
}

func TestFailureRatioOverWindow(t *testing.T) {
	b := New(Options{FailureRatio: 0.5, MinRequests: 10, Window: 10 * time.Second, OpenFor: time.Second})
	now := t0
	// 4 failures of 9: too few requests, and under the ratio.
	for i := range 9 {
		call(t, b, now, i%2 == 0 && i < 8, 0)
	}
	if s, _ := b.State(now); s != Closed {
		t.Fatalf("state %s, want closed", s)
	}
	// Those age out of the window; 5 of 10 new ones fail.
	now = now.Add(11 * time.Second)
	for i := range 10 {
		if !call(t, b, now.Add(time.Duration(i)*time.Millisecond), i%2 == 0, 0) {
			t.Fatalf("request %d refused while closed", i)
		}
	}
	if s, _ := b.State(now); s != Open {
		t.Fatalf("state %s after 5 of 10 failed, want open", s)
	}
}

func TestSlowCallsFail(t *testing.T) {
	b := New(Options{ConsecutiveFailures: 2, SlowCall: time.Second})
	call(t, b, t0, false, 1500*time.Millisecond)
	call(t, b, t0, false, 2*time.Second)
	if s, _ := b.State(t0); s != Open {
		t.Fatalf("state %s after 2 slow answers, want open", s)
	}
}

// TestStaleOutcome: an outcome of a request let through before the circuit
// opened does not count in the next spell.
func TestStaleOutcome(t *testing.T) {
	b := New(Options{ConsecutiveFailures: 1, OpenFor: time.Second})
	slow, _, _ := b.Allow(t0)
	call(t, b, t0, true, 0)
	now := t0.Add(time.Second)
	probe, ok, _ := b.Allow(now)
	b.Done(now, slow, false, 0) // the old request, answered late
	if s, _ := b.State(now); !ok || s != HalfOpen {
		t.Fatalf("state %s: a stale success closed the circuit", s)
	}
	b.Done(now, probe, false, 0)
	if s, _ := b.State(now); s != Closed {
		t.Fatalf("state %s after the probe", s)
	}
}

func TestGroupStartsAfreshOnNewOptions(t *testing.T) {
	g := NewGroup()
	o := Options{ConsecutiveFailures: 1}
	b := g.Get("r", o)
	call(t, b, t0, true, 0)
	if g.Get("r", o) != b {
		t.Fatal("same options, another breaker")
	}
	if nb := g.Get("r", Options{ConsecutiveFailures: 2}); nb == b {
		t.Fatal("changed options kept the breaker")
	} else if s, _ := nb.State(t0); s != Closed {
		t.Fatalf("fresh breaker %s", s)
	}
}

// BenchmarkAllowDone is a closed breaker's cost per request.
func BenchmarkAllowDone(b *testing.B) {
	br := New(Options{ConsecutiveFailures: 5, FailureRatio: 0.5, MinRequests: 20})
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		tk, ok, _ := br.Allow(now)
		if !ok {
			b.Fatal("refused")
		}
		br.Done(now, tk, false, time.Millisecond)
	}
}
