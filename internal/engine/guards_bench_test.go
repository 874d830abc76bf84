package engine

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// BenchmarkGuards is each engine-side resource guard's cost per request,
// off and on, in the same run: parse and decide one request. graphql: a
// product-screen query on a graphql route (off: the route without the
// hard limits or a cost limit; on: hard limits and a limit charging the
// query's price); budgets: a request of a verified tenant's key (on: a
// tenant and a key budget, daily and monthly); billing: the same with the
// billing detector on.
func BenchmarkGuards(b *testing.B) {
	const base = `
detectors:
  honeypot: {mode: "off"}
  probing: {mode: "off"}
  automation: {mode: "off"}
  scraping: {mode: "off"}
  credentials: {mode: "off"}
  enumeration: {mode: "off"}
  sharing: {mode: "off"}
  volumetric: {mode: "off"}
  graphql: {mode: "off"}
  billing: {mode: "off"}
identity:
  api_key:
    keys:
      - {id: gold-co, sha256: f47cad35f6f99d49f4a2e8ad6da5b64cf93b99bc9b02abed86bcf8095c575352, plan: gold, tenant: acme}
routes:
  - {name: graphql, match: "POST /graphql", kind: graphql}
  - {name: report, match: "POST /report", cost: 5}
limits:
  - {name: per-ip, key: [ip], rate: 1000000/s, burst: 1000000}
`
	const query = `{"query":"query ProductScreen { product(id: 3) { id name price stock reviews(first: 5) { rating body author { username } } } }"}`
	for _, bc := range []struct {
		name, yaml, path, body string
	}{
		{"graphql=off", base, "/graphql", query},
		{"graphql=on", base + `
  - {name: points, key: [ip], routes: [graphql], cost: graphql, rate: 1000000/s, burst: 100000000}
graphql: {mode: enforce, max_cost: 5000}
`, "/graphql", query},
		{"budgets=off", base, "/report", ""},
		{"budgets=on", base + `
budgets: {mode: enforce, tenant: {daily: 1000000000000, monthly: 1000000000000}, key: {daily: 1000000000000, monthly: 1000000000000}}
`, "/report", ""},
		{"billing=on", strings.Replace(base, `billing: {mode: "off"}`, `billing: {mode: enforce}`, 1), "/report", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := compile(b, bc.yaml)
			v := &request.View{}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := httptest.NewRequest("POST", bc.path, strings.NewReader(bc.body))
				r.RemoteAddr = "203.0.113.7:40000"
				r.Header.Set("X-API-Key", "demo-gold-key")
				r.Header.Set("Content-Type", "application/json")
				v.Reset()
				now := t0.Add(time.Duration(i) * time.Microsecond)
				i++
				if prob := p.Parser.ParseHTTP(r, now, v); prob != nil {
					b.Fatal(prob)
				}
				vd := p.Decide(v)
				if vd.Action != verdict.Allow {
					b.Fatalf("%+v", vd.Verdict)
				}
				vd.Finish(now)
			}
		})
	}
}
