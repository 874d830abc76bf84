// Package telemetry holds what operators watch: Prometheus metrics and the
// JSON access log. Labels never carry a client IP or key: only names from
// the configuration (routes, rules) and fixed words.
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/abuseguard/abuseguard/internal/verdict"
	"github.com/abuseguard/abuseguard/pkg/challenge"
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
	Challenges      *prometheus.CounterVec // outcome: issued, solved, pass, or the reason a solution or pass was refused
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
		Challenges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_challenges_total",
			Help: "Proof-of-work challenges by outcome: issued, solved (a solution earned a pass), pass (a pass let a request through), or the reason a solution or pass was refused (challenge_expired, challenge_replayed, pass_transplanted, ...).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.Requests, m.Refused, m.DecisionSeconds, m.UpstreamSeconds, m.ConfigReloads, m.ConfigReloadOK, m.Challenges)
	m.ConfigReloadOK.Set(1)
	m.ConfigReloads.WithLabelValues("ok")
	m.ConfigReloads.WithLabelValues("failed")
	return m
}

// CountChallenge counts the challenge outcome of vd, if it has one: a
// solution that earned a pass (solved), a pass that let the request
// through (pass), or a challenge issued, with the reason a solution or
// pass was refused when one was.
func (m *Metrics) CountChallenge(vd *verdict.Verdict) {
	switch {
	case vd.Pass != "":
		m.Challenges.WithLabelValues("solved").Inc()
	case vd.PassUsed:
		m.Challenges.WithLabelValues("pass").Inc()
	case vd.Challenge.Token != "":
		m.Challenges.WithLabelValues("issued").Inc()
		if vd.Reason != challenge.Reason {
			m.Challenges.WithLabelValues(vd.Reason).Inc()
		}
	}
}

// StateStats is a snapshot of limiter state size and churn.
type StateStats struct {
	Keys, MaxKeys          int
	Evictions, Expirations uint64
}

// WatchState exports the limiter state's size and churn, read from stats
// at each scrape.
func (m *Metrics) WatchState(stats func() StateStats) {
	m.Registry.MustRegister(collectorFunc{
		descs: []*prometheus.Desc{keysDesc, maxKeysDesc, evictionsDesc, expirationsDesc},
		collect: func(ch chan<- prometheus.Metric) {
			s := stats()
			ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(s.Keys))
			ch <- prometheus.MustNewConstMetric(maxKeysDesc, prometheus.GaugeValue, float64(s.MaxKeys))
			ch <- prometheus.MustNewConstMetric(evictionsDesc, prometheus.CounterValue, float64(s.Evictions))
			ch <- prometheus.MustNewConstMetric(expirationsDesc, prometheus.CounterValue, float64(s.Expirations))
		},
	})
}

var (
	keysDesc        = prometheus.NewDesc("abuseguard_state_keys", "Limiter keys held in memory.", nil, nil)
	maxKeysDesc     = prometheus.NewDesc("abuseguard_state_max_keys", "Limiter keys that fit in state.max_memory.", nil, nil)
	evictionsDesc   = prometheus.NewDesc("abuseguard_state_evictions_total", "Live limiter keys dropped to stay within state.max_memory.", nil, nil)
	expirationsDesc = prometheus.NewDesc("abuseguard_state_expirations_total", "Idle limiter keys dropped after they expired.", nil, nil)
)

// DecisionStats is a snapshot of the decision store and event sink.
type DecisionStats struct {
	Active                 int
	Dropped, PersistErrors uint64
	EventErrors            uint64
}

var (
	decisionsActiveDesc = prometheus.NewDesc("abuseguard_decisions_active", "Active decisions (throttle, challenge, block) on entities.", nil, nil)
	decisionsDropDesc   = prometheus.NewDesc("abuseguard_decisions_dropped_total", "Decisions dropped to stay within decisions.max_decisions.", nil, nil)
	persistErrDesc      = prometheus.NewDesc("abuseguard_decisions_persist_errors_total", "Failed writes of decisions to the embedded database; the decisions still apply in memory.", nil, nil)
	eventErrDesc        = prometheus.NewDesc("abuseguard_events_errors_total", "Security events that could not be written to the events sink.", nil, nil)
	detectorKeysDesc    = prometheus.NewDesc("abuseguard_detector_entities", "Entities a detector (or the risk table) tracks.", []string{"detector"}, nil)
	detectorMaxDesc     = prometheus.NewDesc("abuseguard_detector_max_entities", "Entities a detector (or the risk table) may track.", []string{"detector"}, nil)
	detectorEvictDesc   = prometheus.NewDesc("abuseguard_detector_evictions_total", "Tracked entities dropped to stay within max_entities.", []string{"detector"}, nil)
)

var budgetAlertsDesc = prometheus.NewDesc("abuseguard_budget_alerts_total",
	"Spending budget alerts (budget_alert events): an entity's spend in a period crossed 80% or 100% of a budget.", []string{"budget", "level"}, nil)

// WatchBudgets exports the spending budget alerts, read from counts at
// each scrape: by budget name, the alerts at 80% and at 100%.
func (m *Metrics) WatchBudgets(counts func() map[string][2]uint64) {
	m.Registry.MustRegister(collectorFunc{
		descs: []*prometheus.Desc{budgetAlertsDesc},
		collect: func(ch chan<- prometheus.Metric) {
			for name, c := range counts() {
				ch <- prometheus.MustNewConstMetric(budgetAlertsDesc, prometheus.CounterValue, float64(c[0]), name, "80")
				ch <- prometheus.MustNewConstMetric(budgetAlertsDesc, prometheus.CounterValue, float64(c[1]), name, "100")
			}
		},
	})
}

// WatchDecisions exports the decision store's size and errors, read from
// stats at each scrape.
func (m *Metrics) WatchDecisions(stats func() DecisionStats) {
	m.Registry.MustRegister(collectorFunc{
		descs: []*prometheus.Desc{decisionsActiveDesc, decisionsDropDesc, persistErrDesc, eventErrDesc},
		collect: func(ch chan<- prometheus.Metric) {
			s := stats()
			ch <- prometheus.MustNewConstMetric(decisionsActiveDesc, prometheus.GaugeValue, float64(s.Active))
			ch <- prometheus.MustNewConstMetric(decisionsDropDesc, prometheus.CounterValue, float64(s.Dropped))
			ch <- prometheus.MustNewConstMetric(persistErrDesc, prometheus.CounterValue, float64(s.PersistErrors))
			ch <- prometheus.MustNewConstMetric(eventErrDesc, prometheus.CounterValue, float64(s.EventErrors))
		},
	})
}

// WatchDetectors exports each detector's state size and evictions, read
// from stats at each scrape.
func (m *Metrics) WatchDetectors(stats func() map[string]StateStats) {
	m.Registry.MustRegister(collectorFunc{
		descs: []*prometheus.Desc{detectorKeysDesc, detectorMaxDesc, detectorEvictDesc},
		collect: func(ch chan<- prometheus.Metric) {
			for name, s := range stats() {
				ch <- prometheus.MustNewConstMetric(detectorKeysDesc, prometheus.GaugeValue, float64(s.Keys), name)
				ch <- prometheus.MustNewConstMetric(detectorMaxDesc, prometheus.GaugeValue, float64(s.MaxKeys), name)
				ch <- prometheus.MustNewConstMetric(detectorEvictDesc, prometheus.CounterValue, float64(s.Evictions), name)
			}
		},
	})
}

// collectorFunc is a prometheus.Collector made of fixed descriptions and a
// function that reads their values.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
