package memory

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
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

// keys returns n distinct keys shaped like the engine's ip keys.
func keys(n int) [][]byte {
	ks := make([][]byte, n)
	for i := range ks {
		ks[i] = fmt.Appendf(nil, "\x00ip\x00%d.%d.%d.%d", 10, i>>16&255, i>>8&255, i&255)
	}
	return ks
}

// BenchmarkKeyedGCRA checks one of 1M live keys per op, in parallel. Compare
// with BenchmarkKeyedXRate, the obvious alternative, in the same run.
func BenchmarkKeyedGCRA(b *testing.B) {
	const n = 1 << 20
	ks := keys(n)
	s := New(Options{MaxKeys: 2 * n})
	r := limit.PerPeriod(100, time.Second, 100)
	for _, k := range ks {
		s.Rate(k, t0, r, 1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		now := t0
		for pb.Next() {
			i = (i + 7919) & (n - 1)
			now++
			s.Rate(ks[i], now, r, 1)
		}
	})
}

// BenchmarkKeyedXRate is golang.org/x/time/rate limiters held in a sync.Map.
func BenchmarkKeyedXRate(b *testing.B) {
	const n = 1 << 20
	ks := keys(n)
	var m sync.Map
	for _, k := range ks {
		m.Store(string(k), rate.NewLimiter(100, 100))
	}
	base := time.Unix(0, t0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		now := base
		for pb.Next() {
			i = (i + 7919) & (n - 1)
			now = now.Add(1)
			l, ok := m.Load(string(ks[i]))
			if !ok {
				l, _ = m.LoadOrStore(string(ks[i]), rate.NewLimiter(100, 100))
			}
			l.(*rate.Limiter).AllowN(now, 1)
		}
	})
}

// BenchmarkBytesPerKey reports the heap held per idle key (bytes/key).
func BenchmarkBytesPerKey(b *testing.B) {
	const n = 1 << 20
	ks := keys(n)
	r := limit.PerPeriod(1, time.Hour, 1)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{MaxKeys: 2 * n})
		for _, k := range ks {
			s.Rate(k, t0, r, 1)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/key")
		runtime.KeepAlive(s)
	}
}
