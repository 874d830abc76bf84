package engine

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	"github.com/abuseguard/abuseguard/internal/telemetry"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// world is a Policy with a decision store on a fake clock.
type world struct {
	t   testing.TB
	p   *Policy
	ds  decision.Store
	now time.Time
	n   int
}

func newWorld(t testing.TB, yaml string) *world {
	t.Helper()
	w := &world{t: t, now: t0}
	c, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := decision.Open(decision.Options{Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	shared := NewShared(Options{Limits: memory.New(memory.Options{}), RiskEntities: 10000})
	shared.Decisions = ds
	p, err := Compile(c, shared)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	w.p, w.ds = p, ds
	return w
}

// do sends one request and, when it is allowed, reports the upstream's
// status to the detectors. It returns the verdict's action, status and reason.
func (w *world) do(ip, method, target string, upstream int, headers ...string) (verdict.Action, int, string) {
	w.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = ip + ":40000"
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ": ")
		r.Header.Set(k, v)
	}
	v := &request.View{ID: fmt.Sprintf("r%d", w.now.UnixNano())}
	if prob := w.p.Parser.ParseHTTP(r, w.now, v); prob != nil {
		w.t.Fatalf("parse: %v", prob)
	}
	vd := w.p.Decide(v)
	action, status, reason := vd.Action, vd.Status, vd.Reason
	if action == verdict.Allow {
		w.p.Observe(v, verdict.Outcome{Status: upstream, Latency: time.Millisecond})
		status = upstream
	}
	vd.Finish(w.now)
	w.n++
	w.now = w.now.Add(time.Duration(30+w.n*37%60) * time.Millisecond) // irregular, like real clients
	return action, status, reason
}

func TestProbingIsBlockedBeforeFortiethPath(t *testing.T) {
	w := newWorld(t, "")
	blockedAt := 0
	for i := 1; i <= 40; i++ {
		if _, status, reason := w.do("203.0.113.66", "GET", fmt.Sprintf("/missing-page-%d", i), 404); status == 403 {
			if reason != "blocked" {
				t.Fatalf("403 with reason %q", reason)
			}
			blockedAt = i
			break
		}
		// A benign client at the same time is untouched.
		if a, _, _ := w.do("198.51.100.7", "GET", "/", 200, "User-Agent: Mozilla/5.0"); a != verdict.Allow {
			t.Fatalf("benign client refused at probe %d", i)
		}
	}
	if blockedAt == 0 || blockedAt >= 40 {
		t.Fatalf("prober blocked at request %d, want before the 40th", blockedAt)
	}
	ds := w.ds.ForEntity(verdict.ScopeIP, "203.0.113.66", w.now)
	if len(ds) != 1 || ds[0].Action != verdict.Block || ds[0].Source != "detector:probing" || len(ds[0].Evidence) == 0 {
		t.Fatalf("decisions = %+v", ds)
	}
	if a, _, _ := w.do("198.51.100.7", "GET", "/", 200); a != verdict.Allow {
		t.Fatal("benign client refused after the block")
	}
	// The block expires with its TTL (the ladder's first step), and once
	// the score has decayed the client is served again.
	w.now = ds[0].Expires
	if got := w.ds.ForEntity(verdict.ScopeIP, "203.0.113.66", w.now); len(got) != 0 {
		t.Fatalf("decision still active at its expiry: %+v", got)
	}
	w.now = w.now.Add(time.Hour)
	if a, _, _ := w.do("203.0.113.66", "GET", "/", 200); a != verdict.Allow {
		t.Fatal("refused an hour after the block expired")
	}
}

