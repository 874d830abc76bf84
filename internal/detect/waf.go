package detect

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "waf", Order: 22, Settings: func() Settings { return &WAFConfig{} },
		New: func(s Settings, _ Env) Detector { return NewWAF(*s.(*WAFConfig)) }})
}

// WAFConfig configures the waf detector. Zero fields get the defaults
// named on each field.
type WAFConfig struct {
	Common `yaml:",inline"`
	// PointsPerScore is the risk points one point of the WAF's anomaly
	// score adds (default 4: one critical CRS rule, score 5, adds 20;
	// three reach the challenge band of 60). Weight caps one signal
	// (default 60).
	PointsPerScore float64 `yaml:"points_per_score"`
}

const (
	wafWeight         = 60
	wafPointsPerScore = 4
)

// WAF turns the WAF guard's findings (the CRS anomaly score and the rules
// that matched, on View.Findings) into risk: every request the CRS scores
// above zero signals, with the matched rule ids in the evidence, so a
// client sending payload after payload climbs the bands while a single
// odd request only adds a little. It keeps no state and does nothing
// when the WAF guard is off (no findings).
//
// False-positive traps are the CRS's own: free text that looks like SQL
// or shell (a code-snippet field), rich-text HTML bodies, and at paranoia
// levels above 1 much ordinary traffic; exclude rules with the guard's
// directives (SecRuleRemoveById) rather than lowering the weight.
type WAF struct {
	cfg WAFConfig
}

// NewWAF returns a WAF detector for cfg with defaults applied.
func NewWAF(cfg WAFConfig) *WAF {
	cfg.Common = cfg.Common.Defaults(wafWeight)
	cfg.PointsPerScore = orDefault(cfg.PointsPerScore, wafPointsPerScore)
	return &WAF{cfg: cfg}
}

// Name returns "waf".
func (d *WAF) Name() string { return "waf" }

// Request signals a request the WAF scored.
func (d *WAF) Request(v *request.View, s Sink) {
	f := v.Finding("waf")
	if f == nil || f.Score <= 0 {
		return
	}
	sev := Medium
	if f.Score >= 10 {
		sev = High
	}
	var ids strings.Builder
	for i, id := range f.Rules {
		if i == 8 {
			fmt.Fprintf(&ids, " and %d more", len(f.Rules)-i)
			break
		}
		if i > 0 {
			ids.WriteString(", ")
		}
		ids.WriteString(strconv.Itoa(id))
	}
	s.Emit(Signal{Detector: d.Name(), Entity: Subject(v), Weight: min(d.cfg.Weight, float64(f.Score)*d.cfg.PointsPerScore), Severity: sev,
		Evidence: Evidence{
			Summary:   fmt.Sprintf("CRS anomaly score %d: rules %s matched", f.Score, ids.String()),
			Count:     float64(f.Score),
			Threshold: 1,
			RequestID: v.ID,
		}})
}

// Response does nothing: the WAF inspects requests.
func (d *WAF) Response(*request.View, verdict.Outcome, Sink) {}

var _ Detector = (*WAF)(nil)
