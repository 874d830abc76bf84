package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Access is one access log line. It holds ids, never secrets: KeyID is the
// key's configured id or HMAC id.
type Access struct {
	Time      time.Time
	RequestID string
	TraceID   string // "" when not traced; then the line has no trace_id
	ClientIP  netip.Addr
	Method    string
	Path      string
	Route     string
	KeyID     string
	User      string
	Status    int
	Latency   time.Duration
	Bytes     int64
	Action    string
	Rule      string
	Mode      string
	Reason    string
}

// AccessLog writes one JSON object per request.
type AccessLog struct {
	h slog.Handler
	// keep is the benign lines kept per 2^32 (1<<32 keeps all).
	keep       uint64
	sampledOut prometheus.Counter // nil: not counted
}

// NewAccessLog returns an AccessLog writing to w; a nil w discards.
func NewAccessLog(w io.Writer) *AccessLog {
	if w == nil {
		w = io.Discard
	}
	return &AccessLog{keep: 1 << 32, h: slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey || a.Key == slog.MessageKey {
			return slog.Attr{}
		}
		return a
	}})}
}

// SampleBenign makes l keep share (0 to 1) of the lines of benign
// requests (Benign), chosen by a hash of the request id, and count those
// it leaves out in sampledOut (which may be nil). Call it before the
// first Log.
func (l *AccessLog) SampleBenign(share float64, sampledOut prometheus.Counter) {
	l.keep = uint64(min(max(share, 0), 1) * (1 << 32))
	l.sampledOut = sampledOut
}

// Benign reports whether a is a request nothing found suspicious: allowed,
// with no rule that would have acted (mode shadow) nor any reason, and an
// upstream status below 400.
func Benign(a *Access) bool {
	return a.Action == "allow" && a.Mode == "" && a.Reason == "" && a.Status < 400
}

// Log writes a; its time is the request's arrival. A benign line may be
// sampled out (SampleBenign).
func (l *AccessLog) Log(a *Access) {
	if l.keep < 1<<32 && Benign(a) {
		h := uint32(2166136261) // FNV-1a, inline: no allocation per line
		for i := 0; i < len(a.RequestID); i++ {
			h = (h ^ uint32(a.RequestID[i])) * 16777619
		}
		if uint64(h) >= l.keep {
			if l.sampledOut != nil {
				l.sampledOut.Inc()
			}
			return
		}
	}
	r := slog.NewRecord(a.Time, slog.LevelInfo, "", 0)
	r.AddAttrs(
		slog.String("request_id", a.RequestID),
		slog.String("client_ip", a.ClientIP.String()),
		slog.String("method", a.Method),
		slog.String("path", a.Path),
		slog.String("route", a.Route),
		slog.String("key_id", a.KeyID),
		slog.String("user", a.User),
		slog.Int("status", a.Status),
		slog.Float64("latency_ms", float64(a.Latency)/1e6),
		slog.Int64("bytes", a.Bytes),
		slog.String("action", a.Action),
		slog.String("rule", a.Rule),
		slog.String("mode", a.Mode),
		slog.String("reason", a.Reason),
	)
	if a.TraceID != "" {
		r.AddAttrs(slog.String("trace_id", a.TraceID))
	}
	_ = l.h.Handle(context.Background(), r)
}
