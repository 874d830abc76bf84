package engine

import (
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
)

// Risk returns the risk score of the subject of v (its key, user or IP)
// as a share of the throttle band: 0 without a score, 1 at the band. An
// overloaded upstream sheds the riskiest requests first.
func (p *Policy) Risk(v *request.View) float64 {
	e := detect.Subject(v)
	r, ok := p.shared.risk.Get(p.shared.hasher.String(byte(e.Scope), e.Value))
	if !ok || p.Config.Risk.ThrottleAt <= 0 {
		return 0
	}
	return float64(r.score.Value(v.Time.UnixNano(), p.Config.Risk.HalfLife)) / float64(p.Config.Risk.ThrottleAt)
}
