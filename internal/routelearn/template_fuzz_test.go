package routelearn

import (
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/request"
)

// FuzzTemplate checks, for any path, that its learned template is one the
// config accepts and that the router built from it matches the path it
// came from, and that a suggestion over it loads with config.Load.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"/", "/api/products/42", "/a/{x}/", "/v1/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301/orders/7",
		"/" + strings.Repeat("s/", 20), "/é/ü", "/a b/c%2F", "/.env", "/x/" + strings.Repeat("y", 80)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if len(path) > 2048 || path == "" || path[0] != '/' || strings.Contains(path, "//") {
			return // not learned (Stats.Unlearnable)
		}
		tpl, _ := Template(path)
		if _, _, err := request.ParseTemplate("GET " + tpl); err != nil {
			t.Fatalf("Template(%q) = %q: %v", path, tpl, err)
		}
		r, err := request.NewRouter([]request.Route{{Name: "r", Template: "GET " + tpl}})
		if err != nil {
			t.Fatalf("router for %q: %v", tpl, err)
		}
		if rt, _ := r.Match("GET", path); rt == nil {
			t.Fatalf("template %q does not match its path %q", tpl, path)
		}
		l := New(Options{})
		for range MinRequests {
			l.Observe(Observation{Method: "GET", Path: path, Status: 200})
		}
		s := l.Suggest([]config.Route{{Name: "declared", Match: "GET /declared"}})
		var b strings.Builder
		if err := s.WriteYAML(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse("routes.yaml", []byte(b.String())); err != nil {
			t.Fatalf("suggestion for %q does not load: %v\n%s", path, err, b.String())
		}
	})
}
