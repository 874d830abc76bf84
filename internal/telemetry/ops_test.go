package telemetry

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestUsage(t *testing.T) {
	tests := []struct {
		name      string
		policy    string
		remaining int64
		want      float64
		ok        bool
	}{
		{"quota half used", `"partner-day";q=1000;w=86400`, 500, 0.5, true},
		{"fresh", `"per-ip";q=10;w=60`, 10, 0, true},
		{"exhausted", `"per-ip";q=10;w=60`, 0, 1, true},
		{"concurrency, no window", `"slots";q=4`, 1, 0.75, true},
		{"remaining above limit is clamped", `"x";q=4`, 9, 0, true},
		{"negative remaining is clamped", `"x";q=4`, -3, 1, true},
		{"no q", `"x";w=60`, 1, 0, false},
		{"zero limit", `"x";q=0;w=60`, 0, 0, false},
		{"garbage", `"x";q=abc`, 0, 0, false},
		{"empty", ``, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Usage(tt.policy, tt.remaining)
			if ok != tt.ok || got != tt.want {
				t.Errorf("Usage(%q, %d) = %v, %v; want %v, %v", tt.policy, tt.remaining, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestStatusCode(t *testing.T) {
	for status, want := range map[int]string{
		200: "2xx", 204: "2xx", 301: "3xx", 400: "4xx", 401: "401", 403: "403", 404: "404", 429: "4xx",
		500: "5xx", 503: "5xx", 0: "error", 499: "4xx", 700: "error",
	} {
		if got := StatusCode(status); got != want {
			t.Errorf("StatusCode(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestObserveDecision(t *testing.T) {
	m := NewMetrics()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m.Ops.ObserveDecision(DecisionFacts{Action: "block", Reason: "probing", Mode: "enforce", Source: "detector:probing",
		Created: at, FirstSignal: at.Add(-90 * time.Second)})
	m.Ops.ObserveDecision(DecisionFacts{Action: "throttle", Reason: "scraping", Mode: "enforce", Source: "detector:scraping",
		Created: at, FirstSignal: at.Add(-10 * time.Second)})
	m.Ops.ObserveDecision(DecisionFacts{Action: "block", Reason: "probing", Mode: "shadow", Source: "score",
		Created: at, FirstSignal: at.Add(-5 * time.Second)})
	m.Ops.ObserveDecision(DecisionFacts{Action: "block", Reason: "manual", Mode: "enforce", Source: "manual", Created: at})

	if got := testutil.ToFloat64(m.Ops.Decisions.WithLabelValues("block", "probing", "enforce", "detector")); got != 1 {
		t.Errorf("decisions_total{block,probing,enforce,detector} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Ops.Decisions.WithLabelValues("block", "manual", "enforce", "manual")); got != 1 {
		t.Errorf("decisions_total{manual} = %v, want 1", got)
	}
	// Time to detect: every decision with evidence (3); time to block:
	// enforced blocks only (the 90 s probing one).
	if n := testutil.CollectAndCount(m.Ops.TimeToDetect); n != 2 { // series probing, scraping
		t.Errorf("time_to_detect has %d series, want 2", n)
	}
	var sum float64
	var count uint64
	mf, _ := m.Registry.Gather()
	for _, f := range mf {
		if f.GetName() != "abuseguard_time_to_block_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			sum += s.GetHistogram().GetSampleSum()
			count += s.GetHistogram().GetSampleCount()
		}
	}
	if count != 1 || sum != 90 {
		t.Errorf("time_to_block: %d observations summing to %v s, want 1 of 90 s", count, sum)
	}
}

func TestExportedNames(t *testing.T) {
	names := Exported()
	for _, want := range []string{
		"abuseguard_requests_total", "abuseguard_decision_seconds", "abuseguard_acted_total",
		"abuseguard_feedback_total", "abuseguard_time_to_block_seconds", "abuseguard_state_evictions_total",
		"abuseguard_detector_entities", "abuseguard_decisions_active", "go_goroutines", "process_cpu_seconds_total",
		"abuseguard_redis_available", "abuseguard_redis_fallback_checks_total", "abuseguard_siem_dropped_total",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("Exported() lacks %s: %v", want, names)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("Exported() is not sorted")
	}
}
