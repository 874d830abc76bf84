package engine

import (
	"net/http"

	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Decide returns the Verdict for v, in this order: an allowlisted client
// skips decisions, detectors and rules; an active decision on the client
// acts; the detectors see the request, and a decision they cause now acts
// at once; an unknown route is refused when so configured; the limits run
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
		d, buf := p.activeDecision(v, vd.key)
		vd.key = buf[:0]
		// A blocked client is refused without further work; any other
		// client's request is seen by the detectors first, so abuse under
		// a throttle or challenge can still escalate.
		if d == nil || d.Action != verdict.Block || d.Mode != verdict.Enforce {
			if made := p.inspect(v, c); made != nil && (d == nil || made.Action > d.Action) {
				d = made
			}
		}
		if d != nil && p.enforce(vd, v, d) {
			return vd
		}
	}
	if v.Route == nil && p.blockUnknown {
		vd.Action, vd.Status, vd.Reason = verdict.Block, http.StatusNotFound, "unknown_route"
		return vd
	}
	p.checkLimits(vd, v)
	if p.cel.Len() > 0 && !vd.Allowlisted {
		p.applyRules(vd, v, c.signals)
	}
	return vd
}

// checkLimits runs the limits; the first enforced refusal sets vd.
func (p *Policy) checkLimits(vd *Verdict, v *request.View) {
	now := v.Time.UnixNano()
	for i := range p.limits {
		r := &p.limits[i]
		if r.routes != nil && (v.Route == nil || !r.routes[v.Route.Index]) {
			continue
		}
		if r.who != everyone && (r.who == anonymousOnly) == v.Identity.Verified {
			continue
		}
		a := r.base
		if pa, ok := r.perPlan[v.Identity.Plan]; ok {
			a = pa
		}
		if a == nil {
			continue
		}
		key, ok := p.appendKey(vd.key[:0], r, v)
		vd.key = key[:0]
		if !ok {
			continue
		}
		var res limit.Result
		switch r.kind {
		case rateRule:
			res = p.store.Rate(key, now, a.rate, 1)
		case quotaRule:
			_, end := a.cal.Bounds(v.Time)
			res = p.store.Quota(key, now, end.UnixNano(), a.quota, 1)
		case concurrencyRule:
			if res = p.store.Acquire(key, now, a.slots, lease); res.Allowed {
				vd.holdSlot(key)
			}
		}
		if res.Allowed {
			vd.note(r, a, res)
			continue
		}
		mode := r.effectiveMode(key)
		if mode == verdict.Shadow {
			if vd.Rule == "" {
				vd.Rule, vd.Mode, vd.Reason, vd.Would = r.name, r.mode, reasons[r.kind], true
			}
			p.limitEvent(v, r, res)
			continue
		}
		vd.Action, vd.Status, vd.Reason = verdict.Throttle, http.StatusTooManyRequests, reasons[r.kind]
		vd.Rule, vd.Mode, vd.Would, vd.RetryAfter = r.name, mode, false, res.RetryAfter
		vd.note(r, a, res)
		vd.releaseSlots(now)
		if r.kind == rateRule {
			p.ignoredRetryAfter(v, r.name)
		}
		return
	}
}

var reasons = [...]string{rateRule: "rate_limited", quotaRule: "quota_exceeded", concurrencyRule: "concurrency_limited"}

// effectiveMode returns how r acts for key: a canary limit enforces for
// the keys its rollout.Canary includes and shadows the rest.
func (r *limitRule) effectiveMode(key []byte) verdict.Mode {
	if r.mode != verdict.Canary {
		return r.mode
	}
	if r.canary.Includes(rollout.NewHash().Bytes(key).Sum()) {
		return verdict.Canary
	}
	return verdict.Shadow
}

// appendKey appends the state key of limit r for v to dst: the limit name,
// then each dimension's value, NUL-separated. It reports false when v lacks
// a dimension (no API key, say), in which case r does not apply.
func (p *Policy) appendKey(dst []byte, r *limitRule, v *request.View) ([]byte, bool) {
	dst = append(dst, r.name...)
	for _, d := range r.dims {
		dst = append(dst, 0)
		switch d.kind {
		case dimIP:
			if !v.ClientIP.IsValid() {
				return dst, false
			}
			dst = v.ClientIP.AppendTo(dst)
		case dimIPPrefix:
			if !v.ClientIP.IsValid() {
				return dst, false
			}
			dst = request.Prefix(v.ClientIP, p.v4, p.v6).AppendTo(dst)
		case dimRoute:
			if v.Route == nil {
				return dst, false
			}
			dst = append(dst, v.Route.Name...)
		case dimMethod:
			dst = append(dst, v.Method...)
		default:
			s := dimString(d, v)
			if s == "" {
				return dst, false
			}
			dst = append(dst, s...)
		}
	}
	return dst, true
}

func dimString(d dim, v *request.View) string {
	switch d.kind {
	case dimAPIKey:
		return v.Identity.KeyID
	case dimUser:
		return v.Identity.User
	case dimTenant:
		return v.Identity.Tenant
	case dimPlan:
		return v.Identity.Plan
	case dimHeader:
		return v.Headers.Get(d.header)
	}
	return ""
}
