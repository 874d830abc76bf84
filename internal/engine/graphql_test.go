package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// gqlReq is a POST of a JSON GraphQL body from ip at time at.
func gqlReq(t testing.TB, p *Policy, at time.Time, ip, body string) *request.View {
	t.Helper()
	r := httptest.NewRequest("POST", "/graphql", strings.NewReader(body))
	r.RemoteAddr = ip + ":40000"
	r.Header.Set("Content-Type", "application/json")
	v := &request.View{}
	if prob := p.Parser.ParseHTTP(r, at, v); prob != nil {
		t.Fatalf("parse: %v", prob)
	}
	return v
}

func gqlBody(query string) string {
	b, _ := json.Marshal(map[string]string{"query": query})
	return string(b)
}

const graphQLGuard = `
routes:
  - {name: graphql, match: "POST /graphql", kind: graphql}
  - {name: other, match: "POST /other"}
graphql:
  mode: %s
  max_depth: 5
  max_aliases: 3
  max_root_fields: 4
  max_batch: 2
  max_tokens: 1000
  max_cost: 150
  persisted_queries: [%s]
`

// TestGraphQLHardLimits: each hard limit refuses with 400
// graphql_too_complex and says which; documents within them, other
// routes, and allowed persisted queries pass.
func TestGraphQLHardLimits(t *testing.T) {
	big := "{ " + strings.Repeat("a { ", 6) + "b" + strings.Repeat(" }", 6) + " }"
	sum := sha256.Sum256([]byte(big))
	p := compile(t, fmt.Sprintf(graphQLGuard, "enforce", hex.EncodeToString(sum[:])))
	tests := []struct {
		name, body, detail string
	}{
		{"the app's query", gqlBody("{ product(id: 1) { name reviews(first: 5) { body } } }"), ""},
		{"too deep", gqlBody("{ a { b { c { d { e { f } } } } } }"), "nests 6 levels deep (limit 5)"},
		{"alias-heavy", gqlBody("{ a: x { id } b: x { id } c: x { id } d: x { id } }"), "4 aliased fields (limit 3)"},
		{"many root fields", gqlBody("{ a b c d e }"), "5 top-level fields (limit 4)"},
		{"a batch", "[" + strings.Repeat(gqlBody("{ a }")+",", 2) + gqlBody("{ a }") + "]", "batches 3 operations (limit 2)"},
		{"a batch within the limit", "[" + gqlBody("{ a }") + "," + gqlBody("{ b }") + "]", ""},
		{"too many tokens", gqlBody("{ a(x: [" + strings.Repeat("1 ", 1200) + "]) }"), "longer than 1000 tokens"},
		{"too costly", gqlBody("{ users(first: 100) { friends(first: 2) { posts { id } } } }"), "costs 301 (limit 150)"},
		{"a fragment bomb", gqlBody(bomb()), "too many fields"},
		{"an allowed persisted query, sent whole", gqlBody(big), ""},
		{"an allowed persisted query, by hash", `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + hex.EncodeToString(sum[:]) + `"}}}`, ""},
		{"not GraphQL: the upstream answers", gqlBody("{ a("), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vd := decide(t, p, gqlReq(t, p, t0, "203.0.113.1", tc.body))
			if tc.detail == "" {
				if vd.Action != verdict.Allow {
					t.Fatalf("refused: %+v", vd)
				}
				return
			}
			if vd.Action != verdict.Block || vd.Status != 400 || vd.Reason != "graphql_too_complex" || vd.Rule != "graphql" ||
				!strings.Contains(vd.Detail, tc.detail) {
				t.Fatalf("verdict %+v, want 400 graphql_too_complex saying %q", vd, tc.detail)
			}
			if prob := vd.Problem("r1"); prob == nil || prob.Status != 400 || prob.Reason != "graphql_too_complex" {
				t.Fatalf("problem %+v", prob)
			}
		})
	}
	other := req(t, p, t0, "203.0.113.1", "POST", "/other")
	other.GraphQL = request.GraphQLShape{Parsed: true, Depth: 50}
	if vd := decide(t, p, other); vd.Action != verdict.Allow {
		t.Errorf("a route not of kind graphql was judged: %+v", vd)
	}
}

func bomb() string {
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range 6 {
		fmt.Fprintf(&b, "fragment F%d on Query { ", i)
		for j := range 10 {
			fmt.Fprintf(&b, "a%d: x { ...F%d } ", j, i+1)
		}
		b.WriteString("}\n")
	}
	b.WriteString("fragment F6 on Query { leaf }\n")
	return b.String()
}

