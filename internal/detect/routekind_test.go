package detect

import (
	"strings"
	"testing"
)

// TestInferKindBodyFields checks that body field names alone say what a
// route is: an email and a password make a login, a code a verify, a
// query a GraphQL endpoint; a name beside them a signup; and that the
// same fields on a GET weigh less than a post's.
func TestInferKindBodyFields(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		fields             []string
		status             int
		want               string
	}{
		{"email and password", "POST", "/v3/a1", []string{"email", "password"}, 200, KindLogin},
		{"username and password with a 401", "POST", "/x", []string{"Username", "password"}, 401, KindLogin},
		{"profile fields make a signup", "POST", "/x", []string{"email", "password", "name"}, 201, KindSignup},
		{"a voucher", "POST", "/cart/apply", []string{"voucher"}, 422, KindVerify},
		{"an otp", "POST", "/step2", []string{"otp"}, 200, KindVerify},
		{"a coupon beats a refusal", "POST", "/apply", []string{"coupon"}, 403, KindVerify},
		{"graphql", "POST", "/api", []string{"query", "variables"}, 200, KindGraphQL},
		{"reset by words", "POST", "/password/reset", []string{"email"}, 200, KindReset},
		{"nothing telling", "POST", "/orders", []string{"sku", "qty"}, 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := KindEvidence{Method: tc.method, Words: PathWordsOf(tc.path)}
			for range 10 {
				e.N++
				e.Status.Add(tc.status)
				for _, f := range tc.fields {
					if c, _ := ClassifyField(f); c != FieldOther {
						e.Fields.Counts[c]++
						e.Fields.Names[c] = strings.ToLower(f)
					}
				}
			}
			e.Fields.Distinct = len(tc.fields)
			inf := SuggestKind(&e)
			if inf.Kind != tc.want {
				best, conf := InferKind(&e)
				t.Fatalf("suggested %q (%+v; best %q %v), want %q", inf.Kind, inf, best, conf, tc.want)
			}
			if tc.want != "" && !strings.Contains(strings.Join(inf.Evidence, ";"), "body fields") && tc.want != KindReset {
				t.Errorf("evidence %v names no body field", inf.Evidence)
			}
			e.Method = "GET"
			if got := SuggestKind(&e); tc.want != "" && tc.want != KindGraphQL && got.Kind == tc.want && got.Confidence >= inf.Confidence {
				t.Errorf("on GET: %+v, want less sure than %.2f", got, inf.Confidence)
			}
		})
	}
}

func TestPathWordsOf(t *testing.T) {
	for _, tc := range []struct {
		path string
		want []string
		pass bool
	}{
		{"/api/v1/Auth/Login", []string{KindLogin}, false},
		{"/users/123/password-reset", []string{KindReset}, true},
		{"/wp-login.php", []string{KindLogin, KindDecoy}, false}, // "login" is a part of it
		{"/promo/{id}/redeem", []string{KindVerify}, false},
		{"/graphql", []string{KindGraphQL}, false},
		{"/users/sign_in", []string{KindLogin}, false}, // Devise's spellings, joined
		{"/account/log-in", []string{KindLogin}, false},
		{"/users/sign_up", []string{KindSignup}, false},
		{"/sign/in", nil, false}, // joined within a segment only
		{"/orders/8f14e45fceea167a5a36dedd4bea2543", nil, false},
	} {
		pw := PathWordsOf(tc.path)
		var got []string
		for i, k := range routeKinds {
			if pw.Kinds&(1<<i) != 0 {
				got = append(got, k)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") || pw.Password != tc.pass {
			t.Errorf("PathWordsOf(%q) = %v password %v, want %v %v", tc.path, got, pw.Password, tc.want, tc.pass)
		}
	}
}

func BenchmarkInferKind(b *testing.B) {
	e := KindEvidence{Method: "POST", Words: PathWordsOf("/v1/session"), N: 100}
	e.Status.OK, e.Status.Denied = 80, 20
	e.Fields.Counts[FieldUser], e.Fields.Counts[FieldSecret] = 100, 100
	b.ReportAllocs()
	for b.Loop() {
		InferKind(&e)
	}
}
