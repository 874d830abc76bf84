package memory

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/limit"
	"golang.org/x/time/rate"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).UnixNano()

func TestRateAcrossKeys(t *testing.T) {
	s := New(Options{})
	r := limit.PerPeriod(5, time.Minute, 5)
	for i := range 5 {
		if res := s.Rate([]byte("a"), t0, r, 1); !res.Allowed {
			t.Fatalf("a request %d denied", i+1)
		}
	}
	if res := s.Rate([]byte("a"), t0, r, 1); res.Allowed || res.RetryAfter != 12*time.Second {
		t.Fatalf("a over burst = %+v", res)
	}
	if res := s.Rate([]byte("b"), t0, r, 1); !res.Allowed || res.Remaining != 4 {
		t.Fatalf("b shares a's state: %+v", res)
	}
}

func TestQuotaAndSlots(t *testing.T) {
	s := New(Options{})
	end := t0 + int64(time.Hour)
	s.Quota([]byte("q"), t0, end, 1, 1)
	if res := s.Quota([]byte("q"), t0, end, 1, 1); res.Allowed {
		t.Fatal("quota of 1 allowed twice")
	}
	k := []byte("slots")
	if !s.Acquire(k, t0, 1, time.Minute).Allowed {
		t.Fatal("first slot denied")
	}
	if s.Acquire(k, t0, 1, time.Minute).Allowed {
		t.Fatal("second slot of 1 allowed")
	}
	s.Release(k, t0)
	if got := s.Stats().Keys; got != 1 {
		t.Fatalf("keys after releasing the last slot = %d, want 1 (only the quota key)", got)
	}
	if !s.Acquire(k, t0, 1, time.Minute).Allowed {
		t.Fatal("slot not free after release")
	}
}

func TestBoundedUnderFlood(t *testing.T) {
	const budget = 4096
	s := New(Options{MaxKeys: budget, Shards: 16})
	r := limit.PerPeriod(1, time.Minute, 1)
	legit := []byte("legit")
	key := make([]byte, 0, 32)
	for i := range 100_000 {
		key = strconv.AppendInt(key[:0], int64(i), 10)
		s.Rate(key, t0, r, 1)
		if i%100 == 0 {
			s.Rate(legit, t0, r, 1)
		}
	}
	st := s.Stats()
	if st.Keys > budget {
		t.Fatalf("keys = %d over budget %d", st.Keys, budget)
	}
	if st.Evictions == 0 {
		t.Fatal("flood evicted nothing")
	}
	// The busy key was denied at its limit after the first request; under
	// eviction it may have been reset at most a few times, never freed.
	allowed := 0
	for range 100 {
		if s.Rate(legit, t0, r, 1).Allowed {
			allowed++
		}
	}
	if allowed > 1 {
		t.Fatalf("busy key allowed %d of 100 at 1/min: its limit no longer applies", allowed)
	}
}

func TestExpiredKeysAreReclaimedFirst(t *testing.T) {
	s := New(Options{MaxKeys: 8, Shards: 1})
	r := limit.PerPeriod(1, time.Second, 1)
	for i := range 8 {
		s.Rate([]byte{byte(i)}, t0, r, 1)
	}
	later := t0 + int64(time.Hour)
	s.Rate([]byte("new"), later, r, 1)
	if st := s.Stats(); st.Evictions != 0 || st.Expirations != 1 {
		t.Fatalf("stats = %+v, want one expiration and no eviction", st)
	}
	if n := s.Sweep(later); n != 7 {
		t.Fatalf("Sweep removed %d, want 7", n)
	}
	if st := s.Stats(); st.Keys != 1 || st.Expirations != 8 {
		t.Fatalf("after sweep %+v", st)
	}
}

