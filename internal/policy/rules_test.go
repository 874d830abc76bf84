package policy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// testView is a request with every field a rule can read set.
func testView() *request.View {
	return &request.View{
		ID:          "r1",
		Time:        time.Unix(1700000000, 0),
		ClientIP:    netip.MustParseAddr("203.0.113.7"),
		Method:      "POST",
		Host:        "api.example.com",
		Path:        "/v1/login",
		Query:       "next=%2Fhome&x=1",
		Route:       &request.Route{Name: "login", Kind: "login", Template: "POST /v1/login"},
		Param:       "42",
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64)",
		Fingerprint: request.Fingerprint(0x0123456789abcdef),
		Hints:       request.ClaimsBrowser | request.AcceptLanguage | request.Referer,
		Identity: request.Identity{
			KeyID:  "k_live_1",
			User:   "alice",
			Tenant: "acme",
			Plan:   "free",
			Scopes: []string{"read", "write"},
		},
	}
}

func testInput() *Input {
	return &Input{
		View:  testView(),
		Score: 62.5,
		Signals: []detect.Signal{
			{Detector: "probing", Weight: 10},
			{Detector: "stuffing", Weight: 5},
			{Detector: "probing", Weight: 2.5},
		},
		Limited: "login-per-ip",
	}
}

// mustCompile compiles one rule per expression, all blocking, named r0, r1...
func mustCompile(t testing.TB, cfgs ...RuleConfig) *Rules {
	t.Helper()
	for i := range cfgs {
		if cfgs[i].Name == "" {
			cfgs[i].Name = fmt.Sprintf("r%d", i)
		}
		if cfgs[i].Action == "" {
			cfgs[i].Action = "block"
		}
	}
	r, errs := Compile(cfgs)
	if errs != nil {
		t.Fatalf("Compile: %v", errs)
	}
	return r
}

func TestFirstMatchWins(t *testing.T) {
	tests := []struct {
		name  string
		whens []string
		want  string // rule name, "" for no match
	}{
		{"first of two", []string{`score > 50`, `request.method == "POST"`}, "r0"},
		{"skips non-matching", []string{`score > 90`, `request.method == "POST"`, `true`}, "r1"},
		{"none", []string{`score > 90`, `request.method == "GET"`}, ""},
		{"runtime error skipped", []string{`signals["flood"] > 1.0`, `true`}, "r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfgs []RuleConfig
			for _, w := range tt.whens {
				cfgs = append(cfgs, RuleConfig{When: w})
			}
			r := mustCompile(t, cfgs...)
			m, ok, _ := r.Eval(testInput())
			if tt.want == "" {
				if ok {
					t.Fatalf("matched %s, want no match", m.Rule.Name)
				}
				return
			}
			if !ok || m.Rule.Name != tt.want {
				t.Fatalf("got %+v, %v; want %s", m, ok, tt.want)
			}
		})
	}
}

func TestRuleFields(t *testing.T) {
	r := mustCompile(t,
		RuleConfig{Name: "a", When: "score > 10.0", Action: "challenge", Scope: "prefix", TTL: time.Minute, Reason: "bad_bot"},
		RuleConfig{Name: "b", When: "true", Action: "throttle", Mode: "shadow"},
	)
	if r.Len() != 2 {
		t.Fatalf("Len = %d", r.Len())
	}
	a, b := r.Rule(0), r.Rule(1)
	if a.Index != 0 || a.Action != verdict.Challenge || a.Scope != verdict.ScopePrefix || a.TTL != time.Minute || a.Reason != "bad_bot" || a.Mode != verdict.Enforce || a.When != "score > 10.0" {
		t.Errorf("rule a = %+v", a)
	}
	if b.Index != 1 || b.Scope != 0 || b.Reason != "rule" || b.Mode != verdict.Shadow {
		t.Errorf("rule b = %+v", b)
	}
	if a.Cost == 0 || a.Cost > CostLimit {
		t.Errorf("cost %d", a.Cost)
	}
}

func TestShadow(t *testing.T) {
	tests := []struct {
		name         string
		cfgs         []RuleConfig
		want         string
		wantEnforced bool
		wantShadow   string
	}{
		{
			name:         "shadow alone records",
			cfgs:         []RuleConfig{{Name: "s", When: "true", Mode: "shadow"}},
			want:         "s",
			wantEnforced: false,
		},
		{
			name: "shadow ahead of enforce does not change the outcome",
			cfgs: []RuleConfig{
				{Name: "s", When: "true", Mode: "shadow"},
				{Name: "e", When: "true", Mode: "enforce"},
			},
			want: "e", wantEnforced: true, wantShadow: "s",
		},
		{
			name: "first shadow is kept",
			cfgs: []RuleConfig{
				{Name: "s1", When: "true", Mode: "shadow"},
				{Name: "s2", When: "true", Mode: "shadow"},
			},
			want: "s1",
		},
		{
			name: "enforce ahead of shadow",
			cfgs: []RuleConfig{
				{Name: "e", When: "true"},
				{Name: "s", When: "true", Mode: "shadow"},
			},
			want: "e", wantEnforced: true,
		},
		{
			name: "shadow that does not match",
			cfgs: []RuleConfig{
				{Name: "s", When: "false", Mode: "shadow"},
				{Name: "e", When: "true"},
			},
			want: "e", wantEnforced: true,
		},
		{
			name: "allow rule ends evaluation",
			cfgs: []RuleConfig{
				{Name: "ok", When: `cidr("203.0.113.0/24").containsIP(request.ip)`, Action: "allow"},
				{Name: "e", When: "true"},
			},
			want: "ok", wantEnforced: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCompile(t, tt.cfgs...)
			m, ok, err := r.Eval(testInput())
			if err != nil || !ok {
				t.Fatalf("Eval = %+v, %v, %v", m, ok, err)
			}
			if m.Rule.Name != tt.want || m.Enforced != tt.wantEnforced {
				t.Errorf("got %s enforced=%v, want %s enforced=%v", m.Rule.Name, m.Enforced, tt.want, tt.wantEnforced)
			}
			shadow := ""
			if m.Shadow != nil {
				shadow = m.Shadow.Name
			}
			if shadow != tt.wantShadow {
				t.Errorf("Shadow = %q, want %q", shadow, tt.wantShadow)
			}
		})
	}
}
