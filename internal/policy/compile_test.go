package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
)

func TestCompileErrors(t *testing.T) {
	ok := RuleConfig{Name: "ok", When: "true", Action: "block"}
	tests := []struct {
		name  string
		cfgs  []RuleConfig
		want  []CompileError // Rule, Field, Line, Col; Msg is matched by substring
		count int            // how many errors; 0 means len(want)
	}{
		{
			name: "syntax error",
			cfgs: []RuleConfig{ok, {Name: "x", When: `score > `, Action: "block"}},
			want: []CompileError{{Rule: 1, Field: "when", Line: 1, Col: 9, Msg: "Syntax error"}},
		},
		{
			name: "syntax error on a later line",
			cfgs: []RuleConfig{{Name: "x", When: "score > 50 &&\n  request.path.startsWith('/a') &&\n  )", Action: "block"}},
			want: []CompileError{{Rule: 0, Field: "when", Line: 3, Col: 3, Msg: "Syntax error"}},
		},
		{
			name: "unknown variable",
			cfgs: []RuleConfig{ok, ok, {Name: "x", When: `score > 50 && risk > 2`, Action: "block"}},
			want: []CompileError{{Rule: 2, Field: "when", Line: 1, Col: 15, Msg: `unknown variable or function "risk"`}},
			// "ok" twice also fails on the duplicate name, checked below.
			count: 2,
		},
		{
			name: "unknown field",
			cfgs: []RuleConfig{{Name: "x", When: "request.method == 'GET' &&\n    request.cookie == ''", Action: "block"}},
			want: []CompileError{{Rule: 0, Field: "when", Line: 2, Col: 5, Msg: "unknown field of request"}},
		},
		{
			name: "non-bool expression",
			cfgs: []RuleConfig{{Name: "x", When: `  score + 1.0`, Action: "block"}},
			want: []CompileError{{Rule: 0, Field: "when", Line: 1, Col: 3, Msg: "want a bool"}},
		},
		{
			name: "type mismatch",
			cfgs: []RuleConfig{{Name: "x", When: `request.path > 3`, Action: "block"}},
			want: []CompileError{{Rule: 0, Field: "when", Line: 1, Col: 14, Msg: "no matching overload"}},
		},
		{
			name: "bad constant cidr",
			cfgs: []RuleConfig{{Name: "x", When: `cidr("10.0.0.0/33").containsIP(request.ip)`, Action: "block"}},
			want: []CompileError{{Rule: 0, Field: "when", Line: 1, Col: 6, Msg: "prefix length out of range"}},
		},
		{
			name: "bad regex",
			cfgs: []RuleConfig{{Name: "x", When: `request.path.matches("(")`, Action: "block"}},
			want: []CompileError{{Rule: 0, Field: "when", Line: 1, Col: 22, Msg: "invalid matches argument"}},
		},
		{
			name: "empty when",
			cfgs: []RuleConfig{{Name: "x", When: " ", Action: "block"}},
			want: []CompileError{{Rule: 0, Field: "when", Line: 1, Col: 1, Msg: "needs a when"}},
		},
		{
			name: "cost over the static limit",
			cfgs: []RuleConfig{{Name: "x", When: `identity.scopes.all(a, identity.scopes.all(b, a.contains(b)))`, Action: "block"}},
			want: []CompileError{{Rule: 0, Field: "when", Line: 1, Col: 1, Msg: "over the limit"}},
		},
		{
			name: "unknown action",
			cfgs: []RuleConfig{ok, {Name: "x", When: "true", Action: "ban"}},
			want: []CompileError{{Rule: 1, Field: "action", Msg: `unknown action "ban"`}},
		},
		{
			name: "missing action",
			cfgs: []RuleConfig{{Name: "x", When: "true"}},
			want: []CompileError{{Rule: 0, Field: "action", Msg: "needs an action"}},
		},
		{
			name:  "unknown scope",
			cfgs:  []RuleConfig{ok, ok, ok, {Name: "x", When: "true", Action: "block", Scope: "tenant"}},
			want:  []CompileError{{Rule: 3, Field: "scope", Msg: `unknown scope "tenant"`}},
			count: 3, // plus two duplicate names
		},
		{
			name: "mode canary without percent",
			cfgs: []RuleConfig{{Name: "x", When: "true", Action: "block", Mode: "canary"}},
			want: []CompileError{{Rule: 0, Field: "mode", Msg: "canary needs canary_percent"}},
		},
		{
			name: "canary percent out of range",
			cfgs: []RuleConfig{{Name: "x", When: "true", Action: "block", Mode: "canary", CanaryPercent: 150}},
			want: []CompileError{{Rule: 0, Field: "canary_percent", Msg: "at most 100"}},
		},
		{
			name: "canary percent without canary",
			cfgs: []RuleConfig{{Name: "x", When: "true", Action: "block", Mode: "shadow", CanaryPercent: 5}},
			want: []CompileError{{Rule: 0, Field: "canary_percent", Msg: "only applies"}},
		},
		{
			name: "unknown mode",
			cfgs: []RuleConfig{{Name: "x", When: "true", Action: "block", Mode: "dry-run"}},
			want: []CompileError{{Rule: 0, Field: "mode", Msg: `unknown mode "dry-run"`}},
		},
		{
			name: "missing name",
			cfgs: []RuleConfig{{When: "true", Action: "block"}},
			want: []CompileError{{Rule: 0, Field: "name", Msg: "needs a name"}},
		},
		{
			name: "duplicate name",
			cfgs: []RuleConfig{ok, ok},
			want: []CompileError{{Rule: 1, Field: "name", Msg: "rules[0]"}},
		},
		{
			name: "negative ttl and bad reason",
			cfgs: []RuleConfig{{Name: "x", When: "true", Action: "block", TTL: -time.Second, Reason: "Bad Reason"}},
			want: []CompileError{{Rule: 0, Field: "ttl", Msg: "negative"}, {Rule: 0, Field: "reason", Msg: "lower-case"}},
		},
		{
			name: "every error at once",
			cfgs: []RuleConfig{
				{Name: "a", When: "1 +", Action: "block"},
				{Name: "b", When: "true", Action: "nope"},
				{Name: "c", When: "score", Action: "block", Scope: "asn"},
			},
			want: []CompileError{
				{Rule: 0, Field: "when", Line: 1, Col: 4},
				{Rule: 1, Field: "action"},
				{Rule: 2, Field: "scope"},
				{Rule: 2, Field: "when", Line: 1, Col: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, errs := Compile(tt.cfgs)
			if r != nil {
				t.Fatal("Compile returned rules along with errors")
			}
			count := tt.count
			if count == 0 {
				count = len(tt.want)
			}
			if len(errs) != count {
				t.Fatalf("got %d errors, want %d: %v", len(errs), count, errs)
			}
			for _, w := range tt.want {
				if !hasError(errs, w) {
					t.Errorf("missing error %+v in %v", w, errs)
				}
			}
		})
	}
}

func hasError(errs []*CompileError, w CompileError) bool {
	for _, e := range errs {
		if e.Rule == w.Rule && e.Field == w.Field && e.Line == w.Line && e.Col == w.Col && strings.Contains(e.Msg, w.Msg) {
			return true
		}
	}
	return false
}

func TestCompileErrorString(t *testing.T) {
	tests := []struct {
		err  CompileError
		want string
	}{
		{CompileError{Rule: 2, Field: "when", Line: 1, Col: 9, Msg: "boom"}, "rules[2].when:1:9: boom"},
		{CompileError{Rule: 0, Field: "action", Msg: "boom"}, "rules[0].action: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q", got)
			}
		})
	}
}

