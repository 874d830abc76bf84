package serve

import (
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/incident"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// observeSignal counts a detector signal the engine scored.
func observeSignal(m *telemetry.Metrics) func(detect.Signal) {
	return func(s detect.Signal) { m.Ops.Signals.WithLabelValues(s.Detector, s.Severity.String()).Inc() }
}

// observeDecision counts a decision with its time to detect and to block,
// and files it into its incident.
func observeDecision(m *telemetry.Metrics, incidents *incident.Tracker) func(decision.Decision) {
	return func(d decision.Decision) {
		m.Ops.ObserveDecision(decisionFacts(&d))
		incidents.Add(d)
	}
}

// decisionFacts returns what the decision metrics read of d; its first
// signal is the earliest time in its evidence.
func decisionFacts(d *decision.Decision) telemetry.DecisionFacts {
	f := telemetry.DecisionFacts{Action: d.Action.String(), Reason: d.Reason, Mode: d.Mode.String(), Source: d.Source, Created: d.Created}
	for _, e := range d.Evidence {
		if !e.Time.IsZero() && (f.FirstSignal.IsZero() || e.Time.Before(f.FirstSignal)) {
			f.FirstSignal = e.Time
		}
	}
	return f
}

// feedback records an analyst's verdict on a decision: the precision
// metrics, the confirmed entities rules are reported against, and an
// audit event.
func feedback(m *telemetry.Metrics, tally *rollout.Tally, events *telemetry.Events, now func() time.Time) func(string, decision.Decision) {
	return func(verdict string, d decision.Decision) {
		m.Ops.Feedback.WithLabelValues(verdict, d.Reason).Inc()
		if verdict == telemetry.FeedbackConfirmed {
			tally.Confirm(rollout.EntityHash(d.Scope.String(), d.Value))
		}
		events.Emit(&telemetry.Event{Time: now(), Kind: "feedback_" + verdict, Action: d.Action.String(), Reason: d.Reason,
			Severity: "low", Rule: d.Source, Mode: d.Mode.String(), Scope: d.Scope.String(), Entity: d.Value, DecisionID: d.ID})
	}
}
