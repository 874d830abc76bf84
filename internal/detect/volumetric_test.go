package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

var volumetricT0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

var (
	volumetricSearch = &request.Route{Name: "search", Template: "GET /v1/search", Index: 0}
	volumetricItems  = &request.Route{Name: "items", Template: "GET /v1/items/{id}", Index: 1}
	volumetricStatic = &request.Route{Name: "assets", Template: "GET /assets/{path...}", Index: 2, Kind: "static"}
)

// volumetricView builds a request at offset at from ip (and key, when not
// empty) on route r.
func volumetricView(id string, at time.Duration, ip, key string, r *request.Route) *request.View {
	return &request.View{
		ID:       id,
		Time:     volumetricT0.Add(at),
		ClientIP: netip.MustParseAddr(ip),
		Method:   "GET",
		Path:     "/v1/x",
		Route:    r,
		Identity: request.Identity{KeyID: key},
	}
}

// signals records signals.
// volumetricTraffic is requests built minute by minute, sent in time order.
type volumetricTraffic []*request.View

// minute adds n requests spread evenly over minute m, named prefix1..prefixN
// (or all "" when prefix is "").
func (t *volumetricTraffic) minute(m, n int, ip, key string, r *request.Route, prefix string) {
	for i := range n {
		at := time.Duration(m)*time.Minute + time.Duration(i)*time.Minute/time.Duration(max(n, 1))
		id := ""
		if prefix != "" {
			id = fmt.Sprintf("%s%d", prefix, i+1)
		}
		*t = append(*t, volumetricView(id, at, ip, key, r))
	}
}

// volumetricReplay builds traffic and runs it through a default detector.
func volumetricReplay(traffic func(*volumetricTraffic)) *signals {
	var tr volumetricTraffic
	traffic(&tr)
	s := &signals{}
	tr.run(NewVolumetric(VolumetricConfig{}, NewHasher()), s)
	return s
}

func (t volumetricTraffic) run(d *Volumetric, s Sink) {
	slices.SortStableFunc(t, func(a, b *request.View) int { return a.Time.Compare(b.Time) })
	for _, v := range t {
		d.Request(v, s)
	}
}

// volumetricCrowd adds n light clients on route r, each rate requests a
// minute, for minutes [from, to).
func (t *volumetricTraffic) crowd(from, to, n, rate int, r *request.Route) {
	for m := from; m < to; m++ {
		for c := range n {
			t.minute(m, rate, fmt.Sprintf("192.0.2.%d", 10+c), "", r, "")
		}
	}
}

func TestVolumetricAttacks(t *testing.T) {
	tests := []struct {
		name      string
		traffic   func(*volumetricTraffic)
		entity    verdict.Entity
		weight    float64
		severity  Severity
		threshold float64
		requestID string // the request that tips it: the Nth of its bucket
		signals   int    // signals of this weight for the entity
	}{
		{
			name: "flood from a fresh IP",
			traffic: func(t *volumetricTraffic) {
				t.minute(0, 3500, "203.0.113.66", "", volumetricSearch, "f")
			},
			entity: verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.66"}, weight: 40, severity: High, threshold: 3000,
			requestID: "f3000", signals: 1,
		},
		{
			name: "key jumping far over its own baseline",
			traffic: func(t *volumetricTraffic) {
				for m := range 10 {
					t.minute(m, 20, "198.51.100.4", "k_app", volumetricItems, fmt.Sprintf("m%d-", m))
				}
				t.minute(10, 400, "198.51.100.4", "k_app", volumetricItems, "spike")
			},
			// 20 a minute with no variance: the limit is the min_rate floor
			// of 120; 400 crosses it at 1x, 2x and 3x.
			entity: verdict.Entity{Scope: verdict.ScopeKey, Value: "k_app"}, weight: 30, severity: Medium, threshold: 120,
			requestID: "spike120", signals: 3,
		},
		{
			name: "fresh IP far over the route's population",
			traffic: func(t *volumetricTraffic) {
				t.crowd(0, 21, 40, 3, volumetricSearch)
				t.minute(20, 300, "203.0.113.77", "", volumetricSearch, "p")
			},
			// 40 clients at 3 a minute: median 3, MAD 0, scale 1 request;
			// the threshold is the min_rate floor of 120. One signal: the
			// entity is warming up.
			entity: verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.77"}, weight: 25, severity: Medium, threshold: 120,
			requestID: "p120", signals: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := volumetricReplay(tc.traffic)
			var mine []Signal
			for _, sig := range s.got {
				if sig.Entity != tc.entity {
					t.Errorf("signal for another entity: %+v", sig)
				}
				if sig.Weight == tc.weight {
					mine = append(mine, sig)
				}
			}
			if len(mine) != tc.signals || len(s.got) != tc.signals {
				t.Fatalf("got %d signals (%d of weight %v), want %d: %+v", len(s.got), len(mine), tc.weight, tc.signals, s.got)
			}
			first := mine[0]
			ev := first.Evidence
			if first.Detector != "volumetric" || first.Severity != tc.severity {
				t.Errorf("detector %q severity %v", first.Detector, first.Severity)
			}
			if ev.Threshold != tc.threshold || ev.Count != tc.threshold || ev.Window != time.Minute || ev.RequestID != tc.requestID {
				t.Errorf("evidence %+v, want count = threshold = %v at %s in 1m", ev, tc.threshold, tc.requestID)
			}
			for i, sig := range mine {
				if want := tc.threshold * float64(i+1); sig.Evidence.Threshold != want {
					t.Errorf("signal %d: %+v, want threshold %v", i, sig, want)
				}
			}
		})
	}
}