func TestIdentityScopingSparesTheOffice(t *testing.T) {
	w := newWorld(t, knownKeys("office-user-%d", 20))
	// An anonymous abuser behind the office NAT gets the IP blocked.
	for i := range 40 {
		w.do("192.0.2.10", "GET", fmt.Sprintf("/probe-%d", i), 404)
	}
	if _, status, _ := w.do("192.0.2.10", "GET", "/", 200); status != 403 {
		t.Fatalf("anonymous abuser got %d, want 403", status)
	}
	// Office users with known keys behind the same IP are judged by their own identity.
	for i := range 20 {
		if a, _, _ := w.do("192.0.2.10", "GET", "/", 200, fmt.Sprintf("X-API-Key: office-user-%d", i)); a != verdict.Allow {
			t.Fatalf("office user %d refused because of the NAT's decision", i)
		}
	}
	// A made-up key is no identity: it does not shield the blocked address.
	if _, status, _ := w.do("192.0.2.10", "GET", "/", 200, "X-API-Key: made-up-key"); status != 403 {
		t.Fatalf("blocked address with a made-up key got %d, want 403", status)
	}
	// A decision on one key does not touch the others.
	if _, _, err := w.ds.Add(decision.Decision{Scope: verdict.ScopeKey, Value: w.keyID("bad-key"), Action: verdict.Block, Reason: "manual", Source: "manual"}); err != nil {
		t.Fatal(err)
	}
	if _, status, _ := w.do("192.0.2.11", "GET", "/", 200, "X-API-Key: bad-key"); status != 403 {
		t.Fatalf("blocked key got %d", status)
	}
	if a, _, _ := w.do("192.0.2.11", "GET", "/", 200, "X-API-Key: good-key"); a != verdict.Allow {
		t.Fatal("another key from the same IP refused")
	}
}

// knownKeys returns config that knows the n API keys fmt.Sprintf(format,
// i), each with its own key as id.
func knownKeys(format string, n int) string {
	var b strings.Builder
	b.WriteString("identity:\n  api_key:\n    keys:\n")
	for i := range n {
		key := fmt.Sprintf(format, i)
		fmt.Fprintf(&b, "      - {id: %s, sha256: %x}\n", key, sha256.Sum256([]byte(key)))
	}
	return b.String()
}

// keyID returns the HMAC id the policy gives an API key.
func (w *world) keyID(key string) string { return w.p.Parser.Identifier.Pseudonym("k_", key) }

func TestAllowlistWins(t *testing.T) {
	w := newWorld(t, "allowlist: {cidrs: [203.0.113.0/24]}")
	for i := range 60 {
		if a, _, _ := w.do("203.0.113.5", "GET", fmt.Sprintf("/.env%d", i), 404, "User-Agent: sqlmap/1.7"); a != verdict.Allow {
			t.Fatalf("allowlisted client refused at request %d", i)
		}
	}
	if n := w.ds.Len(); n != 0 {
		t.Fatalf("%d decisions on an allowlisted client", n)
	}
}

func TestHoneypotBlocksAtOnce(t *testing.T) {
	w := newWorld(t, `
routes:
  - {name: home, match: "GET /"}
  - {name: old-admin, match: "GET /admin-backup", kind: decoy}
`)
	w.do("203.0.113.9", "GET", "/admin-backup", 200)
	if _, status, _ := w.do("203.0.113.9", "GET", "/", 200); status != 403 {
		t.Fatalf("after touching a decoy: %d, want 403", status)
	}
	ds := w.ds.ForEntity(verdict.ScopeIP, "203.0.113.9", w.now)
	if len(ds) != 1 || ds[0].Reason != "honeypot" {
		t.Fatalf("decisions %+v", ds)
	}
}

func TestIgnoringRetryAfterEscalates(t *testing.T) {
	w := newWorld(t, "limits:\n  - {name: per-ip, key: [ip], rate: 60/m, burst: 10}\n")
	// A client that overshoots its limit a few times is refused, not judged.
	for range 15 {
		w.do("198.51.100.20", "GET", "/", 200, "User-Agent: Mozilla/5.0")
	}
	if n := len(w.ds.ForEntity(verdict.ScopeIP, "198.51.100.20", w.now)); n != 0 {
		t.Fatalf("%d decisions on a client that overshot by 5", n)
	}
	// One that keeps sending through its 429s climbs to a block.
	reason := ""
	for i := range 60 {
		if _, status, r := w.do("203.0.113.20", "GET", "/", 200, "User-Agent: Mozilla/5.0"); status == 403 {
			reason = r
			if i < 30 {
				t.Fatalf("blocked after %d requests, want the rate limit's 429s first", i)
			}
			break
		}
	}
	ds := w.ds.ForEntity(verdict.ScopeIP, "203.0.113.20", w.now)
	if reason != "blocked" || len(ds) != 1 || ds[0].Reason != "rate_limited" || ds[0].Action != verdict.Block {
		t.Fatalf("reason %q, decisions %+v: want a block for rate_limited", reason, ds)
	}
	if got := ds[0].Evidence[0].Summary; !strings.Contains(got, "rate limited by per-ip") {
		t.Errorf("evidence %q does not name the limit", got)
	}
}

