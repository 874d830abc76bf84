package engine

import (
	"net/http"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/policy"
	"github.com/abuseguard/abuseguard/internal/request"
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
		if vd.Action == Allow && vd.Rule == "" {
			vd.Rule, vd.Mode, vd.Reason, vd.Would = name, Shadow, r.Reason, true
		}
		p.ruleEvent(v, r, "would_act")
		return
	}
	mode := Enforce
	if r.Mode == "canary" {
		mode = Canary
	}
	if r.Action == "allow" {
		if vd.Action == Throttle && vd.DecisionID == "" {
			*vd = Verdict{policy: vd.policy, slots: vd.slots, ends: vd.ends, key: vd.key, Rule: name, Mode: mode, Reason: r.Reason}
		}
		return
	}
	if decision.ActionRank(r.Action) <= decision.ActionRank(vd.Action.String()) {
		return
	}
	if r.TTL > 0 && p.shared.Decisions != nil {
		scope, value := p.ruleEntity(v, r.Scope)
		d, added, err := p.shared.Decisions.Add(decision.Decision{
			Scope: scope.String(), Value: value, Action: r.Action, Reason: r.Reason, Source: name, Mode: decision.ModeEnforce,
			Score: in.Score, Expires: v.Time.Add(r.TTL),
			Evidence: []decision.Evidence{{Time: v.Time, Detector: name, Summary: "rule " + r.Name + " matched: " + r.When, RequestID: v.ID}},
		})
		if err != nil {
			p.shared.persistErrors.Add(1)
		}
		if added {
			p.recorded(v, &d, nil)
			vd.DecisionID = d.ID
		}
	}
	vd.releaseSlots(v.Time.UnixNano())
	vd.Rule, vd.Mode, vd.Would, vd.RetryAfter = name, mode, false, r.TTL
	switch r.Action {
	case decision.ActionBlock:
		vd.Action, vd.Status, vd.Reason = Block, http.StatusForbidden, r.Reason
	case decision.ActionChallenge:
		vd.Action, vd.Status, vd.Reason, vd.Detail = Challenge, http.StatusTooManyRequests, "challenge_required", "a challenge is required ("+r.Reason+")"
	default:
		vd.Action, vd.Status, vd.Reason = Throttle, http.StatusTooManyRequests, r.Reason
		if vd.RetryAfter == 0 {
			vd.RetryAfter = time.Minute
		}
	}
}

// ruleEntity returns the entity a rule's decision is about: its scope's
// value for v, or the request's subject when the scope is 0 or v lacks it.
func (p *Policy) ruleEntity(v *request.View, scope detect.Scope) (detect.Scope, string) {
	switch scope {
	case detect.ScopeIP:
		return scope, v.ClientIP.String()
	case detect.ScopePrefix:
		return scope, request.Prefix(v.ClientIP, p.v4, p.v6).String()
	case detect.ScopeFingerprint:
		return scope, v.Fingerprint.String()
	case detect.ScopeKey:
		if v.Identity.KeyID != "" {
			return scope, v.Identity.KeyID
		}
	case detect.ScopeUser:
		if v.Identity.User != "" {
			return scope, v.Identity.User
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
		key = p.shared.hasher.String(byte(detect.ScopeKey), v.Identity.KeyID)
	case v.Identity.User != "":
		key = p.shared.hasher.String(byte(detect.ScopeUser), v.Identity.User)
	default:
		buf := v.ClientIP.AppendTo(vd.key[:0])
		vd.key = buf[:0]
		key = p.shared.hasher.Bytes(byte(detect.ScopeIP), buf)
	}
	r, ok := p.shared.risk.Get(key)
	if !ok {
		return 0
	}
	return r.score.Value(v.Time.UnixNano(), p.Config.Risk.HalfLife)
}
