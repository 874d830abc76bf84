package detect

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

var sharingT0 = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

// sharingView builds a request at offset at from ip with an API key, a
// user and a fingerprint (any may be empty or zero).
func sharingView(at time.Duration, ip, key, user string, fp uint64) *request.View {
	return &request.View{
		Time:        sharingT0.Add(at),
		ClientIP:    netip.MustParseAddr(ip),
		Method:      "GET",
		Path:        "/v1/orders",
		Identity:    request.Identity{KeyID: key, User: user},
		Fingerprint: request.Fingerprint(fp),
	}
}

// sharingSink records signals with the 1-based index of the request that
// emitted them.
type sharingSink struct {
	got []sharingHit
	at  int
}

type sharingHit struct {
	Signal
	at int
}

func (s *sharingSink) Emit(sig Signal) { s.got = append(s.got, sharingHit{sig, s.at}) }

var _ Sink = (*sharingSink)(nil)

func (s *sharingSink) weight() float64 {
	w := 0.0
	for _, h := range s.got {
		w += h.Weight
	}
	return w
}

// sharingRun feeds views to d in order, naming request i "r<i>".
func sharingRun(d *Sharing, views []*request.View) *sharingSink {
	s := &sharingSink{}
	for i, v := range views {
		s.at = i + 1
		v.ID = fmt.Sprintf("r%d", i+1)
		d.Request(v, s)
	}
	return s
}

func TestSharingAttacks(t *testing.T) {
	const fp = 0xF00D
	tests := []struct {
		name       string
		views      func() []*request.View
		entity     verdict.Entity
		weight     float64
		severity   Severity
		threshold  float64
		window     time.Duration
		firstBy    [2]int // the first signal comes at a request in this range
		notWeights []float64
	}{
		{
			name: "leaked key from a botnet: many networks",
			views: func() (vs []*request.View) {
				for i := range 60 {
					vs = append(vs, sharingView(time.Duration(i)*30*time.Second, fmt.Sprintf("198.%d.%d.7", 18+i/200, i%200), "k_leak", "", fp))
				}
				return vs
			},
			entity: verdict.Entity{Scope: verdict.ScopeKey, Value: "k_leak"}, weight: 45, severity: High, threshold: 20, window: time.Hour,
			firstBy: [2]int{20, 27},
		},
		{
			name: "one key from many addresses in a few networks",
			views: func() (vs []*request.View) {
				for i := range 80 {
					vs = append(vs, sharingView(time.Duration(i)*20*time.Second, fmt.Sprintf("192.0.%d.%d", i%5, 10+i), "k_ips", "", fp))
				}
				return vs
			},
			entity: verdict.Entity{Scope: verdict.ScopeKey, Value: "k_ips"}, weight: 30, severity: Medium, threshold: 50, window: time.Hour,
			firstBy: [2]int{46, 62}, notWeights: []float64{45},
		},
		{
			name: "one key with many client fingerprints",
			views: func() (vs []*request.View) {
				for i := range 20 {
					vs = append(vs, sharingView(time.Duration(i)*time.Minute, "203.0.113.5", "k_fp", "", uint64(1000+i)))
				}
				return vs
			},
			entity: verdict.Entity{Scope: verdict.ScopeKey, Value: "k_fp"}, weight: 25, severity: Low, threshold: 10, window: time.Hour,
			firstBy: [2]int{10, 15},
		},
		{
			name: "stolen user session from many networks",
			views: func() (vs []*request.View) {
				for i := range 30 {
					vs = append(vs, sharingView(time.Duration(i)*time.Minute, fmt.Sprintf("100.%d.1.1", 10+i), "", "mallory", fp))
				}
				return vs
			},
			entity: verdict.Entity{Scope: verdict.ScopeUser, Value: "mallory"}, weight: 45, severity: High, threshold: 20, window: time.Hour,
			firstBy: [2]int{20, 27},
		},
		{
			name: "one IP cycling through API keys",
			views: func() (vs []*request.View) {
				for i := range 15 {
					vs = append(vs, sharingView(time.Duration(i)*time.Hour, "203.0.113.9", fmt.Sprintf("k_stolen%d", i), "", fp))
				}
				return vs
			},
			entity: verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.9"}, weight: 35, severity: Medium, threshold: 10, window: 24 * time.Hour,
			firstBy: [2]int{10, 15},
		},
		{
			name: "one user cycling through API keys",
			views: func() (vs []*request.View) {
				for i := range 15 {
					vs = append(vs, sharingView(time.Duration(i)*time.Hour, "203.0.113.10", fmt.Sprintf("k_gen%d", i), "bob", fp))
				}
				return vs
			},
			entity: verdict.Entity{Scope: verdict.ScopeUser, Value: "bob"}, weight: 25, severity: Low, threshold: 10, window: 24 * time.Hour,
			firstBy: [2]int{10, 15}, notWeights: []float64{35},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewSharing(SharingConfig{}, NewHasher())
			s := sharingRun(d, tc.views())
			var first *sharingHit
			for i := range s.got {
				h := &s.got[i]
				for _, w := range tc.notWeights {
					if h.Weight == w {
						t.Errorf("unexpected signal %+v", h.Signal)
					}
				}
				if first == nil && h.Entity == tc.entity && h.Weight == tc.weight {
					first = h
				}
			}
			if first == nil {
				t.Fatalf("no signal for %v of weight %v; got %+v", tc.entity, tc.weight, s.got)
			}
			if first.Detector != "sharing" || first.Severity != tc.severity {
				t.Errorf("detector %q severity %v", first.Detector, first.Severity)
			}
			ev := first.Evidence
			if ev.Threshold != tc.threshold || ev.Window != tc.window || ev.Count < tc.threshold {
				t.Errorf("evidence = %+v, want threshold %v window %v", ev, tc.threshold, tc.window)
			}
			if first.at < tc.firstBy[0] || first.at > tc.firstBy[1] {
				t.Errorf("first signal at request %d, want %d..%d", first.at, tc.firstBy[0], tc.firstBy[1])
			}
			if ev.RequestID != fmt.Sprintf("r%d", first.at) || !strings.Contains(ev.Summary, tc.entity.String()) {
				t.Errorf("request id %q, summary %q", ev.RequestID, ev.Summary)
			}
		})
	}
}

