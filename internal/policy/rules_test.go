package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"cel.dev/cel-go/common/types"

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

func TestVariablesReadable(t *testing.T) {
	tests := []struct {
		name string
		when string
		edit func(*Input) // applied to testInput before evaluation
	}{
		{"request.method", `request.method == "POST"`, nil},
		{"request.path", `request.path == "/v1/login"`, nil},
		{"request.query", `request.query == "next=%2Fhome&x=1"`, nil},
		{"request.host", `request.host == "api.example.com"`, nil},
		{"request.route", `request.route == "login"`, nil},
		{"request.route without route", `request.route == "" && request.route_kind == ""`, func(in *Input) { in.View.Route = nil }},
		{"request.route_kind", `request.route_kind == "login"`, nil},
		{"request.param", `request.param == "42"`, nil},
		{"request.user_agent", `request.user_agent.startsWith("Mozilla/")`, nil},
		{"request.ip", `request.ip == "203.0.113.7"`, nil},
		{"request.ip v6", `request.ip == "2001:db8::1"`, func(in *Input) { in.View.ClientIP = netip.MustParseAddr("2001:db8::1") }},
		{"request.ip unknown", `request.ip == ""`, func(in *Input) { in.View.ClientIP = netip.Addr{} }},
		{"request.fingerprint", `request.fingerprint == "f_0123456789abcdef"`, nil},
		{"request.browser", `request.browser`, nil},
		{"request.browser false", `!request.browser`, func(in *Input) { in.View.Hints = 0 }},
		{"request.has_accept_language", `request.has_accept_language`, nil},
		{"request.has_accept_encoding", `!request.has_accept_encoding`, nil},
		{"request.has_referer", `request.has_referer`, nil},
		{"request.has_fetch_metadata", `request.has_fetch_metadata`, func(in *Input) { in.View.Hints |= request.FetchMetadata }},
		{"identity.key", `identity.key == "k_live_1"`, nil},
		{"identity.user", `identity.user == "alice"`, nil},
		{"identity.tenant", `identity.tenant == "acme"`, nil},
		{"identity.plan", `identity.plan == "free"`, nil},
		{"identity.scopes", `identity.scopes == ["read", "write"] && "write" in identity.scopes && size(identity.scopes) == 2`, nil},
		{"identity.scopes empty", `identity.scopes == []`, func(in *Input) { in.View.Identity.Scopes = nil }},
		{"identity.authenticated key", `identity.authenticated`, func(in *Input) { in.View.Identity.User = "" }},
		{"identity.authenticated user", `identity.authenticated`, func(in *Input) { in.View.Identity.KeyID = "" }},
		{"identity.authenticated none", `!identity.authenticated`, func(in *Input) { in.View.Identity = request.Identity{} }},
		{"score", `score == 62.5 && score > 50 && score < 63`, nil},
		{"signals sums by detector", `signals["probing"] == 12.5 && signals["stuffing"] == 5.0`, nil},
		{"signals in", `"probing" in signals && !("flood" in signals)`, nil},
		{"signals has", `has(signals.probing) && !has(signals.flood)`, nil},
		{"signals size", `size(signals) == 2`, nil},
		{"signals exists", `signals.exists(d, d == "stuffing" && signals[d] > 4.0)`, nil},
		{"signals all", `signals.all(d, d in ["probing", "stuffing"])`, nil},
		{"signals optional", `signals[?"flood"].orValue(0.0) == 0.0 && signals[?"probing"].hasValue()`, nil},
		{"signals equal", `signals == {"probing": 12.5, "stuffing": 5.0} && signals != {"probing": 12.5}`, nil},
		{"signals empty", `signals == {} && size(signals) == 0`, func(in *Input) { in.Signals = nil }},
		{"limited", `limited == "login-per-ip"`, nil},
		{"limited none", `limited == ""`, func(in *Input) { in.Limited = "" }},
		{"nil view", `request.path == "" && request.ip == "" && !identity.authenticated`, func(in *Input) { in.View = nil }},
		{"strings extension", `request.user_agent.contains("Linux") && request.path.indexOf("login") == 4 && request.method.lowerAscii() == "post" && "a,b".split(",") == ["a", "b"]`, nil},
		{"network extension", `cidr("203.0.113.0/24").containsIP(request.ip) && !cidr("198.51.100.0/24").containsIP(ip(request.ip))`, nil},
		{"regex", `request.path.matches("^/v[0-9]+/login$")`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCompile(t, RuleConfig{When: tt.when})
			in := testInput()
			if tt.edit != nil {
				tt.edit(in)
			}
			m, ok, err := r.Eval(in)
			if err != nil {
				t.Fatalf("Eval error: %v", err)
			}
			if !ok || m.Rule.Name != "r0" || !m.Enforced {
				t.Fatalf("%s: got %+v, %v; want an enforced match", tt.when, m, ok)
			}
		})
	}
}

