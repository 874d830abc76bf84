package redis

import (
	"context"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/store/redis/redistest"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func openDecisions(t *testing.T, addrs []string) *Decisions {
	t.Helper()
	local, err := decision.Open(decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecisions(context.Background(), local, DecisionOptions{Addrs: addrs})
	if err != nil {
		local.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func block(ip string) decision.Decision {
	return decision.Decision{Scope: verdict.ScopeIP, Value: ip, Action: verdict.Block, Reason: "manual", Source: "manual",
		Expires: time.Now().Add(time.Hour)}
}

// activeWithin waits up to d (times slowdown under the race detector) for
// the decision on ip to be enforced by store, and returns how long it took.
func activeWithin(t *testing.T, store decision.Store, ip string, d time.Duration) time.Duration {
	t.Helper()
	d *= slowdown
	start := time.Now()
	for {
		if got := store.Active(verdict.ScopeIP, []byte(ip), time.Now().UnixNano()); got != nil {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("decision on %s not active within %v", ip, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDecisionsReachEveryNode: a block made on A is enforced on B and C
// within 100ms; lifting it on B lifts it everywhere; a node that starts
// later holds every active decision when NewDecisions returns.
func TestDecisionsReachEveryNode(t *testing.T) {
	srv := redistest.Start(t)
	a, b, c := openDecisions(t, []string{srv.Addr}), openDecisions(t, []string{srv.Addr}), openDecisions(t, []string{srv.Addr})
	made, added, err := a.Add(block("203.0.113.7"))
	if err != nil || !added {
		t.Fatalf("Add = %v, %v", added, err)
	}
	for name, n := range map[string]*Decisions{"b": b, "c": c} {
		took := activeWithin(t, n, "203.0.113.7", 100*time.Millisecond)
		t.Logf("node %s enforces the block %v after A made it", name, took)
		got, ok := n.Get(made.ID)
		if !ok || got.Offense != made.Offense || !got.Expires.Equal(made.Expires) || got.Source != "manual" {
			t.Fatalf("node %s holds %+v, want A's decision %+v", name, got, made)
		}
	}
	late := openDecisions(t, []string{srv.Addr})
	if late.Active(verdict.ScopeIP, []byte("203.0.113.7"), time.Now().UnixNano()) == nil {
		t.Fatal("a node started after the decision does not hold it")
	}
	if ok, err := b.Remove(made.ID); !ok || err != nil {
		t.Fatalf("Remove on b = %v, %v", ok, err)
	}
	deadline := time.Now().Add(slowdown * 100 * time.Millisecond)
	for _, n := range []*Decisions{a, c, late} {
		for n.Active(verdict.ScopeIP, []byte("203.0.113.7"), time.Now().UnixNano()) != nil {
			if time.Now().After(deadline) {
				t.Fatal("a lifted decision is still enforced after 100ms")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestDecisionsConverge: two nodes deciding on one entity at once settle
// on the same (stronger) decision.
func TestDecisionsConverge(t *testing.T) {
	srv := redistest.Start(t)
	a, b := openDecisions(t, []string{srv.Addr}), openDecisions(t, []string{srv.Addr})
	throttle := block("198.51.100.1")
	throttle.Action = verdict.Throttle
	_, _, _ = a.Add(throttle)
	_, _, _ = b.Add(block("198.51.100.1"))
	deadline := time.Now().Add(time.Second)
	for {
		da := a.Active(verdict.ScopeIP, []byte("198.51.100.1"), time.Now().UnixNano())
		db := b.Active(verdict.ScopeIP, []byte("198.51.100.1"), time.Now().UnixNano())
		if da != nil && db != nil && da.ID == db.ID && da.Action == verdict.Block {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes disagree: a %+v, b %+v", da, db)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestDecisionsWrittenBackAfterOutage: a decision made while Redis is down
// is enforced on its node at once, and reaches the others once Redis is
// back (here restarted empty); the decisions Redis lost are written back.
func TestDecisionsWrittenBackAfterOutage(t *testing.T) {
	srv := redistest.Start(t)
	a, b := openDecisions(t, []string{srv.Addr}), openDecisions(t, []string{srv.Addr})
	if _, _, err := b.Add(block("192.0.2.49")); err != nil {
		t.Fatal(err)
	}
	activeWithin(t, a, "192.0.2.49", time.Second)
	srv.Kill()
	waitFor(t, func() bool { return !a.Shared().Available })
	if _, added, err := a.Add(block("192.0.2.50")); !added || err != nil {
		t.Fatalf("Add during the outage = %v, %v", added, err)
	}
	if a.Active(verdict.ScopeIP, []byte("192.0.2.50"), time.Now().UnixNano()) == nil {
		t.Fatal("a decision made during the outage is not enforced on its node")
	}
	if a.Shared().Queued != 1 {
		t.Fatalf("queued = %d, want the decision waiting for Redis", a.Shared().Queued)
	}
	srv.Restart(t)
	activeWithin(t, b, "192.0.2.50", 5*time.Second)
	// The decision made before the outage is written back too (Redis came
	// back empty): a node started now gets both.
	waitFor(t, func() bool {
		n, _ := redistest.Command(srv.Addr, "HLEN", "ag:{decisions}:all")
		return n == "2"
	})
	late := openDecisions(t, []string{srv.Addr})
	for _, ip := range []string{"192.0.2.49", "192.0.2.50"} {
		if late.Active(verdict.ScopeIP, []byte(ip), time.Now().UnixNano()) == nil {
			t.Fatalf("a node started after Redis came back lacks the decision on %s", ip)
		}
	}
}

// TestDecisionsCluster: the same sharing on a 3-master cluster.
func TestDecisionsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster start-up is slow")
	}
	servers := redistest.StartCluster(t, 3)
	addrs := redistest.Addrs(servers)
	a, b := openDecisions(t, addrs), openDecisions(t, addrs)
	if _, _, err := a.Add(block("203.0.113.99")); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster: enforced on b after %v", activeWithin(t, b, "203.0.113.99", 100*time.Millisecond))
}

// TestDecisionsMissedLiftIsApplied: a decision lifted while a node's
// subscription was down (simulated: deleted in Redis without a message)
// is lifted on that node when it resubscribes.
func TestDecisionsMissedLiftIsApplied(t *testing.T) {
	srv := redistest.Start(t)
	local, err := decision.Open(decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(time.Minute) } // the decision is long settled
	a, err := NewDecisions(context.Background(), local, DecisionOptions{Addrs: []string{srv.Addr}, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := openDecisions(t, []string{srv.Addr})
	made, _, _ := b.Add(block("198.51.100.77"))
	activeWithin(t, a, "198.51.100.77", time.Second)
	for _, cmd := range [][]string{{"HDEL", "ag:{decisions}:all", made.ID}, {"ZREM", "ag:{decisions}:expires", made.ID}} {
		if _, err := redistest.Command(srv.Addr, cmd...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := redistest.Command(srv.Addr, "CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return a.Active(verdict.ScopeIP, []byte("198.51.100.77"), time.Now().UnixNano()) == nil
	})
}