// TestSharingLeakedKeyEscalates checks that a key used from ever more
// networks keeps signalling, into the block band, and is forgotten once
// its window has passed.
func TestSharingLeakedKeyEscalates(t *testing.T) {
	d := NewSharing(SharingConfig{}, NewHasher())
	var vs []*request.View
	for i := range 90 {
		vs = append(vs, sharingView(time.Duration(i)*20*time.Second, fmt.Sprintf("198.51.%d.7", i), "k_leak", "", 1))
	}
	s := sharingRun(d, vs)
	if w := s.weight(); w < 80 {
		t.Errorf("total weight %v from 90 networks in 30m, want the block band (80)", w)
	}
	steps := 0
	for _, h := range s.got {
		if h.Weight == 45 {
			steps++
			if want := 20 * float64(steps); h.Evidence.Threshold != want {
				t.Errorf("prefix step %d threshold %v, want %v", steps, h.Evidence.Threshold, want)
			}
		}
	}
	if steps < 3 {
		t.Errorf("%d prefix steps for 90 networks, want >= 3", steps)
	}
	// Three hours later the old networks are forgotten: five new ones are quiet.
	s2 := &sharingSink{}
	for i := range 5 {
		d.Request(sharingView(3*time.Hour+time.Duration(i)*time.Minute, fmt.Sprintf("198.18.%d.1", i), "k_leak", "", 1), s2)
	}
	if len(s2.got) != 0 {
		t.Errorf("signals after the window passed: %+v", s2.got)
	}
}

func TestSharingBenign(t *testing.T) {
	tests := []struct {
		name  string
		views func() []*request.View
	}{
		{
			name: "mobile user between home wifi, office and 4G",
			views: func() (vs []*request.View) {
				for m := range 16 * 60 { // a request a minute for 16 hours
					ip := "192.0.2.10" // home
					switch {
					case m >= 60 && m < 90, m >= 600 && m < 630:
						ip = fmt.Sprintf("100.64.3.%d", m%7) // 4G, the carrier moves it around its pool
					case m >= 90 && m < 600:
						ip = "198.51.100.20" // office
					}
					vs = append(vs, sharingView(time.Duration(m)*time.Minute, ip, "mobile-app", "alice", 0xA11CE))
				}
				return vs
			},
		},
		{
			name: "partner batch job autoscaled to 30 IPs in two /24s",
			views: func() (vs []*request.View) {
				for m := range 6 * 60 {
					for n := range 30 {
						ip := fmt.Sprintf("10.20.%d.%d", 1+n%2, 10+n)
						for r := range 5 {
							vs = append(vs, sharingView(time.Duration(m)*time.Minute+time.Duration(n*2+r)*time.Second, ip, "partner", "", 0xBA7C4))
						}
					}
				}
				return vs
			},
		},
		{
			name: "developer rotating one key a day",
			views: func() (vs []*request.View) {
				for day := range 30 {
					for r := range 100 {
						vs = append(vs, sharingView(time.Duration(day)*24*time.Hour+time.Duration(r)*5*time.Minute, "192.0.2.50", fmt.Sprintf("dev-%d", day), "", 0xDE5))
					}
				}
				return vs
			},
		},
		{
			name: "five developers behind one office NAT, a key each",
			views: func() (vs []*request.View) {
				for m := range 8 * 60 {
					vs = append(vs, sharingView(time.Duration(m)*time.Minute, "198.51.100.1", fmt.Sprintf("dev-%d", m%5), "", uint64(m%5)))
				}
				return vs
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sharingRun(NewSharing(SharingConfig{}, NewHasher()), tc.views())
			if len(s.got) != 0 {
				t.Errorf("%d signals on benign traffic, first %+v", len(s.got), s.got[0].Signal)
			}
		})
	}
}