// TestEveryVariableDeclared guards the two lists that must agree: the
// declarations and the name switch.
func TestEveryVariableDeclared(t *testing.T) {
	for i, v := range variables {
		if v.name == "" || slotOf(v.name) != i {
			t.Errorf("variable %d %q: slotOf = %d", i, v.name, slotOf(v.name))
		}
	}
	if slotOf("request") != -1 || slotOf("nope") != -1 {
		t.Error("slotOf resolves undeclared names")
	}
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
	if a.Index != 0 || a.Action != "challenge" || a.Scope != verdict.ScopePrefix || a.TTL != time.Minute || a.Reason != "bad_bot" || a.Mode != "enforce" || a.When != "score > 10.0" {
		t.Errorf("rule a = %+v", a)
	}
	if b.Index != 1 || b.Scope != 0 || b.Reason != "rule" || b.Mode != "shadow" {
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

func TestCanary(t *testing.T) {
	tests := []struct {
		name    string
		scope   string
		pct     float64
		setView func(v *request.View, i int)
	}{
		{"subject ip", "", 30, func(v *request.View, i int) {
			v.Identity = request.Identity{}
			v.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		}},
		{"subject key", "", 10, func(v *request.View, i int) { v.Identity.KeyID = fmt.Sprintf("key-%d", i) }},
		{"user", "user", 50, func(v *request.View, i int) { v.Identity.User = fmt.Sprintf("user-%d", i) }},
		{"fingerprint", "fingerprint", 25, func(v *request.View, i int) { v.Fingerprint = request.Fingerprint(uint64(i) * 0x9E3779B97F4A7C15) }},
		{"prefix", "prefix", 40, func(v *request.View, i int) {
			v.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		}},
		{"ip v6", "ip", 20, func(v *request.View, i int) {
			v.ClientIP = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCompile(t, RuleConfig{Name: "c", When: "true", Scope: tt.scope, Mode: "canary", CanaryPercent: tt.pct})
			const n = 1000
			enforced := 0
			for i := range n {
				in := testInput()
				tt.setView(in.View, i)
				m, ok, err := r.Eval(in)
				if err != nil || !ok || m.Rule.Name != "c" {
					t.Fatalf("Eval = %+v, %v, %v", m, ok, err)
				}
				for range 3 { // the same entity lands the same way every time
					again, _, _ := r.Eval(in)
					if again.Enforced != m.Enforced {
						t.Fatalf("entity %d: canary not deterministic", i)
					}
				}
				if tt.scope == "prefix" { // the cohort is by /24: a neighbour lands the same way
					a := in.View.ClientIP.As4()
					a[3] = 200
					in.View.ClientIP = netip.AddrFrom4(a)
					if n, _, _ := r.Eval(in); n.Enforced != m.Enforced {
						t.Fatalf("entity %d: canary split a /24", i)
					}
				}
				if m.Enforced {
					enforced++
				}
			}
			want := tt.pct / 100 * n
			if d := float64(enforced) - want; d < -0.25*want || d > 0.25*want {
				t.Errorf("canary %v%% enforced for %d of %d entities", tt.pct, enforced, n)
			}
		})
	}
}

func TestAppendFingerprintMatchesString(t *testing.T) {
	for _, f := range []request.Fingerprint{0, 1, 0x0123456789abcdef, ^request.Fingerprint(0)} {
		if got, want := string(appendFingerprint(nil, f)), f.String(); got != want {
			t.Errorf("appendFingerprint(%#x) = %q, want %q", uint64(f), got, want)
		}
	}
}

func TestCanaryRampKeepsCohort(t *testing.T) {
	// Raising canary_percent only adds entities: the 10% cohort stays in
	// at 30%, because the threshold grows and the hash does not change.
	r10 := mustCompile(t, RuleConfig{Name: "c", When: "true", Mode: "canary", CanaryPercent: 10, Scope: "user"})
	r30 := mustCompile(t, RuleConfig{Name: "c", When: "true", Mode: "canary", CanaryPercent: 30, Scope: "user"})
	full := mustCompile(t, RuleConfig{Name: "c", When: "true", Mode: "canary", CanaryPercent: 100, Scope: "user"})
	for i := range 500 {
		in := testInput()
		in.View.Identity.User = fmt.Sprintf("u%d", i)
		a, _, _ := r10.Eval(in)
		b, _, _ := r30.Eval(in)
		c, _, _ := full.Eval(in)
		if a.Enforced && !b.Enforced {
			t.Fatalf("user %d in the 10%% canary but not the 30%% one", i)
		}
		if !c.Enforced {
			t.Fatalf("user %d outside a 100%% canary", i)
		}
	}
}

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

func TestRuntimeErrors(t *testing.T) {
	huge := make([]string, 50000)
	for i := range huge {
		huge[i] = fmt.Sprint("scope", i)
	}
	tests := []struct {
		name    string
		when    string
		edit    func(*Input)
		wantErr string
	}{
		{
			// The estimate assumes at most 64 scopes; a token carrying
			// 50,000 is stopped by the runtime limit, not by a panic.
			name:    "cost limit on a large runtime list",
			when:    `identity.scopes.exists(s, s == "admin")`,
			edit:    func(in *Input) { in.View.Identity.Scopes = huge },
			wantErr: "cost limit exceeded",
		},
		{
			name:    "cost limit on a list built at runtime",
			when:    `identity.scopes.map(s, s + "!").exists(s, s == "admin!")`,
			edit:    func(in *Input) { in.View.Identity.Scopes = huge },
			wantErr: "cost limit exceeded",
		},
		{
			// Accepted because param is estimated at 256 characters at
			// most; an oversized one runs under the runtime limit.
			name:    "cost limit on a list split from an oversized input",
			when:    `request.param.split(",").exists(s, s == "admin")`,
			edit:    func(in *Input) { in.View.Param = strings.Repeat("a,", 30000) },
			wantErr: "cost limit exceeded",
		},
		{
			name:    "cost limit on a huge string",
			when:    `request.user_agent.lowerAscii().contains("bot")`,
			edit:    func(in *Input) { in.View.UserAgent = strings.Repeat("A", 1<<20) },
			wantErr: "cost limit exceeded",
		},
		{
			name:    "missing map key",
			when:    `signals["flood"] > 1.0`,
			wantErr: "no such key",
		},
		{
			name:    "bad runtime ip",
			when:    `cidr("10.0.0.0/8").containsIP(request.param)`,
			wantErr: "parse error",
		},
		{
			name:    "integer overflow",
			when:    `int(score) * 9223372036854775807 > 0`,
			wantErr: "overflow",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCompile(t, RuleConfig{Name: "bad", When: tt.when}, RuleConfig{Name: "next", When: "true", Mode: "shadow"})
			in := testInput()
			if tt.edit != nil {
				tt.edit(in)
			}
			m, ok, err := r.Eval(in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var ee *EvalError
			if !errors.As(err, &ee) || ee.Rule != "bad" {
				t.Errorf("err %v is not an *EvalError for rule bad", err)
			}
			if !ok || m.Rule.Name != "next" {
				t.Errorf("the failing rule was not skipped: %+v, %v", m, ok)
			}
		})
	}
}

func TestRuntimeErrorsJoined(t *testing.T) {
	r := mustCompile(t,
		RuleConfig{When: `signals["a"] > 1.0`},
		RuleConfig{When: `signals["b"] > 1.0`},
	)
	_, ok, err := r.Eval(testInput())
	if ok {
		t.Fatal("matched")
	}
	var ee *EvalError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "rule r0") || !strings.Contains(err.Error(), "rule r1") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmpty(t *testing.T) {
	var nilRules *Rules
	if nilRules.Len() != 0 {
		t.Fatal("nil Len")
	}
	if _, ok, err := nilRules.Eval(testInput()); ok || err != nil {
		t.Fatal("nil rules matched")
	}
	r, errs := Compile(nil)
	if errs != nil || r.Len() != 0 {
		t.Fatalf("Compile(nil) = %v, %v", r, errs)
	}
	if _, ok, err := mustCompile(t, RuleConfig{When: "true"}).Eval(nil); ok || err != nil {
		t.Fatal("nil input matched")
	}
}

func TestConcurrentEval(t *testing.T) {
	r := mustCompile(t, benchRules()...)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				in := benchInput()
				in.Score = float64((g*500 + i) % 100)
				in.View.Route.Kind = "login"
				m, ok, err := r.Eval(in)
				if err != nil {
					t.Error(err)
					return
				}
				if want := in.Score > 50; ok != want || ok && m.Rule.Name != "login-risk" {
					t.Errorf("score %v: got %+v, %v", in.Score, m, ok)
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchRules are five typical rules; the test input matches none of them
// unless edited, so Eval runs all five.
func benchRules() []RuleConfig {
	return []RuleConfig{
		{Name: "login-risk", When: `request.route_kind == "login" && score > 50`, Action: "challenge"},
		{Name: "admin-anon", When: `request.path.startsWith("/admin") && !identity.authenticated`, Action: "block"},
		{Name: "probing", When: `"probing" in signals`, Action: "block", TTL: 10 * time.Minute},
		{Name: "free-export", When: `identity.plan == "free" && request.route == "export"`, Action: "throttle"},
		{Name: "bad-net", When: `cidr("203.0.113.0/24").containsIP(request.ip)`, Action: "block", Scope: "prefix"},
	}
}

// benchInput matches none of benchRules.
func benchInput() *Input {
	in := testInput()
	in.View.ClientIP = netip.MustParseAddr("198.51.100.9")
	in.View.Route = &request.Route{Name: "items", Kind: ""}
	in.View.Path = "/v1/items/42"
	in.Signals = []detect.Signal{{Detector: "scraping", Weight: 3}}
	return in
}

func BenchmarkEval(b *testing.B) {
	r := mustCompile(b, benchRules()...)
	in := benchInput()
	if _, ok, err := r.Eval(in); ok || err != nil {
		b.Fatalf("bench input matched or failed: %v %v", ok, err)
	}
	b.Run("activation", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Eval(in)
		}
	})
	b.Run("activation-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.Eval(in)
			}
		})
	})
	// Every rule under the runtime cost tracker, as Eval runs inputs over
	// the estimate's size bounds.
	b.Run("cost-tracked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a := activations.Get().(*activation)
			a.reset(in)
			for _, rule := range r.rules {
				out, _, _ := rule.limited.Eval(a)
				_ = out == types.True
			}
			a.release()
		}
	})
	// The obvious alternative: a map of every variable built per request
	// and passed to each program.
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vars := mapActivation(in)
			for _, rule := range r.rules {
				out, _, _ := rule.fast.Eval(vars)
				_ = out == types.True
			}
		}
	})
}