// TestVolumetricFloodEscalates: a flood signals in every bucket it lasts,
// and at every multiple of the ceiling within one.
func TestVolumetricFloodEscalates(t *testing.T) {
	d := NewVolumetric(VolumetricConfig{}, NewHasher())
	var tr volumetricTraffic
	for m := range 3 {
		tr.minute(m, 3100, "203.0.113.66", "", nil, fmt.Sprintf("m%d-", m))
	}
	tr.minute(3, 6500, "203.0.113.66", "", nil, "big")
	s := &signals{}
	tr.run(d, s)
	var thresholds []float64
	for _, sig := range s.got {
		if sig.Weight == 40 {
			thresholds = append(thresholds, sig.Evidence.Threshold)
		}
	}
	if want := []float64{3000, 3000, 3000, 3000, 6000}; !slices.Equal(thresholds, want) {
		t.Errorf("flood thresholds %v, want %v", thresholds, want)
	}
}

// volumetricNoisy returns about rate requests, with Poisson-like noise.
func volumetricNoisy(rng *rand.Rand, rate float64) int {
	return max(0, int(math.Round(rate+rng.NormFloat64()*math.Sqrt(rate))))
}

func TestVolumetricBenign(t *testing.T) {
	tests := []struct {
		name    string
		traffic func(*volumetricTraffic)
	}{
		{
			name: "partner batch job steady at 100 a minute for three hours",
			traffic: func(t *volumetricTraffic) {
				rng := rand.New(rand.NewPCG(1, 2))
				t.crowd(0, 180, 20, 3, volumetricItems)
				for m := range 180 {
					t.minute(m, 95+rng.IntN(11), "198.51.100.10", "partner", volumetricItems, "b")
				}
			},
		},
		{
			name: "fast human on an SPA",
			traffic: func(t *volumetricTraffic) {
				rng := rand.New(rand.NewPCG(3, 4))
				t.crowd(0, 30, 20, 3, volumetricSearch)
				for m := range 30 {
					if m%10 == 0 { // a full page load: 50 assets in a few seconds
						for i := range 50 {
							*t = append(*t, volumetricView("asset", time.Duration(m)*time.Minute+time.Duration(i)*50*time.Millisecond, "203.0.113.20", "", volumetricStatic))
						}
					}
					t.minute(m, 20+rng.IntN(40), "203.0.113.20", "", volumetricSearch, "h")
					t.minute(m, rng.IntN(20), "203.0.113.20", "", volumetricItems, "i")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := volumetricReplay(tc.traffic)
			if len(s.got) != 0 {
				t.Errorf("%d signals on benign traffic, first %+v", len(s.got), s.got[0])
			}
		})
	}
}

// TestVolumetricLaunchDay: every client's rate doubles (a launch, a
// marketing push). Over 20 minutes, baselines adapt and the population
// median rises with the crowd: nothing signals, and the heaviest client
// at 2x stays under the flood ceiling. At once, each steady client over
// min_rate sees one baseline signal (30 points, far from a block) and
// nothing else.
func TestVolumetricLaunchDay(t *testing.T) {
	for _, tc := range []struct {
		name string
		ramp int // minutes from 1x to 2x
	}{
		{"over 20 minutes", 20},
		{"at once", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			d := NewVolumetric(VolumetricConfig{}, NewHasher())
			// Each client's minute is sent in one go, minute by minute:
			// order across clients within a minute does not matter here,
			// and reusing one View per client keeps the test fast.
			var clients []*request.View
			var rates []float64
			for i := range 60 { // 2 to 100 requests a minute
				clients = append(clients, volumetricView("", 0, fmt.Sprintf("10.1.0.%d", i), fmt.Sprintf("k%d", i), nil))
				rates = append(rates, 2+float64(i)*98/59)
			}
			clients = append(clients, volumetricView("", 0, "10.9.9.9", "k_big", nil))
			rates = append(rates, 1400)
			run := func(from, to int, s Sink) {
				for m := from; m < to; m++ {
					factor := 1.0
					if m >= 30 {
						factor = min(2, 1+float64(m-30+1)/float64(tc.ramp+1))
					}
					for i, v := range clients {
						n := volumetricNoisy(rng, rates[i]*factor)
						for j := range n {
							v.Time = volumetricT0.Add(time.Duration(m)*time.Minute + time.Duration(j)*time.Minute/time.Duration(n))
							v.Route = volumetricItems
							if j%3 == 2 {
								v.Route = volumetricSearch
							}
							d.Request(v, s)
						}
					}
				}
			}
			s := &signals{}
			run(0, 30, s)
			for _, sig := range s.got {
				// A client this heavy is a population outlier while its
				// own baseline forms, once per route; nothing else may signal.
				if sig.Entity != (verdict.Entity{Scope: verdict.ScopeKey, Value: "k_big"}) || sig.Weight != 25 {
					t.Errorf("signal before the launch: %+v", sig)
				}
			}
			s = &signals{}
			run(30, 60+tc.ramp, s)
			per := map[verdict.Entity]float64{}
			for _, sig := range s.got {
				per[sig.Entity] += sig.Weight
				if sig.Weight != 30 {
					t.Errorf("signal other than the baseline's at 2x: %+v", sig)
				}
			}
			for e, w := range per {
				if w > 30 {
					t.Errorf("%v collected %v points", e, w)
				}
			}
			switch {
			case tc.ramp > 0 && len(s.got) != 0:
				t.Errorf("%d signals during the launch, first %+v", len(s.got), s.got[0])
			case tc.ramp == 0 && len(s.got) == 0:
				t.Errorf("no baseline signal for a sudden doubling: the check lost its teeth")
			}
		})
	}
}

