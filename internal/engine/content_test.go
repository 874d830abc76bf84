package engine

import (
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/guard/waf"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// shopSpec is the example spec, relative to this package.
const shopSpec = "../../examples/openapi/shop.yaml"

// probingCounts sends three clients' traffic through p and returns how
// many probing signals each got:
//   - shopper: 15 product pages that are gone (404), each under its own
//     slug, as a client following stale links does: not probing;
//   - scanner: 15 paths the API does not have, answered 200 by an
//     upstream with a catch-all page (a single-page app's index): probing;
//   - fuzzer: malformed input (bad parameters, bodies, methods) on 11
//     different paths, answered 200 by a lenient upstream: probing.
func probingCounts(t *testing.T, p *Policy) map[string]int {
	t.Helper()
	counts := map[string]int{}
	p.shared.OnSignal = func(s detect.Signal) {
		if s.Detector == "probing" {
			counts[s.Entity.Value]++
		}
	}
	send := func(i int, ip, method, target string, status int) {
		v := req(t, p, t0.Add(time.Duration(i)*time.Second), ip, method, target, "User-Agent: Mozilla/5.0", "Accept: application/json")
		vd := p.Decide(v)
		if !vd.Refused() {
			p.Observe(v, verdict.Outcome{Status: status})
		}
		vd.Finish(v.Time)
	}
	for i := range 15 {
		send(i, "192.0.2.10", "GET", fmt.Sprintf("/v1/products/discontinued-item-%c", 'a'+i), 404)
	}
	scan := []string{"/v1/admin", "/v1/debug", "/v1/config", "/v1/internal/metrics", "/v1/users", "/v1/accounts", "/v1/export",
		"/v1/graphql", "/v1/swagger.json", "/v1/api-docs", "/v1/status", "/v1/console", "/v1/login", "/v1/upload", "/v1/search"}
	for i, path := range scan {
		send(i, "198.51.100.20", "GET", path, 200)
	}
	fuzz := []struct{ method, target string }{
		{"GET", "/v1/products?page=-1"}, {"GET", "/v1/products?sort=1;DROP"}, {"GET", "/v1/products/UPPER_case"},
		{"GET", "/v1/orders/one"}, {"DELETE", "/v1/orders/x"}, {"PUT", "/v1/orders/1"}, {"PATCH", "/v1/products"},
		{"POST", "/v1/products/a"}, {"PUT", "/v1/products"}, {"PATCH", "/v1/orders/2"}, {"DELETE", "/v1/products/b"},
		{"POST", "/v1/orders"}, {"OPTIONS", "/v1/orders"}, {"TRACE", "/v1/products/c"},
	}
	for i, f := range fuzz {
		send(i, "203.0.113.30", f.method, f.target, 200)
	}
	return counts
}

// TestOpenAPISharpensProbing shows what the spec does for the probing
// detector on the same traffic: without it, a shopper's stale links are
// taken for probing and a scanner answered 200 is missed; with the routes
// imported and requests validated (detection only), the shopper's 404s
// fall on one route and count once, and the scanner's unknown paths and
// the fuzzer's malformed requests are misses whatever the upstream says.
func TestOpenAPISharpensProbing(t *testing.T) {
	without := probingCounts(t, compile(t, "network: {trusted_proxies: []}\n"))
	with := probingCounts(t, compile(t, "network: {trusted_proxies: []}\nroutes_from: "+shopSpec+"\nopenapi: {mode: shadow}\n"))
	t.Logf("probing signals without the spec %v, with it %v", without, with)
	if without["192.0.2.10"] == 0 || with["192.0.2.10"] != 0 {
		t.Errorf("shopper: %d signals without the spec (want some: the false positive), %d with it (want 0)", without["192.0.2.10"], with["192.0.2.10"])
	}
	if without["198.51.100.20"] != 0 || with["198.51.100.20"] == 0 {
		t.Errorf("scanner: %d signals without the spec (want 0: the miss), %d with it (want some)", without["198.51.100.20"], with["198.51.100.20"])
	}
	if without["203.0.113.30"] != 0 || with["203.0.113.30"] == 0 {
		t.Errorf("fuzzer: %d signals without the spec (want 0: the miss), %d with it (want some)", without["203.0.113.30"], with["203.0.113.30"])
	}
}

func TestOpenAPIEnforce(t *testing.T) {
	p := compile(t, `
network: {trusted_proxies: []}
routes_from: `+shopSpec+`
routes:
  - {name: orders, match: "POST /v1/orders"}
  - {name: health, match: "GET /healthz"}
openapi: {mode: enforce}
allowlist: {cidrs: [192.0.2.99/32]}
`)
	if rt, _ := p.Parser.Router.Match("GET", "/v1/products/shirt"); rt == nil || rt.Name != "get-product" {
		t.Fatalf("imported route: %+v", rt)
	}
	if rt, _ := p.Parser.Router.Match("POST", "/v1/orders"); rt == nil || rt.Name != "orders" {
		t.Fatalf("the declared route did not win: %+v", rt)
	}
	cases := []struct {
		ip, method, target string
		status             int
		reason             string
	}{
		{"192.0.2.1", "GET", "/v1/products?page=2", 0, ""},
		{"192.0.2.1", "GET", "/healthz", 0, ""},
		{"192.0.2.1", "GET", "/v1/products?page=zero", 400, "openapi_bad_parameter"},
		{"192.0.2.1", "GET", "/v1/nothing", 400, "openapi_unknown_path"},
		{"192.0.2.1", "PUT", "/v1/orders/7", 400, "openapi_unknown_method"},
		{"192.0.2.1", "POST", "/v1/orders", 400, "openapi_bad_body"}, // required body missing, on the declared route
		{"192.0.2.99", "GET", "/v1/nothing", 0, ""},                  // allowlisted
	}
	for _, c := range cases {
		vd := decide(t, p, req(t, p, t0, c.ip, c.method, c.target))
		if vd.Status != c.status || vd.Reason != c.reason {
			t.Errorf("%s %s from %s: %d %q, want %d %q", c.method, c.target, c.ip, vd.Status, vd.Reason, c.status, c.reason)
		}
		if c.status != 0 && (vd.Rule != "openapi" || vd.Detail == "" || vd.Problem("r").Reason != c.reason) {
			t.Errorf("%s %s: rule %q detail %q", c.method, c.target, vd.Rule, vd.Detail)
		}
	}
}

func TestOpenAPISpecErrorsAreConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/api.yaml"
	writeFile(t, bad, "openapi: 3.0.3\ninfo: {title: t}\npaths: {}\n")
	cfg := dir + "/guard.yaml"
	writeFile(t, cfg, "routes_from: api.yaml\nopenapi: {mode: enforce}\n")
	_, err := config.Load(cfg)
	if err == nil || !strings.Contains(err.Error(), "guard.yaml:1:") || !strings.Contains(err.Error(), "api.yaml") {
		t.Fatalf("error %v: want the config position and the spec's name", err)
	}
	writeFile(t, cfg, "openapi: {mode: enforce}\n")
	if _, err := config.Load(cfg); err == nil || !strings.Contains(err.Error(), "needs routes_from") {
		t.Fatalf("enforce without a spec: %v", err)
	}
}

