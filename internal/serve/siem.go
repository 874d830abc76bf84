package serve

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

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

// destinations opens the access log's and the events' destinations: SIEM
// URLs (siemSink) through a never-blocking queue, everything else through
// telemetry.Sinks. Streams naming the same destination share its writer.
type destinations struct {
	files *telemetry.Sinks

	mu     sync.Mutex
	queues map[string]*siem.Queue // by destination
}

func newDestinations(interval time.Duration) *destinations {
	return &destinations{files: telemetry.NewSinks(interval), queues: map[string]*siem.Queue{}}
}

// Open returns the writer of dest for setting (named in errors): nil for
// "off".
func (d *destinations) Open(dest, setting string) (io.Writer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q := d.queues[dest]; q != nil {
		return q, nil
	}
	q, ok, err := siemSink(dest, setting)
	if err != nil {
		return nil, err
	}
	if ok {
		d.queues[dest] = q
		return q, nil
	}
	w, err := d.files.Open(dest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	return w, nil
}

// Close flushes and closes every destination.
func (d *destinations) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.queues {
		q.Close()
	}
	d.files.Close()
}

// stats sums the SIEM queues' counters.
func (d *destinations) stats() siem.Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var sum siem.Stats
	for _, q := range d.queues {
		s := q.Stats()
		sum.Dropped += s.Dropped
		sum.Sent += s.Sent
		sum.Failed += s.Failed
		sum.Queued += s.Queued
	}
	return sum
}

// watchSIEM exports the SIEM queues' counters (zero while none is open).
func watchSIEM(m *telemetry.Metrics, d *destinations) {
	m.WatchSIEM(func() telemetry.SIEMStats {
		s := d.stats()
		return telemetry.SIEMStats{Dropped: s.Dropped, Sent: s.Sent, Failed: s.Failed, Queued: s.Queued}
	})
}
