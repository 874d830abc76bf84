package engine

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

// floodOverhead is the heap a flood may add on top of state.max_memory: the
// Policy and request scratch (kilobytes), the Verdict pool, and the slack of
// the store's tables, which grow by doubling and so may sit up to half empty.
// With a 32MiB cap the tables settle near 24MiB, so the cap alone already
// covers them; the overhead is margin for runtime bookkeeping.
const floodOverhead = 16 << 20

// TestFloodOfDistinctIPsStaysWithinCap sends 5M requests, each from a
// distinct client IP (one in eight IPv6), through Parse, Decide and Finish
// on an event-time clock, with one request from a busy legitimate client
// every 1000. The store must stay within its key budget by evicting, the
// heap within state.max_memory plus floodOverhead, and the legitimate
// client's limit must hold throughout.
func TestFloodOfDistinctIPsStaysWithinCap(t *testing.T) {
	if testing.Short() {
		t.Skip("5M requests; skipped with -short")
	}
	const (
		flood     = 5_000_000
		legitEach = 1000 // one legitimate request per this many flood requests
		step      = time.Microsecond
		maxMemory = 32 << 20
		burst     = 10
		interval  = time.Second // 60/m
	)
	c, err := config.Parse("flood.yaml", []byte(`
state:
  max_memory: 32MiB
limits:
  - {name: per-ip, key: [ip], rate: 60/m, burst: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.State.MaxMemory != maxMemory {
		t.Fatalf("max_memory = %d", c.State.MaxMemory)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	maxKeys := memory.MaxKeysFor(int64(c.State.MaxMemory))
	store := memory.New(memory.Options{MaxKeys: maxKeys})
	p, err := Compile(context.Background(), c, NewShared(store, 1000))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// One request and one View, reused: only RemoteAddr changes, so the
	// test measures the engine's memory, not a garbage pile of requests.
	r := httptest.NewRequest("GET", "/v1/items", nil)
	var v request.View
	send := func(remote string, now time.Time) Action {
		r.RemoteAddr = remote
		v.Reset()
		if prob := p.Parser.Parse(r, now, &v); prob != nil {
			t.Fatalf("parse %s: %v", remote, prob)
		}
		vd := p.Decide(&v)
		action := vd.Action
		vd.Finish(now)
		return action
	}

	const legit = "198.51.100.7:40000"
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	now := start
	legitSent, legitAllowed, floodDenied := 0, 0, 0
	peakKeys := 0
	var peakHeap uint64
	began := time.Now()
	for i := range flood {
		now = now.Add(step)
		var ip netip.Addr
		if i%8 == 7 {
			ip = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		} else {
			ip = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}
		if send(netip.AddrPortFrom(ip, 40000).String(), now) != Allow {
			floodDenied++
		}
		if i%legitEach == legitEach-1 {
			legitSent++
			if send(legit, now) == Allow {
				legitAllowed++
			}
			st := store.Stats()
			if st.Keys > maxKeys {
				t.Fatalf("after %d requests the store holds %d keys, over its budget of %d", i+1, st.Keys, maxKeys)
			}
			peakKeys = max(peakKeys, st.Keys)
		}
		if i%1_000_000 == 999_999 {
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			peakHeap = max(peakHeap, m.HeapAlloc)
		}
	}
	elapsed := time.Since(began)

	// After the flood the legitimate client's burst is used up: one more
	// request at the same instant is throttled.
	if a := send(legit, now); a != Throttle {
		t.Errorf("legitimate client after the flood: %v, want throttle", a)
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	peakHeap = max(peakHeap, after.HeapAlloc)
	st := store.Stats()
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	peakGrowth := int64(peakHeap) - int64(before.HeapAlloc)
	t.Logf("%d flood requests in %v (%v/request), simulated %v", flood, elapsed.Round(time.Millisecond),
		elapsed/flood, now.Sub(start))
	t.Logf("store: keys=%d (peak %d) max_keys=%d evictions=%d expirations=%d", st.Keys, peakKeys, st.MaxKeys,
		st.Evictions, st.Expirations)
	t.Logf("heap growth: %.1f MiB after the flood, %.1f MiB peak (cap %d MiB + overhead %d MiB)",
		float64(growth)/(1<<20), float64(peakGrowth)/(1<<20), maxMemory>>20, floodOverhead>>20)
	t.Logf("legitimate client: %d of %d allowed; flood requests denied: %d", legitAllowed, legitSent, floodDenied)

	if st.MaxKeys > maxKeys {
		t.Errorf("store budget %d keys, want at most MaxKeysFor(max_memory) = %d", st.MaxKeys, maxKeys)
	}
	if st.Evictions == 0 {
		t.Errorf("no evictions after %d distinct keys into a budget of %d", flood, maxKeys)
	}
	if limit := int64(maxMemory + floodOverhead); peakGrowth > limit {
		t.Errorf("heap grew by %d bytes, over max_memory + overhead = %d", peakGrowth, limit)
	}
	if floodDenied != 0 {
		t.Errorf("%d flood requests denied; each came from a fresh IP within its burst", floodDenied)
	}

	// The legitimate client may get its burst plus one request per interval
	// of simulated time. Eviction picks the sampled key closest to expiry;
	// a throttled client's key expires about burst×interval (10s) ahead,
	// a flood key's at most one interval (1s) ahead, so the busy key is
	// never the victim. The bound still allows one eviction of it (a fresh
	// burst) so that it tests the cap on abuse, not the sampler's exact
	// choice; two evictions would already show.
	simulated := now.Sub(start)
	allowance := burst + int(simulated/interval) + 1
	evictionAllowance := burst
	if legitAllowed > allowance+evictionAllowance {
		t.Errorf("legitimate client got %d requests in %v; its limit allows %d (+%d for one eviction)",
			legitAllowed, simulated, allowance, evictionAllowance)
	}
	if legitAllowed < burst {
		t.Errorf("legitimate client got only %d requests, less than its burst %d", legitAllowed, burst)
	}
	runtime.KeepAlive(store)
}
