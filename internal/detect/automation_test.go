package detect

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

const (
	automationChrome      = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	automationFullBrowser = request.ClaimsBrowser | request.AcceptLanguage | request.AcceptEncoding | request.Referer | request.FetchMetadata
)

func automationView(d time.Duration, ip, ua string, hints request.Hints) *request.View {
	return &request.View{
		ID:        fmt.Sprintf("req-%d", d),
		Time:      time.Unix(0, at(d)),
		ClientIP:  netip.MustParseAddr(ip),
		Method:    "GET",
		Path:      "/v1/items",
		UserAgent: ua,
		Hints:     hints,
	}
}

// automationRun sends requests at the given offsets and returns the
// 1-based index of the request each signal arrived on.
func automationRun(d *Automation, times []time.Duration, mk func(time.Duration) *request.View, sink *signals) []int {
	var when []int
	for i, t := range times {
		n := len(sink.got)
		d.Request(mk(t), sink)
		d.Response(mk(t), verdict.Outcome{Status: 200}, sink)
		for range sink.got[n:] {
			when = append(when, i+1)
		}
	}
	return when
}

// automationCadence returns n request times with gaps of base plus a
// uniform jitter in [-jitter, +jitter], from a fixed seed.
func automationCadence(n int, base, jitter time.Duration) []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]time.Duration, n)
	t := time.Duration(0)
	for i := range out {
		out[i] = t
		t += base
		if jitter > 0 {
			t += time.Duration(r.Int64N(int64(2*jitter))) - jitter
		}
	}
	return out
}

// automationHuman returns n request times with think times drawn from
// [lo, hi), from a fixed seed.
func automationHuman(n int, lo, hi time.Duration, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]time.Duration, n)
	t := time.Duration(0)
	for i := range out {
		out[i] = t
		t += lo + time.Duration(r.Int64N(int64(hi-lo)))
	}
	return out
}

func TestAutomationMetronome(t *testing.T) {
	d := NewAutomation(AutomationConfig{}, NewHasher())
	sink := &signals{}
	// A bot with a browser's headers, one request a second for 20 minutes.
	times := automationCadence(1200, time.Second, 5*time.Millisecond)
	when := automationRun(d, times, func(t time.Duration) *request.View {
		return automationView(t, "198.51.100.50", automationChrome, automationFullBrowser)
	}, sink)
	if len(when) == 0 || when[0] != 30 {
		t.Fatalf("signals at requests %v, want the first at the 30th (min_requests)", when)
	}
	if len(when) != 4 {
		t.Fatalf("signals at requests %v, want one per 5m window over 20m (4)", when)
	}
	for i, sig := range sink.got {
		if sig.Detector != "automation" || sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "198.51.100.50"}) || sig.Weight != 25 || sig.Severity != Medium {
			t.Errorf("signal %d: %+v", i, sig)
		}
		if ev := sig.Evidence; ev.Count >= 0.1 || ev.Threshold != 0.1 || ev.Window != 5*time.Minute || ev.RequestID == "" {
			t.Errorf("signal %d evidence %+v", i, ev)
		}
		if i > 0 && times[when[i]-1]-times[when[i-1]-1] < 5*time.Minute {
			t.Errorf("signals %d and %d less than a window apart", i-1, i)
		}
	}
}

func TestAutomationBenignTwins(t *testing.T) {
	const app = "ShopApp/5.2.1 (iPhone; iOS 17.4; Scale/3.00)"
	for _, tc := range []struct {
		name  string
		times []time.Duration
		ua    string
		hints request.Hints
	}{
		{"a human with jittered think times", automationHuman(600, time.Second, 15*time.Second, 1), automationChrome, automationFullBrowser},
		{"a fast human clicking every 1-4s", automationHuman(600, time.Second, 4*time.Second, 2), automationChrome, automationFullBrowser},
		{"an SPA loading bursts of assets", automationSPA(), automationChrome, automationFullBrowser},
		{"a mobile app with its own User-Agent", automationHuman(300, 500*time.Millisecond, 20*time.Second, 3), app, request.AcceptEncoding},
		{"a monitor polling every 30s", automationCadence(200, 30*time.Second, 0), "UptimeMonitor/1.0", request.AcceptEncoding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewAutomation(AutomationConfig{}, NewHasher())
			sink := &signals{}
			automationRun(d, tc.times, func(t time.Duration) *request.View {
				return automationView(t, "192.0.2.20", tc.ua, tc.hints)
			}, sink)
			if len(sink.got) != 0 {
				t.Fatalf("benign traffic signalled: %+v", sink.got)
			}
		})
	}
}

