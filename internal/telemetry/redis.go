package telemetry

import "github.com/prometheus/client_golang/prometheus"

// RedisStats is a snapshot of a Redis-backed store, for metrics.
type RedisStats struct {
	Available                         bool
	Calls, Errors, Fallbacks, Refused uint64
	Outages, Recoveries               uint64
	Syncs, SyncErrors                 uint64
	Nodes                             int
}

// WatchRedis exports the shared state's health and traffic, read from
// stats at each scrape.
func (m *Metrics) WatchRedis(stats func() RedisStats) {
	descs := []*prometheus.Desc{redisUpDesc, redisCallsDesc, redisErrorsDesc, redisFallbackDesc, redisRefusedDesc,
		redisOutagesDesc, redisRecoveriesDesc, redisSyncsDesc, redisSyncErrorsDesc, redisNodesDesc}
	m.Registry.MustRegister(collectorFunc{
		descs: descs,
		collect: func(ch chan<- prometheus.Metric) {
			s := stats()
			up := 0.0
			if s.Available {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(redisUpDesc, prometheus.GaugeValue, up)
			for _, c := range []struct {
				d *prometheus.Desc
				v uint64
			}{{redisCallsDesc, s.Calls}, {redisErrorsDesc, s.Errors}, {redisFallbackDesc, s.Fallbacks},
				{redisRefusedDesc, s.Refused}, {redisOutagesDesc, s.Outages}, {redisRecoveriesDesc, s.Recoveries},
				{redisSyncsDesc, s.Syncs}, {redisSyncErrorsDesc, s.SyncErrors}} {
				ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
			}
			ch <- prometheus.MustNewConstMetric(redisNodesDesc, prometheus.GaugeValue, float64(s.Nodes))
		},
	})
}

var (
	redisUpDesc         = prometheus.NewDesc("abuseguard_redis_available", "1 while Redis answers; 0 while on_error applies.", nil, nil)
	redisCallsDesc      = prometheus.NewDesc("abuseguard_redis_calls_total", "Round trips to Redis for limit checks.", nil, nil)
	redisErrorsDesc     = prometheus.NewDesc("abuseguard_redis_errors_total", "Round trips to Redis that failed or timed out.", nil, nil)
	redisFallbackDesc   = prometheus.NewDesc("abuseguard_redis_fallback_checks_total", "Limit checks decided locally while Redis was unavailable (on_error open).", nil, nil)
	redisRefusedDesc    = prometheus.NewDesc("abuseguard_redis_refused_checks_total", "Limit checks refused while Redis was unavailable (on_error closed).", nil, nil)
	redisOutagesDesc    = prometheus.NewDesc("abuseguard_redis_outages_total", "Times Redis turned unavailable.", nil, nil)
	redisRecoveriesDesc = prometheus.NewDesc("abuseguard_redis_recoveries_total", "Times Redis turned available again.", nil, nil)
	redisSyncsDesc      = prometheus.NewDesc("abuseguard_redis_syncs_total", "Local-first sync round trips.", nil, nil)
	redisSyncErrorsDesc = prometheus.NewDesc("abuseguard_redis_sync_errors_total", "Local-first syncs that failed.", nil, nil)
	redisNodesDesc      = prometheus.NewDesc("abuseguard_redis_nodes", "Live guard nodes seen through Redis (local-first).", nil, nil)
)