func wafPolicy(t *testing.T, mode string) *Policy {
	return compile(t, "network: {trusted_proxies: []}\nwaf: {mode: "+mode+"}\n")
}

func attack(t *testing.T, p *Policy, i int, ip string) Verdict {
	return decide(t, p, req(t, p, t0.Add(time.Duration(i)*time.Second), ip, "GET",
		fmt.Sprintf("/products?id=%d%%27%%20UNION%%20SELECT%%20password%%20FROM%%20users--", i), "User-Agent: Mozilla/5.0", "Accept: */*"))
}

func TestWAFShadowAddsRisk(t *testing.T) {
	// Probing is off: its own injection check would see these queries too.
	w := newWorld(t, "network: {trusted_proxies: []}\nwaf: {mode: shadow}\ndetectors: {probing: {mode: \"off\"}}\n")
	var evidence []string
	w.p.shared.OnSignal = func(s detect.Signal) {
		if s.Detector == "waf" {
			evidence = append(evidence, s.Evidence.Summary)
		}
	}
	ua := []string{"User-Agent: Mozilla/5.0", "Accept: */*", "Accept-Language: en"}
	if a, _, _ := w.do("192.0.2.1", "GET", "/products?page=2&sort=price", 200, ua...); a != verdict.Allow || len(evidence) != 0 {
		t.Fatalf("benign request: %v, signals %q", a, evidence)
	}
	sqli := func(i int) string {
		return fmt.Sprintf("/products?id=%d%%27%%20UNION%%20SELECT%%20password%%20FROM%%20users--", i)
	}
	if a, _, reason := w.do("198.51.100.7", "GET", sqli(0), 200, ua...); a == verdict.Block || reason == "waf_blocked" {
		t.Fatalf("first attack in shadow: %v %q, want no block (one signal weighs at most 60)", a, reason)
	}
	if len(evidence) != 1 || !strings.Contains(evidence[0], "942100") {
		t.Fatalf("waf signal evidence %q, want the matched SQL injection rule", evidence)
	}
	var reason string
	var a verdict.Action
	for i := 1; i < 4 && a != verdict.Block; i++ {
		a, _, reason = w.do("198.51.100.7", "GET", sqli(i), 200, ua...)
	}
	if a != verdict.Block || reason == "waf_blocked" {
		t.Fatalf("after repeated attacks: %v %q, want a block by the risk bands (a decision), not by the WAF", a, reason)
	}
}

