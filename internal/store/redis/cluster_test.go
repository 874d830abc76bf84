package redis

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/store/redis/redistest"
)

// syncBuffer is a log sink tests read while the store writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// runRoundRobin sends one request every step, round robin over nodes, for
// d of virtual time from start, against a limit; every node syncs every
// interval, each at its own phase. It returns how many were admitted.
func runRoundRobin(t *testing.T, nodes []*Store, start int64, d, step, interval time.Duration, op limit.Op) int {
	t.Helper()
	admitted := 0
	res := make([]limit.Result, 1)
	nextSync := make([]int64, len(nodes))
	for i := range nodes {
		nextSync[i] = start + int64(interval)*int64(i)/int64(len(nodes))
	}
	for i, now := 0, start; now < start+int64(d); i, now = i+1, now+int64(step) {
		for j, n := range nodes {
			if now >= nextSync[j] {
				if err := n.Sync(time.Unix(0, now)); err != nil {
					t.Fatal(err)
				}
				nextSync[j] += int64(interval)
			}
		}
		ops := []limit.Op{op}
		nodes[i%len(nodes)].Batch(now, ops, res)
		if res[0].Allowed {
			admitted++
		}
	}
	return admitted
}

var shared100 = limit.Op{Kind: limit.OpRate, Key: []byte("shared\x00tenant-a"),
	Rate: limit.PerPeriod(100, time.Minute, 2), Cost: 1, Stop: true}

func threeNodes(t *testing.T, addr string, mode Mode) []*Store {
	nodes := make([]*Store, 3)
	for i := range nodes {
		now := time.Unix(0, t0)
		nodes[i] = open(t, []string{addr}, Options{Mode: mode, SyncInterval: 100 * time.Millisecond,
			Now: func() time.Time { return now }, manualSync: true})
	}
	return nodes
}

// TestStrictThreeNodes: a 100/min limit (burst 2) shared by three nodes,
// requests round robin every 10ms for a virtual minute: Redis decides each
// one, so the cluster admits what one node would: 2 + 100.
func TestStrictThreeNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := threeNodes(t, srv.Addr, Strict)
	got := runRoundRobin(t, nodes, t0, time.Minute, 10*time.Millisecond, 100*time.Millisecond, shared100)
	if got > 102 || got < 101 {
		t.Fatalf("strict admitted %d over a minute, want 101..102", got)
	}
}

// TestLocalFirstThreeNodes: the same load in local-first mode stays within
// the documented bound, rate × 2 × interval + nodes over the strict count,
// and does not starve the limit either.
func TestLocalFirstThreeNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := threeNodes(t, srv.Addr, LocalFirst)
	for _, n := range nodes {
		if err := n.Sync(time.Unix(0, t0)); err != nil {
			t.Fatal(err)
		}
		if got := n.Stats().Nodes; got != 3 {
			t.Fatalf("node sees %d live nodes, want 3", got)
		}
	}
	interval := 100 * time.Millisecond
	got := runRoundRobin(t, nodes, t0, time.Minute, 10*time.Millisecond, interval, shared100)
	rate := 100.0 / 60 // per second
	bound := 102 + int(rate*2*interval.Seconds()) + 3
	t.Logf("local-first admitted %d over a minute; strict admits 102, bound %d", got, bound)
	if got > bound {
		t.Fatalf("local-first admitted %d, over the bound %d", got, bound)
	}
	if got < 90 {
		t.Fatalf("local-first admitted only %d of a 100/min limit", got)
	}
}

