package engine

import (
	"net/http"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Decide returns the Verdict for v, in this order: an allowlisted client
// skips decisions, detectors and rules; a key with a known client's track
// record is marked so (request.KnownClient); an active decision on the client
// acts; the detectors see the request, and a decision they cause now acts
// at once; a content guard's enforced finding (OpenAPI validation, the
// WAF) is refused; an unknown route is refused when so configured, and a
// GraphQL document over a hard limit (400 graphql_too_complex); the limits run
// in order (rates, quotas, concurrency): a request counts against every
// limit it passes, and the first enforced limit that refuses it decides;
// last, the CEL rules may act more strongly (or, with allow, lift a limit's
// refusal). Shadow and out-of-canary refusals are recorded on the Verdict
// (Would) and never act.
func (p *Policy) Decide(v *request.View) *Verdict {
	vd := newVerdict(p)
	c := collectors.Get().(*collector)
	defer func() { c.signals = c.signals[:0]; collectors.Put(c) }()
	if vd.Allowlisted = p.allowlisted(v); !vd.Allowlisted {
		p.shared.addresses.see(v)
		p.shared.keys.see(v, p.knownAfter)
		d, buf := p.activeDecision(v, vd.key)
		vd.key = buf[:0]
		// A blocked client is refused without further work; any other
		// client's request is seen by the detectors first, so abuse under
		// a throttle or challenge can still escalate.
		var made *decision.Decision
		if d == nil || d.Action != verdict.Block || d.Mode != verdict.Enforce {
			if made = p.inspect(v, c); made != nil && (d == nil || made.Action > d.Action) {
				d = made
			}
		}
		if d != nil && p.enforce(vd, v, d) {
			// A decision the detectors made on this very request (a
			// decoy's challenge, say) answers before limits and rules; a
			// rule may still ask for more (a block with its TTL), so the
			// rules see the request that made it. Rules only escalate.
			if d == made && d.Action < verdict.Block && p.cel.Len() > 0 {
				p.applyRules(vd, v, c.signals)
			}
			return vd
		}
	}
	if !vd.Allowlisted && len(v.Findings) > 0 && p.refuseFinding(vd, v) {
		return vd
	}
	if v.Route == nil && p.blockUnknown {
		vd.Action, vd.Status, vd.Reason = verdict.Block, http.StatusNotFound, "unknown_route"
		return vd
	}
	if p.checkGraphQL(vd, v) {
		return vd
	}
	p.checkLimits(vd, v)
	if vd.Action == verdict.Allow && !vd.Allowlisted && p.chargeBudgets(vd, v, max(1, v.Cost), true) {
		return vd
	}
	if p.cel.Len() > 0 && !vd.Allowlisted {
		p.applyRules(vd, v, c.signals)
	}
	return vd
}
