package rls

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// maxStatsKeys bounds the distinct stats keys exported; hits under further
// keys (detailed_metric keys carry request values) are counted under
// otherStatsKey.
const maxStatsKeys = 1000

// otherStatsKey is the key label of hits past maxStatsKeys.
const otherStatsKey = "_other"

var outcomeNames = [...]string{WithinLimit: "within_limit", OverLimit: "over_limit", ShadowOverLimit: "shadow_mode", Unlimited: "unlimited"}

// Metrics is a Recorder exporting abuseguard_rls_hits_total by domain,
// stats key and outcome: the counters envoyproxy/ratelimit keeps per
// descriptor, as Prometheus counters.
type Metrics struct {
	hits     *prometheus.CounterVec
	counters sync.Map // domain + "\x00" + key -> *[4]prometheus.Counter
	keys     atomic.Int64
}

// NewMetrics registers the rate limit service's counters in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{hits: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "abuseguard_rls_hits_total",
		Help: "Hits the rate limit service counted, by domain, stats key (the descriptor path, as envoyproxy/ratelimit names it; " +
			otherStatsKey + " past " + "1000 keys) and outcome (within_limit, over_limit, shadow_mode, unlimited).",
	}, []string{"domain", "key", "outcome"})}
	reg.MustRegister(m.hits)
	return m
}

// Hits adds hits under domain and statsKey.
func (m *Metrics) Hits(domain, statsKey string, hits uint64, o Outcome) {
	id := domain + "\x00" + statsKey
	cs, ok := m.counters.Load(id)
	if !ok {
		if m.keys.Load() >= maxStatsKeys {
			statsKey, id = otherStatsKey, domain+"\x00"+otherStatsKey
			cs, ok = m.counters.Load(id)
		}
		if !ok {
			fresh := new([4]prometheus.Counter)
			for i, name := range outcomeNames {
				fresh[i] = m.hits.WithLabelValues(domain, statsKey, name)
			}
			var loaded bool
			if cs, loaded = m.counters.LoadOrStore(id, fresh); !loaded {
				m.keys.Add(1)
			}
		}
	}
	cs.(*[4]prometheus.Counter)[o].Add(float64(hits))
}

var _ Recorder = (*Metrics)(nil)
