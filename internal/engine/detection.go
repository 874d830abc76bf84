package engine

import (
	"net/http"
	"sync"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// risk is what the engine remembers about one entity: its decaying score
// and its last few signals, the evidence for a decision. Evidence is held
// by pointer so that an entry stays small (the table copies entries on
// every update); it is allocated only when a signal fires.
type risk struct {
	score  detect.Score
	recent [evidenceKept]*verdict.Evidence
	n      uint32
}

const evidenceKept = 6

func (r *risk) push(e *verdict.Evidence) {
	r.recent[r.n%evidenceKept] = e
	r.n++
}

// evidence returns the remembered signals, oldest first.
func (r *risk) evidence() []verdict.Evidence {
	n := min(r.n, evidenceKept)
	out := make([]verdict.Evidence, 0, n)
	for i := r.n - n; i < r.n; i++ {
		out = append(out, *r.recent[i%evidenceKept])
	}
	return out
}

// collector gathers one request's signals.
type collector struct{ signals []detect.Signal }

func (c *collector) Emit(s detect.Signal) { c.signals = append(c.signals, s) }

var _ detect.Sink = (*collector)(nil)

var collectors = sync.Pool{New: func() any { return &collector{signals: make([]detect.Signal, 0, 4)} }}

// band returns the action the score's band calls for: Allow below the
// throttle band.
func (p *Policy) band(score float64) verdict.Action {
	r := &p.Config.Risk
	switch {
	case score >= r.BlockAt:
		return verdict.Block
	case score >= r.ChallengeAt:
		return verdict.Challenge
	case score >= r.ThrottleAt:
		return verdict.Throttle
	}
	return verdict.Allow
}

// inspect runs the detectors' request hooks, collecting their signals in
// c, and applies them; it returns a decision made now that applies to v,
// if any.
func (p *Policy) inspect(v *request.View, c *collector) *decision.Decision {
	for _, d := range p.detectors {
		d.Request(v, c)
	}
	if len(c.signals) == 0 {
		return nil
	}
	return p.apply(v, c.signals)
}

// Observe charges the cost the upstream reported (Outcome.Cost) to the
// limits that count cost, and feeds a forwarded request's outcome to the
// detectors (never an allowlisted client's, and never an answer the guard
// gave itself: o.Guard). Decisions it makes apply from the next request
// on. Fronts call it after the upstream answered and before
// Verdict.Finish.
func (p *Policy) Observe(v *request.View, o verdict.Outcome) {
	p.chargeReported(v, o.Cost)
	if extra := o.Cost - max(1, v.Cost); extra > 0 && !o.Guard {
		p.chargeBudgets(nil, v, extra, false)
	}
	if p.shared.routes != nil {
		p.shared.routes.ObserveRoute(v, o)
	}
	p.shared.keys.observe(v, o)
	if len(p.detectors) == 0 || o.Guard || p.allowlisted(v) {
		return
	}
	c := collectors.Get().(*collector)
	for _, d := range p.detectors {
		d.Response(v, o, c)
	}
	if len(c.signals) > 0 {
		p.apply(v, c.signals)
	}
	c.signals = c.signals[:0]
	collectors.Put(c)
}

// apply adds signals to their entities' scores and records a decision when
// a score enters a band stronger than the entity's active decision. It
// returns the strongest decision it made on one of v's own entities.
func (p *Policy) apply(v *request.View, signals []detect.Signal) *decision.Decision {
	now := v.Time.UnixNano()
	half := p.Config.Risk.HalfLife
	var made *decision.Decision
	for i := range signals {
		s := &signals[i]
		shadow := p.shadowDetectors[s.Detector]
		if s.Detector != persistence && s.Detector != rateLimited {
			p.event(v, s, shadow)
			if p.shared.OnSignal != nil {
				p.shared.OnSignal(*s)
			}
		}
		if shadow {
			continue
		}
		if permittedForKeys[s.Detector] && p.heldKey(v, s.Entity) {
			continue // an event, but no risk: the key's quota governs its volume
		}
		ev := verdict.Evidence{
			Time: v.Time, Detector: s.Detector, Summary: s.Evidence.Summary, Count: s.Evidence.Count,
			Threshold: s.Evidence.Threshold, Window: s.Evidence.Window.String(), Weight: s.Weight, RequestID: s.Evidence.RequestID,
		}
		var score float64
		var evidence []verdict.Evidence
		action := verdict.Allow
		p.shared.risk.Update(p.shared.hasher.String(byte(s.Entity.Scope), s.Entity.Value), now, func(r *risk) {
			score = r.score.Add(now, half, s.Weight)
			if s.Detector != persistence { // a consequence, not a cause: it must not crowd the causes out
				r.push(&ev)
			}
			if action = p.band(score); action != verdict.Allow {
				evidence = r.evidence()
			}
		})
		if action > verdict.Throttle && p.heldKey(v, s.Entity) && permittedForKeys[mainCause(evidence)] {
			action = verdict.Throttle
		}
		if action == verdict.Allow || p.shared.Decisions == nil {
			continue
		}
		if cur := p.shared.Decisions.Active(s.Entity.Scope, []byte(s.Entity.Value), now); cur != nil && cur.Action >= action {
			continue
		}
		cause := mainCause(evidence)
		d, added, err := p.shared.Decisions.Add(decision.Decision{
			Scope: s.Entity.Scope, Value: s.Entity.Value, Action: action, Reason: cause,
			Source: "detector:" + cause, Mode: p.Config.Risk.Mode, Score: score, Evidence: evidence,
		})
		if err != nil {
			p.shared.persistErrors.Add(1)
		}
		if !added {
			continue
		}
		p.recorded(v, &d, s)
		if d.Mode == verdict.Enforce && p.concerns(v, s.Entity) && (made == nil || d.Action > made.Action) {
			made = &d
		}
	}
	return made
}

// permittedForKeys are the detectors whose behaviour a held key's plan
// permits (heldKey: declared, or a known client's): bulk reads of a
// catalogue (scraping, enumeration of ids that were deleted), a script's
// fingerprint (automation), volume, and running into its own limits. Their
// signals on a held key are events but add no risk: the key's own limits
// (per api_key, per plan) throttle it with Retry-After, and a decision on
// it (from risk gathered before it was held) is at most a throttle, never
// a challenge or block. Signals of abuse no plan permits (a key shared
// across many networks, credential attacks, probing, decoys, GraphQL
// abuse) escalate as for anyone. A rule or a manual decision may still
// block the key.
var permittedForKeys = map[string]bool{
	"scraping": true, "enumeration": true, "automation": true, "volumetric": true, rateLimited: true,
}

// heldKey reports whether e is the API key of v and that key is a
// declared one (in identity.api_key.keys), an identity the operator
// vouched for, or a known client's (request.KnownClient), one the
// upstream vouched for: not a client-chosen string.
func (p *Policy) heldKey(v *request.View, e verdict.Entity) bool {
	return e.Scope == verdict.ScopeKey && v.Identity.KeyID == e.Value && (p.declaredKeys[e.Value] || v.Hints.Has(request.KnownClient))
}

// mainCause returns the detector that added the most risk in evidence: the
// reason a decision gives, rather than whichever signal tipped the score.
func mainCause(evidence []verdict.Evidence) string {
	best, bestWeight := "", -1.0
	for i, e := range evidence {
		w := 0.0
		for _, f := range evidence {
			if f.Detector == e.Detector {
				w += f.Weight
			}
		}
		if w > bestWeight || w == bestWeight && i == len(evidence)-1 {
			best, bestWeight = e.Detector, w
		}
	}
	return best
}

// concerns reports whether a decision on e applies to requests like v:
// identity scopes always, network scopes only to requests without a
// verified identity or a known client's key (a session is never one).
func (p *Policy) concerns(v *request.View, e verdict.Entity) bool {
	switch e.Scope {
	case verdict.ScopeKey:
		return v.Identity.KeyID == e.Value
	case verdict.ScopeUser:
		return v.Identity.User == e.Value
	case verdict.ScopeSession:
		return v.Identity.Session == e.Value
	case verdict.ScopeCampaign:
		return p.campaigns != nil && p.campaigns.CampaignOf(v) == e.Value
	}
	return !identified(v) && !v.Hints.Has(request.SharedAddress)
}

// activeDecision returns the decision in force for v: on its API key,
// user or session, or, for requests without a verified identity, on its
// IP, prefix or fingerprint (for a known client's key, only one that
// key-scope evidence made: keyEvidenceOnAddress). Identity first, so one abuser behind a
// shared NAT does not lock out the signed-in users and known keys behind
// it; a made-up key or a session (client-chosen, never verified) does not
// shield a blocked address.
func (p *Policy) activeDecision(v *request.View, buf []byte) (*decision.Decision, []byte) {
	ds := p.shared.Decisions
	if ds == nil || ds.Len() == 0 {
		return nil, buf
	}
	now := v.Time.UnixNano()
	if id := v.Identity.KeyID; id != "" {
		if d := ds.Active(verdict.ScopeKey, append(buf[:0], id...), now); d != nil {
			return d, buf
		}
	}
	if u := v.Identity.User; u != "" {
		if d := ds.Active(verdict.ScopeUser, append(buf[:0], u...), now); d != nil {
			return d, buf
		}
	}
	var d *decision.Decision
	if d, buf = p.campaignDecision(v, buf, now); d != nil {
		return d, buf
	}
	if s := v.Identity.Session; s != "" {
		if d := ds.Active(verdict.ScopeSession, append(buf[:0], s...), now); d != nil {
			return d, buf
		}
	}
	if v.Hints.Has(request.SharedAddress) {
		return nil, buf // an established session on a shared address: judged by its session alone
	}
	if v.Identity.Verified || !v.ClientIP.IsValid() {
		return nil, buf
	}
	if v.Hints.Has(request.KnownClient) {
		return p.keyEvidenceOnAddress(v, buf, now)
	}
	buf = v.ClientIP.AppendTo(buf[:0])
	if d := ds.Active(verdict.ScopeIP, buf, now); d != nil {
		return d, buf
	}
	buf = request.Prefix(v.ClientIP, p.v4, p.v6).AppendTo(buf[:0])
	if d := ds.Active(verdict.ScopePrefix, buf, now); d != nil {
		return d, buf
	}
	buf = v.Fingerprint.AppendTo(buf[:0])
	return ds.Active(verdict.ScopeFingerprint, buf, now), buf
}

// keyEvidenceOnAddress returns the decision on a known client's address
// or network that key-scope evidence made (churn: the address cycling
// through many keys, reason "sharing"), and no other: the behaviour of
// others behind the address is not the known client's.
func (p *Policy) keyEvidenceOnAddress(v *request.View, buf []byte, now int64) (*decision.Decision, []byte) {
	buf = v.ClientIP.AppendTo(buf[:0])
	if d := p.shared.Decisions.Active(verdict.ScopeIP, buf, now); d != nil && d.Reason == keyEvidence {
		return d, buf
	}
	buf = request.Prefix(v.ClientIP, p.v4, p.v6).AppendTo(buf[:0])
	if d := p.shared.Decisions.Active(verdict.ScopePrefix, buf, now); d != nil && d.Reason == keyEvidence {
		return d, buf
	}
	return nil, buf
}

// keyEvidence is the cause of decisions that key-scope evidence makes: the
// sharing detector's (one key from many networks, many keys from one
// client).
const keyEvidence = "sharing"

// enforce turns an active decision into the verdict; it reports false when
// the decision lets the request through (a soft throttle with room left,
// or a shadow decision, recorded as Would).
func (p *Policy) enforce(vd *Verdict, v *request.View, d *decision.Decision) bool {
	if d.Mode != verdict.Enforce {
		if vd.Rule == "" {
			vd.Rule, vd.Mode, vd.Reason, vd.Would = d.Source, verdict.Shadow, d.Reason, true
		}
		return false
	}
	vd.Rule, vd.Mode, vd.DecisionID = d.Source, verdict.Enforce, d.ID
	until := time.Duration(d.Expires.UnixNano() - v.Time.UnixNano())
	switch d.Action {
	case verdict.Block:
		vd.Action, vd.Status, vd.Reason = verdict.Block, http.StatusForbidden, "blocked"
		vd.Detail = "blocked for " + d.Reason + " until " + d.Expires.UTC().Format(time.RFC3339)
		vd.RetryAfter = until
	case verdict.Challenge:
		if p.answer(vd, v, d.Entity(), d.Offense) { // a pass or a solution
			vd.Rule, vd.DecisionID = "", ""
			return false
		}
		vd.Action, vd.Status = verdict.Challenge, http.StatusTooManyRequests
		vd.Detail = "a challenge is required (" + d.Reason + ")"
		vd.RetryAfter = until
		p.persisted(v, d)
	default: // throttle: a tighter rate for the entity while the decision lasts
		key := append(vd.key[:0], "\x00throttle\x00"...)
		key = append(key, d.Scope.String()...)
		key = append(key, 0)
		key = append(key, d.Value...)
		vd.key = key[:0]
		res := p.store.Rate(key, v.Time.UnixNano(), p.throttle, 1)
		if res.Allowed {
			vd.Rule, vd.DecisionID = "", ""
			return false
		}
		vd.Action, vd.Status, vd.Reason = verdict.Throttle, http.StatusTooManyRequests, "throttled"
		vd.Detail = "throttled for " + d.Reason
		vd.RetryAfter = res.RetryAfter
		p.persisted(v, d)
	}
	return true
}

// persistence is the pseudo-detector behind persisted.
const persistence = "persistence"

// persisted adds the persistence weight to an entity whose request a
// throttle or challenge decision refused: a client that keeps hammering
// instead of honouring Retry-After or solving the challenge escalates to
// a block. It writes no signal event (one per refused request would flood
// the sink); the decision it may cause is an event.
func (p *Policy) persisted(v *request.View, d *decision.Decision) {
	w := p.Config.Risk.PersistenceWeight
	if w <= 0 {
		return
	}
	p.apply(v, []detect.Signal{{
		Detector: persistence, Entity: d.Entity(), Weight: w, Severity: detect.Medium,
		Evidence: detect.Evidence{Summary: "request sent while under a " + d.Action.String() + " for " + d.Reason, Count: 1, Threshold: 1, RequestID: v.ID},
	}})
}

// ignoredRetryAfter adds half the persistence weight to the subject of a
// request a rate limit refused: a client that keeps sending through its
// 429s instead of waiting out Retry-After (a flood) climbs to a block
// decision, while one that overshoots now and then decays back. Quotas
// and concurrency limits do not escalate: a partner at its quota is not
// an abuser.
func (p *Policy) ignoredRetryAfter(v *request.View, limit string) {
	w := p.Config.Risk.PersistenceWeight / 2
	if w <= 0 {
		return
	}
	p.apply(v, []detect.Signal{{
		Detector: rateLimited, Entity: detect.Subject(v), Weight: w, Severity: detect.Medium,
		Evidence: detect.Evidence{Summary: "request sent while rate limited by " + limit, Count: 1, Threshold: 1, RequestID: v.ID},
	}})
}

// rateLimited is the pseudo-detector behind ignoredRetryAfter. Like
// persistence it writes no signal events (one per refused request would
// flood the sink); unlike it, it is a cause: its evidence names the limit.
const rateLimited = "rate_limited"

// allowlisted reports whether v's IP, key or user is on the allowlist.
func (p *Policy) allowlisted(v *request.View) bool {
	if p.allowKeys[v.Identity.KeyID] || p.allowUsers[v.Identity.User] {
		return true
	}
	return v.ClientIP.IsValid() && p.allowNets.Trusts(v.ClientIP)
}

// DetectorStats returns the state size and churn of each detector that
// keeps state, and of the risk table (as "risk").
func (p *Policy) DetectorStats() map[string]detect.TableStats {
	out := map[string]detect.TableStats{"risk": p.shared.risk.Stats()}
	for _, d := range p.detectors {
		if st, ok := d.(detect.Stateful); ok {
			out[d.Name()] = st.Stats()
		}
	}
	return out
}
