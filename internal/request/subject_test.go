package request

import (
	"testing"
	"time"
)

func TestInferredSubject(t *testing.T) {
	const js, form = "application/json", "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, ct, body, want string
	}{
		{"email beside a password", js, `{"password":"hunter2","email":"ann@example.com"}`, "ann@example.com"},
		{"username beside a password", js, `{"login_name":"ann","password":"12345678"}`, "ann"},
		{"a phone number", js, `{"mobile":"+44 20 7946 0958","channel":"sms"}`, "+44 20 7946 0958"},
		{"the one field", js, `{"voucher":"SUMMER-24"}`, "SUMMER-24"},
		{"the one string field beside numbers", js, `{"cart":12,"token":"AB12CD"}`, "AB12CD"},
		{"a form sign-in", form, "pwd=x&who=ann%40example.com", "ann@example.com"},
		{"a numeric password is no phone", js, `{"user":"bob","password":"5551234567"}`, "bob"},
		{"two fields, neither a secret", js, `{"name":"ann","city":"Oslo"}`, ""},
		{"an order of many fields", js, `{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"x@y.io"}`, ""},
		{"not an object", js, `["ann@example.com"]`, ""},
		{"broken JSON", js, `{"email":"ann@example.com"`, ""},
		{"plain text", "text/plain", "ann@example.com", ""},
		{"an empty body", js, ``, ""},
		{"an @ with no domain", js, `{"handle":"@ann","password":"x"}`, "@ann"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inferredSubject([]byte(tc.body), tc.ct); got != tc.want {
				t.Errorf("inferredSubject(%s) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

// TestParseInfersSubject checks that Parse names the subject of a body no
// route names a field for, and that a route's declared field wins.
func TestParseInfersSubject(t *testing.T) {
	id := NewIdentifier(IdentifierOptions{Secret: []byte("s")})
	router, err := NewRouter([]Route{
		{Name: "login", Template: "POST /login", Kind: "login", Field: "user"},
		{Name: "orders", Template: "POST /orders", Kind: ""},
		{Name: "decoy", Template: "POST /backup", Kind: "decoy"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &Parser{Router: router, Identifier: id}
	body := `{"user":"ann","email":"bob@example.com","password":"x"}`
	for _, tc := range []struct {
		name, method, path, want string
	}{
		{"unrouted", "POST", "/auth/session", "bob@example.com"},
		{"a route with no kind", "POST", "/orders", "bob@example.com"},
		{"the declared field wins", "POST", "/login", "ann"},
		{"a route of another kind", "POST", "/backup", ""},
		{"a GET", "GET", "/auth/session", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{Method: tc.method, Path: tc.path, Target: tc.path, Header: HTTPHeader{"Content-Type": {"application/json"}}, Body: staticBody(body)}
			var v View
			if prob := p.Parse(in, time.Unix(0, 0), &v); prob != nil {
				t.Fatal(prob)
			}
			want := ""
			if tc.want != "" {
				want = id.Pseudonym("s_", tc.want)
			}
			if v.Subject != want {
				t.Errorf("subject %q, want %q (of %q)", v.Subject, want, tc.want)
			}
		})
	}
}

// TestParseInfersGraphQL checks that a request no route says is GraphQL
// is measured when it carries a GraphQL document, and only then.
func TestParseInfersGraphQL(t *testing.T) {
	p := &Parser{}
	deep := `{"query":"{ a { b { c { d } } } }"}`
	for _, tc := range []struct {
		name, method, target, ct, body string
		depth                          int // 0: not GraphQL
	}{
		{"JSON POST", "POST", "/api", "application/json", deep, 4},
		{"application/graphql", "POST", "/q", "application/graphql", "query { a { b } }", 2},
		{"GET ?query=", "GET", "/gql?query=%7Ba%7Bb%7D%7D", "", "", 2},
		{"a search for ?query=shoes", "GET", "/find?query=shoes", "", "", 0},
		{"JSON naming a query that is no GraphQL", "POST", "/search", "application/json", `{"query":"red shoes"}`, 0},
		{"JSON without a query", "POST", "/orders", "application/json", `{"item":"{ a }"}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, q, _ := cutQuery(tc.target)
			in := &Input{Method: tc.method, Path: path, RawQuery: q, Target: tc.target, Header: HTTPHeader{"Content-Type": {tc.ct}}, Body: staticBody(tc.body)}
			var v View
			if prob := p.Parse(in, time.Unix(0, 0), &v); prob != nil {
				t.Fatal(prob)
			}
			if v.GraphQL.Parsed != (tc.depth > 0) || v.GraphQL.Depth != tc.depth {
				t.Errorf("shape %+v, want depth %d", v.GraphQL, tc.depth)
			}
		})
	}
}

func cutQuery(target string) (path, query string, ok bool) {
	for i := 0; i < len(target); i++ {
		if target[i] == '?' {
			return target[:i], target[i+1:], true
		}
	}
	return target, "", false
}

// FuzzInferredSubject feeds bodies to the subject inference: it never
// panics, and what it returns is a value of the body.
func FuzzInferredSubject(f *testing.F) {
	for _, s := range []string{`{"email":"a@b.co","password":"x"}`, `{"code":"X"}`, `{"a":{"b":"c"}}`, `[`, `{"a":"1","b":"2","pass":"3"}`, "who=a%40b.co&pwd=1"} {
		f.Add(s, "application/json")
		f.Add(s, "application/x-www-form-urlencoded")
	}
	f.Fuzz(func(t *testing.T, body, ct string) {
		if len(body) > maxFieldBody {
			return
		}
		got := inferredSubject([]byte(body), ct)
		if len(got) > len(body) {
			t.Fatalf("subject %q longer than the body %q", got, body)
		}
	})
}

// BenchmarkParseSubject compares parsing a sign-in whose route declares
// its field with one whose subject is inferred from the body's shape.
func BenchmarkParseSubject(b *testing.B) {
	router, err := NewRouter([]Route{{Name: "login", Template: "POST /login", Kind: "login", Field: "username"}})
	if err != nil {
		b.Fatal(err)
	}
	p := &Parser{Router: router, Identifier: NewIdentifier(IdentifierOptions{Secret: []byte("s")})}
	body := staticBody(`{"username":"user123","password":"correct-horse-123"}`)
	for _, bc := range []struct{ name, path string }{{"declared field", "/login"}, {"inferred", "/auth/session"}} {
		b.Run(bc.name, func(b *testing.B) {
			in := &Input{Method: "POST", Path: bc.path, Target: bc.path, Header: HTTPHeader{"Content-Type": {"application/json"}}, Body: body}
			var v View
			b.ReportAllocs()
			for b.Loop() {
				v = View{}
				if prob := p.Parse(in, time.Unix(0, 0), &v); prob != nil || v.Subject == "" {
					b.Fatal(prob, v.Subject)
				}
			}
		})
	}
}
