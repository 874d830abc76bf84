package opsmetrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/telemetry"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// TestDecidedLabels checks how a verdict is named, the one naming every
// front's metrics, access log and spans share.
func TestDecidedLabels(t *testing.T) {
	login := &request.Route{Name: "login"}
	for _, tc := range []struct {
		name   string
		route  *request.Route
		vd     verdict.Verdict
		want   Labels
		series [4]string // abuseguard_requests_total's route, action, rule, mode
	}{
		{"allowed, no route", nil, verdict.Verdict{},
			Labels{Action: "allow"}, [4]string{"unmatched", "allow", "", ""}},
		{"enforced rule", login, verdict.Verdict{Action: verdict.Block, Rule: "no-bots", Mode: verdict.Enforce, Reason: "blocked"},
			Labels{Action: "block", Rule: "no-bots", Mode: "enforce", Reason: "blocked", Route: "login"}, [4]string{"login", "block", "no-bots", "enforce"}},
		{"shadow rule that would have acted", login, verdict.Verdict{Rule: "no-bots", Mode: verdict.Enforce, Would: true, Reason: "blocked"},
			Labels{Action: "allow", Rule: "no-bots", Mode: "shadow", Reason: "blocked", Route: "login"}, [4]string{"login", "allow", "no-bots", "shadow"}},
		{"allowlisted", login, verdict.Verdict{Allowlisted: true},
			Labels{Action: "allow", Reason: "allowlisted", Route: "login"}, [4]string{"login", "allow", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := telemetry.NewMetrics()
			v := &request.View{Route: tc.route}
			got := Recorder{Metrics: m}.Decided(v, &engine.Verdict{Verdict: tc.vd})
			if got != tc.want {
				t.Errorf("labels %+v, want %+v", got, tc.want)
			}
			s := tc.series
			if n := testutil.ToFloat64(m.Requests.WithLabelValues(s[0], s[1], s[2], s[3])); n != 1 {
				t.Errorf("abuseguard_requests_total%v = %v, want 1", s, n)
			}
			line := got.Access(v, v.Time, 200, 0, 0)
			if line.Action != tc.want.Action || line.Rule != tc.want.Rule || line.Mode != tc.want.Mode || line.Reason != tc.want.Reason || line.Route != tc.want.Route {
				t.Errorf("access line %+v does not carry the labels %+v", line, tc.want)
			}
		})
	}
}
