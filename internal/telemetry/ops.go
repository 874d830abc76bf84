package telemetry

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Ops are the operations metrics M1–M12 of docs/metrics.md that the
// request counters do not already give: refusals by reason, upstream
// responses by status, the cost of upstream time, limit usage, signals,
// decisions with their time to detect and time to block, and analyst
// feedback. Every label is a configured name (route, limit, detector,
// rule reason) or a fixed word; none is a client's.
type Ops struct {
	// Acted counts requests a limit, rule, detector or decision acted on,
	// or would have acted on (mode shadow), by action, reason, mode and
	// identity (verified: a configured key or a verified user; anonymous).
	Acted *prometheus.CounterVec
	// Verified counts decided requests that carried a verified identity:
	// the denominator of the "legitimate requests refused" SLO.
	Verified prometheus.Counter
	// Responses counts forwarded requests by route and upstream status:
	// 401, 403 and 404 on their own, the rest by class (2xx, 3xx, 4xx, 5xx).
	Responses *prometheus.CounterVec
	// CostSeconds sums upstream time by route: what serving a route costs.
	CostSeconds *prometheus.CounterVec
	// LimitUsage observes, per request, how much of the tightest
	// applicable limit was used (0 to 1), by limit name.
	LimitUsage *prometheus.HistogramVec
	// Signals counts detector signals by detector and severity.
	Signals *prometheus.CounterVec
	// Decisions counts decisions the engine or an operator made, by action,
	// reason, mode and source (detector, rule, score, manual).
	Decisions *prometheus.CounterVec
	// TimeToDetect observes, for each decision, the time from the first
	// signal in its evidence to the decision, by reason.
	TimeToDetect *prometheus.HistogramVec
	// TimeToBlock observes, for each enforced block decision, the time from
	// the first signal in its evidence to the block, by reason.
	TimeToBlock *prometheus.HistogramVec
	// Feedback counts analyst verdicts on decisions (confirmed,
	// false_positive) by the decision's reason.
	Feedback *prometheus.CounterVec
}

// detectionBuckets span a honeypot's instant block to a slow scraper's
// hours.
var detectionBuckets = []float64{0, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600}

func newOps(reg *prometheus.Registry) *Ops {
	o := &Ops{
		Acted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_acted_total",
			Help: "Requests a limit, rule, detector or decision acted on (mode enforce or canary) or would have acted on (mode shadow; action is then allow), by action, reason code, mode and identity (verified or anonymous).",
		}, []string{"action", "reason", "mode", "identity"}),
		Verified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abuseguard_verified_requests_total",
			Help: "Decided requests carrying a verified identity (a configured API key or a verified user).",
		}),
		Responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_upstream_responses_total",
			Help: "Forwarded requests by route and upstream status: 401, 403 and 404 on their own, others by class (2xx, 3xx, 4xx, 5xx); error when the upstream gave no answer.",
		}, []string{"route", "code"}),
		CostSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_upstream_cost_seconds_total",
			Help: "Upstream time spent on forwarded requests, by route: the cost the guard lets through.",
		}, []string{"route"}),
		LimitUsage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "abuseguard_limit_usage_ratio",
			Help:    "Share of the tightest applicable limit a request found used (1 - remaining/limit), by limit name; quotas show partner burn.",
			Buckets: []float64{0.25, 0.5, 0.75, 0.9, 0.99, 1},
		}, []string{"limit"}),
		Signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_signals_total",
			Help: "Detector signals scored, by detector and severity (low, medium, high).",
		}, []string{"detector", "severity"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_decisions_total",
			Help: "Decisions recorded, by action, reason, mode and source kind (detector, rule, score, manual).",
		}, []string{"action", "reason", "mode", "source"}),
		TimeToDetect: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "abuseguard_time_to_detect_seconds",
			Help:    "Time from the first signal in a decision's evidence to the decision, by reason.",
			Buckets: detectionBuckets,
		}, []string{"reason"}),
		TimeToBlock: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "abuseguard_time_to_block_seconds",
			Help:    "Time from the first signal in an enforced block decision's evidence to the block, by reason.",
			Buckets: detectionBuckets,
		}, []string{"reason"}),
		Feedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abuseguard_feedback_total",
			Help: "Analyst verdicts on decisions, by verdict (confirmed, false_positive) and the decision's reason.",
		}, []string{"verdict", "reason"}),
	}
	reg.MustRegister(o.Acted, o.Verified, o.Responses, o.CostSeconds, o.LimitUsage, o.Signals, o.Decisions,
		o.TimeToDetect, o.TimeToBlock, o.Feedback)
	for _, v := range []string{FeedbackConfirmed, FeedbackFalsePositive} {
		o.Feedback.WithLabelValues(v, "")
	}
	return o
}

