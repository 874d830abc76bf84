package telemetry

import "github.com/prometheus/client_golang/prometheus"

// RedisStats is a snapshot of a Redis-backed store, for metrics.
type RedisStats struct {
	Available                         bool
	Calls, Errors, Fallbacks, Refused uint64
	Outages, Recoveries               uint64
	Syncs, SyncErrors                 uint64
	Nodes                             int
	// Shared decisions and detector counts.
	DecisionsPublished, DecisionsReceived, DecisionWriteErrors uint64
	DecisionsQueued                                            int
	SketchFlushes, SketchErrors                                uint64
}

// WatchRedis exports the shared state's health and traffic, read from
// stats at each scrape.
func (m *Metrics) WatchRedis(stats func() RedisStats) {
	descs := []*prometheus.Desc{redisUpDesc, redisCallsDesc, redisErrorsDesc, redisFallbackDesc, redisRefusedDesc,
		redisOutagesDesc, redisRecoveriesDesc, redisSyncsDesc, redisSyncErrorsDesc, redisNodesDesc,
		redisDecPubDesc, redisDecRecvDesc, redisDecErrDesc, redisDecQueuedDesc, redisSketchDesc, redisSketchErrDesc}
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
				{redisSyncsDesc, s.Syncs}, {redisSyncErrorsDesc, s.SyncErrors},
				{redisDecPubDesc, s.DecisionsPublished}, {redisDecRecvDesc, s.DecisionsReceived}, {redisDecErrDesc, s.DecisionWriteErrors},
				{redisSketchDesc, s.SketchFlushes}, {redisSketchErrDesc, s.SketchErrors}} {
				ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
			}
			ch <- prometheus.MustNewConstMetric(redisNodesDesc, prometheus.GaugeValue, float64(s.Nodes))
			ch <- prometheus.MustNewConstMetric(redisDecQueuedDesc, prometheus.GaugeValue, float64(s.DecisionsQueued))
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
	redisDecPubDesc     = prometheus.NewDesc("abuseguard_redis_decisions_published_total", "Decision changes this node wrote to Redis and published.", nil, nil)
	redisDecRecvDesc    = prometheus.NewDesc("abuseguard_redis_decisions_received_total", "Decision changes received from other nodes.", nil, nil)
	redisDecErrDesc     = prometheus.NewDesc("abuseguard_redis_decision_write_errors_total", "Decision changes that could not be written to Redis (queued for write-back).", nil, nil)
	redisDecQueuedDesc  = prometheus.NewDesc("abuseguard_redis_decisions_queued", "Decision changes waiting for Redis to be written back.", nil, nil)
	redisSketchDesc     = prometheus.NewDesc("abuseguard_redis_sketch_flushes_total", "Flushes of the distributed detector's counts.", nil, nil)
	redisSketchErrDesc  = prometheus.NewDesc("abuseguard_redis_sketch_flush_errors_total", "Flushes of the distributed detector's counts that failed.", nil, nil)
)

// SIEMStats sums the counters of the SIEM queues (syslog, webhook).
type SIEMStats struct {
	Dropped, Sent, Failed uint64
	Queued                int
}

// WatchSIEM exports the SIEM queues' counters, read from stats at each
// scrape (zero while no SIEM destination is open).
func (m *Metrics) WatchSIEM(stats func() SIEMStats) {
	m.Registry.MustRegister(collectorFunc{
		descs: []*prometheus.Desc{siemDroppedDesc, siemSentDesc, siemFailedDesc, siemQueuedDesc},
		collect: func(ch chan<- prometheus.Metric) {
			s := stats()
			ch <- prometheus.MustNewConstMetric(siemDroppedDesc, prometheus.CounterValue, float64(s.Dropped))
			ch <- prometheus.MustNewConstMetric(siemSentDesc, prometheus.CounterValue, float64(s.Sent))
			ch <- prometheus.MustNewConstMetric(siemFailedDesc, prometheus.CounterValue, float64(s.Failed))
			ch <- prometheus.MustNewConstMetric(siemQueuedDesc, prometheus.GaugeValue, float64(s.Queued))
		},
	})
}

var (
	siemDroppedDesc = prometheus.NewDesc("abuseguard_siem_dropped_total", "Security events dropped because the SIEM queue was full (the SIEM is slow or down).", nil, nil)
	siemSentDesc    = prometheus.NewDesc("abuseguard_siem_sent_total", "Security events the SIEM sink accepted.", nil, nil)
	siemFailedDesc  = prometheus.NewDesc("abuseguard_siem_failed_total", "Security events the SIEM sink refused after its retries.", nil, nil)
	siemQueuedDesc  = prometheus.NewDesc("abuseguard_siem_queued", "Security events waiting for the SIEM sink.", nil, nil)
)
