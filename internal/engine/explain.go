package engine

import (
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Explain returns what the engine knows about an entity: its risk score
// now, the signals it remembers, and its active decisions with their
// evidence (what the admin API's explain answers).
func (e *Engine) Explain(ent verdict.Entity, now time.Time) decision.Explanation {
	s := e.shared
	x := decision.Explanation{Entity: ent.String(), Signals: []verdict.Evidence{}, Decisions: []decision.Decision{}}
	if r, ok := s.risk.Get(s.hasher.String(byte(ent.Scope), ent.Value)); ok {
		x.Score = r.score.Value(now.UnixNano(), e.Policy().Config.Risk.HalfLife)
		x.Signals = r.evidence()
	}
	if s.Decisions != nil {
		x.Decisions = s.Decisions.ForEntity(ent.Scope, ent.Value, now)
	}
	if c := e.Policy().campaigns; c != nil {
		x.Campaign, x.CampaignIDs, _ = c.MemberOf(ent)
	}
	return x
}