// TestLocalFirstDecidesLocally: under a limit's rate (4000 requests a
// minute against 6000/min, burst 600) checks are decided from the leases,
// with few round trips; and every request is admitted. (A key over its
// limit is decided by claims, as in strict mode: TestLocalFirstThreeNodes.)
func TestLocalFirstDecidesLocally(t *testing.T) {
	srv := redistest.Start(t)
	nodes := threeNodes(t, srv.Addr, LocalFirst)
	for _, n := range nodes {
		_ = n.Sync(time.Unix(0, t0))
	}
	op := limit.Op{Kind: limit.OpRate, Key: []byte("per-key\x00k1"), Rate: limit.PerPeriod(6000, time.Minute, 600), Cost: 1, Stop: true}
	interval := 100 * time.Millisecond
	got := runRoundRobin(t, nodes, t0, time.Minute, 15*time.Millisecond, interval, op)
	calls := uint64(0)
	for _, n := range nodes {
		calls += n.Stats().Calls
	}
	requests := int(time.Minute / (15 * time.Millisecond))
	t.Logf("admitted %d of %d; %d claims in Redis (%.3f per request)", got, requests, calls, float64(calls)/float64(requests))
	if got != requests {
		t.Fatalf("admitted %d of %d requests under the limit", got, requests)
	}
	if float64(calls) > 0.1*float64(requests) {
		t.Fatalf("%d claims for %d requests: local-first is not deciding locally", calls, requests)
	}
}

// TestLocalFirstCountsAreShared: what one node admits reaches the others
// through a sync; a node alone on a key keeps admitting at the full rate
// once its share has grown back.
func TestLocalFirstCountsAreShared(t *testing.T) {
	srv := redistest.Start(t)
	nodes := threeNodes(t, srv.Addr, LocalFirst)
	for _, n := range nodes {
		_ = n.Sync(time.Unix(0, t0))
	}
	quota := limit.Op{Kind: limit.OpQuota, Key: []byte("daily\x00key1"), PeriodEnd: t0 + int64(time.Hour), Quota: 30, Cost: 1, Stop: true}
	res := make([]limit.Result, 1)
	now := t0
	admitted := 0
	// Node 0 alone: each sync hands it a third of what is left, which the
	// others never use: it converges on the whole quota.
	for range 400 {
		now += int64(5 * time.Millisecond)
		if nodes[0].Batch(now, []limit.Op{quota}, res); res[0].Allowed {
			admitted++
		}
		if (now-t0)%int64(100*time.Millisecond) == 0 {
			for _, n := range nodes {
				_ = n.Sync(time.Unix(0, now))
			}
		}
	}
	if admitted < 28 || admitted > 30 {
		t.Fatalf("node 0 alone admitted %d of a quota of 30", admitted)
	}
	// Node 1 had never seen the key: one request before its first sync,
	// then it knows the quota is spent.
	nodes[1].Batch(now+1, []limit.Op{quota}, res)
	_ = nodes[1].Sync(time.Unix(0, now+2))
	if nodes[1].Batch(now+3, []limit.Op{quota}, res); res[0].Allowed {
		t.Fatalf("node 1 admitted after a sync, with the cluster's quota spent: %+v", res[0])
	}
}