func TestRulesActAndRecord(t *testing.T) {
	// The firstrequest detector's decoy check would challenge the new
	// client's /export, which the shadow rule below must find allowed;
	// this test is about the rules (TestRuleEscalatesADetectorsFirstDecision
	// is about both).
	w := newWorld(t, `
detectors:
  firstrequest: {decoy_words: []}
identity:
  api_key:
    keys:
      - {id: internal-tool, sha256: f47cad35f6f99d49f4a2e8ad6da5b64cf93b99bc9b02abed86bcf8095c575352, plan: internal}
limits:
  - {name: per-ip, key: [ip], rate: 2/m}
rules:
  - name: internal-unlimited
    when: identity.plan == "internal"
    action: allow
  - name: no-anonymous-admin
    when: request.path.startsWith("/admin") && !identity.authenticated
    action: block
    scope: ip
    ttl: 1h
    reason: anonymous_admin
  - name: new-idea
    when: request.path == "/export"
    action: block
    mode: shadow
`)
	_, status, reason := w.do("203.0.113.20", "GET", "/admin/users", 200)
	if status != 403 || reason != "anonymous_admin" {
		t.Fatalf("admin probe: %d %s", status, reason)
	}
	// The rule's TTL made a decision: the IP stays blocked elsewhere.
	if _, status, reason := w.do("203.0.113.20", "GET", "/", 200); status != 403 || reason != "blocked" {
		t.Fatalf("after the rule: %d %s", status, reason)
	}
	// A shadow rule records what it would do and lets the request through.
	vd := w.p.Decide(w.view("203.0.113.21", "/export"))
	if vd.Action != verdict.Allow || !vd.Would || vd.Rule != "rule:new-idea" {
		t.Fatalf("shadow rule verdict %+v", vd)
	}
	vd.Finish(w.now)
	// An allow rule lifts a limit's refusal for the internal plan.
	for i := range 5 {
		if a, _, _ := w.do("203.0.113.30", "GET", "/", 200, "X-API-Key: demo-gold-key"); a != verdict.Allow {
			t.Fatalf("internal tool refused at request %d", i)
		}
	}
	if _, status, _ := w.do("203.0.113.31", "GET", "/", 200); status != 200 {
		t.Fatal("first anonymous request refused")
	}
	w.do("203.0.113.31", "GET", "/", 200)
	if _, status, _ := w.do("203.0.113.31", "GET", "/", 200); status != 429 {
		t.Fatalf("third anonymous request: %d, want 429 from the limit", status)
	}
}

func (w *world) view(ip, target string) *request.View {
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = ip + ":1"
	v := &request.View{}
	w.p.Parser.ParseHTTP(r, w.now, v)
	return v
}

