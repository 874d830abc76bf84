package engine

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func compile(t testing.TB, yaml string) *Policy {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(c, NewShared(Options{Limits: memory.New(memory.Options{}), RiskEntities: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// req is a request from ip (through no proxy) at time at, with headers h
// given as "Name: value" strings.
func req(t testing.TB, p *Policy, at time.Time, ip, method, target string, h ...string) *request.View {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = ip + ":40000"
	for _, kv := range h {
		k, v, _ := strings.Cut(kv, ": ")
		r.Header.Set(k, v)
	}
	v := &request.View{}
	if prob := p.Parser.ParseHTTP(r, at, v); prob != nil {
		t.Fatalf("parse: %v", prob)
	}
	return v
}

func decide(t testing.TB, p *Policy, v *request.View) Verdict {
	vd := p.Decide(v)
	out := *vd
	out.slots, out.ends, out.key = nil, nil, nil
	vd.Finish(v.Time)
	return out
}

func TestQuickstartThrottlesSixthRequest(t *testing.T) {
	p := compile(t, `
limits:
  - {name: per-ip, key: [ip], rate: 5/m, burst: 5}
`)
	for i := range 5 {
		vd := decide(t, p, req(t, p, t0, "203.0.113.1", "GET", "/x"))
		if vd.Action != verdict.Allow {
			t.Fatalf("request %d: %+v", i+1, vd)
		}
		if got, _ := vd.AppendRateLimit(nil); string(got) != fmt.Sprintf(`"per-ip";r=%d;t=%d`, 4-i, 12*(i+1)) {
			t.Errorf("request %d RateLimit = %s", i+1, got)
		}
		if vd.RateLimitPolicy() != `"per-ip";q=5;w=60` {
			t.Errorf("RateLimit-Policy = %s", vd.RateLimitPolicy())
		}
	}
	vd := decide(t, p, req(t, p, t0, "203.0.113.1", "GET", "/x"))
	if vd.Action != verdict.Throttle || vd.Status != 429 || vd.Reason != "rate_limited" || vd.Rule != "per-ip" ||
		vd.Mode != verdict.Enforce || vd.RetryAfter != 12*time.Second {
		t.Fatalf("6th request: %+v", vd)
	}
	if got, _ := vd.AppendRateLimit(nil); string(got) != `"per-ip";r=0;t=12` { // t is Retry-After
		t.Errorf("throttled RateLimit = %s", got)
	}
	if vd := decide(t, p, req(t, p, t0, "203.0.113.2", "GET", "/x")); vd.Action != verdict.Allow {
		t.Fatalf("another IP throttled: %+v", vd)
	}
	if vd := decide(t, p, req(t, p, t0.Add(12*time.Second), "203.0.113.1", "GET", "/x")); vd.Action != verdict.Allow {
		t.Fatalf("not allowed after 12s: %+v", vd)
	}
}

func TestShadowRecordsAndNeverActs(t *testing.T) {
	p := compile(t, `
limits:
  - {name: new-limit, key: [ip], rate: 1/m, mode: shadow}
`)
	decide(t, p, req(t, p, t0, "203.0.113.1", "GET", "/"))
	for range 5 {
		vd := decide(t, p, req(t, p, t0, "203.0.113.1", "GET", "/"))
		if vd.Action != verdict.Allow || !vd.Would || vd.Rule != "new-limit" || vd.Mode != verdict.Shadow || vd.Reason != "rate_limited" {
			t.Fatalf("shadow verdict: %+v", vd)
		}
	}
}

func TestCanaryIsDeterministicByKey(t *testing.T) {
	p := compile(t, `
limits:
  - {name: c, key: [ip], rate: 1/h, mode: canary, canary_percent: 30}
`)
	enforced := 0
	for i := range 1000 {
		ip := fmt.Sprintf("10.1.%d.%d", i/256, i%256)
		decide(t, p, req(t, p, t0, ip, "GET", "/"))
		first := decide(t, p, req(t, p, t0, ip, "GET", "/"))
		second := decide(t, p, req(t, p, t0, ip, "GET", "/"))
		if first.Action != second.Action {
			t.Fatalf("%s flipped between %v and %v", ip, first.Action, second.Action)
		}
		if first.Action == verdict.Throttle {
			enforced++
			if first.Mode != verdict.Canary {
				t.Fatalf("enforced with mode %v", first.Mode)
			}
		} else if !first.Would {
			t.Fatalf("out-of-canary refusal not recorded: %+v", first)
		}
	}
	if enforced < 250 || enforced > 350 {
		t.Fatalf("canary 30%% enforced for %d of 1000 keys", enforced)
	}
}

// TestCanaryShareIsUniform checks the canary share over keys that differ
// only in their last characters, where a plain FNV hash is badly skewed.
func TestCanaryShareIsUniform(t *testing.T) {
	for _, pct := range []float64{10, 30} {
		r := limitRule{mode: verdict.Canary, canary: rollout.NewCanary(pct)}
		for _, pattern := range []string{"mylimit\x00user%d", "key-%d"} {
			n := 0
			for i := range 10000 {
				if r.effectiveMode(fmt.Appendf(nil, pattern, i)) == verdict.Canary {
					n++
				}
			}
			if want := pct * 100; float64(n) < want*0.85 || float64(n) > want*1.15 {
				t.Errorf("%v%% canary over %q enforced %d of 10000", pct, pattern, n)
			}
		}
	}
}

const planConfig = `
identity:
  api_key:
    keys:
      - {id: gold-co, sha256: f47cad35f6f99d49f4a2e8ad6da5b64cf93b99bc9b02abed86bcf8095c575352, plan: gold, tenant: acme}
      - {id: free-co, sha256: 9f8cfdb17116bf0e2a44e071454f25594cb9b8737bf331e6a2f0b30550572f29, plan: free}
limits:
  - name: per-plan
    key: [api_key]
    per_plan:
      free: {rate: 2/m}
      gold: {rate: 10/m}
  - name: daily
    key: [tenant]
    quota: {limit: 3, period: day, timezone: Europe/Berlin}
`

func TestPerPlanLimits(t *testing.T) {
	p := compile(t, planConfig)
	count := func(key string) int {
		n := 0
		for range 20 {
			if decide(t, p, req(t, p, t0, "203.0.113.9", "GET", "/", "X-API-Key: "+key)).Action == verdict.Allow {
				n++
			}
		}
		return n
	}
	if got := count("demo-free-key"); got != 2 {
		t.Errorf("free plan allowed %d, want 2", got)
	}
	// gold-co belongs to tenant acme, whose daily quota of 3 binds first.
	if got := count("demo-gold-key"); got != 3 {
		t.Errorf("gold plan allowed %d, want 3 (the tenant quota)", got)
	}
	// An unknown key has no plan: per-plan does not apply, and it has no tenant.
	if got := count("who-knows"); got != 20 {
		t.Errorf("unknown key allowed %d, want 20", got)
	}
}

func TestQuotaResetsAtLocalMidnight(t *testing.T) {
	p := compile(t, planConfig)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	evening := time.Date(2026, 11, 28, 23, 59, 0, 0, berlin)
	gold := "X-API-Key: demo-gold-key"
	for i := range 3 {
		if vd := decide(t, p, req(t, p, evening, "203.0.113.9", "GET", "/", gold)); vd.Action != verdict.Allow {
			t.Fatalf("request %d: %+v", i, vd)
		}
	}
	vd := decide(t, p, req(t, p, evening, "203.0.113.9", "GET", "/", gold))
	if vd.Reason != "quota_exceeded" || vd.RetryAfter != time.Minute {
		t.Fatalf("over quota: %+v", vd)
	}
	if vd := decide(t, p, req(t, p, evening.Add(time.Minute), "203.0.113.9", "GET", "/", gold)); vd.Action != verdict.Allow {
		t.Fatalf("after local midnight: %+v", vd)
	}
}

func TestConcurrencyReleasedOnFinish(t *testing.T) {
	p := compile(t, `
limits:
  - {name: inflight, key: [api_key], concurrency: 2}
`)
	key := "X-API-Key: k1"
	a := p.Decide(req(t, p, t0, "203.0.113.9", "GET", "/", key))
	b := p.Decide(req(t, p, t0, "203.0.113.9", "GET", "/", key))
	c := p.Decide(req(t, p, t0, "203.0.113.9", "GET", "/", key))
	if a.Action != verdict.Allow || b.Action != verdict.Allow || c.Action != verdict.Throttle || c.Reason != "concurrency_limited" {
		t.Fatalf("verdicts %v %v %v", a.Action, b.Action, c.Action)
	}
	c.Finish(t0)
	a.Finish(t0)
	d := p.Decide(req(t, p, t0, "203.0.113.9", "GET", "/", key))
	if d.Action != verdict.Allow {
		t.Fatalf("slot not released: %+v", d)
	}
	d.Finish(t0)
	b.Finish(t0)
}

func TestRoutesAndDimensions(t *testing.T) {
	p := compile(t, `
routes:
  - {name: login, match: "POST /login"}
  - {name: item, match: "GET /items/{id}"}
unknown_routes: block
limits:
  - {name: login-per-ip, key: [ip], routes: [login], rate: 1/m}
  - {name: per-user, key: [user], rate: 1/m}
  - {name: per-tenant-header, key: ["header:X-Tenant", route], rate: 1/m}
`)
	if vd := decide(t, p, req(t, p, t0, "203.0.113.1", "GET", "/nowhere")); vd.Action != verdict.Block || vd.Status != 404 || vd.Reason != "unknown_route" {
		t.Fatalf("unknown route: %+v", vd)
	}
	for range 3 { // login-per-ip applies only to login; per-user needs a user
		if vd := decide(t, p, req(t, p, t0, "203.0.113.1", "GET", "/items/1")); vd.Action != verdict.Allow {
			t.Fatalf("item: %+v", vd)
		}
	}
	decide(t, p, req(t, p, t0, "203.0.113.1", "POST", "/login"))
	if vd := decide(t, p, req(t, p, t0, "203.0.113.1", "POST", "/login")); vd.Rule != "login-per-ip" {
		t.Fatalf("second login: %+v", vd)
	}
	decide(t, p, req(t, p, t0, "203.0.113.7", "GET", "/items/1", "X-Tenant: a"))
	if vd := decide(t, p, req(t, p, t0, "203.0.113.8", "GET", "/items/2", "X-Tenant: a")); vd.Rule != "per-tenant-header" {
		t.Fatalf("same tenant header, same route: %+v", vd)
	}
	if vd := decide(t, p, req(t, p, t0, "203.0.113.8", "GET", "/items/2", "X-Tenant: b")); vd.Action != verdict.Allow {
		t.Fatalf("other tenant: %+v", vd)
	}
}

func TestLimitAudience(t *testing.T) {
	p := compile(t, knownKeys("user-%d", 50)+`
limits:
  - {name: office-ip, key: [ip], applies_to: anonymous, rate: 2/m}
  - {name: per-key, key: [api_key], applies_to: identified, rate: 3/m}
`)
	// 50 identified users behind one NAT are not limited together by the IP.
	for i := range 50 {
		if vd := decide(t, p, req(t, p, t0, "192.0.2.1", "GET", "/", fmt.Sprintf("X-API-Key: user-%d", i))); vd.Action != verdict.Allow {
			t.Fatalf("identified user %d throttled by the shared IP: %+v", i, vd)
		}
	}
	decide(t, p, req(t, p, t0, "192.0.2.1", "GET", "/"))
	decide(t, p, req(t, p, t0, "192.0.2.1", "GET", "/"))
	if vd := decide(t, p, req(t, p, t0, "192.0.2.1", "GET", "/")); vd.Rule != "office-ip" {
		t.Fatalf("anonymous requests not limited by IP: %+v", vd)
	}
	// A made-up key is no identity: it is limited with the anonymous.
	if vd := decide(t, p, req(t, p, t0, "192.0.2.1", "GET", "/", "X-API-Key: made-up")); vd.Rule != "office-ip" {
		t.Fatalf("a made-up key escaped the IP's limit: %+v", vd)
	}
}

// TestEveryLimitInHeaders: every limit that applied is listed, in the
// order checked (draft-ietf-httpapi-ratelimit-headers-09 lists policies;
// it does not pick one by comparing different units).
func TestEveryLimitInHeaders(t *testing.T) {
	p := compile(t, `
limits:
  - {name: wide, key: [ip], rate: 100/m, burst: 100}
  - {name: narrow, key: [ip_prefix], rate: 10/m, burst: 3}
  - {name: in-flight, key: [ip], concurrency: 4}
`)
	vd := decide(t, p, req(t, p, t0, "203.0.113.1", "GET", "/"))
	if got, _ := vd.AppendRateLimit(nil); string(got) != `"wide";r=99;t=1, "narrow";r=2;t=6, "in-flight";r=3` {
		t.Fatalf("RateLimit = %s", got)
	}
	if got := vd.RateLimitPolicy(); got != `"wide";q=100;w=60, "narrow";q=3;w=18, "in-flight";q=4;qu="concurrent-requests"` {
		t.Fatalf("RateLimit-Policy = %s", got)
	}
	// ip_prefix groups the /24.
	decide(t, p, req(t, p, t0, "203.0.113.2", "GET", "/"))
	decide(t, p, req(t, p, t0, "203.0.113.3", "GET", "/"))
	if vd := decide(t, p, req(t, p, t0, "203.0.113.4", "GET", "/")); vd.Rule != "narrow" || vd.Action != verdict.Throttle {
		t.Fatalf("4th in the /24: %+v", vd)
	}
}

func TestReloadKeepsState(t *testing.T) {
	c, _ := config.Parse("a.yaml", []byte("limits: [{name: per-ip, key: [ip], rate: 2/m}]"))
	store := memory.New(memory.Options{})
	p1, _ := Compile(c, NewShared(Options{Limits: store, RiskEntities: 1000}))
	e := New(p1)
	decide(t, e.Policy(), req(t, e.Policy(), t0, "203.0.113.1", "GET", "/"))
	decide(t, e.Policy(), req(t, e.Policy(), t0, "203.0.113.1", "GET", "/"))
	c2, _ := config.Parse("b.yaml", []byte("limits: [{name: per-ip, key: [ip], rate: 2/m}, {name: other, key: [ip], rate: 100/m}]"))
	p2, _ := Compile(c2, e.Shared())
	e.Swap(p2).Close()
	if vd := decide(t, e.Policy(), req(t, e.Policy(), t0, "203.0.113.1", "GET", "/")); vd.Action != verdict.Throttle {
		t.Fatalf("state lost across reload: %+v", vd)
	}
}

func TestUnknownKeyRefusedWhenKnownRequired(t *testing.T) {
	p := compile(t, planConfig+"\n")
	c := *p.Config
	c.Identity.APIKey.RequireKnown = true
	p2, err := Compile(&c, NewShared(Options{Limits: memory.New(memory.Options{}), RiskEntities: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", "nope")
	if prob := p2.Parser.ParseHTTP(r, t0, &request.View{}); prob == nil || prob.Status != 401 || prob.Reason != "unknown_api_key" {
		t.Fatalf("unknown key: %v", prob)
	}
}

// BenchmarkDecision is one full decision: parse the request (client IP,
// API key HMAC id, route match) and check 5 applicable limits. Detectors
// are off: BenchmarkDecisionAllDetectors measures them.
func BenchmarkDecision(b *testing.B) {
	p := compile(b, `
detectors:
  honeypot: {mode: "off"}
  probing: {mode: "off"}
  automation: {mode: "off"}
  scraping: {mode: "off"}
  credentials: {mode: "off"}
  enumeration: {mode: "off"}
  sharing: {mode: "off"}
  volumetric: {mode: "off"}
routes:
  - {name: get-user, match: "GET /v1/users/{id}"}
limits:
  - {name: per-ip, key: [ip], rate: 1000000/s, burst: 1000000}
  - {name: per-prefix, key: [ip_prefix], rate: 1000000/s, burst: 1000000}
  - {name: per-key, key: [api_key], rate: 1000000/s, burst: 1000000}
  - {name: per-key-route, key: [api_key, route], rate: 1000000/s, burst: 1000000}
  - {name: key-inflight, key: [api_key], concurrency: 1000000}
`)
	r := httptest.NewRequest("GET", "/v1/users/42", nil)
	r.RemoteAddr = "203.0.113.7:40000"
	r.Header.Set("X-API-Key", "a-partner-key")
	v := &request.View{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		v.Reset()
		now := t0.Add(time.Duration(i) * time.Microsecond) // the limits refill as fast as they are spent
		if prob := p.Parser.ParseHTTP(r, now, v); prob != nil {
			b.Fatal(prob)
		}
		vd := p.Decide(v)
		if vd.Action != verdict.Allow {
			b.Fatalf("%+v", vd)
		}
		vd.Finish(now)
	}
}
