package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var eventsAt = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// decisionLine is the golden line for eventsDecision.
const decisionLine = `{"@timestamp":"2026-11-28T12:00:00.25Z","ecs":{"version":"8.11.0"},` +
	`"event":{"kind":"alert","category":["intrusion_detection","web"],"type":["denied"],"action":"decision","outcome":"success","reason":"probing","severity":73,"risk_score":85,"module":"abuseguard","dataset":"abuseguard.events"},` +
	`"rule":{"name":"risk-block","ruleset":"abuseguard"},` +
	`"source":{"ip":"203.0.113.7"},"user":{"id":"u_42"},"url":{"path":"/v1/.env?a=<b>&c"},` +
	`"http":{"request":{"method":"GET","id":"req-9"}},` +
	`"labels":{"action":"block","mode":"enforce","scope":"ip","entity":"203.0.113.7","key_id":"k_0123456789abcdef","route":"items","detector":"probing","decision_id":"d-1"},` +
	`"abuseguard":{"severity":"high","ttl_seconds":900,"evidence":{"summary":"23 distinct paths unmatched or answered 404/403/400 in 5m0s","count":23,"threshold":20,"window_seconds":300}}}` + "\n"

func eventsDecision() *Event {
	return &Event{
		Time: eventsAt.Add(250 * time.Millisecond), Kind: "decision", Action: "block", Reason: "probing", Severity: "high",
		Rule: "risk-block", Mode: "enforce", Scope: "ip", Entity: "203.0.113.7", ClientIP: netip.MustParseAddr("203.0.113.7"),
		KeyID: "k_0123456789abcdef", User: "u_42", Route: "items", Method: "GET", Path: "/v1/.env?a=<b>&c", RequestID: "req-9",
		TTL: 15 * time.Minute, Score: 85, Detector: "probing",
		Summary: "23 distinct paths unmatched or answered 404/403/400 in 5m0s", Count: 23, Threshold: 20, Window: 5 * time.Minute,
		DecisionID: "d-1",
	}
}

func TestEventsDecisionGolden(t *testing.T) {
	var buf bytes.Buffer
	NewEvents(&buf).Emit(eventsDecision())
	if got := buf.String(); got != decisionLine {
		t.Errorf("decision line\n got %s\nwant %s", got, decisionLine)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
}

// TestEventsKinds checks the kind, type and outcome each event kind maps
// to, and that empty fields are left out.
func TestEventsKinds(t *testing.T) {
	tests := []struct {
		name    string
		ev      Event
		kind    string
		typ     string
		outcome any
		absent  []string
	}{
		{"signal", Event{Kind: "signal", Severity: "medium", Scope: "key", Entity: "k1", Detector: "sharing", Summary: "23 distinct client networks", Count: 23, Threshold: 20, Window: time.Hour},
			"alert", "info", nil, []string{"source", "user", "url", "http", "rule.name", "event.outcome", "event.reason", "abuseguard.ttl_seconds", "event.risk_score"}},
		{"shadow would act on a block", Event{Kind: "would_act", Action: "block", Rule: "risk-block", Mode: "shadow", Severity: "low"},
			"alert", "info", "unknown", []string{"abuseguard.evidence", "source", "labels.scope"}},
		{"decision throttle", Event{Kind: "decision", Action: "throttle", Reason: "rate_limited"}, "alert", "denied", "success", []string{"event.severity", "abuseguard"}},
		{"decision allow", Event{Kind: "decision", Action: "allow"}, "alert", "info", "success", nil},
		{"decision removed", Event{Kind: "decision_removed", Action: "block", DecisionID: "d-1"}, "event", "info", "success", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.ev.Time = eventsAt
			NewEvents(&buf).Emit(&tc.ev)
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			ev := m["event"].(map[string]any)
			if ev["kind"] != tc.kind || ev["type"].([]any)[0] != tc.typ || ev["outcome"] != tc.outcome || ev["action"] != tc.ev.Kind {
				t.Errorf("event = %v, want kind %s type %s outcome %v", ev, tc.kind, tc.typ, tc.outcome)
			}
			if m["@timestamp"] != "2026-11-28T12:00:00Z" || m["rule"].(map[string]any)["ruleset"] != "abuseguard" {
				t.Errorf("line = %s", buf.String())
			}
			for _, path := range tc.absent {
				if eventsLookup(m, path) != nil {
					t.Errorf("%s present in %s", path, buf.String())
				}
			}
		})
	}
}

// eventsLookup returns the value at a dotted path, or nil.
func eventsLookup(m map[string]any, path string) any {
	var v any = m
	for part := range strings.SplitSeq(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[part]
	}
	return v
}

func TestEventsConcurrent(t *testing.T) {
	var buf bytes.Buffer
	e := NewEvents(&buf)
	const goroutines, each = 8, 250
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				ev := eventsDecision()
				ev.RequestID = fmt.Sprintf("g%d-%d", g, i)
				ev.Summary = strings.Repeat("x", i) // lines of many lengths
				e.Emit(ev)
			}
		})
	}
	wg.Wait()
	var ids []string
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v: %s", len(ids)+1, err, sc.Text())
		}
		ids = append(ids, eventsLookup(m, "http.request.id").(string))
	}
	slices.Sort(ids)
	if len(ids) != goroutines*each || len(slices.Compact(ids)) != goroutines*each {
		t.Errorf("%d lines (%d distinct), want %d", len(ids), len(slices.Compact(ids)), goroutines*each)
	}
	if e.Errors() != 0 {
		t.Errorf("errors = %d", e.Errors())
	}
}

type eventsFailingWriter struct{ short bool }

func (w eventsFailingWriter) Write(p []byte) (int, error) {
	if w.short {
		return len(p) / 2, nil
	}
	return 0, errors.New("disk full")
}

func TestEventsWriteErrorsCounted(t *testing.T) {
	for _, w := range []eventsFailingWriter{{}, {short: true}} {
		e := NewEvents(w)
		for range 3 {
			e.Emit(eventsDecision())
		}
		if e.Errors() != 3 {
			t.Errorf("short %v: errors = %d, want 3", w.short, e.Errors())
		}
	}
}

func TestEventsEdgeCases(t *testing.T) {
	// A nil writer and a nil *Events discard.
	NewEvents(nil).Emit(eventsDecision())
	var nilEvents *Events
	nilEvents.Emit(eventsDecision())
	if nilEvents.Errors() != 0 {
		t.Error("nil Events has errors")
	}
	// A newline in a path cannot split the line; NaN cannot break the JSON;
	// a zero time is stamped.
	var buf bytes.Buffer
	e := NewEvents(&buf)
	e.Emit(&Event{Kind: "signal", Path: "/a\nb", Score: math.NaN(), Count: math.Inf(1)})
	e.Emit(nil)
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("want one line: %q", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if eventsLookup(m, "url.path") != "/a\nb" || eventsLookup(m, "event.risk_score") != nil || m["@timestamp"] == "" {
		t.Errorf("line = %s", buf.String())
	}
	if e.Errors() != 0 {
		t.Errorf("errors = %d", e.Errors())
	}
}

func BenchmarkEventsEmit(b *testing.B) {
	e := NewEvents(eventsCounter{})
	ev := eventsDecision()
	b.ReportAllocs()
	for b.Loop() {
		e.Emit(ev)
	}
}

type eventsCounter struct{}

func (eventsCounter) Write(p []byte) (int, error) { return len(p), nil }
