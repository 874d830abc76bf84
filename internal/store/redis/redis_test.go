package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	"github.com/abuseguard/abuseguard/internal/store/redis/redistest"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.UTC).UnixNano()

func open(t *testing.T, addrs []string, opts Options) *Store {
	t.Helper()
	opts.Addrs = addrs
	if opts.Timeout == 0 {
		opts.Timeout = time.Second // the equivalence tests are not about latency
	}
	s, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// randomOps returns a batch of checks over a few keys and rule kinds, with
// rates whose intervals do not divide evenly into seconds.
func randomOps(rng *rand.Rand, now int64, stops bool) []limit.Op {
	n := 1 + rng.IntN(5)
	ops := make([]limit.Op, n)
	for i := range ops {
		entity := fmt.Sprintf("10.0.0.%d", rng.IntN(3))
		switch rng.IntN(3) {
		case 0:
			count := []int64{3, 7, 100, 1}[rng.IntN(4)]
			period := []time.Duration{time.Second, time.Minute, 13 * time.Second}[rng.IntN(3)]
			ops[i] = limit.Op{Kind: limit.OpRate, Key: []byte(fmt.Sprintf("rate%d\x00%s", rng.IntN(2), entity)),
				Rate: limit.PerPeriod(count, period, 1+rng.Int64N(4)), Cost: 1 + rng.Int64N(2)}
		case 1:
			end := now - now%int64(10*time.Second) + int64(10*time.Second)
			ops[i] = limit.Op{Kind: limit.OpQuota, Key: []byte("quota\x00" + entity), PeriodEnd: end, Quota: 5, Cost: 1}
		default:
			ops[i] = limit.Op{Kind: limit.OpAcquire, Key: []byte("slots\x00" + entity), Slots: 2, Lease: 3 * time.Second}
		}
		ops[i].Stop = stops && rng.IntN(2) == 0
	}
	return ops
}

// checkEquivalent drives the same random batches (and releases) through
// the Redis store and through limit.Sequential over the memory store,
// whose arithmetic is internal/limit's, and requires the same results.
func checkEquivalent(t *testing.T, s *Store, seed uint64, stops bool) {
	ref := memory.New(memory.Options{})
	rng := rand.New(rand.NewPCG(seed, 1))
	now := t0
	var held [][]byte
	for step := range 600 {
		now += rng.Int64N(int64(900 * time.Millisecond))
		if len(held) > 0 && rng.IntN(3) == 0 {
			k := held[0]
			held = held[1:]
			s.Release(k, now)
			ref.Release(k, now)
			continue
		}
		ops := randomOps(rng, now, stops)
		got := make([]limit.Result, len(ops))
		want := make([]limit.Result, len(ops))
		gn := s.Batch(now, ops, got)
		wn := limit.Sequential(ref, now, ops, want)
		if gn != wn {
			t.Fatalf("step %d: redis applied %d ops, reference %d (ops %+v)", step, gn, wn, ops)
		}
		for i := range gn {
			if got[i] != want[i] {
				t.Fatalf("step %d op %d (%+v): redis %+v, reference %+v", step, i, ops[i], got[i], want[i])
			}
			if ops[i].Kind == limit.OpAcquire && got[i].Allowed {
				held = append(held, ops[i].Key)
			}
		}
	}
}

func TestScriptMatchesArithmeticStandalone(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, Options{})
	checkEquivalent(t, s, 1, true)
}

func TestScriptMatchesArithmeticCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster start-up is slow; the standalone equivalence runs with -short")
	}
	servers := redistest.StartCluster(t, 3)
	s := open(t, redistest.Addrs(servers), Options{})
	if !s.cluster {
		t.Fatal("three cluster addresses did not make a cluster client")
	}
	// Keys of one entity share a slot; a batch spans several entities, so
	// several slots, sent together: every op's result matches. (A stop
	// holds within an entity only: see TestClusterStopWithinEntity.)
	checkEquivalent(t, s, 2, false)
}

