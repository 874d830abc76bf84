package engine

import (
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/policy"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// The engine's security events: decisions, signals, and shadow would-acts
// of detectors, limits and rules. Each writer is a no-op without a sink.

func (p *Policy) event(v *request.View, s *detect.Signal, shadow bool) {
	ev := p.shared.Events
	if ev == nil {
		return
	}
	kind := "signal"
	if shadow {
		kind = "would_act"
	}
	ev.Emit(&telemetry.Event{
		Time: v.Time, Kind: kind, Reason: s.Detector, Severity: s.Severity.String(), Detector: s.Detector,
		Scope: s.Entity.Scope.String(), Entity: s.Entity.Value, ClientIP: v.ClientIP, KeyID: v.Identity.KeyID,
		User: v.Identity.User, Session: v.Identity.Session, Route: routeName(v), Method: v.Method, Path: v.Path, RequestID: v.ID, TraceID: v.TraceID,
		Summary: s.Evidence.Summary, Count: s.Evidence.Count, Threshold: s.Evidence.Threshold, Window: s.Evidence.Window,
		Score: s.Weight,
	})
}

// recorded reports a decision the engine just made: an event, and the
// OnDecision hook.
func (p *Policy) recorded(v *request.View, d *decision.Decision, tip *detect.Signal) {
	p.decisionEvent(v, d, "decision", tip)
	if p.shared.OnDecision != nil {
		p.shared.OnDecision(*d)
	}
}

// DecisionEvent writes an event about d that no request caused (a manual
// add or removal through the admin API); kind is "decision" or
// "decision_removed".
func (p *Policy) DecisionEvent(d *decision.Decision, kind string) { p.decisionEvent(nil, d, kind, nil) }

// decisionEvent writes an event about d; v is the request and tip the
// signal that caused it, each nil when there was none.
func (p *Policy) decisionEvent(v *request.View, d *decision.Decision, kind string, tip *detect.Signal) {
	ev := p.shared.Events
	if ev == nil {
		return
	}
	e := &telemetry.Event{
		Time: d.Created, Kind: kind, Action: d.Action.String(), Reason: d.Reason, Severity: "high", Rule: d.Source, Mode: d.Mode.String(),
		Scope: d.Scope.String(), Entity: d.Value, TTL: d.Expires.Sub(d.Created), Score: d.Score, DecisionID: d.ID,
	}
	if v != nil {
		e.ClientIP, e.KeyID, e.User, e.Session, e.Route, e.Method, e.Path, e.RequestID, e.TraceID =
			v.ClientIP, v.Identity.KeyID, v.Identity.User, v.Identity.Session, routeName(v), v.Method, v.Path, v.ID, v.TraceID
	}
	if tip != nil {
		e.Detector, e.Summary, e.Count, e.Threshold, e.Window =
			tip.Detector, tip.Evidence.Summary, tip.Evidence.Count, tip.Evidence.Threshold, tip.Evidence.Window
	}
	ev.Emit(e)
}

func routeName(v *request.View) string {
	if v.Route == nil {
		return ""
	}
	return v.Route.Name
}

func (p *Policy) ruleEvent(v *request.View, r *policy.Rule, kind string) {
	if p.shared.Events == nil {
		return
	}
	p.shared.Events.Emit(&telemetry.Event{
		Time: v.Time, Kind: kind, Action: r.Action.String(), Reason: r.Reason, Severity: "medium", Rule: "rule:" + r.Name, Mode: r.Mode.String(),
		ClientIP: v.ClientIP, KeyID: v.Identity.KeyID, User: v.Identity.User, Session: v.Identity.Session, Route: routeName(v),
		Method: v.Method, Path: v.Path, RequestID: v.ID, TraceID: v.TraceID, Summary: r.When,
	})
}

// limitEvent writes a would_act event for a shadow (or out-of-canary)
// limit that would have refused v.
func (p *Policy) limitEvent(v *request.View, r *limitRule, res limit.Result) {
	if p.shared.Events == nil {
		return
	}
	p.shared.Events.Emit(&telemetry.Event{
		Time: v.Time, Kind: "would_act", Action: "throttle", Reason: reasons[r.kind], Severity: "low", Rule: r.name,
		Mode: r.mode.String(), ClientIP: v.ClientIP, KeyID: v.Identity.KeyID, User: v.Identity.User, Session: v.Identity.Session, Route: routeName(v),
		Method: v.Method, Path: v.Path, RequestID: v.ID, TraceID: v.TraceID, Count: float64(res.Limit - res.Remaining), Threshold: float64(res.Limit),
	})
}
