package serve

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

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
// URLs (siemSink) through a never-blocking queue, file+rotate:// files
// through a size-rotated file (rotatedFile), everything else through
// telemetry.Sinks. Streams naming the same destination share its writer.
type destinations struct {
	files *telemetry.Sinks

	mu      sync.Mutex
	queues  map[string]*siem.Queue               // by destination
	rotated map[string]*telemetry.BufferedWriter // file+rotate:// destinations, by what follows the scheme
	closers []func() error                       // of the rotated files, in order
}

func newDestinations(interval time.Duration) *destinations {
	return &destinations{files: telemetry.NewSinks(interval), queues: map[string]*siem.Queue{},
		rotated: map[string]*telemetry.BufferedWriter{}}
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
	if rest, ok := strings.CutPrefix(dest, "file+rotate://"); ok {
		if w := d.rotated[rest]; w != nil {
			return w, nil
		}
		lj, err := rotatedFile(rest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", setting, err)
		}
		w := telemetry.NewBufferedWriter(lj, d.files.Interval)
		d.rotated[rest], d.closers = w, append(d.closers, w.Close, lj.Close)
		return w, nil
	}
	w, err := d.files.Open(dest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	return w, nil
}

// rotatedFile opens the rotated file rest names: /PATH?max_size_mb=N
// (default 100), max_backups=N (default 5; 0 keeps all), max_age_days=N
// (default 0: no age limit), compress=true|false (default false). Backups
// sit beside the file, named with the time of their rotation.
func rotatedFile(rest string) (*lumberjack.Logger, error) {
	u, err := url.Parse("file://" + rest)
	if err != nil {
		return nil, err
	}
	if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
		return nil, fmt.Errorf("file+rotate://%s: want file+rotate:///ABSOLUTE/PATH", rest)
	}
	lj := &lumberjack.Logger{Filename: u.Path, MaxSize: 100, MaxBackups: 5}
	for key, vs := range u.Query() {
		v := vs[len(vs)-1]
		var n int
		switch key {
		case "compress":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("compress=%q: want true or false", v)
			}
			lj.Compress = b
			continue
		case "max_size_mb", "max_backups", "max_age_days":
			if n, err = strconv.Atoi(v); err != nil || n < 0 || (key == "max_size_mb" && n == 0) {
				return nil, fmt.Errorf("%s=%q: want a whole number (at least 1 for max_size_mb)", key, v)
			}
		default:
			return nil, fmt.Errorf("unknown setting %q (max_size_mb, max_backups, max_age_days, compress)", key)
		}
		switch key {
		case "max_size_mb":
			lj.MaxSize = n
		case "max_backups":
			lj.MaxBackups = n
		case "max_age_days":
			lj.MaxAge = n
		}
	}
	// Open (or create) it now, so a bad path fails at start, not at the
	// first line.
	if _, err := lj.Write(nil); err != nil {
		return nil, err
	}
	return lj, nil
}

// Close flushes and closes every destination.
func (d *destinations) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.queues {
		q.Close()
	}
	for _, c := range d.closers {
		_ = c()
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
