package policy

import (
	"net/netip"
	"testing"

	"github.com/abuseguard/abuseguard/internal/request"
)

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
		{"identity.session", `identity.session == "s_0123456789abcdef"`, func(in *Input) { in.View.Identity.Session = "s_0123456789abcdef" }},
		{"identity.session none", `identity.session == ""`, nil},
		{"identity.session is not authenticated", `!identity.authenticated`, func(in *Input) { in.View.Identity = request.Identity{Session: "s_1"} }},
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
