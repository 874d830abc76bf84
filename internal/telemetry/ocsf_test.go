package telemetry

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

func TestEventsOCSF(t *testing.T) {
	var buf bytes.Buffer
	ev := NewEventsIn(&buf, SchemaOCSF)
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	ev.Emit(&Event{Time: at, Kind: EventDecision, Action: "block", Reason: "probing", Severity: "high",
		Detector: "probing", Scope: "ip", Entity: "203.0.113.7", ClientIP: netip.MustParseAddr("203.0.113.7"),
		User: "u_1", Method: "GET", Path: "/.env", RequestID: "r1", DecisionID: "d1", Score: 120.5,
		TTL: time.Hour, Summary: "12 unknown paths in 1m", Count: 12, Threshold: 10, Window: time.Minute, TraceID: "t1"})
	ev.Emit(&Event{Time: at, Kind: EventDecisionRemoved, Reason: "probing", DecisionID: "d1", Scope: "ip", Entity: "203.0.113.7"})
	ev.Emit(&Event{Time: at, Kind: EventSignal, Reason: "scraping", Severity: "medium", Detector: "scraping", Scope: "ip", Entity: "198.51.100.1"})

	type doc struct {
		ActivityID  int   `json:"activity_id"`
		CategoryUID int   `json:"category_uid"`
		ClassUID    int   `json:"class_uid"`
		TypeUID     int   `json:"type_uid"`
		SeverityID  int   `json:"severity_id"`
		StatusID    int   `json:"status_id"`
		ActionID    int   `json:"action_id"`
		RiskScore   int   `json:"risk_score"`
		Time        int64 `json:"time"`
		Metadata    struct {
			Version        string
			CorrelationUID string `json:"correlation_uid"`
		}
		FindingInfo struct {
			UID, Title string
			Types      []string
			Analytic   struct{ Name string }
		} `json:"finding_info"`
		SrcEndpoint *struct{ IP string } `json:"src_endpoint"`
		Actor       *struct{ User struct{ UID string } }
		HTTPRequest *struct {
			Method string `json:"http_method"`
			URL    struct{ Path string }
		} `json:"http_request"`
		Unmapped struct {
			Kind, Action, Entity string
			TTLSeconds           float64 `json:"ttl_seconds"`
		}
	}
	dec := json.NewDecoder(&buf)
	var got []doc
	for dec.More() {
		var d doc
		if err := dec.Decode(&d); err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3", len(got))
	}
	d := got[0]
	if d.ClassUID != 2004 || d.CategoryUID != 2 || d.ActivityID != 1 || d.TypeUID != 200401 || d.SeverityID != 4 ||
		d.StatusID != 1 || d.ActionID != 2 || d.RiskScore != 120 || d.Time != at.UnixMilli() {
		t.Errorf("decision ids: %+v", d)
	}
	if d.Metadata.Version != OCSFVersion || d.Metadata.CorrelationUID != "t1" || d.FindingInfo.UID != "d1" ||
		d.FindingInfo.Title != "probing" || d.FindingInfo.Analytic.Name != "probing" || len(d.FindingInfo.Types) != 1 {
		t.Errorf("decision finding: %+v", d)
	}
	if d.SrcEndpoint == nil || d.SrcEndpoint.IP != "203.0.113.7" || d.Actor == nil || d.Actor.User.UID != "u_1" ||
		d.HTTPRequest == nil || d.HTTPRequest.Method != "GET" || d.HTTPRequest.URL.Path != "/.env" {
		t.Errorf("decision objects: %+v", d)
	}
	if d.Unmapped.Kind != "decision" || d.Unmapped.Action != "block" || d.Unmapped.Entity != "203.0.113.7" || d.Unmapped.TTLSeconds != 3600 {
		t.Errorf("decision unmapped: %+v", d.Unmapped)
	}
	if r := got[1]; r.ActivityID != 3 || r.TypeUID != 200403 || r.StatusID != 4 || r.FindingInfo.UID != "d1" || r.SrcEndpoint != nil {
		t.Errorf("removed: %+v", r)
	}
	if s := got[2]; s.ActionID != 0 || s.SeverityID != 3 || s.FindingInfo.UID != "signal:ip:198.51.100.1" {
		t.Errorf("signal: %+v", s)
	}
}

func TestEventsUnknownSchemaIsECS(t *testing.T) {
	var buf bytes.Buffer
	NewEventsIn(&buf, "").Emit(&Event{Kind: EventSignal, Reason: "x"})
	var d map[string]any
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil || d["ecs"] == nil {
		t.Fatalf("line %s: %v", buf.String(), err)
	}
}