func mapActivation(in *Input) map[string]any {
	v := in.View
	signals := map[string]float64{}
	for _, s := range in.Signals {
		signals[s.Detector] += s.Weight
	}
	route, kind := "", ""
	if v.Route != nil {
		route, kind = v.Route.Name, v.Route.Kind
	}
	return map[string]any{
		"request.method": v.Method, "request.path": v.Path, "request.query": v.Query, "request.host": v.Host,
		"request.route": route, "request.route_kind": kind, "request.param": v.Param,
		"request.user_agent": v.UserAgent, "request.ip": v.ClientIP.String(), "request.fingerprint": v.Fingerprint.String(),
		"request.browser": v.Hints.Has(request.ClaimsBrowser), "request.has_accept_language": v.Hints.Has(request.AcceptLanguage),
		"request.has_accept_encoding": v.Hints.Has(request.AcceptEncoding), "request.has_referer": v.Hints.Has(request.Referer),
		"request.has_fetch_metadata": v.Hints.Has(request.FetchMetadata),
		"identity.key":               v.Identity.KeyID, "identity.user": v.Identity.User, "identity.tenant": v.Identity.Tenant,
		"identity.plan": v.Identity.Plan, "identity.scopes": v.Identity.Scopes,
		"identity.authenticated": v.Identity.KeyID != "" || v.Identity.User != "",
		"score":                  in.Score, "signals": signals, "limited": in.Limited,
	}
}

