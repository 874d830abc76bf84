package redis

import (
	"fmt"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/store/redis/redistest"
)

func openSketches(t *testing.T, addrs []string) *Sketches {
	t.Helper()
	s, err := NewSketches(SketchOptions{Addrs: addrs, FlushInterval: time.Hour}) // flushed by hand
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestSketchesAreShared: distinct members and counts added on three nodes
// add up on every node after a flush; before it, a node sees its own.
func TestSketchesAreShared(t *testing.T) {
	srv := redistest.Start(t)
	nodes := []*Sketches{openSketches(t, []string{srv.Addr}), openSketches(t, []string{srv.Addr}), openSketches(t, []string{srv.Addr})}
	now := time.Now()
	w := 10 * time.Minute
	for i := range 30 {
		n := nodes[i%3]
		got := n.Distinct("stuffing:ip:203.0.113.9", fmt.Sprintf("user%d", i), now.UnixNano(), w)
		if i < 3 && got != 1 {
			t.Fatalf("before any flush node %d sees %v distinct, want its own 1", i%3, got)
		}
		n.Distinct("stuffing:ip:203.0.113.9", "user0", now.UnixNano(), w) // a repeat is no new member
		n.Count("fingerprint-failures:f1", 2, now.UnixNano(), w)
		for _, m := range nodes {
			if err := m.Flush(now); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A node reads a set's total at the first flush after it touched it.
	for _, n := range nodes {
		n.Distinct("stuffing:ip:203.0.113.9", "user0", now.UnixNano(), w)
		n.Count("fingerprint-failures:f1", 0, now.UnixNano(), w)
		if err := n.Flush(now); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range nodes {
		d := n.Distinct("stuffing:ip:203.0.113.9", "user0", now.UnixNano(), w)
		if d < 29 || d > 31 { // HyperLogLog: exact at this size in practice, allow 1
			t.Fatalf("node %d sees %v distinct members, want 30", i, d)
		}
		if c := n.Count("fingerprint-failures:f1", 0, now.UnixNano(), w); c != 60 {
			t.Fatalf("node %d counts %v, want 60", i, c)
		}
	}
	// Two windows later the buckets have passed out of the count.
	later := now.Add(2 * w)
	n := nodes[0]
	n.Count("fingerprint-failures:f1", 1, later.UnixNano(), w)
	if err := n.Flush(later); err != nil {
		t.Fatal(err)
	}
	if c := n.Count("fingerprint-failures:f1", 0, later.UnixNano(), w); c != 1 {
		t.Fatalf("after two windows the count is %v, want 1", c)
	}
}

// TestSketchesKeepCountsThroughAnOutage: a flush that fails keeps its
// distinct members for the next one, and never counts an increment twice.
func TestSketchesKeepCountsThroughAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	a, b := openSketches(t, []string{srv.Addr}), openSketches(t, []string{srv.Addr})
	now := time.Now()
	a.Count("c", 5, now.UnixNano(), time.Minute)
	a.Distinct("d", "m1", now.UnixNano(), time.Minute)
	a.Distinct("d", "m2", now.UnixNano(), time.Minute)
	srv.Pause()
	if err := a.Flush(now); err == nil {
		t.Fatal("flush to a hung Redis did not fail")
	}
	srv.Resume()
	waitFor(t, func() bool { return a.Flush(now) == nil })
	b.Count("c", 0, now.UnixNano(), time.Minute)
	b.Distinct("d", "m1", now.UnixNano(), time.Minute)
	if err := b.Flush(now); err != nil {
		t.Fatal(err)
	}
	if c := b.Count("c", 0, now.UnixNano(), time.Minute); c > 5 {
		t.Fatalf("count after the outage = %v: an increment counted twice", c)
	}
	if d := b.Distinct("d", "m1", now.UnixNano(), time.Minute); d != 2 {
		t.Fatalf("distinct after the outage = %v, want 2", d)
	}
}
