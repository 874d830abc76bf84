package telemetry

import (
	"cmp"
	"time"
)

// Schema names the field layout of event lines.
type Schema string

// Event schemas: Elastic Common Schema (the default) or the Open
// Cybersecurity Schema Framework's Detection Finding class.
const (
	SchemaECS  Schema = "ecs"
	SchemaOCSF Schema = "ocsf"
)

// OCSFVersion is the OCSF schema version event lines follow with SchemaOCSF.
const OCSFVersion = "1.1.0"

// OCSF Detection Finding (class 2004, category Findings) identifiers.
const (
	ocsfClassDetectionFinding = 2004
	ocsfCategoryFindings      = 2
	ocsfActivityCreate        = 1 // a new finding: a decision, signal or would-act
	ocsfActivityClose         = 3 // a decision lifted or expired
	ocsfActionAllowed         = 1
	ocsfActionDenied          = 2
	ocsfStatusNew             = 1
	ocsfStatusResolved        = 4
)

// ocsfSeverities maps severity words to OCSF severity_id (1 informational).
var ocsfSeverities = map[string]int{"low": 2, "medium": 3, "high": 4}

// ocsfDoc is one event line as an OCSF Detection Finding. Fields without an
// OCSF attribute go under unmapped.
type ocsfDoc struct {
	ActivityID  int             `json:"activity_id"`
	CategoryUID int             `json:"category_uid"`
	ClassUID    int             `json:"class_uid"`
	TypeUID     int             `json:"type_uid"`
	Time        int64           `json:"time"` // milliseconds since the epoch
	SeverityID  int             `json:"severity_id"`
	StatusID    int             `json:"status_id"`
	ActionID    int             `json:"action_id,omitempty"`
	Message     string          `json:"message,omitempty"`
	RiskScore   int             `json:"risk_score,omitempty"`
	Metadata    ocsfMetadata    `json:"metadata"`
	FindingInfo ocsfFindingInfo `json:"finding_info"`
	SrcEndpoint *ocsfEndpoint   `json:"src_endpoint,omitempty"`
	Actor       *ocsfActor      `json:"actor,omitempty"`
	HTTPRequest *ocsfHTTP       `json:"http_request,omitempty"`
	Unmapped    ocsfUnmapped    `json:"unmapped"`
}

type ocsfMetadata struct {
	Version string      `json:"version"`
	Product ocsfProduct `json:"product"`
	TraceID string      `json:"correlation_uid,omitempty"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

type ocsfFindingInfo struct {
	UID      string       `json:"uid"`
	Title    string       `json:"title"`
	Desc     string       `json:"desc,omitempty"`
	Types    []string     `json:"types,omitempty"`
	Analytic ocsfAnalytic `json:"analytic,omitzero"`
}

type ocsfAnalytic struct {
	Name   string `json:"name,omitempty"`
	TypeID int    `json:"type_id,omitempty"` // 1: rule
}

type ocsfEndpoint struct {
	IP string `json:"ip"`
}

type ocsfActor struct {
	User ocsfUser `json:"user"`
}

type ocsfUser struct {
	UID string `json:"uid"`
}

type ocsfHTTP struct {
	Method string  `json:"http_method,omitempty"`
	UID    string  `json:"uid,omitempty"`
	URL    ocsfURL `json:"url,omitzero"`
}

type ocsfURL struct {
	Path string `json:"path,omitempty"`
}

// ocsfUnmapped carries abuseguard's own fields, with the same names as the
// ECS layout's labels and abuseguard objects.
type ocsfUnmapped struct {
	Kind       string      `json:"kind"`
	Action     string      `json:"action,omitempty"`
	Reason     string      `json:"reason,omitempty"`
	Mode       string      `json:"mode,omitempty"`
	Scope      string      `json:"scope,omitempty"`
	Entity     string      `json:"entity,omitempty"`
	KeyID      string      `json:"key_id,omitempty"`
	Session    string      `json:"session,omitempty"`
	Route      string      `json:"route,omitempty"`
	Detector   string      `json:"detector,omitempty"`
	DecisionID string      `json:"decision_id,omitempty"`
	TTLSeconds float64     `json:"ttl_seconds,omitempty"`
	Evidence   ecsEvidence `json:"evidence,omitzero"`
}

// ocsfDocument maps ev onto an OCSF Detection Finding.
func ocsfDocument(ev *Event) ocsfDoc {
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	d := ocsfDoc{
		ActivityID:  ocsfActivityCreate,
		CategoryUID: ocsfCategoryFindings,
		ClassUID:    ocsfClassDetectionFinding,
		Time:        at.UnixMilli(),
		SeverityID:  max(1, ocsfSeverities[ev.Severity]),
		StatusID:    ocsfStatusNew,
		Message:     ev.Summary,
		RiskScore:   int(finite(ev.Score)),
		Metadata: ocsfMetadata{Version: OCSFVersion, TraceID: ev.TraceID,
			Product: ocsfProduct{Name: "abuseguard", VendorName: "abuseguard"}},
		FindingInfo: ocsfFindingInfo{
			UID:   cmp.Or(ev.DecisionID, ev.RequestID, ev.Kind+":"+ev.Scope+":"+ev.Entity),
			Title: cmp.Or(ev.Reason, ev.Kind),
			Desc:  ev.Summary,
		},
		Unmapped: ocsfUnmapped{
			Kind: ev.Kind, Action: ev.Action, Reason: ev.Reason, Mode: ev.Mode, Scope: ev.Scope, Entity: ev.Entity,
			KeyID: ev.KeyID, Session: ev.Session, Route: ev.Route, Detector: ev.Detector, DecisionID: ev.DecisionID,
			TTLSeconds: finite(ev.TTL.Seconds()),
			Evidence: ecsEvidence{Summary: ev.Summary, Count: finite(ev.Count), Threshold: finite(ev.Threshold),
				WindowSeconds: ev.Window.Seconds()},
		},
	}
	if ev.Reason != "" {
		d.FindingInfo.Types = []string{ev.Reason}
	}
	if name := cmp.Or(ev.Rule, ev.Detector); name != "" {
		d.FindingInfo.Analytic = ocsfAnalytic{Name: name, TypeID: 1}
	}
	if ev.Kind == EventDecisionRemoved {
		d.ActivityID, d.StatusID = ocsfActivityClose, ocsfStatusResolved
	}
	if ev.Kind == EventDecision {
		d.ActionID = ocsfActionAllowed
		switch ev.Action {
		case "block", "throttle", "challenge":
			d.ActionID = ocsfActionDenied
		}
	}
	d.TypeUID = d.ClassUID*100 + d.ActivityID
	if ev.ClientIP.IsValid() {
		d.SrcEndpoint = &ocsfEndpoint{IP: ev.ClientIP.String()}
	}
	if ev.User != "" {
		d.Actor = &ocsfActor{User: ocsfUser{UID: ev.User}}
	}
	if ev.Method != "" || ev.Path != "" || ev.RequestID != "" {
		d.HTTPRequest = &ocsfHTTP{Method: ev.Method, UID: ev.RequestID, URL: ocsfURL{Path: ev.Path}}
	}
	return d
}
