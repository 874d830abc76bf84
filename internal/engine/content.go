package engine

import (
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/guard/openapi"
	"github.com/abuseguard/abuseguard/internal/guard/waf"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// contentChecks builds the content guards of c for the request parser:
// the OpenAPI validator and the WAF, each only when its mode is not off,
// so that a config without them pays nothing per request.
func (p *Policy) contentChecks(c *config.Config) ([]request.Check, error) {
	var checks []request.Check
	if spec := c.OpenAPISpec(); spec != nil && c.OpenAPI.Mode != verdict.Off {
		v, err := openapi.NewValidator(spec, openapi.Options{Enforce: c.OpenAPI.Mode == verdict.Enforce, MaxBodyBytes: int(c.OpenAPI.MaxBodyBytes)})
		if err != nil {
			return nil, c.ErrorAt("routes_from", err)
		}
		checks = append(checks, v)
	}
	if c.WAF.Mode != verdict.Off {
		w, err := p.shared.waf(waf.Options{ParanoiaLevel: c.WAF.ParanoiaLevel, AnomalyThreshold: c.WAF.AnomalyThreshold,
			MaxBodyBytes: int(c.WAF.MaxBodyBytes), Directives: c.WAF.Directives})
		if err != nil {
			return nil, c.ErrorAt("waf.directives", err)
		}
		checks = append(checks, waf.Guard{WAF: w, Enforce: c.WAF.Mode == verdict.Enforce})
	}
	return checks, nil
}

// waf returns the WAF for o: the one built before when o has not changed,
// so every Policy of a process shares one compiled rule set.
func (s *Shared) waf(o waf.Options) (*waf.WAF, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wafInstance != nil && s.wafOptions == o {
		return s.wafInstance, nil
	}
	w, err := waf.New(o)
	if err != nil {
		return nil, err
	}
	s.wafInstance, s.wafOptions = w, o
	return w, nil
}

// refuseFinding refuses v when a content guard enforcing its findings
// found something (the first such finding decides: 400 openapi_*, 413
// openapi_body_too_large, 403 waf_blocked), and reports whether it did. A
// detection-only finding is recorded as what its guard would have done.
func (p *Policy) refuseFinding(vd *Verdict, v *request.View) bool {
	for i := range v.Findings {
		f := &v.Findings[i]
		if f.Refuse && f.Enforce {
			vd.Action, vd.Status, vd.Reason, vd.Detail = verdict.Block, f.Status, f.Reason, f.Detail
			vd.Rule, vd.Mode, vd.Would = f.Guard, verdict.Enforce, false
			return true
		}
		if f.Refuse && vd.Rule == "" {
			vd.Would, vd.Rule, vd.Mode, vd.Reason, vd.Detail = true, f.Guard, verdict.Shadow, f.Reason, f.Detail
		}
	}
	return false
}