// TestMapActivationAgrees checks the benchmark's alternative computes the
// same answers, so the comparison is fair.
func TestMapActivationAgrees(t *testing.T) {
	r := mustCompile(t, benchRules()...)
	for _, in := range []*Input{testInput(), benchInput()} {
		vars := mapActivation(in)
		for _, rule := range r.rules {
			want, _, err1 := rule.fast.Eval(vars)
			a := activations.Get().(*activation)
			a.reset(in)
			got, _, err2 := rule.fast.Eval(a)
			tracked, _, err3 := rule.limited.Eval(a)
			a.release()
			if err1 != nil || err2 != nil || err3 != nil || want != got || want != tracked {
				t.Errorf("%s: map %v (%v), activation %v (%v), cost-tracked %v (%v)", rule.Name, want, err1, got, err2, tracked, err3)
			}
		}
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

func TestWithinBounds(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Input)
		want bool
	}{
		{"typical", nil, true},
		{"largest", func(in *Input) { *in = *maxInput() }, true},
		{"long path", func(in *Input) { in.View.Path = strings.Repeat("a", maxURLString+1) }, false},
		{"long query", func(in *Input) { in.View.Query = strings.Repeat("a", maxURLString+1) }, false},
		{"long user agent", func(in *Input) { in.View.UserAgent = strings.Repeat("a", maxUserAgent+1) }, false},
		{"long param", func(in *Input) { in.View.Param = strings.Repeat("a", maxShortString+1) }, false},
		{"long host", func(in *Input) { in.View.Host = strings.Repeat("a", maxShortString+1) }, false},
		{"many scopes", func(in *Input) { in.View.Identity.Scopes = make([]string, maxScopes+1) }, false},
		{"long scope", func(in *Input) { in.View.Identity.Scopes = []string{strings.Repeat("a", maxShortString+1)} }, false},
		{"many signals", func(in *Input) { in.Signals = make([]detect.Signal, maxSignals+1) }, false},
		{"nil view", func(in *Input) { in.View = nil }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testInput()
			if tt.edit != nil {
				tt.edit(in)
			}
			a := activations.Get().(*activation)
			a.reset(in)
			defer a.release()
			if got := a.withinBounds(); got != tt.want {
				t.Errorf("withinBounds = %v, want %v", got, tt.want)
			}
		})
	}
}
