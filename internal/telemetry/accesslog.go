package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"time"
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
}

// NewAccessLog returns an AccessLog writing to w; a nil w discards.
func NewAccessLog(w io.Writer) *AccessLog {
	if w == nil {
		w = io.Discard
	}
	return &AccessLog{h: slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey || a.Key == slog.MessageKey {
			return slog.Attr{}
		}
		return a
	}})}
}

// Log writes a; its time is the request's arrival.
func (l *AccessLog) Log(a *Access) {
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
