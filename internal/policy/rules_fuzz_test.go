package policy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCompile feeds arbitrary `when` expressions to Compile. It must not
// panic; an error in the expression must carry a position that lies inside
// it; and a rule that compiles must evaluate without an internal error
// (cel-go turns panics in evaluation, ours included, into those).
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`request.route_kind == "login" && score > 50`,
		`request.path.startsWith("/admin") && !identity.authenticated`,
		`"probing" in signals`,
		`identity.plan == "free" && request.route == "export"`,
		`cidr("203.0.113.0/24").containsIP(request.ip)`,
		`signals.exists(d, signals[d] > 10.0) || signals[?"flood"].orValue(0.0) > 1.0`,
		`request.user_agent.matches("(?i)curl|python") && size(identity.scopes) == 0`,
		"score >\n  ",
		`request.foo`,
		`1 + `,
		`"unterminated`,
		`cidr("300.0.0.0/8").containsIP(request.ip)`,
		`request.path.matches("(")`,
		`identity.scopes.all(a, identity.scopes.all(b, a == b))`,
		`((((((((((true))))))))))`,
		"\xff\xfe",
		``,
		`score`,
		`[1, 2].map(x, x * 2).size() == 2 && limited != "" && request.fingerprint.startsWith("f_")`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, when string) {
		if len(when) > 2<<10 {
			return
		}
		rules, errs := Compile([]RuleConfig{{Name: "fuzz", When: when, Action: "block"}})
		lines := strings.Split(when, "\n")
		for _, e := range errs {
			if e.Rule != 0 {
				t.Fatalf("error for rule %d: %v", e.Rule, e)
			}
			if e.Field != "when" {
				t.Fatalf("error outside when: %v", e)
			}
			if e.Line < 1 || e.Col < 1 {
				t.Fatalf("%q: error without a position: %v", when, e)
			}
			if e.Line > len(lines) {
				t.Fatalf("%q: error on line %d of %d: %v", when, e.Line, len(lines), e)
			}
			if n := utf8.RuneCountInString(lines[e.Line-1]); e.Col > n+1 {
				t.Fatalf("%q: error at column %d of a %d-character line: %v", when, e.Col, n, e)
			}
			if e.Msg == "" {
				t.Fatalf("%q: error without a message", when)
			}
		}
		if errs != nil {
			if rules != nil {
				t.Fatal("rules returned along with errors")
			}
			return
		}
		for _, in := range []*Input{testInput(), maxInput(), {}} {
			_, _, err := rules.Eval(in)
			if err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatalf("%q: %v", when, err)
			}
		}
	})
}
