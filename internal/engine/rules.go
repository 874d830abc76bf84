package engine

import (
	"net/http"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/policy"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// applyRules evaluates the CEL rules for v after the limits. The first
// enforced match acts when it is stronger than what the limits did; an
// allow rule lifts a limit's refusal. A rule with a TTL also records a
// decision on its scope. A shadow or out-of-canary match is recorded as
// Would (when nothing else was) and written as a would_act event.
func (p *Policy) applyRules(vd *Verdict, v *request.View, signals []detect.Signal) {
	in := policy.Input{View: v, Signals: signals, Score: p.subjectScore(v, vd)}
	if vd.Rule != "" && vd.DecisionID == "" {
		in.Limited = vd.Rule
	}
	m, ok, err := p.cel.Eval(&in)
	if err != nil {
		p.shared.ruleErrors.Add(1)
	}
	if !ok {
		return
	}
	r := m.Rule
	name := "rule:" + r.Name
	if !m.Enforced {
		if vd.Action == verdict.Allow && vd.Rule == "" {
			vd.Rule, vd.Mode, vd.Reason, vd.Would = name, verdict.Shadow, r.Reason, true
		}
		p.ruleEvent(v, r, "would_act")
		return
	}
	mode, action := r.Mode, r.Action
	if action == verdict.Allow {
		if vd.Action == verdict.Throttle && vd.DecisionID == "" {
			vd.Verdict = verdict.Verdict{Rule: name, Mode: mode, Reason: r.Reason}
		}
		return
	}
	if action <= vd.Action {
		return
	}
	var answered bool
	if action == verdict.Challenge {
		scope, value := p.ruleEntity(v, r.Scope)
		answered = p.answer(vd, v, verdict.Entity{Scope: scope, Value: value}, 1)
	}
	if r.TTL > 0 && p.shared.Decisions != nil {
		scope, value := p.ruleEntity(v, r.Scope)
		d, added, err := p.shared.Decisions.Add(decision.Decision{
			Scope: scope, Value: value, Action: action, Reason: r.Reason, Source: name, Mode: verdict.Enforce,
			Score: in.Score, Expires: v.Time.Add(r.TTL),
			Evidence: []verdict.Evidence{{Time: v.Time, Detector: name, Summary: "rule " + r.Name + " matched: " + r.When, RequestID: v.ID}},
		})
		if err != nil {
			p.shared.persistErrors.Add(1)
		}
		if added {
			p.recorded(v, &d, nil)
			vd.DecisionID = d.ID
		}
	}
	if answered { // a pass or a solution: the decision, if any, is recorded; the request goes on
		vd.DecisionID = ""
		return
	}
	vd.releaseSlots(v.Time.UnixNano())
	vd.Rule, vd.Mode, vd.Would, vd.RetryAfter = name, mode, false, r.TTL
	switch action {
	case verdict.Block:
		vd.Action, vd.Status, vd.Reason = verdict.Block, http.StatusForbidden, r.Reason
	case verdict.Challenge:
		vd.Action, vd.Status, vd.Detail = verdict.Challenge, http.StatusTooManyRequests, "a challenge is required ("+r.Reason+")"
	default:
		vd.Action, vd.Status, vd.Reason = verdict.Throttle, http.StatusTooManyRequests, r.Reason
		if vd.RetryAfter == 0 {
			vd.RetryAfter = time.Minute
		}
	}
}

// ruleEntity returns the entity a rule's decision is about: its scope's
// value for v, or the request's subject when the scope is 0 or v lacks it.
func (p *Policy) ruleEntity(v *request.View, scope verdict.Scope) (verdict.Scope, string) {
	switch scope {
	case verdict.ScopeIP:
		return scope, v.ClientIP.String()
	case verdict.ScopePrefix:
		return scope, request.Prefix(v.ClientIP, p.v4, p.v6).String()
	case verdict.ScopeFingerprint:
		return scope, v.Fingerprint.String()
	case verdict.ScopeKey:
		if v.Identity.KeyID != "" {
			return scope, v.Identity.KeyID
		}
	case verdict.ScopeUser:
		if v.Identity.User != "" {
			return scope, v.Identity.User
		}
	case verdict.ScopeSession:
		if v.Identity.Session != "" {
			return scope, v.Identity.Session
		}
	}
	s := detect.Subject(v)
	return s.Scope, s.Value
}

// subjectScore returns the risk score of v's subject now.
func (p *Policy) subjectScore(v *request.View, vd *Verdict) float64 {
	var key uint64
	switch {
	case v.Identity.KeyID != "":
		key = p.shared.hasher.String(byte(verdict.ScopeKey), v.Identity.KeyID)
	case v.Identity.User != "":
		key = p.shared.hasher.String(byte(verdict.ScopeUser), v.Identity.User)
	case v.BySession():
		key = p.shared.hasher.String(byte(verdict.ScopeSession), v.Identity.Session)
	default:
		buf := v.ClientIP.AppendTo(vd.key[:0])
		vd.key = buf[:0]
		key = p.shared.hasher.Bytes(byte(verdict.ScopeIP), buf)
	}
	r, ok := p.shared.risk.Get(key)
	if !ok {
		return 0
	}
	return r.score.Value(v.Time.UnixNano(), p.Config.Risk.HalfLife)
}