// TestOrdinaryBrowsingIsNotFlagged drives the default policy with a fast
// human in a browser (pages, assets, a few stale links) and a mobile app
// retrying on 5xx, and expects no decision at all.
func TestOrdinaryBrowsingIsNotFlagged(t *testing.T) {
	w := newWorld(t, "")
	browser := []string{"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "Accept-Language: en", "Accept-Encoding: gzip", "Referer: https://shop.example/"}
	for page := range 120 {
		w.do("198.51.100.20", "GET", fmt.Sprintf("/products/%d", page), 200, browser...)
		for _, asset := range []string{"/static/app.js", "/static/site.css", "/static/logo.png"} {
			w.do("198.51.100.20", "GET", asset, 200, browser...)
		}
		if page%30 == 0 {
			w.do("198.51.100.20", "GET", fmt.Sprintf("/old-link-%d", page), 404, browser...)
		}
		w.now = w.now.Add(time.Duration(2+page%7) * time.Second)
	}
	app := []string{"User-Agent: ShopApp/4.2 (iOS 18)", "X-API-Key: mobile-app-key"}
	for i := range 200 {
		status := 200
		if i%10 < 3 {
			status = 503
		}
		w.do("198.51.100.30", "GET", "/api/cart", status, app...)
		w.now = w.now.Add(time.Second)
	}
	if n := w.ds.Len(); n != 0 {
		t.Fatalf("ordinary traffic caused %d decisions: %+v", n, w.ds.List(w.now))
	}
}

// BenchmarkDecisionAllDetectors is one full request with every detector on
// (the default policy): parse, decide, observe the outcome, finish.
func BenchmarkDecisionAllDetectors(b *testing.B) {
	w := newWorld(b, `
routes:
  - {name: get-user, match: "GET /v1/users/{id}"}
`)
	r := httptest.NewRequest("GET", "/v1/users/42?page=2", nil)
	r.RemoteAddr = "203.0.113.7:40000"
	r.Header.Set("X-API-Key", "a-partner-key")
	r.Header.Set("User-Agent", "partner-sync/2.1")
	v := &request.View{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		v.Reset()
		now := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		if prob := w.p.Parser.ParseHTTP(r, now, v); prob != nil {
			b.Fatal(prob)
		}
		vd := w.p.Decide(v)
		w.p.Observe(v, verdict.Outcome{Status: 200, Latency: time.Millisecond})
		vd.Finish(now)
	}
}

// BenchmarkBytesPerEntity reports the heap that detection holds per
// tracked client (bytes/entity): n distinct anonymous IPs each make a few
// requests through every detector (risk table included when they signal).
func BenchmarkBytesPerEntity(b *testing.B) {
	const n = 100_000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := newWorld(b, `
routes:
  - {name: item, match: "GET /items/{id}"}
  - {name: login, match: "POST /login", kind: login, field: username}
detectors:
  probing: {max_entities: 200000}
  automation: {max_entities: 200000}
  scraping: {max_entities: 200000}
  credentials: {max_entities: 200000}
  enumeration: {max_entities: 200000}
  sharing: {max_entities: 200000}
  volumetric: {max_entities: 200000}
`)
		r := httptest.NewRequest("GET", "/items/1", nil)
		r.Header.Set("User-Agent", "Mozilla/5.0")
		v := &request.View{}
		for i := range n {
			r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)
			for j := range 3 {
				v.Reset()
				r.URL.Path = fmt.Sprintf("/items/%d", j)
				w.p.Parser.ParseHTTP(r, w.now, v)
				vd := w.p.Decide(v)
				w.p.Observe(v, verdict.Outcome{Status: 200})
				vd.Finish(w.now)
				w.now = w.now.Add(time.Millisecond)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/entity")
		runtime.KeepAlive(w)
	}
}

// TestShadowWouldActIsAnEvent checks that every shadow "would act" (a limit,
// a rule, a detector) is written as an event.
func TestShadowWouldActIsAnEvent(t *testing.T) {
	var out bytes.Buffer
	w := newWorld(t, `
detectors:
  probing: {mode: shadow}
  firstrequest: {mode: shadow}   # its decoy check would challenge /export before the rule
limits:
  - {name: new-limit, key: [ip], rate: 1/m, mode: shadow}
rules:
  - {name: new-rule, when: 'request.path == "/export"', action: block, mode: shadow}
`)
	w.p.shared.Events = telemetry.NewEvents(&out)
	w.do("203.0.113.40", "GET", "/", 200)
	w.do("203.0.113.40", "GET", "/", 200)       // the shadow limit would throttle
	w.do("203.0.113.41", "GET", "/export", 200) // the shadow rule would block
	w.do("203.0.113.42", "GET", "/.env", 404)   // the shadow detector would score
	events := out.String()
	for _, want := range []string{`"rule":{"name":"new-limit"`, `"rule":{"name":"rule:new-rule"`, `"detector":"probing"`} {
		if !strings.Contains(events, want) {
			t.Errorf("no would_act event with %s in:\n%s", want, events)
		}
	}
	if n := strings.Count(events, `"action":"would_act"`); n < 3 {
		t.Errorf("%d would_act events, want at least 3:\n%s", n, events)
	}
	if w.ds.Len() != 0 {
		t.Errorf("shadow mode made %d decisions", w.ds.Len())
	}
}

// TestOwnRefusalsFeedNoDetector: outcomes the guard produced itself
// (Guard: a refusal on the way to the upstream) reach no detector, so a
// refused client is not flagged again for the 403s it was given; the same
// statuses from the upstream are probing.
func TestOwnRefusalsFeedNoDetector(t *testing.T) {
	for _, guard := range []bool{true, false} {
		w := newWorld(t, "")
		signals := map[string]int{}
		w.p.shared.OnSignal = func(s detect.Signal) { signals[s.Detector]++ }
		for i := range 60 {
			v := w.view("203.0.113.50", fmt.Sprintf("/v1/things/x%d", i))
			w.p.Observe(v, verdict.Outcome{Status: 403, Latency: time.Millisecond, Guard: guard})
			w.now = w.now.Add(700 * time.Millisecond)
		}
		switch {
		case guard && len(signals) != 0:
			t.Errorf("the guard's own answers produced signals %v", signals)
		case !guard && signals["probing"] == 0:
			t.Errorf("403s from the upstream on 60 distinct paths produced %v, want probing", signals)
		}
		if ds := w.ds.ForEntity(verdict.ScopeIP, "203.0.113.50", w.now); guard && len(ds) != 0 {
			t.Errorf("decisions from the guard's own answers: %+v", ds)
		}
	}
}

// TestSessionDecisions checks what a decision on a session binds: the
// requests carrying that session, on any address; and that a session,
// client-chosen, does not shield an address with a decision of its own.
func TestSessionDecisions(t *testing.T) {
	w := newWorld(t, "")
	for _, d := range []decision.Decision{
		{Scope: verdict.ScopeSession, Value: "s_bad", Action: verdict.Block, Reason: "test", Source: "manual", Mode: verdict.Enforce},
		{Scope: verdict.ScopeIP, Value: "203.0.113.66", Action: verdict.Block, Reason: "test", Source: "manual", Mode: verdict.Enforce},
	} {
		if _, _, err := w.ds.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		ip, session string
		want        verdict.Action
	}{
		{"198.51.100.1", "s_bad", verdict.Block},  // the session, from any address
		{"", "s_bad", verdict.Block},              // and with no address at all
		{"198.51.100.1", "s_good", verdict.Allow}, // another session on that address
		{"203.0.113.66", "s_good", verdict.Block}, // a session does not shield a blocked address
		{"203.0.113.66", "", verdict.Block},       // nor does its absence
		{"198.51.100.1", "", verdict.Allow},       // an address with no decision
	} {
		ip := tt.ip
		if ip == "" {
			ip = "192.0.2.1" // replaced below: a View with no address
		}
		v := w.view(ip, "/")
		if tt.ip == "" {
			v.ClientIP = netip.Addr{}
		}
		v.Identity.Session = tt.session
		vd := w.p.Decide(v)
		if vd.Action != tt.want {
			t.Errorf("ip %q session %q: %v, want %v", tt.ip, tt.session, vd.Action, tt.want)
		}
		vd.Finish(w.now)
	}
}

// TestRuleEscalatesADetectorsFirstDecision: a decision the detectors make
// on a request (the firstrequest decoy check's challenge on a new
// client's first /admin path) answers before limits and rules, but a rule
// that asks for more on the same request still acts: the anonymous admin
// probe is blocked by the rule, with its TTL, not only challenged.
func TestRuleEscalatesADetectorsFirstDecision(t *testing.T) {
	rules := `
rules:
  - name: no-anonymous-admin
    when: request.path.startsWith("/admin") && !identity.authenticated
    action: block
    scope: ip
    ttl: 1h
    reason: anonymous_admin
`
	w := newWorld(t, rules)
	if _, status, reason := w.do("203.0.113.20", "GET", "/admin/backup", 200); status != 403 || reason != "anonymous_admin" {
		t.Fatalf("anonymous admin probe: %d %s, want 403 anonymous_admin", status, reason)
	}
	if _, status, reason := w.do("203.0.113.20", "GET", "/", 200); status != 403 || reason != "blocked" {
		t.Fatalf("after the rule: %d %s, want the rule's TTL block", status, reason)
	}
	// The control: without the rule the detector's challenge answers.
	w = newWorld(t, "")
	if a, _, reason := w.do("203.0.113.20", "GET", "/admin/backup", 200); a != verdict.Challenge {
		t.Fatalf("without the rule: %v %s, want the decoy check's challenge", a, reason)
	}
}