func TestVolumetricRobust(t *testing.T) {
	rep := func(n int, c uint32) []uint32 { return slices.Repeat([]uint32{c}, n) }
	tests := []struct {
		name          string
		counts        []uint32
		median, scale float64
	}{
		{"all equal: MAD 0, mean deviation 0, scale floored at 1", rep(64, 3), 3, 1},
		{"MAD 0: scale from the mean absolute deviation", append(rep(60, 1), 41, 41, 41, 41), 1, 1.2533 * 160 / 64},
		{"spread: 1.4826 MAD", []uint32{10, 20, 30, 40, 50}, 30, 1.4826 * 10},
		{"even count: mean of the middle two", []uint32{1, 2, 3, 4}, 2.5, 1.4826 * 1},
		{"empty", nil, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			med, scale := volumetricRobust(tc.counts)
			if med != tc.median || math.Abs(scale-tc.scale) > 1e-9 {
				t.Errorf("median %v scale %v, want %v %v", med, scale, tc.median, tc.scale)
			}
		})
	}
}

func TestVolumetricTurnsOff(t *testing.T) {
	d := NewVolumetric(VolumetricConfig{FloodRate: -1, ZThreshold: -1}, NewHasher())
	var tr volumetricTraffic
	tr.crowd(0, 21, 40, 3, volumetricSearch)
	tr.minute(20, 3500, "203.0.113.77", "", volumetricSearch, "p")
	s := &signals{}
	tr.run(d, s)
	if len(s.got) != 0 {
		t.Errorf("signals with flood and population off: %+v", s.got[0])
	}
}

func TestVolumetricBounded(t *testing.T) {
	d := NewVolumetric(VolumetricConfig{Common: Common{MaxEntities: 1024}}, NewHasher())
	s := &signals{}
	for i := range 20_000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		v := volumetricView("r", time.Duration(i)*10*time.Millisecond, ip.String(), "", volumetricItems)
		d.Request(v, s)
	}
	st := d.Stats()
	if st.Entries > st.MaxEntries || st.MaxEntries > 1024 || st.Evictions == 0 {
		t.Errorf("stats = %+v, want entries <= max entries <= 1024 and evictions", st)
	}
	d.Sweep(volumetricT0.Add(24 * time.Hour).UnixNano())
	if st := d.Stats(); st.Entries != 0 {
		t.Errorf("after sweep: %+v", st)
	}
}