func TestWAFEnforceBlocks(t *testing.T) {
	p := wafPolicy(t, "enforce")
	vd := attack(t, p, 0, "198.51.100.8")
	if vd.Status != 403 || vd.Reason != "waf_blocked" || vd.Rule != "waf" || !strings.Contains(vd.Detail, "942100") {
		t.Fatalf("attack: %+v, want 403 waf_blocked naming rule 942100", vd)
	}
}

func TestWAFSharedAcrossReloads(t *testing.T) {
	p := wafPolicy(t, "shadow")
	c2 := *p.Config
	p2, err := Compile(&c2, p.shared)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if wafOf(t, p) != wafOf(t, p2) {
		t.Fatal("a reload with the same settings compiled the rule set again")
	}
	c2.WAF.ParanoiaLevel = 2
	p3, err := Compile(&c2, p.shared)
	if err != nil {
		t.Fatal(err)
	}
	defer p3.Close()
	if wafOf(t, p) == wafOf(t, p3) {
		t.Fatal("changed settings kept the old rule set")
	}
}

func wafOf(t *testing.T, p *Policy) *waf.WAF {
	for _, c := range p.Parser.Checks {
		if g, ok := c.(waf.Guard); ok {
			return g.WAF
		}
	}
	t.Fatal("no WAF among the checks")
	return nil
}

func writeFile(t *testing.T, name, text string) {
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkContentGuards is one decision on a valid GET with the content
// guards off (the baseline: no check runs), with OpenAPI validation, and
// with the WAF (paranoia level 1), in one run.
func BenchmarkContentGuards(b *testing.B) {
	base := "network: {trusted_proxies: []}\nlimits: []\ndetectors: {probing: {mode: \"off\"}, automation: {mode: \"off\"}, scraping: {mode: \"off\"}, volumetric: {mode: \"off\"}}\nroutes_from: " + shopSpec + "\n"
	for _, c := range []struct{ name, yaml string }{
		{"off", base},
		{"openapi", base + "openapi: {mode: shadow}\n"},
		{"waf", base + "waf: {mode: shadow}\n"},
		{"both", base + "openapi: {mode: shadow}\nwaf: {mode: shadow}\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := compile(b, c.yaml)
			r := httptest.NewRequest("GET", "/v1/products?page=2&sort=price", nil)
			r.RemoteAddr = "203.0.113.7:40000"
			r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
			r.Header.Set("Accept", "application/json")
			v := &request.View{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				v.Reset()
				now := t0.Add(time.Duration(i) * time.Microsecond)
				if prob := p.Parser.ParseHTTP(r, now, v); prob != nil {
					b.Fatal(prob)
				}
				vd := p.Decide(v)
				if vd.Action != verdict.Allow || len(v.Findings) > 0 {
					b.Fatalf("%+v %+v", vd, v.Findings)
				}
				vd.Finish(now)
			}
		})
	}
}