// TestLuaTimeArithmetic checks the script's split-instant arithmetic at
// instants where doubles would round: nanosecond-precise TATs far from
// round seconds, and intervals that carry across a second.
func TestLuaTimeArithmetic(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, Options{})
	r := limit.Rate{Interval: 999_999_999, Burst: 3}
	now := int64(1_799_999_999_999_999_997)
	var st limit.State
	for i := range 20 {
		key := []byte("carry\x00x")
		got := s.Rate(key, now, r, 1)
		var want limit.Result
		st, want = limit.GCRA(st, now, r, 1)
		if got != want {
			t.Fatalf("check %d at %d: redis %+v, arithmetic %+v", i, now, got, want)
		}
		v, err := redistest.Command(srv.Addr, "GET", "ag:"+string(appendTag(nil, tagOf(key)))+string(key))
		if err != nil {
			t.Fatal(err)
		}
		if st.Expires != 0 && v != fmt.Sprintf("%d 0", st.Expires) {
			t.Fatalf("check %d: stored %q, want TAT %d", i, v, st.Expires)
		}
		now += 333_333_337
	}
}

// TestClusterStopWithinEntity: on a cluster, a refused enforced limit stops
// the later limits of the same entity (one slot, one script), and a slot a
// later limit of another entity took is given back.
func TestClusterStopWithinEntity(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster start-up is slow")
	}
	servers := redistest.StartCluster(t, 3)
	s := open(t, redistest.Addrs(servers), Options{})
	one := limit.Rate{Interval: time.Minute, Burst: 1}
	two := limit.Rate{Interval: time.Minute, Burst: 2}
	ops := []limit.Op{
		{Kind: limit.OpRate, Key: []byte("a\x00ip1"), Rate: one, Cost: 1, Stop: true},
		{Kind: limit.OpRate, Key: []byte("b\x00ip1"), Rate: two, Cost: 1, Stop: true},
		{Kind: limit.OpAcquire, Key: []byte("c\x00key9"), Slots: 1, Lease: time.Minute, Stop: true},
	}
	res := make([]limit.Result, 3)
	if n := s.Batch(t0, ops, res); n != 3 || !res[0].Allowed || !res[1].Allowed || !res[2].Allowed {
		t.Fatalf("first batch: n=%d %+v", n, res)
	}
	s.Release(ops[2].Key, t0)
	if n := s.Batch(t0+1, ops, res); n != 1 || res[0].Allowed {
		t.Fatalf("second batch: n=%d %+v, want stopped at the first op", n, res[:n])
	}
	// b was not counted (same entity, same script); c's slot came back.
	if r := s.Rate([]byte("b\x00ip1"), t0+2, two, 1); !r.Allowed {
		t.Fatalf("b's second request = %+v: the stopped batch counted it", r)
	}
	if r := s.Acquire([]byte("c\x00key9"), t0+2, 1, time.Minute); !r.Allowed {
		t.Fatalf("c's only slot = %+v: the stopped batch kept it", r)
	}
}

// TestSentinel: with sentinel_master set, addrs are Sentinels and the
// store finds the master through them.
func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master)
	s := open(t, []string{sentinel.Addr}, Options{SentinelMaster: "mymaster"})
	r := limit.Rate{Interval: time.Minute, Burst: 1}
	if res := s.Rate([]byte("s\x00ip"), t0, r, 1); !res.Allowed {
		t.Fatalf("first = %+v", res)
	}
	if res := s.Rate([]byte("s\x00ip"), t0+1, r, 1); res.Allowed {
		t.Fatalf("second within a burst of 1 = %+v", res)
	}
	if n, err := redistest.Command(master.Addr, "DBSIZE"); err != nil || n != "1" {
		t.Fatalf("master holds %s keys (%v), want the limit's 1", n, err)
	}
}