// TestVolumetricQuietPathAllocs: a request that fires nothing, across
// bucket boundaries (baseline folds, population samples), allocates
// nothing beyond its two Table.Update calls' own allocations (none; see
// TestSharingQuietPathAllocs).
func TestVolumetricQuietPathAllocs(t *testing.T) {
	d := NewVolumetric(VolumetricConfig{}, NewHasher())
	s := &signals{}
	tb := NewTable[volumetricEntity](64, time.Minute)
	perUpdate := testing.AllocsPerRun(100, func() { tb.Update(1, 1, func(*volumetricEntity) {}) })
	for j, r := range []*request.Route{volumetricItems, nil} {
		v := volumetricView("q", 0, "203.0.113.7", fmt.Sprintf("k_live%d", j), r)
		i := 0
		next := func() { // one request every 2s: 30 a minute
			i++
			v.Time = volumetricT0.Add(time.Duration(i) * 2 * time.Second)
			d.Request(v, s)
		}
		for range 600 {
			next()
		}
		if n := testing.AllocsPerRun(1000, next); n != 2*perUpdate {
			t.Errorf("route %v: %v allocations per request, want %v (two table updates)", r, n, 2*perUpdate)
		}
	}
	if len(s.got) != 0 {
		t.Errorf("signals: %+v", s.got)
	}
}

func TestVolumetricConcurrent(t *testing.T) {
	d := NewVolumetric(VolumetricConfig{}, NewHasher())
	routes := []*request.Route{volumetricSearch, volumetricItems, nil, {Name: "late", Index: 40}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			s := &signals{}
			for i := range 3000 {
				v := volumetricView("c", time.Duration(i)*100*time.Millisecond, fmt.Sprintf("10.0.%d.%d", g, i%20), "", routes[i%len(routes)])
				d.Request(v, s)
			}
		})
	}
	wg.Wait()
	if st := d.Stats(); st.Entries == 0 {
		t.Errorf("stats = %+v", st)
	}
}

func BenchmarkVolumetricRequest(b *testing.B) { volumetricBench(b, "") }

// BenchmarkVolumetricRequestWithQuery is BenchmarkVolumetricRequest with a
// query string: the burst check's cost.
func BenchmarkVolumetricRequestWithQuery(b *testing.B) { volumetricBench(b, "color=red&size=42") }

func volumetricBench(b *testing.B, query string) {
	d := NewVolumetric(VolumetricConfig{}, NewHasher())
	v := volumetricView("q", 0, "203.0.113.7", "k_live", volumetricItems)
	v.Query = query
	s := &signals{}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		v.Time = volumetricT0.Add(time.Duration(i) * 100 * time.Millisecond)
		d.Request(v, s)
	}
}

// volumetricQueries sends one request per (offset, query) pair from ip to
// path and returns the signals' request ids.
func volumetricQueries(d *Volumetric, s *signals, ip, path string, at []time.Duration, queries []string) {
	for i, q := range queries {
		v := volumetricView(fmt.Sprintf("%s?%s", path, q), at[i], ip, "", nil)
		v.Path, v.Query = path, q
		d.Request(v, s)
	}
}

// volumetricBurstSignals returns the burst signals in s.
func volumetricBurstSignals(s *signals) []Signal {
	var out []Signal
	for _, sig := range s.got {
		if sig.Evidence.Window == time.Second {
			out = append(out, sig)
		}
	}
	return out
}

func TestVolumetricBurst(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	random := func(n int) []string {
		qs := make([]string, n)
		for i := range qs {
			qs[i] = fmt.Sprint(r.Int64N(1e10))
		}
		return qs
	}
	same := func(n int, at time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = at
		}
		return out
	}
	spread := func(n int, from, over time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = from + time.Duration(i)*over/time.Duration(n)
		}
		return out
	}
	t.Run("cache busting logged with whole-second times", func(t *testing.T) {
		d := NewVolumetric(VolumetricConfig{}, NewHasher())
		s := &signals{}
		// 38 requests stamped one second, 38 the next: one burst. (The
		// sketch estimates 76 within about ten.)
		volumetricQueries(d, s, "203.0.113.120", "/", same(38, 10*time.Second), random(38))
		volumetricQueries(d, s, "203.0.113.120", "/", same(38, 11*time.Second), random(38))
		got := volumetricBurstSignals(s)
		if len(got) != 2 {
			t.Fatalf("%d burst signals, want 2 (at 30 and 60 new queries): %+v", len(got), s.got)
		}
		if got[0].Weight != 25 || got[0].Severity != Medium || got[0].Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.120"}) ||
			got[0].Evidence.Threshold != 30 || got[1].Evidence.Threshold != 60 {
			t.Errorf("signals %+v", got)
		}
	})
	t.Run("a sustained cache-busting flood signals every window", func(t *testing.T) {
		// The count of new queries is a sketch estimate: with a random
		// seed, about 1 run in 1,000 signals 4 times rather than 5 to 10.
		// A fixed seed makes the count repeatable.
		d := NewVolumetric(VolumetricConfig{}, NewFixedHasher())
		s := &signals{}
		volumetricQueries(d, s, "203.0.113.121", "/search", spread(400, 0, 10*time.Second), random(400))
		if n := len(volumetricBurstSignals(s)); n < 5 {
			t.Fatalf("%d burst signals in 10s at 40 new queries a second, want at least 5", n)
		}
	})
	t.Run("configured off", func(t *testing.T) {
		d := NewVolumetric(VolumetricConfig{BurstThreshold: -1}, NewHasher())
		s := &signals{}
		volumetricQueries(d, s, "203.0.113.122", "/", same(100, 0), random(100))
		if len(s.got) != 0 {
			t.Fatalf("signals %+v", s.got)
		}
	})
}

