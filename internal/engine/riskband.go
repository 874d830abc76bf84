package engine

import (
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// RiskBand returns the band the risk score of v's subject is in now: the
// action that band calls for, Allow below the throttle band. vd is the
// request's verdict, not yet finished (its scratch buffer is used).
// Gateway fronts pass it to the upstream as a header.
func (p *Policy) RiskBand(v *request.View, vd *Verdict) verdict.Action {
	return p.band(p.subjectScore(v, vd))
}
