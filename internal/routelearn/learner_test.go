package routelearn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/sample"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func TestTemplate(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"/", "/"},
		{"/api/products", "/api/products"},
		{"/api/products/42", "/api/products/{id}"},
		{"/api/products/42/reviews/7", "/api/products/{id}/reviews/{id2}"},
		{"/v1/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301", "/v1/users/{id}"},
		{"/v1/blobs/deadbeef00", "/v1/blobs/{id}"},
		{"/v1/items/blue-shirt-2", "/v1/items/{id}"},
		{"/v1/items/blue-shirt", "/v1/items/blue-shirt"},
		{"/a/{x}", "/a/{id}"},
		{"/a/", "/a/"},
		{"/" + strings.Repeat("s/", 20), "/" + strings.Repeat("s/", 15) + "{rest...}"},
	} {
		if got, _ := Template(tt.path); got != tt.want {
			t.Errorf("Template(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// shopTraffic sends a mixed population's requests to the sample shop and
// feeds each answered request, with its body's field names, to l.
func shopTraffic(t *testing.T, l *Learner) {
	t.Helper()
	api := sample.New(sample.Options{Seed: 1})
	rng := rand.New(rand.NewPCG(3, 4))
	do := func(method, path string, body map[string]string) {
		var rd *bytes.Reader
		var fields []string
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
			for k := range body {
				fields = append(fields, k)
			}
		} else {
			rd = bytes.NewReader(nil)
		}
		r := httptest.NewRequest(method, path, rd)
		if body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		p, q, _ := strings.Cut(path, "?")
		l.Observe(Observation{Method: method, Path: p, Query: q, Status: w.Code, Fields: fields})
	}
	for i := range 2000 {
		switch r := rng.IntN(100); {
		case r < 45:
			do("GET", fmt.Sprintf("/api/products/%d", 1+rng.IntN(1200)), nil) // some do not exist: 404
		case r < 55:
			do("GET", "/api/products?page="+fmt.Sprint(1+rng.IntN(9)), nil)
		case r < 65:
			do("GET", "/api/search?q=lamp"+fmt.Sprint(rng.IntN(9)), nil)
		case r < 75:
			u := 1 + rng.IntN(500)
			pw := fmt.Sprintf("correct-horse-%d", u)
			if rng.IntN(4) == 0 {
				pw = "wrong"
			}
			do("POST", "/api/login", map[string]string{"username": fmt.Sprintf("user%d", u), "password": pw})
		case r < 80:
			do("POST", "/api/signup", map[string]string{"email": fmt.Sprintf("new%d@example.com", i), "password": "pw", "name": "N"})
		case r < 84:
			do("POST", "/api/password-reset", map[string]string{"email": fmt.Sprintf("user%d@example.com", 1+rng.IntN(700))})
		case r < 90:
			do("POST", "/api/promo/redeem", map[string]string{"code": fmt.Sprintf("CODE%d", rng.IntN(50))})
		case r < 96:
			do("POST", "/graphql", map[string]string{"query": "{ product(id: 1) { name } }"})
		case r < 98:
			do("GET", []string{"/.env", "/wp-login.php", "/.git/config"}[rng.IntN(3)], nil)
		default:
			do("GET", fmt.Sprintf("/old-page-%d.html", rng.IntN(400)), nil) // one-off 404s
		}
	}
}

func TestSuggestSampleShop(t *testing.T) {
	l := New(Options{})
	shopTraffic(t, l)
	declared := []config.Route{{Name: "product", Match: "GET /api/products/{id}"}}
	s := l.Suggest(declared)
	if len(s.Kept) != 1 || s.Kept[0].Requests < 700 {
		t.Fatalf("kept %+v, want the declared product route with its ~900 requests", s.Kept)
	}
	got := map[string]Suggested{}
	for _, r := range s.Routes {
		got[r.Route.Match] = r
		if r.Route.Match == "GET /api/products/{id}" {
			t.Errorf("a declared route was suggested again: %+v", r)
		}
	}
	for match, want := range map[string]struct{ kind, field string }{
		"POST /api/login":          {KindLogin, "username"},
		"POST /api/signup":         {KindSignup, "email"},
		"POST /api/password-reset": {KindReset, "email"},
		"POST /api/promo/redeem":   {KindVerify, "code"},
		"POST /graphql":            {KindGraphQL, ""},
		"GET /api/search":          {KindSearch, ""},
		"GET /.env":                {KindDecoy, ""},
		"GET /api/products":        {"", ""},
	} {
		r, ok := got[match]
		if !ok {
			t.Errorf("%s not suggested", match)
			continue
		}
		if r.Kind != want.kind || r.Route.Field != want.field {
			t.Errorf("%s: kind %q field %q (confidence %.2f, %v), want %q %q", match, r.Kind, r.Route.Field, r.Confidence, r.Evidence, want.kind, want.field)
		}
		if want.kind != "" && (r.Confidence < minConfidence || len(r.Evidence) == 0) {
			t.Errorf("%s: confidence %.2f, evidence %v", match, r.Confidence, r.Evidence)
		}
	}
	if r := got["POST /api/login"]; !strings.Contains(strings.Join(r.Evidence, ";"), "401/403") {
		t.Errorf("login evidence lacks its refused credentials: %v", r.Evidence)
	}
	for m := range got {
		if strings.HasPrefix(m, "GET /old-page") {
			t.Errorf("a one-off 404 was suggested: %s", m)
		}
	}
	if s.Left == 0 {
		t.Error("nothing left out, yet one-off 404s were sent")
	}
	// The YAML loads as a config, and the config's router takes every
	// learned route in place of the declared one it kept.
	cfg := loadYAML(t, s)
	if len(cfg.Routes) != len(s.Kept)+len(s.Routes) || cfg.Routes[0].Name != "product" {
		t.Fatalf("loaded %d routes (first %+v), want %d with the declared first", len(cfg.Routes), cfg.Routes[0], len(s.Kept)+len(s.Routes))
	}
	for _, r := range cfg.Routes {
		if r.Match == "POST /api/login" && (r.Kind != "login" || r.Field != "username") {
			t.Errorf("loaded login route %+v", r)
		}
	}
}

// loadYAML writes s as a config file and loads it with config.Load.
func loadYAML(t *testing.T, s Suggestion) *config.Config {
	t.Helper()
	var b bytes.Buffer
	if err := s.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("suggested YAML does not load: %v\n%s", err, b.String())
	}
	return cfg
}

func TestSuggestEmptyLoads(t *testing.T) {
	cfg := loadYAML(t, New(Options{}).Suggest(nil))
	if len(cfg.Routes) != 0 {
		t.Fatalf("routes %+v", cfg.Routes)
	}
}

// TestLearnerBounded sends a flood of distinct templates: the learner keeps
// MaxTemplates, counts the rest, and its names stay capped.
func TestLearnerBounded(t *testing.T) {
	l := New(Options{MaxTemplates: 50, MaxNames: 4})
	for i := range 5000 {
		l.Observe(Observation{Method: "GET", Path: fmt.Sprintf("/w%d", i), Status: 404})
		l.Observe(Observation{Method: "POST", Path: "/api/login", Status: 200,
			Fields: []string{fmt.Sprintf("f%d", i)}, Query: fmt.Sprintf("q%d=1", i)})
	}
	st := l.Stats()
	if st.Templates != 50 || st.Dropped != 5000-49 || st.Observed != 10000 {
		t.Fatalf("stats %+v", st)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tpl := range l.templates {
		if len(tpl.fields.counts) > 4 || len(tpl.query.counts) > 4 {
			t.Fatalf("template %s keeps %d fields, %d query names", tpl.path, len(tpl.fields.counts), len(tpl.query.counts))
		}
	}
}

// TestSuggestNamesUnique: learned names never collide with declared ones
// or each other, and the whole loads.
func TestSuggestNamesUnique(t *testing.T) {
	l := New(Options{})
	for range 5 {
		for _, p := range []string{"/api/login", "/v2/login", "/login", "/api/users/7", "/api/users/7/orders", "/api/user/8"} {
			l.Observe(Observation{Method: "POST", Path: p, Status: 401, Fields: []string{"username", "password"}})
			l.Observe(Observation{Method: "GET", Path: p, Status: 200})
		}
	}
	s := l.Suggest([]config.Route{{Name: "login", Match: "POST /login", Kind: "login", Field: "username"}})
	seen := map[string]bool{"login": true}
	for _, r := range s.Routes {
		if seen[r.Route.Name] {
			t.Errorf("name %q twice", r.Route.Name)
		}
		seen[r.Route.Name] = true
	}
	loadYAML(t, s)
}

// BenchmarkObserveRoute is the engine's per-request cost of learning (a
// known template), beside Template, which building the template string on
// every request would cost.
func BenchmarkObserveRoute(b *testing.B) {
	l := New(Options{})
	v := &request.View{Method: "GET", Path: "/api/products/12345/reviews", Query: "page=2&sort=new"}
	o := verdict.Outcome{Status: 200}
	b.Run("ObserveRoute", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			l.ObserveRoute(v, o)
		}
	})
	b.Run("Template", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = Template(v.Path)
		}
	})
}

// TestSuggestGraphQLByItsDocuments checks that a route whose path says
// nothing is suggested as graphql when its requests carry GraphQL
// documents (request.GraphQLShape.Parsed, as the engine observes them),
// and is not when they carry JSON that is no GraphQL.
func TestSuggestGraphQLByItsDocuments(t *testing.T) {
	for _, tc := range []struct {
		name    string
		graphql bool
		want    string
	}{
		{"documents that parse", true, KindGraphQL},
		{"JSON that is no GraphQL", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(Options{})
			for range 50 {
				l.Observe(Observation{Method: "POST", Path: "/api/v3/rpc", Status: 200, GraphQL: tc.graphql})
			}
			s := l.Suggest(nil)
			if len(s.Routes) != 1 || s.Routes[0].Kind != tc.want {
				t.Fatalf("suggested %+v, want one route of kind %q", s.Routes, tc.want)
			}
			if tc.want != "" && !strings.Contains(strings.Join(s.Routes[0].Evidence, ";"), "GraphQL document in 50 of 50") {
				t.Errorf("evidence %v does not name the documents", s.Routes[0].Evidence)
			}
		})
	}
}
