package telemetry

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one security event: a decision, a signal, or a shadow "would act".
type Event struct {
	Time     time.Time
	Kind     string // "decision", "signal", "would_act", "decision_removed"
	Action   string // "allow", "throttle", "challenge", "block"
	Reason   string // reason code, e.g. "probing", "rate_limited", "honeypot"
	Severity string // "low", "medium", "high"
	Rule     string
	Mode     string
	Scope    string // e.g. "ip"
	Entity   string // e.g. "203.0.113.7"
	ClientIP netip.Addr
	KeyID    string
	User     string
	Session  string // the request's session id (an HMAC id), when it has one
	Route    string
	Method   string
	Path     string
	// RequestID is the request that caused the event (for a signal or
	// decision, the one that tipped it).
	RequestID string
	TTL       time.Duration
	Score     float64
	Detector  string
	Summary   string // evidence one-liner
	Count     float64
	Threshold float64
	Window    time.Duration
	// DecisionID names the decision a "decision" or "decision_removed"
	// event is about.
	DecisionID string
	// TraceID is the W3C trace id of the request that caused the event,
	// "" when it was not traced (ECS trace.id).
	TraceID string
}

// Event kinds.
const (
	EventDecision        = "decision"
	EventSignal          = "signal"
	EventWouldAct        = "would_act"
	EventDecisionRemoved = "decision_removed"
)

// ECSVersion is the Elastic Common Schema version event lines follow.
const ECSVersion = "8.11.0"

// Events writes events as JSON lines with Elastic Common Schema field
// names, one line per event, empty fields omitted. It is safe for
// concurrent use: each event is encoded by its caller and written to w
// in one Write under a mutex, so w should not block for long (a file,
// stdout, a pipe to a log shipper that keeps up). A write error is
// counted, never fatal. A nil *Events discards.
type Events struct {
	mu     sync.Mutex // serialises writes to w
	w      io.Writer
	schema Schema
	errs   atomic.Uint64
	bufs   sync.Pool // of *bytes.Buffer
}

// NewEvents returns Events writing ECS lines to w; a nil w discards.
func NewEvents(w io.Writer) *Events { return NewEventsIn(w, SchemaECS) }