// automationSPA returns the times of a user whose page loads fetch ten
// resources within 200ms, with 2-20s between pages.
func automationSPA() []time.Duration {
	r := rand.New(rand.NewPCG(5, 5))
	var out []time.Duration
	t := time.Duration(0)
	for range 60 {
		for range 10 {
			out = append(out, t)
			t += time.Duration(r.Int64N(int64(20 * time.Millisecond)))
		}
		t += 2*time.Second + time.Duration(r.Int64N(int64(18*time.Second)))
	}
	return out
}

func TestAutomationOfficeBehindNAT(t *testing.T) {
	// 200 people behind one IP, each requesting every 5-60s: together a
	// busy, irregular stream.
	var times []time.Duration
	for u := range 200 {
		times = append(times, automationHuman(40, 5*time.Second, time.Minute, uint64(100+u))...)
	}
	slices.Sort(times)
	d := NewAutomation(AutomationConfig{}, NewHasher())
	sink := &signals{}
	automationRun(d, times, func(t time.Duration) *request.View {
		return automationView(t, "192.0.2.200", automationChrome, automationFullBrowser)
	}, sink)
	if len(sink.got) != 0 {
		t.Fatalf("an office signalled: %+v", sink.got)
	}
}

func TestAutomationPartnerBatchIsATrap(t *testing.T) {
	// A known false positive, kept visible: a partner's batch job is a
	// metronome too. Operators allowlist partner keys.
	d := NewAutomation(AutomationConfig{}, NewHasher())
	sink := &signals{}
	automationRun(d, automationCadence(100, 500*time.Millisecond, 10*time.Millisecond), func(t time.Duration) *request.View {
		v := automationView(t, "192.0.2.30", "PartnerSync/1.0", request.AcceptEncoding)
		v.Identity.KeyID = "k_partner"
		return v
	}, sink)
	if len(sink.got) != 1 || sink.got[0].Entity != (verdict.Entity{Scope: verdict.ScopeKey, Value: "k_partner"}) {
		t.Fatalf("signals %+v, want one against the partner key", sink.got)
	}
}

func TestAutomationUserAgents(t *testing.T) {
	const nmap = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"
	type want struct {
		weight float64
		sev    Severity
	}
	for _, tc := range []struct {
		name  string
		cfg   AutomationConfig
		uas   []string
		hints request.Hints
		want  []want
	}{
		{"curl", AutomationConfig{}, []string{"curl/8.4.0"}, 0, []want{{10, Low}}},
		{"case-insensitive", AutomationConfig{}, []string{"Python-Requests/2.31.0"}, 0, []want{{10, Low}}},
		{"Go's default client", AutomationConfig{}, []string{"Go-http-client/2.0"}, request.AcceptEncoding, []want{{10, Low}}},
		{"empty User-Agent alone", AutomationConfig{}, []string{""}, request.AcceptEncoding, nil},
		{"empty User-Agent and no Accept-Encoding", AutomationConfig{}, []string{""}, 0, []want{{10, Low}}},
		{"sqlmap", AutomationConfig{}, []string{"sqlmap/1.7.2#stable (https://sqlmap.org)"}, 0, []want{{45, High}}},
		{"nmap claiming a browser", AutomationConfig{}, []string{nmap}, request.ClaimsBrowser, []want{{45, High}, {15, Medium}}},
		{"a tool then a scanner in one window", AutomationConfig{}, []string{"curl/8.4.0", "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)"}, 0, []want{{10, Low}, {45, High}}},
		{"browser claim without browser headers", AutomationConfig{}, []string{automationChrome}, request.ClaimsBrowser, []want{{15, Medium}}},
		{"headless Chrome", AutomationConfig{}, []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"}, request.ClaimsBrowser | request.AcceptEncoding, []want{{10, Low}}},
		{"configured lists replace the defaults", AutomationConfig{ToolUserAgents: []string{"MyBot"}, ScannerUserAgents: []string{}}, []string{"curl/8.4.0", "sqlmap/1.7", "mybot/2"}, 0, []want{{10, Low}}},
		{"configured weights", AutomationConfig{ToolWeight: 3}, []string{"wget/1.21"}, 0, []want{{3, Low}}},
		{"a real browser", AutomationConfig{}, []string{automationChrome}, automationFullBrowser, nil},
		{"a mobile app", AutomationConfig{}, []string{"ShopApp/5.2.1 (iPhone; iOS 17.4; Scale/3.00)"}, request.AcceptEncoding, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewAutomation(tc.cfg, NewHasher())
			sink := &signals{}
			// 20 requests per User-Agent over a few minutes: once per window.
			times := automationHuman(20*len(tc.uas), time.Second, 10*time.Second, 9)
			for i, tm := range times {
				d.Request(automationView(tm, "203.0.113.80", tc.uas[i/20], tc.hints), sink)
			}
			if len(sink.got) != len(tc.want) {
				t.Fatalf("%d signals, want %d: %+v", len(sink.got), len(tc.want), sink.got)
			}
			for i, sig := range sink.got {
				if sig.Weight != tc.want[i].weight || sig.Severity != tc.want[i].sev || sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.80"}) {
					t.Errorf("signal %d: %+v, want %+v", i, sig, tc.want[i])
				}
				if sig.Evidence.Window != 5*time.Minute || sig.Evidence.Summary == "" {
					t.Errorf("signal %d evidence %+v", i, sig.Evidence)
				}
			}
		})
	}
}