// TestVolumetricBurstBenign pins the traffic the burst check must leave
// alone.
func TestVolumetricBurstBenign(t *testing.T) {
	tests := []struct {
		name string
		run  func(d *Volumetric, s *signals)
	}{
		{"a person typing into a search box", func(d *Volumetric, s *signals) {
			word := "distributed rate limiting"
			var at []time.Duration
			var qs []string
			for i := 1; i <= len(word); i++ {
				at = append(at, time.Duration(i)*180*time.Millisecond)
				qs = append(qs, "q="+word[:i])
			}
			volumetricQueries(d, s, "192.0.2.50", "/v1/suggest", at, qs)
		}},
		{"a dashboard re-polling 24 panels every 10s", func(d *Volumetric, s *signals) {
			var qs []string
			for p := range 24 {
				qs = append(qs, fmt.Sprintf("panel=%d&range=1h", p))
			}
			for round := range 30 {
				at := make([]time.Duration, len(qs))
				for i := range at {
					at[i] = time.Duration(round)*10*time.Second + time.Duration(i)*20*time.Millisecond
				}
				volumetricQueries(d, s, "192.0.2.51", "/api/metrics", at, qs)
			}
		}},
		{"a page whose assets carry a version query", func(d *Volumetric, s *signals) {
			for i := range 60 {
				v := volumetricView("a", time.Duration(i)*10*time.Millisecond, "192.0.2.52", "", nil)
				v.Path, v.Query = fmt.Sprintf("/assets/chunk-%d.js", i), "v=3f9a2c"
				d.Request(v, s)
			}
		}},
		{"a reader paging through a list", func(d *Volumetric, s *signals) {
			var at []time.Duration
			var qs []string
			for p := range 80 {
				at = append(at, time.Duration(p)*700*time.Millisecond)
				qs = append(qs, fmt.Sprintf("page=%d", p+1))
			}
			volumetricQueries(d, s, "192.0.2.53", "/v1/items", at, qs)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewVolumetric(VolumetricConfig{}, NewHasher())
			s := &signals{}
			tc.run(d, s)
			if len(s.got) != 0 {
				t.Fatalf("%d signals, want none: %+v", len(s.got), s.got[0])
			}
		})
	}
}

// TestVolumetricBurstTrap keeps a known false positive visible: a
// dashboard whose 40 panels query one endpoint with a moving time range
// sends 40 new queries at once on every refresh.
func TestVolumetricBurstTrap(t *testing.T) {
	d := NewVolumetric(VolumetricConfig{}, NewHasher())
	s := &signals{}
	var at []time.Duration
	var qs []string
	for p := range 40 {
		at = append(at, time.Duration(p)*10*time.Millisecond)
		qs = append(qs, fmt.Sprintf("panel=%d&end=1795867200", p))
	}
	volumetricQueries(d, s, "192.0.2.54", "/api/query", at, qs)
	if got := volumetricBurstSignals(s); len(got) != 1 {
		t.Fatalf("burst signals %+v, want the one this trap costs per refresh", got)
	}
}

func TestVolumetricBurstQuietPathAllocs(t *testing.T) {
	d := NewVolumetric(VolumetricConfig{}, NewHasher())
	s := &signals{}
	v := volumetricView("q", 0, "192.0.2.60", "", volumetricSearch)
	v.Query = "q=shoes"
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		i++
		v.Time = volumetricT0.Add(time.Duration(i) * time.Second)
		d.Request(v, s)
	}); n != 0 {
		t.Fatalf("a request with a query: %v allocs", n)
	}
}
