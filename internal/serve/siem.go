package serve

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/abuseguard/abuseguard/internal/telemetry"
	"github.com/abuseguard/abuseguard/internal/telemetry/siem"
)

// siemSink returns the SIEM queue an events destination names, or ok
// false when it names none: syslog+udp://HOST:PORT, syslog+tcp://...,
// syslog+tls://... (RFC 5424), or an http:// or https:// webhook URL
// (batched NDJSON; the environment variable ABUSEGUARD_EVENTS_WEBHOOK_TOKEN,
// when set, is sent as a bearer token).
func siemSink(dest, setting string) (*siem.Queue, bool, error) {
	scheme, rest, ok := strings.Cut(dest, "://")
	if !ok {
		return nil, false, nil
	}
	var sink siem.Sink
	switch scheme {
	case "syslog+udp", "syslog+tcp", "syslog+tls":
		s, err := siem.NewSyslog(siem.SyslogOptions{Network: strings.TrimPrefix(scheme, "syslog+"), Addr: strings.TrimSuffix(rest, "/")})
		if err != nil {
			return nil, true, fmt.Errorf("%s: %w", setting, err)
		}
		sink = s
	case "http", "https":
		if _, err := url.Parse(dest); err != nil {
			return nil, true, fmt.Errorf("%s: %w", setting, err)
		}
		o := siem.WebhookOptions{URL: dest}
		if tok := os.Getenv("ABUSEGUARD_EVENTS_WEBHOOK_TOKEN"); tok != "" {
			o.Header = map[string][]string{"Authorization": {"Bearer " + tok}}
		}
		sink = siem.NewWebhook(o)
	default:
		return nil, false, nil
	}
	return siem.NewQueue(sink, siem.QueueOptions{}), true, nil
}

var (
	siemDroppedDesc = prometheus.NewDesc("abuseguard_siem_dropped_total", "Security events dropped because the SIEM queue was full (the SIEM is slow or down).", nil, nil)
	siemSentDesc    = prometheus.NewDesc("abuseguard_siem_sent_total", "Security events the SIEM sink accepted.", nil, nil)
	siemFailedDesc  = prometheus.NewDesc("abuseguard_siem_failed_total", "Security events the SIEM sink refused after its retries.", nil, nil)
	siemQueuedDesc  = prometheus.NewDesc("abuseguard_siem_queued", "Security events waiting for the SIEM sink.", nil, nil)
)

// watchSIEM exports q's counters.
func watchSIEM(m *telemetry.Metrics, q *siem.Queue) {
	m.Registry.MustRegister(siemCollector{q})
}

type siemCollector struct{ q *siem.Queue }

func (siemCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- siemDroppedDesc
	ch <- siemSentDesc
	ch <- siemFailedDesc
	ch <- siemQueuedDesc
}

func (c siemCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.q.Stats()
	ch <- prometheus.MustNewConstMetric(siemDroppedDesc, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(siemSentDesc, prometheus.CounterValue, float64(s.Sent))
	ch <- prometheus.MustNewConstMetric(siemFailedDesc, prometheus.CounterValue, float64(s.Failed))
	ch <- prometheus.MustNewConstMetric(siemQueuedDesc, prometheus.GaugeValue, float64(s.Queued))
}