func TestAutomationToolOncePerWindow(t *testing.T) {
	d := NewAutomation(AutomationConfig{}, NewHasher())
	sink := &signals{}
	when := automationRun(d, automationHuman(200, time.Second, 10*time.Second, 11), func(t time.Duration) *request.View {
		return automationView(t, "203.0.113.81", "curl/8.4.0", 0)
	}, sink)
	// 200 requests 1-10s apart span ~18m: a signal at the start and one per
	// 5m window after.
	if len(when) < 3 || len(when) > 4 || when[0] != 1 {
		t.Fatalf("signals at requests %v, want the 1st and then one per window", when)
	}
}

func TestAutomationStateBounded(t *testing.T) {
	d := NewAutomation(AutomationConfig{Common: Common{MaxEntities: 640}}, NewHasher())
	sink := &signals{}
	v := automationView(0, "10.0.0.0", automationChrome, automationFullBrowser)
	for i := range 100_000 {
		v.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		v.Time = time.Unix(0, at(time.Duration(i)*time.Millisecond))
		d.Request(v, sink)
	}
	s := d.Stats()
	if s.Entries > s.MaxEntries || s.MaxEntries != 640 || s.Evictions == 0 {
		t.Fatalf("stats %+v", s)
	}
	if len(sink.got) != 0 {
		t.Fatalf("a flood of one-request browsers signalled: %d", len(sink.got))
	}
}

func TestAutomationQuietPathAllocs(t *testing.T) {
	d := NewAutomation(AutomationConfig{}, NewHasher())
	sink := &signals{}
	browser := automationView(time.Second, "192.0.2.1", automationChrome, automationFullBrowser)
	tool := automationView(time.Second, "192.0.2.2", "curl/8.4.0", 0)
	for _, v := range []*request.View{browser, tool} {
		// AllocsPerRun's warm-up run signals the tool once; the measured runs
		// are within its window and quiet.
		if n := testing.AllocsPerRun(100, func() {
			d.Request(v, sink)
			d.Response(v, verdict.Outcome{Status: 200}, sink)
		}); n > tableUpdateAllocs() {
			t.Fatalf("%q: %v allocs, the table's own %v", v.UserAgent, n, tableUpdateAllocs())
		}
	}
	if len(sink.got) != 1 {
		t.Fatalf("signals %+v, want only the tool's first", sink.got)
	}
}

func BenchmarkAutomationRequest(b *testing.B) {
	d := NewAutomation(AutomationConfig{}, NewHasher())
	v := automationView(time.Second, "192.0.2.1", automationChrome, automationFullBrowser)
	sink := &signals{}
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Request(v, sink)
		}
	})
	b.Run("classify cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.classify(automationChrome)
		}
	})
	b.Run("classify uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = uaMatch(automationChrome, d.scanner) != "" || uaMatch(automationChrome, d.tools) != ""
		}
	})
}

// automationUserAgents returns n distinct browser-like User-Agents.
func automationUserAgents(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/%d.0", 60+i, 60+i)
	}
	return out
}

