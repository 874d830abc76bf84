package engine

import (
	"fmt"
	"maps"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/store"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// floodOverhead is the heap a flood may add on top of state.max_memory: the
// Policy and request scratch (kilobytes), the Verdict pool, and the slack of
// the limiter's tables, which grow by doubling and so may sit up to half
// empty. With a 32MiB cap the tables settle near 24MiB, so the cap alone
// already covers them; the overhead is margin for runtime bookkeeping.
const floodOverhead = 16 << 20

// The flood's client: the limit every flood test uses, and the busy
// legitimate client that sends one request per legitEach flood requests.
const (
	floodBurst    = 10
	floodInterval = time.Second // 60/m
	floodStep     = time.Microsecond
	legitEach     = 1000
	legitAddr     = "198.51.100.7:40000"
)

// floodLimits is the limiter config of every flood, with state.max_memory
// in MiB.
func floodLimits(maxMemoryMiB int) string {
	return fmt.Sprintf(`
state:
  max_memory: %dMiB
limits:
  - {name: per-ip, key: [ip], rate: 60/m, burst: 10}
`, maxMemoryMiB)
}

// detectorsOff turns every registered detector off, leaving the limiter.
var detectorsOff = func() string {
	var b strings.Builder
	b.WriteString("\ndetectors:\n")
	for _, r := range detect.Registered() {
		b.WriteString("  " + r.Name + ": {mode: off}\n")
	}
	return b.String()
}()

// floodRun is what a flood left behind.
type floodRun struct {
	policy        *Policy
	store         *memory.Store
	maxKeys       int
	peakKeys      int
	heap          []int64 // heap growth over the baseline (live, after GC) at each checkpoint
	legitSent     int
	legitAllowed  int
	floodDenied   int
	simulated     time.Duration
	elapsed       time.Duration
	lastLegitDeny verdict.Action // the legitimate client's verdict for one more request after the flood
}

// flood compiles yaml, then sends n requests, each from a distinct client
// IP (one in eight IPv6), through Parse, Decide and Finish on an
// event-time clock advancing floodStep per request, with one request from
// legitAddr every legitEach. It checks the limiter's key budget after
// every legitimate request and records the live heap growth at each of
// checkpoints (request counts).
func flood(t *testing.T, yaml string, n int, checkpoints ...int) floodRun {
	t.Helper()
	c, err := config.Parse("flood.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	sizes := store.SizesFor(c) // as serve sizes its state
	fr := floodRun{maxKeys: sizes.LimiterKeys}
	fr.store = memory.New(memory.Options{MaxKeys: fr.maxKeys})
	p, err := Compile(c, NewShared(Options{Limits: fr.store, RiskEntities: sizes.RiskEntities, DetectorEntities: sizes.DetectorEntities}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	fr.policy = p

	// One request and one View, reused: only RemoteAddr changes, so the
	// heap measures the engine's state, not a garbage pile of requests.
	r := httptest.NewRequest("GET", "/v1/items", nil)
	var v request.View
	send := func(remote string, now time.Time) verdict.Action {
		r.RemoteAddr = remote
		v.Reset()
		if prob := p.Parser.ParseHTTP(r, now, &v); prob != nil {
			t.Fatalf("parse %s: %v", remote, prob)
		}
		vd := p.Decide(&v)
		action := vd.Action
		vd.Finish(now)
		return action
	}
	heapGrowth := func() int64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc) - int64(before.HeapAlloc)
	}

	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	now := start
	began := time.Now()
	for i := range n {
		now = now.Add(floodStep)
		var ip netip.Addr
		if i%8 == 7 {
			ip = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		} else {
			ip = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}
		if send(netip.AddrPortFrom(ip, 40000).String(), now) != verdict.Allow {
			fr.floodDenied++
		}
		if i%legitEach == legitEach-1 {
			fr.legitSent++
			if send(legitAddr, now) == verdict.Allow {
				fr.legitAllowed++
			}
			st := fr.store.Stats()
			if st.Keys > fr.maxKeys {
				t.Fatalf("after %d requests the store holds %d keys, over its budget of %d", i+1, st.Keys, fr.maxKeys)
			}
			fr.peakKeys = max(fr.peakKeys, st.Keys)
		}
		for _, cp := range checkpoints {
			if i+1 == cp {
				fr.heap = append(fr.heap, heapGrowth())
			}
		}
	}
	fr.elapsed = time.Since(began)
	fr.simulated = now.Sub(start)
	fr.lastLegitDeny = send(legitAddr, now)
	if len(checkpoints) == 0 || checkpoints[len(checkpoints)-1] != n {
		fr.heap = append(fr.heap, heapGrowth())
	}
	st := fr.store.Stats()
	t.Logf("%d flood requests in %v (%v/request), simulated %v", n, fr.elapsed.Round(time.Millisecond),
		fr.elapsed/time.Duration(n), fr.simulated)
	t.Logf("limiter: keys=%d (peak %d) max_keys=%d evictions=%d expirations=%d", st.Keys, fr.peakKeys, st.MaxKeys,
		st.Evictions, st.Expirations)
	t.Logf("legitimate client: %d of %d allowed; flood requests denied: %d", fr.legitAllowed, fr.legitSent, fr.floodDenied)
	return fr
}

// checkLimiter checks what every flood must leave true of the limiter: it
// kept to its budget by evicting, and the legitimate client's limit held.
func (fr floodRun) checkLimiter(t *testing.T) {
	t.Helper()
	st := fr.store.Stats()
	if st.MaxKeys > fr.maxKeys {
		t.Errorf("store budget %d keys, want at most MaxKeysFor(max_memory) = %d", st.MaxKeys, fr.maxKeys)
	}
	if st.Evictions == 0 {
		t.Errorf("no evictions after a flood of distinct keys into a budget of %d", fr.maxKeys)
	}
	// After the flood the legitimate client's burst is used up: one more
	// request at the same instant is refused.
	if fr.lastLegitDeny == verdict.Allow {
		t.Errorf("legitimate client after the flood: allowed, want refused")
	}
	// The legitimate client may get its burst plus one request per
	// interval of simulated time. Eviction picks the sampled key closest
	// to expiry; a throttled client's key expires about burst×interval
	// (10s) ahead, a flood key's at most one interval (1s) ahead, so the
	// busy key is never the victim. The bound still allows one eviction of
	// it (a fresh burst) so that it tests the cap on abuse, not the
	// sampler's exact choice; two evictions would already show.
	allowance := floodBurst + int(fr.simulated/floodInterval) + 1
	evictionAllowance := floodBurst
	if fr.legitAllowed > allowance+evictionAllowance {
		t.Errorf("legitimate client got %d requests in %v; its limit allows %d (+%d for one eviction)",
			fr.legitAllowed, fr.simulated, allowance, evictionAllowance)
	}
}

// TestFloodOfDistinctIPsStaysWithinCap sends 5M requests, each from a
// distinct client IP, with one request from a busy legitimate client every
// 1000. The limiter must stay within its key budget by evicting, the heap
// within state.max_memory plus floodOverhead, and the legitimate client's
// limit must hold throughout. The detectors are off: state.max_memory caps
// the limiter's state only (TestFloodWithDetectorsStaysBounded covers
// theirs).
func TestFloodOfDistinctIPsStaysWithinCap(t *testing.T) {
	if testing.Short() {
		t.Skip("5M requests; skipped with -short")
	}
	const maxMemory = 32 << 20
	fr := flood(t, floodLimits(maxMemory>>20)+detectorsOff, 5_000_000, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000)
	peak := int64(0)
	for _, h := range fr.heap {
		peak = max(peak, h)
	}
	t.Logf("heap growth: %.1f MiB after the flood, %.1f MiB peak (cap %d MiB + overhead %d MiB)",
		float64(fr.heap[len(fr.heap)-1])/(1<<20), float64(peak)/(1<<20), maxMemory>>20, floodOverhead>>20)
	fr.checkLimiter(t)
	if limit := int64(maxMemory + floodOverhead); peak > limit {
		t.Errorf("heap grew by %d bytes, over max_memory + overhead = %d", peak, limit)
	}
	if fr.floodDenied != 0 {
		t.Errorf("%d flood requests denied; each came from a fresh IP within its burst", fr.floodDenied)
	}
}

// TestFloodWithDetectorsStaysBounded floods the detectors and the risk
// table with distinct client IPs (which, without a User-Agent, draw a
// signal each, so every one also gets a risk entry). Their tables are
// bounded by entity counts rather than bytes, so the test checks that every
// table keeps to its bound and that the heap stops growing once the tables
// are full: the second half of the flood, all of it churning through full
// tables, may add at most plateauSlack. The bounds are a fifth of the
// defaults (and the limiter's 8MiB) so that 400k requests fill each table
// several times over in a few seconds; at the defaults (100k entities) the
// same flood holds about 150MiB besides the limiter, most of it risk
// entries with their evidence.
func TestFloodWithDetectorsStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("400k requests through every detector; skipped with -short")
	}
	const (
		n            = 400_000
		entities     = 20_000
		plateauSlack = 4 << 20
	)
	fr := flood(t, floodLimits(8)+fmt.Sprintf(`
risk: {max_entities: %[1]d}
detectors:
  probing: {max_entities: %[1]d}
  automation: {max_entities: %[1]d}
  scraping: {max_entities: %[1]d}
  credentials: {max_entities: %[1]d}
  enumeration: {max_entities: %[1]d}
  sharing: {max_entities: %[1]d}
  volumetric: {max_entities: %[1]d}
`, entities), n, n/2, n)
	half, end := fr.heap[0], fr.heap[1]
	t.Logf("heap growth: %.1f MiB at %d requests, %.1f MiB at %d (limiter cap 8 MiB)",
		float64(half)/(1<<20), n/2, float64(end)/(1<<20), n)
	tables := map[string]detect.TableStats{"risk": fr.policy.shared.risk.Stats()}
	for _, d := range fr.policy.detectors {
		if sf, ok := d.(detect.Stateful); ok {
			tables[d.Name()] = sf.Stats()
		}
	}
	held := 0
	for _, name := range slices.Sorted(maps.Keys(tables)) {
		st := tables[name]
		t.Logf("%s: entries=%d max=%d evictions=%d expirations=%d", name, st.Entries, st.MaxEntries,
			st.Evictions, st.Expirations)
		if st.Entries > st.MaxEntries {
			t.Errorf("%s holds %d entities, over its bound of %d", name, st.Entries, st.MaxEntries)
		}
		held += st.Entries
	}
	if tables["risk"].Evictions == 0 {
		t.Errorf("risk table: no evictions; the flood should have filled it")
	}
	if held > 0 {
		limiter := int64(fr.store.Stats().Keys) * memory.BytesPerKey
		t.Logf("detector and risk state: about %.0f bytes per entity (%d entities, heap less the limiter's budget)",
			float64(end-limiter)/float64(held), held)
	}
	fr.checkLimiter(t)
	if end-half > plateauSlack {
		t.Errorf("heap grew by %.1f MiB in the second half of the flood; full tables should hold it flat (slack %d MiB)",
			float64(end-half)/(1<<20), plateauSlack>>20)
	}
}

// TestFloodStaysWithinMaxMemory floods a policy with every detector on and
// every table sized from state.max_memory with distinct clients, and
// checks that all state together stays within max_memory.
func TestFloodStaysWithinMaxMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("600k requests through every detector; skipped with -short")
	}
	const n = 600_000 // over the limiter's 262,144 keys, and every table's share
	fr := flood(t, floodLimits(32), n, n/2, n)
	half, end := fr.heap[0], fr.heap[1]
	t.Logf("heap growth: %.1f MiB at %d requests, %.1f MiB at %d (max_memory 32 MiB + %d MiB runtime allowance)",
		float64(half)/(1<<20), n/2, float64(end)/(1<<20), n, floodOverhead>>20)
	if end > 32<<20+floodOverhead {
		t.Errorf("all state grew the heap by %.1f MiB, over max_memory 32 MiB + %d MiB", float64(end)/(1<<20), floodOverhead>>20)
	}
	if fr.policy.shared.risk.Stats().Entries > fr.policy.shared.risk.Stats().MaxEntries {
		t.Error("risk table over its bound")
	}
	fr.checkLimiter(t)
}