// NewEventsIn returns Events writing lines in schema to w (SchemaOCSF, or
// ECS for any other value); a nil w discards.
func NewEventsIn(w io.Writer, schema Schema) *Events {
	if w == nil {
		w = io.Discard
	}
	return &Events{w: w, schema: schema, bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

// maxPooledEventBuffer is the largest buffer returned to the pool, so one
// huge event does not pin its memory.
const maxPooledEventBuffer = 64 << 10

// Emit writes ev as one JSON line. A nil ev is ignored. A zero ev.Time is
// stamped with the current time.
func (e *Events) Emit(ev *Event) {
	if e == nil || ev == nil || e.w == io.Discard {
		return
	}
	var doc any
	if e.schema == SchemaOCSF {
		doc = ocsfDocument(ev)
	} else {
		doc = ecsDocument(ev)
	}
	buf := e.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil { // Encode ends the line with \n
		e.errs.Add(1)
	} else {
		e.mu.Lock()
		n, err := e.w.Write(buf.Bytes())
		e.mu.Unlock()
		if err != nil || n != buf.Len() {
			e.errs.Add(1)
		}
	}
	if buf.Cap() <= maxPooledEventBuffer {
		e.bufs.Put(buf)
	}
}

// Errors returns how many events failed to encode or write so far.
func (e *Events) Errors() uint64 {
	if e == nil {
		return 0
	}
	return e.errs.Load()
}

// ecsDoc is one event line. Nested objects are omitted when empty.
type ecsDoc struct {
	Timestamp  string        `json:"@timestamp"`
	ECS        ecsVersion    `json:"ecs"`
	Event      ecsEvent      `json:"event"`
	Rule       ecsRule       `json:"rule"`
	Source     ecsSource     `json:"source,omitzero"`
	User       ecsUser       `json:"user,omitzero"`
	URL        ecsURL        `json:"url,omitzero"`
	HTTP       ecsHTTP       `json:"http,omitzero"`
	Labels     ecsLabels     `json:"labels,omitzero"`
	Abuseguard ecsAbuseguard `json:"abuseguard,omitzero"`
	Trace      ecsTrace      `json:"trace,omitzero"`
}

type ecsTrace struct {
	ID string `json:"id,omitempty"`
}

type ecsVersion struct {
	Version string `json:"version"`
}

type ecsEvent struct {
	Kind      string   `json:"kind"`
	Category  []string `json:"category"`
	Type      []string `json:"type"`
	Action    string   `json:"action,omitempty"`
	Outcome   string   `json:"outcome,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Severity  int      `json:"severity,omitempty"`
	RiskScore float64  `json:"risk_score,omitempty"`
	Module    string   `json:"module"`
	Dataset   string   `json:"dataset"`
}

type ecsRule struct {
	Name    string `json:"name,omitempty"`
	Ruleset string `json:"ruleset"`
}

type ecsSource struct {
	IP string `json:"ip,omitempty"`
}

type ecsUser struct {
	ID string `json:"id,omitempty"`
}

type ecsURL struct {
	Path string `json:"path,omitempty"`
}

type ecsHTTP struct {
	Request ecsHTTPRequest `json:"request,omitzero"`
}

type ecsHTTPRequest struct {
	Method string `json:"method,omitempty"`
	ID     string `json:"id,omitempty"`
}

// ecsLabels are keyword labels: ECS keeps custom keywords here.
type ecsLabels struct {
	Action     string `json:"action,omitempty"`
	Mode       string `json:"mode,omitempty"`
	Scope      string `json:"scope,omitempty"`
	Entity     string `json:"entity,omitempty"`
	KeyID      string `json:"key_id,omitempty"`
	Session    string `json:"session,omitempty"`
	Route      string `json:"route,omitempty"`
	Detector   string `json:"detector,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
}

type ecsAbuseguard struct {
	Severity   string      `json:"severity,omitempty"`
	TTLSeconds float64     `json:"ttl_seconds,omitempty"`
	Evidence   ecsEvidence `json:"evidence,omitzero"`
}

type ecsEvidence struct {
	Summary       string  `json:"summary,omitempty"`
	Count         float64 `json:"count,omitempty"`
	Threshold     float64 `json:"threshold,omitempty"`
	WindowSeconds float64 `json:"window_seconds,omitempty"`
}

// ecsSeverities maps severity words to ECS's numeric event.severity.
var ecsSeverities = map[string]int{"low": 21, "medium": 47, "high": 73}

var (
	ecsCategoryIDS    = []string{"intrusion_detection"}
	ecsCategoryIDSWeb = []string{"intrusion_detection", "web"}
	ecsTypeDenied     = []string{"denied"}
	ecsTypeInfo       = []string{"info"}
)

// ecsDocument maps ev onto ECS fields.
func ecsDocument(ev *Event) ecsDoc {
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	d := ecsDoc{
		Timestamp: at.UTC().Format(time.RFC3339Nano),
		ECS:       ecsVersion{ECSVersion},
		Trace:     ecsTrace{ID: ev.TraceID},
		Event: ecsEvent{
			Kind:      "event",
			Category:  ecsCategoryIDS,
			Type:      ecsTypeInfo,
			Action:    ev.Kind,
			Reason:    ev.Reason,
			Severity:  ecsSeverities[ev.Severity],
			RiskScore: finite(ev.Score),
			Module:    "abuseguard",
			Dataset:   "abuseguard.events",
		},
		Rule:   ecsRule{Name: ev.Rule, Ruleset: "abuseguard"},
		User:   ecsUser{ID: ev.User},
		URL:    ecsURL{Path: ev.Path},
		HTTP:   ecsHTTP{Request: ecsHTTPRequest{Method: ev.Method, ID: ev.RequestID}},
		Labels: ecsLabels{Action: ev.Action, Mode: ev.Mode, Scope: ev.Scope, Entity: ev.Entity, KeyID: ev.KeyID, Session: ev.Session, Route: ev.Route, Detector: ev.Detector, DecisionID: ev.DecisionID},
		Abuseguard: ecsAbuseguard{
			Severity:   ev.Severity,
			TTLSeconds: finite(ev.TTL.Seconds()),
			Evidence: ecsEvidence{
				Summary:       ev.Summary,
				Count:         finite(ev.Count),
				Threshold:     finite(ev.Threshold),
				WindowSeconds: ev.Window.Seconds(),
			},
		},
	}
	switch ev.Kind {
	case EventDecision, EventSignal, EventWouldAct:
		d.Event.Kind = "alert"
	}
	switch ev.Kind {
	case EventDecision, EventDecisionRemoved:
		d.Event.Outcome = "success" // abuseguard applied (or lifted) it
	case EventWouldAct:
		d.Event.Outcome = "unknown" // shadow: nothing was applied
	}
	if ev.Kind == EventDecision {
		switch ev.Action {
		case "block", "throttle", "challenge":
			d.Event.Type = ecsTypeDenied
		}
	}
	if ev.Method != "" || ev.Path != "" {
		d.Event.Category = ecsCategoryIDSWeb
	}
	if ev.ClientIP.IsValid() {
		d.Source.IP = ev.ClientIP.String()
	}
	return d
}

// finite returns x, or 0 (omitted) when x is NaN or infinite, which JSON
// cannot carry.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
