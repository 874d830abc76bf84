// Package telemetry holds what operators watch: Prometheus metrics and the
// JSON access log. Labels never carry a client IP or key: only names from
// the configuration (routes, rules) and fixed words.
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are abuseguard's Prometheus metrics.
type Metrics struct {
	Registry *prometheus.Registry

	Requests        *prometheus.CounterVec // route, action, rule, mode
	Refused         *prometheus.CounterVec // reason: refused before a decision, or by the upstream path
	DecisionSeconds prometheus.Histogram
	UpstreamSeconds prometheus.Histogram
	ConfigReloads   *prometheus.CounterVec // result: ok, failed
	ConfigReloadOK  prometheus.Gauge       // 1 when the last reload succeeded
}

// NewMetrics registers abuseguard's metrics, with the Go runtime and
// process collectors, in a new registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_requests_total",
			Help: "Requests decided, by route, action taken (allow, throttle, block), the rule that acted or would have acted, and its mode (enforce, canary; shadow: allowed, but the rule would have acted).",
		}, []string{"route", "action", "rule", "mode"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_refused_total",
			Help: "Requests refused outside the limits, by reason code (bad_forwarding_header, token_expired, request_too_large, upstream_unavailable, ...).",
		}, []string{"reason"}),
		DecisionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "abuseguard_decision_seconds",
			Help:    "Time to parse and decide one request, before the upstream is called.",
			Buckets: []float64{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2},
		}),
		UpstreamSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "abuseguard_upstream_seconds",
			Help:    "Time from forwarding a request to the end of the upstream's response.",
			Buckets: prometheus.DefBuckets,
		}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_config_reloads_total",
			Help: "Configuration reloads by result (ok, failed). A failed reload keeps the last good configuration.",
		}, []string{"result"}),
		ConfigReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "abuseguard_config_last_reload_successful",
			Help: "1 when the last configuration reload succeeded, 0 when it failed.",
		}),
	}
	reg.MustRegister(m.Requests, m.Refused, m.DecisionSeconds, m.UpstreamSeconds, m.ConfigReloads, m.ConfigReloadOK)
	m.ConfigReloadOK.Set(1)
	m.ConfigReloads.WithLabelValues("ok")
	m.ConfigReloads.WithLabelValues("failed")
	return m
}

// StateStats is a snapshot of limiter state size and churn.
type StateStats struct {
	Keys, MaxKeys          int
	Evictions, Expirations uint64
}

// WatchState exports the limiter state's size and churn, read from stats
// at each scrape.
func (m *Metrics) WatchState(stats func() StateStats) {
	m.Registry.MustRegister(stateCollector(stats))
}

type stateCollector func() StateStats

var (
	keysDesc        = prometheus.NewDesc("abuseguard_state_keys", "Limiter keys held in memory.", nil, nil)
	maxKeysDesc     = prometheus.NewDesc("abuseguard_state_max_keys", "Limiter keys that fit in state.max_memory.", nil, nil)
	evictionsDesc   = prometheus.NewDesc("abuseguard_state_evictions_total", "Live limiter keys dropped to stay within state.max_memory.", nil, nil)
	expirationsDesc = prometheus.NewDesc("abuseguard_state_expirations_total", "Idle limiter keys dropped after they expired.", nil, nil)
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keysDesc
	ch <- maxKeysDesc
	ch <- evictionsDesc
	ch <- expirationsDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c()
	ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(s.Keys))
	ch <- prometheus.MustNewConstMetric(maxKeysDesc, prometheus.GaugeValue, float64(s.MaxKeys))
	ch <- prometheus.MustNewConstMetric(evictionsDesc, prometheus.CounterValue, float64(s.Evictions))
	ch <- prometheus.MustNewConstMetric(expirationsDesc, prometheus.CounterValue, float64(s.Expirations))
}
