package detect

import (
	"strings"
	"testing"
)

// TestInferKindSignupByAnswers checks the signup clue of status
// semantics: a post to a collection naming an email, answered 201
// Created (an account made) or 409 Conflict (it exists), is a signup
// even without a kind word or profile fields; the same body answered 200
// or 204 is a reset (an email alone); a 201 on a route with an identifier
// or without a user field, or beside a password that is refused, is not.
func TestInferKindSignupByAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		fields     []string
		status     func(i int) int
		want       string
	}{
		{"created, a few taken", "/api/v3/accounts", []string{"email"}, func(i int) int {
			if i%6 == 5 {
				return 409
			}
			return 201
		}, KindSignup},
		{"all taken", "/members", []string{"email"}, func(int) int { return 409 }, KindSignup},
		{"answered 204", "/members", []string{"email"}, func(int) int { return 204 }, KindReset},
		{"created under an id", "/lists/123/members", []string{"email"}, func(int) int { return 201 }, ""},
		{"an order created", "/orders", []string{"sku", "qty"}, func(int) int { return 201 }, ""},
		{"a sign-in that answers 201 and refuses", "/auth", []string{"email", "password"}, func(i int) int {
			if i%2 == 0 {
				return 401
			}
			return 201
		}, KindLogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := KindEvidence{Method: "POST", Words: PathWordsOf(tc.path), HasID: strings.Contains(tc.path, "123")}
			for i := range 12 {
				e.N++
				e.Status.Add(tc.status(i))
				for _, f := range tc.fields {
					if c, _ := ClassifyField(f); c != FieldOther {
						e.Fields.Counts[c]++
						e.Fields.Names[c] = f
					}
				}
			}
			e.Fields.Distinct = len(tc.fields)
			best, conf := InferKind(&e)
			if tc.want == "" {
				if best == KindSignup {
					t.Fatalf("best %q %v, want no signup", best, conf)
				}
				return
			}
			if best != tc.want {
				t.Fatalf("best %q %v, want %q", best, conf, tc.want)
			}
			if inf := SuggestKind(&e); tc.want == KindSignup && (inf.Kind != KindSignup || !strings.Contains(strings.Join(inf.Evidence, ";"), "accounts created")) {
				t.Errorf("suggested %+v, want a signup with the answers as evidence", inf)
			}
		})
	}
}