func TestConcurrentCountsExactly(t *testing.T) {
	s := New(Options{})
	r := limit.PerPeriod(1000, time.Hour, 1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for range 500 {
				if s.Rate([]byte("shared"), t0, r, 1).Allowed {
					n++
				}
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if allowed != 1000 {
		t.Fatalf("allowed %d of 4000 with a burst of 1000", allowed)
	}
}

func TestRateAllocs(t *testing.T) {
	s := New(Options{})
	r := limit.PerPeriod(5, time.Minute, 5)
	key := []byte("ip=203.0.113.7")
	if n := testing.AllocsPerRun(1000, func() { s.Rate(key, t0, r, 1) }); n != 0 {
		t.Fatalf("Rate allocates %v times", n)
	}
}

// ipKey appends the i-th of many distinct keys shaped like the engine's
// per-IP keys to buf, as the engine builds keys in a scratch buffer.
func ipKey(buf []byte, i int) []byte {
	buf = append(buf, "lim0\x00ip\x0010."...)
	buf = strconv.AppendInt(buf, int64(i>>16&255), 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, int64(i>>8&255), 10)
	buf = append(buf, '.')
	return strconv.AppendInt(buf, int64(i&255), 10)
}

// liveKeys is the number of keys the keyed benchmarks hold.
const liveKeys = 1 << 20

// withLiveKeys returns a Store holding liveKeys rate-limited keys, and the rate.
func withLiveKeys() (*Store, limit.Rate) {
	s := New(Options{MaxKeys: 2 * liveKeys})
	r := limit.PerPeriod(100, time.Second, 100)
	buf := make([]byte, 0, 64)
	for i := range liveKeys {
		s.Rate(ipKey(buf[:0], i), t0, r, 1)
	}
	return s, r
}

// BenchmarkKeyedGCRA checks one of 1M live keys per op, in parallel. Compare
// with BenchmarkKeyedXRate, the obvious alternative, in the same run.
func BenchmarkKeyedGCRA(b *testing.B) {
	const n = liveKeys
	s, r := withLiveKeys()
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 64)
		i := int(worker.Add(1) * 104729) // each goroutine walks its own keys
		now := t0
		for pb.Next() {
			i = (i + 7919) & (n - 1)
			now++
			s.Rate(ipKey(buf[:0], i), now, r, 1)
		}
	})
}

// BenchmarkKeyedGCRAZipf is BenchmarkKeyedGCRA with the skew of real
// traffic: the same 1M live keys, drawn from a Zipf distribution (s=1.1).
func BenchmarkKeyedGCRAZipf(b *testing.B) {
	const n = liveKeys
	s, r := withLiveKeys()
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		z := rand.NewZipf(rand.New(rand.NewPCG(uint64(worker.Add(1)), 1)), 1.1, 1, n-1)
		buf := make([]byte, 0, 64)
		now := t0
		for pb.Next() {
			now++
			s.Rate(ipKey(buf[:0], int(z.Uint64())), now, r, 1)
		}
	})
}

// BenchmarkKeyedXRate is golang.org/x/time/rate limiters held in a sync.Map.
func BenchmarkKeyedXRate(b *testing.B) {
	const n = 1 << 20
	var m sync.Map
	buf := make([]byte, 0, 64)
	for i := range n {
		m.Store(string(ipKey(buf[:0], i)), rate.NewLimiter(100, 100))
	}
	base := time.Unix(0, t0)
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 64)
		i := int(worker.Add(1) * 104729) // each goroutine walks its own keys
		now := base
		for pb.Next() {
			i = (i + 7919) & (n - 1)
			now = now.Add(1)
			k := ipKey(buf[:0], i)
			l, ok := m.Load(string(k))
			if !ok {
				l, _ = m.LoadOrStore(string(k), rate.NewLimiter(100, 100))
			}
			l.(*rate.Limiter).AllowN(now, 1)
		}
	})
}

// BenchmarkBytesPerKey reports the heap held per idle key (bytes/key).
func BenchmarkBytesPerKey(b *testing.B) {
	const n = 1 << 20
	r := limit.PerPeriod(1, time.Hour, 1)
	buf := make([]byte, 0, 64)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{MaxKeys: 2 * n})
		for i := range n {
			s.Rate(ipKey(buf[:0], i), t0, r, 1)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/key")
		runtime.KeepAlive(s)
	}
}

// TestTableAgainstMap drives the table and a Go map with the same random
// inserts and removals and checks they agree.
func TestTableAgainstMap(t *testing.T) {
	var tb table
	want := map[uint64]int64{}
	rng := uint64(1)
	for step := range 200_000 {
		rng = rng*6364136223846793005 + 1442695040888963407
		h := rng>>40 | 1 // a small key space, so removals hit
		if len(tb.slots) == 0 || (tb.n+1)*4 > len(tb.slots)*3 {
			tb.grow()
		}
		i, found := tb.find(h)
		if _, ok := want[h]; ok != found {
			t.Fatalf("step %d: find(%x) found=%v, map has it=%v", step, h, found, ok)
		}
		if found {
			tb.remove(i)
			delete(want, h)
			continue
		}
		tb.slots[i] = slot{h: h, st: limit.State{Expires: int64(step)}}
		tb.n++
		want[h] = int64(step)
	}
	if tb.n != len(want) {
		t.Fatalf("table holds %d, map %d", tb.n, len(want))
	}
	for h, e := range want {
		i, found := tb.find(h)
		if !found || tb.slots[i].st.Expires != e {
			t.Fatalf("lost %x", h)
		}
	}
}
