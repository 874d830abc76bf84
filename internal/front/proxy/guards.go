package proxy

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/guard/adaptive"
	"github.com/abuseguard/abuseguard/internal/guard/breaker"
	"github.com/abuseguard/abuseguard/internal/problem"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// upstreamGuards protect the upstream itself: a circuit breaker per route
// and an adaptive concurrency limit. Both outlive reloads; changed
// settings start them afresh.
type upstreamGuards struct {
	breakers *breaker.Group
	now      func() time.Time

	mu        sync.Mutex
	limiter   *adaptive.Limiter
	limiterOf adaptive.Options
}

// passage is a request's way past the guards: what to report when the
// upstream has answered.
type passage struct {
	breaker *breaker.Breaker
	ticket  breaker.Ticket
	limiter *adaptive.Limiter // nil: no slot held
	slot    adaptive.Ticket
}

func newUpstreamGuards(reg prometheus.Registerer, now func() time.Time) *upstreamGuards {
	g := &upstreamGuards{breakers: breaker.NewGroup(), now: now}
	if reg != nil {
		_ = reg.Register(g) // a second Proxy on one registry: the first one's guards are reported
	}
	return g
}

// admit asks the route's breaker and the adaptive limit to let a request
// the engine allowed through; it returns the refusal when one does not:
// 503 upstream_circuit_open or concurrency_shed, with Retry-After.
func (g *upstreamGuards) admit(pol *engine.Policy, x *exchange, vd *engine.Verdict, now time.Time) (passage, *problem.Problem) {
	var ps passage
	c := pol.Config
	if c.Breaker.Enabled {
		ps.breaker = g.breakers.Get(routeName(x), breakerOptions(c.Breaker))
		t, ok, retry := ps.breaker.Allow(now)
		if !ok {
			return passage{}, &problem.Problem{Status: http.StatusServiceUnavailable, Reason: "upstream_circuit_open",
				Detail: verdict.Detail("upstream_circuit_open"), RetryAfter: retry}
		}
		ps.ticket = t
	}
	if c.Adaptive.Mode != verdict.Off {
		l := g.adaptive(c.Adaptive)
		class := adaptive.Class{Allowlisted: vd.Allowlisted, Identified: x.view.Identity.Verified || x.view.Hints.Has(request.KnownClient)}
		if !class.Allowlisted {
			class.Risk = pol.Risk(&x.view)
		}
		if tk, ok := l.Acquire(class); ok {
			ps.limiter, ps.slot = l, tk
		} else if c.Adaptive.Mode == verdict.Enforce {
			if ps.breaker != nil {
				ps.breaker.Done(now, ps.ticket, false, 0)
			}
			return passage{}, &problem.Problem{Status: http.StatusServiceUnavailable, Reason: "concurrency_shed",
				Detail: verdict.Detail("concurrency_shed"), RetryAfter: time.Second}
		}
	}
	return ps, nil
}

// done reports the upstream's answer: failed for a 5xx or no answer;
// gone when the client left before it (its latency then says nothing of
// the upstream's; a failure's does, a timeout's most of all).
func (ps passage) done(now time.Time, failed, gone bool, latency time.Duration) {
	if ps.breaker != nil && !gone {
		ps.breaker.Done(now, ps.ticket, failed, latency)
	}
	if ps.limiter != nil {
		ps.limiter.Release(ps.slot, now, latency, gone)
	}
}

func (g *upstreamGuards) adaptive(a config.Adaptive) *adaptive.Limiter {
	o := adaptive.Options{Vegas: a.Algorithm == "vegas", Initial: a.Initial, Min: a.Min, Max: a.Max, Tolerance: a.Tolerance}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.limiter == nil || o != g.limiterOf {
		g.limiter, g.limiterOf = adaptive.New(o), o
	}
	return g.limiter
}

func breakerOptions(b config.Breaker) breaker.Options {
	return breaker.Options{ConsecutiveFailures: b.ConsecutiveFailures, FailureRatio: b.FailureRatio, MinRequests: b.MinRequests,
		Window: b.Window, SlowCall: b.SlowCall, OpenFor: b.OpenFor, Probes: b.Probes}
}

func routeName(x *exchange) string {
	if x.view.Route == nil {
		return "unmatched"
	}
	return x.view.Route.Name
}

var (
	breakerStateDesc = prometheus.NewDesc("abuseguard_breaker_state",
		"Circuit breaker state by route: 0 closed, 1 half-open (probing), 2 open (refusing with 503 upstream_circuit_open).", []string{"route"}, nil)
	breakerOpensDesc  = prometheus.NewDesc("abuseguard_breaker_opens_total", "Times a route's circuit opened.", []string{"route"}, nil)
	adaptiveLimitDesc = prometheus.NewDesc("abuseguard_adaptive_limit", "The adaptive concurrency limit of the upstream.", nil, nil)
	adaptiveInDesc    = prometheus.NewDesc("abuseguard_adaptive_in_flight", "Requests in flight to the upstream under the adaptive limit.", nil, nil)
	adaptiveShedDesc  = prometheus.NewDesc("abuseguard_adaptive_shed_total",
		"Requests the adaptive limit shed (or, in shadow mode, would have), by priority: risky, anonymous, identified, allowlisted.", []string{"priority"}, nil)
)

// Describe sends the guards' metric descriptions.
func (g *upstreamGuards) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{breakerStateDesc, breakerOpensDesc, adaptiveLimitDesc, adaptiveInDesc, adaptiveShedDesc} {
		ch <- d
	}
}

// Collect sends the breakers' states and the adaptive limit's.
func (g *upstreamGuards) Collect(ch chan<- prometheus.Metric) {
	now := g.now()
	g.breakers.Each(func(name string, b *breaker.Breaker) {
		s, opens := b.State(now)
		ch <- prometheus.MustNewConstMetric(breakerStateDesc, prometheus.GaugeValue, float64(s), name)
		ch <- prometheus.MustNewConstMetric(breakerOpensDesc, prometheus.CounterValue, float64(opens), name)
	})
	g.mu.Lock()
	l := g.limiter
	g.mu.Unlock()
	if l == nil {
		return
	}
	st := l.Stats()
	ch <- prometheus.MustNewConstMetric(adaptiveLimitDesc, prometheus.GaugeValue, float64(st.Limit))
	ch <- prometheus.MustNewConstMetric(adaptiveInDesc, prometheus.GaugeValue, float64(st.InFlight))
	for p, n := range st.Shed {
		ch <- prometheus.MustNewConstMetric(adaptiveShedDesc, prometheus.CounterValue, float64(n), adaptive.Priority(p).String())
	}
}

var _ prometheus.Collector = (*upstreamGuards)(nil)