// TestOnError: a hung Redis (SIGSTOP) costs a check at most the timeout;
// then the store is unavailable and checks never wait on it: on_error open
// decides locally, closed refuses; a metric and a log line say so; when
// Redis answers again the store goes back to it.
func TestOnError(t *testing.T) {
	for _, tc := range []struct {
		consistency Mode
		mode        OnError
	}{{Strict, Open}, {Strict, Closed}, {LocalFirst, Open}, {LocalFirst, Closed}} {
		mode := tc.mode
		t.Run(string(tc.consistency)+"/"+string(mode), func(t *testing.T) {
			srv := redistest.Start(t)
			var logs syncBuffer
			s, err := New(context.Background(), Options{Addrs: []string{srv.Addr}, OnError: mode, Mode: tc.consistency,
				Timeout: 20 * time.Millisecond, ProbeInterval: 20 * time.Millisecond,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			op := limit.Op{Kind: limit.OpRate, Key: []byte("r\x00ip"), Rate: limit.PerPeriod(10, time.Second, 10), Cost: 1}
			res := make([]limit.Result, 1)
			if s.Batch(t0, []limit.Op{op}, res); !res[0].Allowed {
				t.Fatal("refused with Redis up")
			}
			srv.Pause()
			// The hung call returns at the timeout; the ones after it do
			// not touch Redis.
			for i := range 50 {
				start := time.Now()
				s.Batch(t0+int64(i), []limit.Op{op}, res)
				if took := time.Since(start); took > slowdown*10*s.opts.Timeout {
					t.Fatalf("check %d took %v with a %v timeout", i, took, s.opts.Timeout)
				}
				switch mode {
				case Open:
					if !res[0].Allowed && i < 9 {
						t.Fatalf("open: check %d refused: %+v", i, res[0])
					}
				case Closed:
					if res[0].Allowed || !res[0].Unavailable {
						t.Fatalf("closed: check %d = %+v, want refused as unavailable", i, res[0])
					}
				}
			}
			st := s.Stats()
			if st.Available || st.Outages != 1 || st.Errors > 1 {
				t.Fatalf("stats after the outage = %+v, want unavailable after at most one failed check", st)
			}
			if !strings.Contains(logs.String(), `"msg":"redis unavailable"`) {
				t.Fatalf("no log line for the outage: %s", logs.String())
			}
			srv.Resume()
			waitFor(t, s.Available)
			if !strings.Contains(logs.String(), "redis available again") {
				t.Fatalf("no log line for the recovery: %s", logs.String())
			}
			calls := s.Stats().Calls
			s.Batch(t0+int64(time.Minute), []limit.Op{op}, res)
			if !res[0].Allowed || tc.consistency == Strict && s.Stats().Calls != calls+1 {
				t.Fatalf("after recovery: %+v, calls %d -> %d", res[0], calls, s.Stats().Calls)
			}
		})
	}
}

// TestRestartedRedis: a Redis that comes back empty (killed, restarted)
// has lost the script; the probe loads it again.
func TestRestartedRedis(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, Options{Timeout: 50 * time.Millisecond, ProbeInterval: 20 * time.Millisecond})
	op := limit.Op{Kind: limit.OpRate, Key: []byte("r\x00ip"), Rate: limit.PerPeriod(10, time.Second, 1), Cost: 1}
	res := make([]limit.Result, 1)
	srv.Kill()
	s.Batch(t0, []limit.Op{op}, res)
	if s.Available() {
		t.Fatal("available with Redis killed")
	}
	srv.Restart(t)
	waitFor(t, s.Available)
	if s.Batch(t0, []limit.Op{op}, res); !res[0].Allowed || !s.Available() {
		t.Fatalf("after restart: %+v, available %v", res[0], s.Available())
	}
	if s.Batch(t0+1, []limit.Op{op}, res); res[0].Allowed {
		t.Fatal("second request within the burst of 1 allowed: not decided by Redis")
	}
}

// TestLocalFirstWritesBackAfterOutage: counts admitted while Redis was
// unreachable are pushed when it is back.
func TestLocalFirstWritesBackAfterOutage(t *testing.T) {
	srv := redistest.Start(t)
	now := time.Unix(0, t0)
	a := open(t, []string{srv.Addr}, Options{Mode: LocalFirst, Timeout: 50 * time.Millisecond,
		ProbeInterval: 20 * time.Millisecond, Now: func() time.Time { return now }, manualSync: true})
	b := open(t, []string{srv.Addr}, Options{Mode: LocalFirst, Now: func() time.Time { return now }, manualSync: true})
	quota := limit.Op{Kind: limit.OpQuota, Key: []byte("q\x00k"), PeriodEnd: t0 + int64(time.Hour), Quota: 10, Cost: 1}
	res := make([]limit.Result, 1)
	srv.Pause()
	if err := a.Sync(now); err == nil {
		t.Fatal("sync with a hung Redis did not fail")
	}
	for i := range 6 {
		if a.Batch(t0+int64(i), []limit.Op{quota}, res); !res[0].Allowed {
			t.Fatalf("open local-first refused check %d while Redis was down", i)
		}
	}
	srv.Resume()
	waitFor(t, a.Available)
	if err := a.Sync(now); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(now); err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for i := range 10 {
		if b.Batch(t0+int64(100+i), []limit.Op{quota}, res); res[0].Allowed {
			allowed++
		}
		_ = b.Sync(now)
	}
	if allowed > 4 {
		t.Fatalf("node b admitted %d more of a quota of 10 after a admitted 6 during the outage", allowed)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