// maxInput is a request with every input at the largest size the cost
// estimate assumes, shaped to make string functions work hard.
func maxInput() *Input {
	in := testInput()
	long := strings.Repeat("/a", maxURLString/2)
	short := strings.Repeat("x", maxShortString)
	v := in.View
	v.Path, v.Query, v.UserAgent = long, strings.Repeat("a", maxURLString), strings.Repeat("Mozilla ", maxUserAgent/8)
	v.Method, v.Host, v.Param = short, short, short
	v.Route = &request.Route{Name: short, Kind: short}
	v.Identity = request.Identity{KeyID: short, User: short, Tenant: short, Plan: short}
	for i := range maxScopes {
		v.Identity.Scopes = append(v.Identity.Scopes, fmt.Sprintf("%0*d", maxShortString, i))
	}
	in.Signals = nil
	for i := range maxSignals {
		in.Signals = append(in.Signals, detect.Signal{Detector: fmt.Sprintf("%0*d", maxShortString, i), Weight: 1})
	}
	in.Limited = short
	return in
}

// TestEstimateBoundsActualCost checks what lets Eval skip cost tracking
// for inputs within bounds: on the largest such inputs, the runtime cost
// of each expression stays within its static estimate.
func TestEstimateBoundsActualCost(t *testing.T) {
	whens := []string{
		`request.route_kind == "login" && score > 50`,
		`request.path.startsWith("/admin") && !identity.authenticated`,
		`"probing" in signals`,
		`cidr("203.0.113.0/24").containsIP(request.ip)`,
		`request.user_agent.matches("(?i)curl|python|wget")`,
		`request.path.contains("/a/b") || request.query.contains("union select")`,
		`request.user_agent.lowerAscii().contains("bot")`,
		`request.path.split("/").size() > 10`,
		`signals.exists(k, signals[k] > 10.0)`,
		`identity.scopes.exists(s, s.endsWith("admin"))`,
		`identity.scopes.map(s, s + "!").exists(s, s == "admin!")`,
		`request.path.indexOf("zzz") > 0 || request.query.endsWith("zz") || request.host.replace("x", "y") == ""`,
		`size(request.query) > 4000 && request.param.matches("^[0-9]+$")`,
	}
	in := maxInput()
	a := activations.Get().(*activation)
	a.reset(in)
	defer a.release()
	if !a.withinBounds() {
		t.Fatal("maxInput is out of bounds")
	}
	for _, w := range whens {
		t.Run(w, func(t *testing.T) {
			r := mustCompile(t, RuleConfig{When: w})
			rule := r.Rule(0)
			_, det, err := rule.limited.Eval(a)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got := *det.ActualCost(); got > rule.Cost {
				t.Errorf("actual cost %d over the estimate %d", got, rule.Cost)
			}
		})
	}
}
