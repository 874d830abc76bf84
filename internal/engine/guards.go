package engine

import (
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
)

// Risky reports whether the subject of v (its key, user or IP) carries a
// risk score of at least half the throttle band: the requests an
// overloaded upstream sheds first.
func (p *Policy) Risky(v *request.View) bool {
	e := detect.Subject(v)
	r, ok := p.shared.risk.Get(p.shared.hasher.String(byte(e.Scope), e.Value))
	if !ok {
		return false
	}
	return r.score.Value(v.Time.UnixNano(), p.Config.Risk.HalfLife) >= p.Config.Risk.ThrottleAt/2
}
