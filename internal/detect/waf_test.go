package detect

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/request"
)

func TestWAFDetector(t *testing.T) {
	d := NewWAF(WAFConfig{})
	cases := []struct {
		name     string
		findings []request.Finding
		weight   float64 // 0: no signal
		sev      Severity
	}{
		{name: "no finding"},
		{name: "an openapi finding only", findings: []request.Finding{{Guard: "openapi", Reason: "openapi_bad_body"}}},
		{name: "one critical rule", findings: []request.Finding{{Guard: "waf", Score: 5, Rules: []int{942100}}}, weight: 20, sev: Medium},
		{name: "capped at the weight", findings: []request.Finding{{Guard: "waf", Score: 25, Rules: []int{942100, 942190, 942270}}}, weight: 60, sev: High},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := &request.View{ClientIP: netip.MustParseAddr("192.0.2.1"), ID: "r1", Findings: c.findings}
			s := &signals{}
			d.Request(v, s)
			if c.weight == 0 {
				if len(s.got) != 0 {
					t.Fatalf("signals %+v, want none", s.got)
				}
				return
			}
			if len(s.got) != 1 {
				t.Fatalf("signals %+v, want one", s.got)
			}
			sig := s.got[0]
			if sig.Weight != c.weight || sig.Severity != c.sev || sig.Entity.Value != "192.0.2.1" || sig.Evidence.RequestID != "r1" {
				t.Fatalf("signal %+v, want weight %v severity %v", sig, c.weight, c.sev)
			}
			for _, id := range c.findings[0].Rules {
				if !strings.Contains(sig.Evidence.Summary, strconv.Itoa(id)) {
					t.Errorf("evidence %q does not name rule %d", sig.Evidence.Summary, id)
				}
			}
		})
	}
}