// TestSharingAutoscalingStaysBelowBlock: even a large autoscaling group
// inside two networks with one fingerprint cannot reach the block band
// on its own, because the addresses check escalates at most twice.
func TestSharingAutoscalingStaysBelowBlock(t *testing.T) {
	var vs []*request.View
	for m := range 60 {
		for n := range 250 {
			vs = append(vs, sharingView(time.Duration(m)*time.Minute+time.Duration(n)*200*time.Millisecond,
				fmt.Sprintf("10.20.%d.%d", 1+n%2, n), "partner", "", 0xBA7C4))
		}
	}
	s := sharingRun(NewSharing(SharingConfig{}, NewHasher()), vs)
	if w := s.weight(); w >= 80 {
		t.Errorf("total weight %v for one partner in two /24s, want < 80: %+v", w, s.got)
	}
	for _, h := range s.got {
		if h.Weight != 30 {
			t.Errorf("unexpected signal %+v", h.Signal)
		}
	}
}

func TestSharingChecksTurnOff(t *testing.T) {
	d := NewSharing(SharingConfig{Prefixes: -1, IPs: -1, Fingerprints: -1, KeysPerIP: -1, KeysPerUser: -1}, NewHasher())
	s := &sharingSink{}
	for i := range 100 {
		d.Request(sharingView(time.Duration(i)*time.Second, fmt.Sprintf("198.51.%d.7", i), "k_leak", "", uint64(i+1)), s)
		d.Request(sharingView(time.Duration(i)*time.Second, "203.0.113.9", fmt.Sprintf("k%d", i), "", 1), s)
	}
	if len(s.got) != 0 {
		t.Errorf("signals with every check off: %+v", s.got[0].Signal)
	}
}

func TestSharingBounded(t *testing.T) {
	d := NewSharing(SharingConfig{Common: Common{MaxEntities: 1024}}, NewHasher())
	s := &sharingSink{}
	for i := range 20_000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		d.Request(sharingView(time.Duration(i)*time.Millisecond, ip, fmt.Sprintf("k%d", i), "", 1), s)
	}
	st := d.Stats()
	if st.Entries > st.MaxEntries || st.MaxEntries > 1024 || st.Evictions == 0 {
		t.Errorf("stats = %+v, want entries <= max entries <= 1024 and evictions", st)
	}
	d.Sweep(sharingT0.Add(100 * 24 * time.Hour).UnixNano())
	if st := d.Stats(); st.Entries != 0 || st.Expirations == 0 {
		t.Errorf("after sweep: %+v", st)
	}
}

// TestSharingQuietPathAllocs: a request that fires nothing allocates
// nothing beyond what its Table.Update calls allocate by themselves
// (nothing, since Table.Update keeps its entry in the shard).
func TestSharingQuietPathAllocs(t *testing.T) {
	d := NewSharing(SharingConfig{}, NewHasher())
	s := &sharingSink{}
	tb := NewTable[sharingIdentity](64, time.Minute)
	perUpdate := testing.AllocsPerRun(100, func() { tb.Update(1, 1, func(*sharingIdentity) {}) })
	for _, tc := range []struct {
		name    string
		v       *request.View
		updates float64
	}{
		{"anonymous: nothing to track", sharingView(time.Second, "203.0.113.8", "", "", 0xF00D), 0},
		{"key: identity and churn by IP", sharingView(time.Second, "203.0.113.7", "k_live", "", 0xF00D), 2},
		{"key and user: identity and churn by user", sharingView(time.Second, "2001:db8::7", "k_live", "carol", 0xF00D), 2},
	} {
		d.Request(tc.v, s)
		if n := testing.AllocsPerRun(1000, func() { d.Request(tc.v, s) }); n != tc.updates*perUpdate {
			t.Errorf("%s: %v allocations per request, want %v (%v table updates)", tc.name, n, tc.updates*perUpdate, tc.updates)
		}
	}
	if len(s.got) != 0 {
		t.Errorf("signals: %+v", s.got)
	}
}