// Feedback verdicts.
const (
	FeedbackConfirmed     = "confirmed"
	FeedbackFalsePositive = "false_positive"
)

// StatusCode returns the code label of an upstream status: "401", "403"
// and "404" on their own, "2xx" ... "5xx" for the rest, "error" for none.
func StatusCode(status int) string {
	switch status {
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	}
	switch status / 100 {
	case 1, 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return "error"
}

// Usage returns the share of a limit used, from its RateLimit-Policy value
// ("name";q=LIMIT;...) and the requests remaining; ok is false when the
// policy names no positive limit.
func Usage(policy string, remaining int64) (float64, bool) {
	i := strings.Index(policy, ";q=")
	if i < 0 {
		return 0, false
	}
	q := policy[i+3:]
	if j := strings.IndexByte(q, ';'); j >= 0 {
		q = q[:j]
	}
	limit, err := strconv.ParseInt(q, 10, 64)
	if err != nil || limit <= 0 {
		return 0, false
	}
	used := 1 - float64(remaining)/float64(limit)
	return min(max(used, 0), 1), true
}

// DecisionFacts is what the decision metrics read of a decision.
type DecisionFacts struct {
	Action, Reason, Mode, Source string
	Created                      time.Time
	FirstSignal                  time.Time // zero when the decision has no evidence
}

// ObserveDecision counts a decision and, when its evidence has a first
// signal, its time to detect and (an enforced block) its time to block.
func (o *Ops) ObserveDecision(d DecisionFacts) {
	kind, _, _ := strings.Cut(d.Source, ":")
	o.Decisions.WithLabelValues(d.Action, d.Reason, d.Mode, kind).Inc()
	if d.FirstSignal.IsZero() || kind == "manual" {
		return
	}
	took := max(d.Created.Sub(d.FirstSignal), 0).Seconds()
	o.TimeToDetect.WithLabelValues(d.Reason).Observe(took)
	if d.Action == "block" && d.Mode == "enforce" {
		o.TimeToBlock.WithLabelValues(d.Reason).Observe(took)
	}
}

// Names returns the names of every metric family m's registry describes,
// sorted: what dashboards and alert rules may refer to (a histogram's
// series add _bucket, _sum and _count to its name).
func (m *Metrics) Names() []string {
	ch := make(chan *prometheus.Desc)
	go func() { m.Registry.Describe(ch); close(ch) }()
	seen := map[string]bool{}
	for d := range ch {
		// Desc has no accessor for its name; its String form is stable:
		// Desc{fqName: "NAME", help: ...}.
		s := d.String()
		if i := strings.Index(s, `fqName: "`); i >= 0 {
			s = s[i+len(`fqName: "`):]
			if j := strings.IndexByte(s, '"'); j > 0 {
				seen[s[:j]] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Exported returns the names of every metric family serve can export:
// NewMetrics' and those of the state, decision, detector, Redis, SIEM and
// budget watchers.
func Exported() []string {
	m := NewMetrics()
	m.WatchState(func() StateStats { return StateStats{} })
	m.WatchRedis(func() RedisStats { return RedisStats{} })
	m.WatchSIEM(func() SIEMStats { return SIEMStats{} })
	m.WatchDecisions(func() DecisionStats { return DecisionStats{} })
	m.WatchDetectors(func() map[string]StateStats { return nil })
	m.WatchBudgets(func() map[string][2]uint64 { return nil })
	return m.Names()
}