func TestGraphQLShadowAndOff(t *testing.T) {
	deep := gqlBody("{ a { b { c { d { e { f } } } } } }")
	p := compile(t, fmt.Sprintf(graphQLGuard, "shadow", ""))
	vd := decide(t, p, gqlReq(t, p, t0, "203.0.113.1", deep))
	if vd.Action != verdict.Allow || !vd.Would || vd.Reason != "graphql_too_complex" || vd.Mode != verdict.Shadow {
		t.Errorf("shadow: %+v, want allowed with a would-refuse", vd)
	}
	p = compile(t, fmt.Sprintf(graphQLGuard, "off", ""))
	v := gqlReq(t, p, t0, "203.0.113.1", deep)
	if vd := decide(t, p, v); vd.Action != verdict.Allow || vd.Would {
		t.Errorf("off: %+v", vd)
	}
	if v.GraphQL.Tokens != 0 || v.GraphQL.Cost != 0 {
		t.Errorf("off: the parser counted tokens or priced: %+v", v.GraphQL)
	}
}

// TestCostLimits: a limit with cost: graphql charges each query its price,
// cost: route the route's cost, the default 1; the RateLimit header counts
// cost units.
func TestCostLimits(t *testing.T) {
	p := compile(t, `
routes:
  - {name: graphql, match: "POST /graphql", kind: graphql}
  - {name: report, match: "POST /report", cost: 40}
  - {name: cheap, match: "GET /cheap"}
limits:
  - {name: gql-points, key: [ip], routes: [graphql], cost: graphql, quota: {limit: 1000, period: day}}
  - {name: work, key: [ip], routes: [report, cheap], cost: route, quota: {limit: 100, period: day}}
  - {name: calls, key: [ip], routes: [report, cheap], quota: {limit: 100, period: day}}
`)
	q := gqlBody("{ users(first: 100) { friends(first: 4) { id } } }") // 1 + 100 = 101
	for i := range 9 {
		vd := decide(t, p, gqlReq(t, p, t0, "203.0.113.1", q))
		if vd.Action != verdict.Allow || left(vd, "gql-points") != int64(1000-101*(i+1)) {
			t.Fatalf("query %d: %+v, want %d points left", i+1, vd, 1000-101*(i+1))
		}
	}
	vd := decide(t, p, gqlReq(t, p, t0, "203.0.113.1", q))
	if vd.Action != verdict.Throttle || vd.Reason != "quota_exceeded" || left(vd, "gql-points") != 0 {
		t.Fatalf("10th query (91 points left, costs 101): %+v", vd)
	}
	if vd := decide(t, p, gqlReq(t, p, t0, "203.0.113.1", gqlBody("{ me { id } }"))); vd.Action != verdict.Allow || left(vd, "gql-points") != 90 {
		t.Fatalf("a cheap query (1 point) with 91 points left: %+v", vd)
	}
	ip := "203.0.113.2"
	for i := range 2 {
		if vd := decide(t, p, req(t, p, t0, ip, "POST", "/report")); vd.Action != verdict.Allow {
			t.Fatalf("report %d: %+v", i+1, vd)
		}
	}
	vd = decide(t, p, req(t, p, t0, ip, "POST", "/report"))
	if vd.Action != verdict.Throttle || vd.Rule != "work" {
		t.Fatalf("3rd report (120 > 100 units): %+v", vd)
	}
	if vd := decide(t, p, req(t, p, t0, ip, "GET", "/cheap")); vd.Action != verdict.Allow || left(vd, "work") != 19 {
		t.Fatalf("a cheap call: %+v, want work with 19 units left", vd)
	}
}

// TestReportedCost: the upstream's cost header charges the excess over
// what the request was charged, after the fact; a debt beyond what is left
// empties the limit.
func TestReportedCost(t *testing.T) {
	p := compile(t, `
routes:
  - {name: export, match: "POST /export", cost: 1, cost_header: X-Cost}
limits:
  - {name: budget, key: [ip], cost: route, quota: {limit: 100, period: day}}
  - {name: burst, key: [ip], cost: route, rate: 100/h}
`)
	v := req(t, p, t0, "203.0.113.1", "POST", "/export")
	if vd := decide(t, p, v); vd.Action != verdict.Allow || left(vd, "budget") != 99 {
		t.Fatalf("first export: %+v", vd)
	}
	p.Observe(v, verdict.Outcome{Status: 200, Cost: 60})
	v = req(t, p, t0, "203.0.113.1", "POST", "/export")
	if vd := decide(t, p, v); vd.Action != verdict.Allow || left(vd, "budget") != 39 {
		t.Fatalf("second export after a reported 60: %+v, want 39 left", vd)
	}
	p.Observe(v, verdict.Outcome{Status: 200, Cost: 500})
	if vd := decide(t, p, req(t, p, t0, "203.0.113.1", "POST", "/export")); vd.Action != verdict.Throttle {
		t.Fatalf("after a reported 500 (more than is left): %+v, want refused", vd)
	}
	p.Observe(req(t, p, t0, "203.0.113.9", "POST", "/export"), verdict.Outcome{Status: 200})
	if vd := decide(t, p, req(t, p, t0, "203.0.113.9", "POST", "/export")); left(vd, "budget") != 99 {
		t.Errorf("no reported cost charged something: %+v", vd)
	}
}

// left returns what the verdict's limit named name has left, -1 when the
// verdict does not list it.
func left(vd Verdict, name string) int64 {
	for _, l := range vd.Limits {
		if l.Name == name {
			return l.Remaining
		}
	}
	return -1
}
