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

// slowingUpstream is a real loopback upstream with workers workers: each
// request holds one for service; past that they queue, so its latency
// grows with the load, as an overloaded server's does.
func slowingUpstream(t *testing.T, workers int, service time.Duration) *httptest.Server {
	t.Helper()
	sem := make(chan struct{}, workers)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		time.Sleep(service)
		<-sem
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(up.Close)
	return up
}

// TestAdaptiveShedsFloodBeforeUsers: a real loopback upstream that serves
// four requests at once in 20ms. Three identified clients use it alone
// (the limiter learns its latency), then 40 anonymous clients flood it,
// each in a closed loop. The limit shrinks as the latency rises and sheds
// the flood with 503 concurrency_shed (problem+json, Retry-After) while
// the identified clients keep their success rate. Wall clock: the
// limiter's samples are 100ms of it.
func TestAdaptiveShedsFloodBeforeUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock load test: it runs in the full pass, not the short one under the race detector")
	}
	up := slowingUpstream(t, 4, 20*time.Millisecond)
	h := newHarness(t, `
identity:
  api_key:
    keys:
      - {id: partner, sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824}
adaptive: {mode: enforce, algorithm: gradient, initial: 40, min: 2, max: 100, tolerance: 2}
`, up.URL, nil)
	h.p.opts.Now = time.Now // the upstream's latency is wall-clock time
	var stop atomic.Bool
	type tally struct{ ok, shed, other, okNanos atomic.Int64 }
	var users, flood tally
	var badShed atomic.Value
	client := func(peer string, header []string, tl *tally) {
		for !stop.Load() {
			sent := time.Now()
			rec := h.do(newRequest("GET", "/search", nil, header...), peer)
			switch {
			case rec.Code == 200:
				tl.ok.Add(1)
				tl.okNanos.Add(int64(time.Since(sent)))
			case rec.Code == 503 && strings.Contains(rec.Body.String(), "concurrency_shed"):
				tl.shed.Add(1)
				if rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != "application/problem+json" {
					badShed.Store(fmt.Sprintf("%v %s", rec.Header(), rec.Body))
				}
				time.Sleep(5 * time.Millisecond)
			default:
				tl.other.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	done := make(chan struct{})
	var running atomic.Int64
	start := func(n int, f func(i int)) {
		for i := range n {
			running.Add(1)
			go func() {
				defer func() {
					if running.Add(-1) == 0 {
						close(done)
					}
				}()
				f(i)
			}()
		}
	}
	start(3, func(i int) { client(fmt.Sprintf("198.51.100.%d:1000", i+1), []string{"X-API-Key: hello"}, &users) })
	time.Sleep(1500 * time.Millisecond)
	usersBefore := users.ok.Load() + users.shed.Load() + users.other.Load()
	okBefore, nanosBefore := users.ok.Load(), users.okNanos.Load()
	calm := h.metric(t, "abuseguard_adaptive_limit", "")
	start(40, func(i int) { client(fmt.Sprintf("203.0.113.%d:2000", i+1), nil, &flood) })
	time.Sleep(3 * time.Second)
	stop.Store(true)
	<-done

	limit := h.metric(t, "abuseguard_adaptive_limit", "")
	if v := badShed.Load(); v != nil {
		t.Errorf("a shed request without Retry-After or problem+json: %v", v)
	}
	userTotal := users.ok.Load() + users.shed.Load() + users.other.Load()
	floodTotal := flood.ok.Load() + flood.shed.Load() + flood.other.Load()
	calmLatency := time.Duration(nanosBefore / max(1, okBefore))
	floodLatency := time.Duration((users.okNanos.Load() - nanosBefore) / max(1, users.ok.Load()-okBefore))
	t.Logf("limit %v calm, %v after the flood; users %d ok, %d shed (%d before the flood), latency %v calm, %v in the flood; flood %d ok, %d shed, %d other",
		calm, limit, users.ok.Load(), users.shed.Load(), usersBefore, calmLatency, floodLatency, flood.ok.Load(), flood.shed.Load(), flood.other.Load())
	// Unlimited, 43 requests in flight on 4 workers take 215ms each.
	if floodLatency > 120*time.Millisecond {
		t.Errorf("identified clients' latency %v in the flood (%v before), want under 120ms", floodLatency, calmLatency)
	}
	if usersBefore < 30 || users.shed.Load() > userTotal/10 || users.other.Load() != 0 {
		t.Errorf("identified clients: %d ok, %d shed, %d other of %d; want at least 90%% served", users.ok.Load(), users.shed.Load(), users.other.Load(), userTotal)
	}
	// The flood's other refusals are the default policy's (rate limits,
	// its risk score's throttle).
	if flood.shed.Load() < floodTotal/4 || flood.ok.Load() > floodTotal/10 {
		t.Errorf("flood: %d of %d shed, %d served, want at least a quarter shed and at most a tenth served", flood.shed.Load(), floodTotal, flood.ok.Load())
	}
	if limit > calm*0.6 {
		t.Errorf("limit %v after the flood, %v before: want it down by at least 40%%", limit, calm)
	}
	shed := h.metric(t, "abuseguard_adaptive_shed_total", "anonymous") + h.metric(t, "abuseguard_adaptive_shed_total", "risky")
	if idShed := h.metric(t, "abuseguard_adaptive_shed_total", "identified"); shed != float64(flood.shed.Load()) || idShed != float64(users.shed.Load()) {
		t.Errorf("abuseguard_adaptive_shed_total: %v anonymous or risky, %v identified; want %d and %d", shed, idShed, flood.shed.Load(), users.shed.Load())
	}
}
