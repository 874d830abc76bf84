package request

import (
	"strings"
	"testing"
)

func testRouter(t *testing.T) *Router {
	t.Helper()
	r, err := NewRouter([]Route{
		{Name: "list-users", Template: "GET /v1/users"},
		{Name: "get-user", Template: "GET /v1/users/{id}"},
		{Name: "me", Template: "GET /v1/users/me"},
		{Name: "update-user", Template: "PUT /v1/users/{id}"},
		{Name: "user-any", Template: "/v1/users/{id}"},
		{Name: "orders", Template: "GET /v1/users/{id}/orders/{order}"},
		{Name: "assets", Template: "GET /static/{file...}"},
		{Name: "root", Template: "GET /"},
		{Name: "slash", Template: "GET /v2/items/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRouterMatch(t *testing.T) {
	r := testRouter(t)
	tests := []struct{ method, path, want, param string }{
		{"GET", "/v1/users", "list-users", ""},
		{"GET", "/v1/users/42", "get-user", "42"},
		{"GET", "/v1/users/me", "me", ""},
		{"PUT", "/v1/users/42", "update-user", "42"},
		{"DELETE", "/v1/users/42", "user-any", "42"},
		{"GET", "/v1/users/42/orders/7", "orders", "7"},
		{"GET", "/static/css/site.css", "assets", "css/site.css"},
		{"GET", "/static/", "", ""},
		{"GET", "/", "root", ""},
		{"POST", "/", "", ""},
		{"GET", "/v2/items/", "slash", ""},
		{"GET", "/v2/items", "", ""},
		{"GET", "/v1/users/", "", ""},
		{"GET", "/nope", "", ""},
		{"GET", "", "", ""},
		{"GET", "relative", "", ""},
	}
	for _, tt := range tests {
		got, param := r.Match(tt.method, tt.path)
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != tt.want || param != tt.param {
			t.Errorf("Match(%s %s) = %q, %q; want %q, %q", tt.method, tt.path, name, param, tt.want, tt.param)
		}
	}
}

func TestRouterBacktracks(t *testing.T) {
	r, err := NewRouter([]Route{
		{Name: "a", Template: "GET /x/static/y"},
		{Name: "b", Template: "GET /x/{p}/z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Match("GET", "/x/static/z"); got == nil || got.Name != "b" {
		t.Fatalf("Match = %v, want b", got)
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"GET v1", "must start with /"},
		{"get /v1", "invalid method"},
		{"/a//b", "empty segment"},
		{"/a/{id", "parameter is a whole segment"},
		{"/a/x{id}", "parameter is a whole segment"},
		{"/a/{1d}", "parameter is a whole segment"},
		{"/a/{rest...}/b", "must be the last"},
		{"/a/{id}/{id}", "appears twice"},
	} {
		_, _, err := ParseTemplate(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTemplate(%q) = %v, want error containing %q", tt.in, err, tt.want)
		}
	}
}

func TestNewRouterConflict(t *testing.T) {
	_, err := NewRouter([]Route{{Name: "a", Template: "GET /u/{id}"}, {Name: "b", Template: "GET /u/{name}"}})
	if err == nil || !strings.Contains(err.Error(), `same method and path as route "a"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRouterMatchAllocs(t *testing.T) {
	r := testRouter(t)
	if n := testing.AllocsPerRun(100, func() { r.Match("GET", "/v1/users/42/orders/7") }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

func FuzzRouteTemplate(f *testing.F) {
	f.Add("GET /v1/users/{id}", "/v1/users/42")
	f.Add("/static/{f...}", "/static/a/b")
	f.Add("* /", "/")
	f.Add("POST /{a}/{b}/", "//")
	f.Fuzz(func(t *testing.T, tmpl, path string) {
		if len(tmpl)+len(path) > 2048 {
			t.Skip()
		}
		r, err := NewRouter([]Route{{Name: "r", Template: tmpl}})
		if err != nil {
			return
		}
		// A template with no parameters matches its own path.
		_, segs, _ := ParseTemplate(tmpl)
		literal := "/" + strings.Join(segs, "/")
		if !strings.ContainsAny(literal, "{}") {
			if rt, _ := r.Match("GET", literal); rt == nil {
				method, _, _ := ParseTemplate(tmpl)
				if rt, _ := r.Match(method, literal); rt == nil {
					t.Fatalf("template %q does not match its own path %q", tmpl, literal)
				}
			}
		}
		r.Match("GET", path)
	})
}