func TestSharingConcurrent(t *testing.T) {
	d := NewSharing(SharingConfig{}, NewHasher())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			s := &sharingSink{}
			for i := range 2000 {
				d.Request(sharingView(time.Duration(i)*time.Second, fmt.Sprintf("198.%d.%d.7", 18+g, i%250), "k_shared", "", uint64(i%7)), s)
			}
		})
	}
	wg.Wait()
	if st := d.Stats(); st.Entries == 0 {
		t.Errorf("stats = %+v", st)
	}
}

func BenchmarkSharingRequest(b *testing.B) {
	d := NewSharing(SharingConfig{}, NewHasher())
	v := sharingView(time.Second, "203.0.113.7", "k_live", "", 0xF00D)
	s := &sharingSink{}
	b.ReportAllocs()
	for b.Loop() {
		d.Request(v, s)
	}
}

// TestSharingRefusedKeys: keys the upstream refused (401, 403) count
// against the client IP that sent them, at 5, 10, ...; accepted keys, the
// guard's own refusals, a verified identity's and a user's do not.
func TestSharingRefusedKeys(t *testing.T) {
	d := NewSharing(SharingConfig{}, NewFixedHasher()) // the same sketch bits in every run
	s := &sharingSink{}
	answer := func(i int, ip, key string, o verdict.Outcome) {
		s.at = i
		v := sharingView(time.Duration(i)*time.Second, ip, key, "", 1)
		v.ID = fmt.Sprintf("r%d", i)
		d.Response(v, o, s)
	}
	for i := 1; i <= 12; i++ {
		answer(i, "203.0.113.80", fmt.Sprintf("k_guess%d", i), verdict.Outcome{Status: []int{401, 403}[i%2]})
		answer(i, "203.0.113.80", "k_guess1", verdict.Outcome{Status: 401}) // the same key again counts once
	}
	// The sketch may count two keys as one (a shared bit of 256), so a
	// step may come a key later.
	if len(s.got) != 2 || s.got[0].at < 5 || s.got[0].at > 6 || s.got[1].at < 10 || s.got[1].at > 12 {
		t.Fatalf("signals %+v, want two, at the 5th and 10th refused key (a key or two later)", s.got)
	}
	got := s.got[0]
	if got.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.80"}) || got.Weight != 45 || got.Severity != High ||
		!strings.Contains(got.Evidence.Summary, "refused by the upstream") || got.Evidence.RequestID != fmt.Sprintf("r%d", got.at) {
		t.Fatalf("signal %+v", got.Signal)
	}
	s.got = nil
	for i := 1; i <= 20; i++ {
		answer(i, "198.51.100.1", fmt.Sprintf("k_ok%d", i), verdict.Outcome{Status: 200})
		answer(i, "198.51.100.2", fmt.Sprintf("k_own%d", i), verdict.Outcome{Status: 403, Guard: true})
		answer(i, "198.51.100.3", fmt.Sprintf("k_missing%d", i), verdict.Outcome{Status: 404})
		v := sharingView(time.Duration(i)*time.Second, "198.51.100.4", fmt.Sprintf("k_app%d", i), "user-1", 1)
		d.Response(v, verdict.Outcome{Status: 401}, s)
		v = sharingView(time.Duration(i)*time.Second, "198.51.100.5", fmt.Sprintf("declared%d", i), "", 1)
		v.Identity.Verified = true
		d.Response(v, verdict.Outcome{Status: 403}, s)
	}
	if len(s.got) != 0 {
		t.Fatalf("signal without refused keys: %+v", s.got[0].Signal)
	}
	// Off with a negative threshold.
	off := NewSharing(SharingConfig{RefusedKeysPerIP: -1}, NewHasher())
	for i := range 20 {
		off.Response(sharingView(time.Duration(i)*time.Second, "203.0.113.81", fmt.Sprintf("k%d", i), "", 1), verdict.Outcome{Status: 401}, s)
	}
	if len(s.got) != 0 {
		t.Fatal("refused-keys check signals when turned off")
	}
}