func TestAutomationRotatingUserAgent(t *testing.T) {
	uas := automationUserAgents(40)
	t.Run("a new User-Agent on every request", func(t *testing.T) {
		d := NewAutomation(AutomationConfig{}, NewHasher())
		sink := &signals{}
		// 40 requests over a minute and a half, irregular gaps.
		times := automationHuman(40, time.Second, 4*time.Second, 21)
		when := automationRun(d, times, func(tm time.Duration) *request.View {
			i := slices.Index(times, tm)
			return automationView(tm, "203.0.113.90", uas[i], automationFullBrowser)
		}, sink)
		// The sketch (seeded at random) may merge an agent or two with
		// another: the 10th request, or a few later.
		if len(when) != 1 || when[0] < 10 || when[0] > 13 {
			t.Fatalf("signals at requests %v, want one at the 10th (once per window)", when)
		}
		sig := sink.got[0]
		if sig.Weight != 20 || sig.Severity != Medium || sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.90"}) || sig.Evidence.Threshold != 10 {
			t.Fatalf("signal %+v", sig)
		}
	})
	t.Run("an office: 30 browsers behind one address, each browsing", func(t *testing.T) {
		// Each person arrives within the first ten minutes and opens a
		// page every 5-60s; a page is the document and a few API calls.
		r := rand.New(rand.NewPCG(3, 4))
		var times []time.Duration
		owner := map[time.Duration]int{}
		for u := range 30 {
			start := time.Duration(r.Int64N(int64(10 * time.Minute)))
			for _, page := range automationHuman(15, 5*time.Second, time.Minute, uint64(300+u)) {
				for k := range 1 + r.IntN(6) {
					tm := start + page + time.Duration(k)*80*time.Millisecond + time.Duration(u)*time.Microsecond
					times = append(times, tm)
					owner[tm] = u
				}
			}
		}
		slices.Sort(times)
		d := NewAutomation(AutomationConfig{}, NewHasher())
		sink := &signals{}
		automationRun(d, times, func(tm time.Duration) *request.View {
			return automationView(tm, "192.0.2.201", uas[owner[tm]], automationFullBrowser)
		}, sink)
		if len(sink.got) != 0 {
			t.Fatalf("an office signalled: %+v", sink.got)
		}
	})
	t.Run("turned off", func(t *testing.T) {
		d := NewAutomation(AutomationConfig{UAThreshold: -1}, NewHasher())
		sink := &signals{}
		for i, tm := range automationHuman(len(uas), time.Second, 9*time.Second, 8) {
			d.Request(automationView(tm, "203.0.113.91", uas[i], automationFullBrowser), sink)
		}
		if len(sink.got) != 0 {
			t.Fatalf("signals %+v", sink.got)
		}
	})
}

// TestAutomationEmptyUserAgentAddsToCadence checks that an empty
// User-Agent is no signal alone but weighs with a machine cadence.
func TestAutomationEmptyUserAgentAddsToCadence(t *testing.T) {
	d := NewAutomation(AutomationConfig{}, NewHasher())
	sink := &signals{}
	automationRun(d, automationCadence(40, time.Second, 0), func(tm time.Duration) *request.View {
		return automationView(tm, "203.0.113.92", "", request.AcceptEncoding)
	}, sink)
	if len(sink.got) != 2 || sink.got[0].Weight != 25 || sink.got[1].Weight != 10 || sink.got[1].Evidence.Summary != "empty User-Agent on a machine cadence" {
		t.Fatalf("signals %+v, want the cadence and the empty User-Agent with it", sink.got)
	}
	// A person-paced client without a User-Agent (a media player, an IoT
	// device) raises nothing.
	d = NewAutomation(AutomationConfig{}, NewHasher())
	sink = &signals{}
	automationRun(d, automationHuman(60, time.Second, 20*time.Second, 5), func(tm time.Duration) *request.View {
		return automationView(tm, "203.0.113.93", "", request.AcceptEncoding)
	}, sink)
	if len(sink.got) != 0 {
		t.Fatalf("signals %+v", sink.got)
	}
}

// TestAutomationRotatingUserAgentTrap keeps a known false positive
// visible: behind a carrier NAT, a dozen different devices that each make
// one request in a few minutes look like one client rotating its
// User-Agent.
func TestAutomationRotatingUserAgentTrap(t *testing.T) {
	d := NewAutomation(AutomationConfig{}, NewHasher())
	sink := &signals{}
	uas := automationUserAgents(12)
	for i, tm := range automationHuman(12, 5*time.Second, 30*time.Second, 13) {
		d.Request(automationView(tm, "100.64.0.9", uas[i], automationFullBrowser), sink)
	}
	if len(sink.got) != 1 || sink.got[0].Weight != 20 {
		t.Fatalf("signals %+v, want the one 20-point signal this trap costs", sink.got)
	}
}
