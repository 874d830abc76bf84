package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/abuseguard/abuseguard/internal/sample"
)

// gauge returns the value of metric name with label value lv, -1 when absent.
func (h *harness) metric(t *testing.T, name, lv string) float64 {
	t.Helper()
	fams, err := h.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.Metric {
			if lv != "" && (len(m.Label) == 0 || m.Label[0].GetValue() != lv) {
				continue
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return -1
}

// TestBreakerOnFailingUpstream: a real loopback upstream fails; after
// three 500s in a row the circuit opens and requests get 503
// upstream_circuit_open with Retry-After without reaching it; when the
// open time is up one probe goes through and, answered, closes it.
// Answers slower than slow_call (the upstream advances the test's clock)
// count as failures too.
func TestBreakerOnFailingUpstream(t *testing.T) {
	var failing atomic.Bool
	var slow atomic.Int64
	var calls atomic.Int64
	var h *harness
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		h.clock.Advance(time.Duration(slow.Load()))
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(up.Close)
	h = newHarness(t, `
routes:
  - {name: orders, match: "GET /orders"}
breaker: {enabled: true, consecutive_failures: 3, failure_ratio: 0, open_for: 30s, probes: 1, slow_call: 1s}
`, up.URL, nil)
	get := func() *httptest.ResponseRecorder { return h.do(newRequest("GET", "/orders", nil), "203.0.113.1:4000") }
	failing.Store(true)
	for i := range 3 {
		if rec := get(); rec.Code != 500 {
			t.Fatalf("request %d: %d, want the upstream's 500", i+1, rec.Code)
		}
	}
	rec := get()
	checkProblem(t, rec, 503, "upstream_circuit_open", "")
	if rec.Header().Get("Retry-After") != "30" || calls.Load() != 3 {
		t.Fatalf("Retry-After %q, upstream calls %d; want 30 and 3", rec.Header().Get("Retry-After"), calls.Load())
	}
	if s := h.metric(t, "abuseguard_breaker_state", "orders"); s != 2 {
		t.Errorf("breaker_state{route=orders} = %v, want 2 (open)", s)
	}
	if n := h.metric(t, "abuseguard_refused_total", "upstream_circuit_open"); n != 1 {
		t.Errorf("refused_total{reason=upstream_circuit_open} = %v, want 1", n)
	}
	h.clock.Advance(30 * time.Second)
	failing.Store(false)
	if rec := get(); rec.Code != 200 || calls.Load() != 4 {
		t.Fatalf("probe: %d (upstream calls %d), want 200 from the upstream", rec.Code, calls.Load())
	}
	if s := h.metric(t, "abuseguard_breaker_state", "orders"); s != 0 {
		t.Errorf("breaker_state after the probe = %v, want 0 (closed)", s)
	}
	slow.Store(int64(2 * time.Second))
	for range 3 {
		if rec := get(); rec.Code != 200 {
			t.Fatalf("slow answer: %d", rec.Code)
		}
	}
	checkProblem(t, get(), 503, "upstream_circuit_open", "")
}

// TestBreakerOnUnreachableUpstream: an upstream that does not listen
// fails each request with 502; the circuit then opens.
func TestBreakerOnUnreachableUpstream(t *testing.T) {
	h := newHarness(t, `breaker: {enabled: true, consecutive_failures: 2, failure_ratio: 0, open_for: 5s, probes: 1}`, closedUpstream(t), nil)
	for range 2 {
		checkProblem(t, h.do(newRequest("GET", "/x", nil), "203.0.113.1:4000"), 502, "upstream_unavailable", "")
	}
	rec := h.do(newRequest("GET", "/x", nil), "203.0.113.1:4000")
	checkProblem(t, rec, 503, "upstream_circuit_open", "")
	if rec.Header().Get("Retry-After") != "5" {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
}

// TestGraphQLGuardProtectsTheShop: the game day's deep and alias-heavy
// queries are refused with 400 graphql_too_complex before the sample shop
// sees them; the app's product screen query is answered, and a cost
// quota counts its price from the shop's schema in the RateLimit header.
func TestGraphQLGuardProtectsTheShop(t *testing.T) {
	shop := sample.New(sample.Options{Seed: 1})
	var seen atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		shop.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	h := newHarness(t, `
routes:
  - {name: graphql, match: "POST /graphql", kind: graphql}
graphql: {mode: enforce, max_depth: 10, max_aliases: 20, max_cost: 1000, schema: ../../sample/schema.graphql}
limits:
  - {name: points, key: [ip], routes: [graphql], cost: graphql, quota: {limit: 5000, period: day}}
`, up.URL, nil)
	post := func(q string) *httptest.ResponseRecorder {
		b, _ := json.Marshal(map[string]string{"query": q})
		return h.do(newRequest("POST", "/graphql", strings.NewReader(string(b)), "Content-Type: application/json"), "203.0.113.1:4000")
	}
	deep := "{ user(id: 1) { id " + strings.Repeat("orders(first: 100) { id products(first: 100) { id reviews(first: 100) { id author { id ", 3) +
		strings.Repeat("} } } } ", 3) + "} }"
	var alias strings.Builder
	alias.WriteString("{ ")
	for i := range 60 {
		fmt.Fprintf(&alias, "p%d: product(id: %d) { name reviews(first: 100) { body author { username } } } ", i, i+1)
	}
	alias.WriteString("}")
	for name, q := range map[string]string{"deep": deep, "alias-heavy": alias.String()} {
		b := checkProblem(t, post(q), 400, "graphql_too_complex", "graphql")
		if b.Detail == "" {
			t.Errorf("%s: no detail", name)
		}
	}
	if seen.Load() != 0 {
		t.Fatalf("the shop saw %d refused queries", seen.Load())
	}
	rec := post("query ProductScreen { product(id: 77) { id name price stock reviews(first: 5) { rating body author { username } } } }")
	if rec.Code != 200 || seen.Load() != 1 || !strings.Contains(rec.Body.String(), `"product"`) {
		t.Fatalf("the app's query: %d %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Ratelimit"); got != `"points";r=4993;t=43200` {
		t.Errorf("RateLimit %q, want 7 points charged (product 1, reviews 1, 5 authors)", got)
	}
}

// TestReportedCostHeader: the upstream says what a call cost in X-Cost;
// the proxy charges the excess after the fact, so a cost quota runs out
// by work, not calls.
func TestReportedCostHeader(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cost", "60")
		fmt.Fprint(w, "report")
	}))
	t.Cleanup(up.Close)
	h := newHarness(t, `
routes:
  - {name: report, match: "POST /report", cost_header: X-Cost}
limits:
  - {name: work, key: [ip], cost: route, quota: {limit: 100, period: day}}
`, up.URL, nil)
	for i, want := range []int{200, 200, 429} {
		rec := h.do(newRequest("POST", "/report", nil), "203.0.113.1:4000")
		if rec.Code != want {
			t.Fatalf("call %d: %d, want %d (RateLimit %s)", i+1, rec.Code, want, rec.Header().Get("Ratelimit"))
		}
	}
}
