package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/sample"
)

// TestRoutesSuggestLive runs the guard in front of the sample shop with
// one declared route, sends product, search and login traffic through it,
// and asks the admin API what it learned: the declared route is kept, the
// product pages are one {id} template, the login is one by its body's
// field names too, and the YAML loads as a config.
func TestRoutesSuggestLive(t *testing.T) {
	shop := httptest.NewServer(sample.New(sample.Options{Seed: 1}))
	t.Cleanup(shop.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "abuseguard.yaml")
	// The test client is allowlisted: it walks the catalogue and the
	// detectors would stop it, but learning sees allowlisted traffic too.
	writeFile(t, path, `access_log: off
events: off
allowlist: {cidrs: [127.0.0.1/32]}
admin: {token_env: AG_TEST_ROUTES_TOKEN}
routes:
  - {name: search, match: "GET /api/search"}
`)
	t.Setenv("AG_TEST_ROUTES_TOKEN", "s3cret")
	in := start(t, Options{ConfigFile: path, Upstream: shop.URL})
	for i := range 30 {
		in.get(t, fmt.Sprintf("%s/api/products/%d", in.proxy, 1+i))
		in.get(t, fmt.Sprintf("%s/api/search?q=lamp%d", in.proxy, i))
	}
	for i := range 5 {
		resp, err := in.client.Post(in.proxy+"/api/login", "application/json",
			strings.NewReader(fmt.Sprintf(`{"username":"user%d","password":"wrong"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", in.admin+"/v1/routes/suggest", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Kept []struct {
			Route    config.Route
			Requests uint64
		}
		Routes []struct {
			Route    config.Route
			Requests uint64
			Kind     string
			Evidence []string
			Fields   []string
		}
		YAML string
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/routes/suggest: %d %v", resp.StatusCode, err)
	}
	if len(got.Kept) != 1 || got.Kept[0].Requests != 30 {
		t.Errorf("kept %+v, want the declared search route with its 30 requests", got.Kept)
	}
	want := map[string]uint64{"GET /api/products/{id}": 30, "POST /api/login": 5}
	for _, r := range got.Routes {
		// The body's field names reach live learning through the proxy:
		// the login's subject field is named, and the fields are evidence.
		if r.Route.Match == "POST /api/login" && (r.Kind != "login" || r.Route.Field != "username" ||
			!strings.Contains(strings.Join(r.Evidence, ";"), "body fields username in 5 of 5, password in 5 of 5")) {
			t.Errorf("login learned as %+v, want kind login, field username, body fields as evidence", r)
		}
		if r.Route.Match == "POST /api/login" && strings.Join(r.Fields, ",") != "password,username" {
			t.Errorf("login's body fields %q, want password and username", r.Fields)
		}
		if n, ok := want[r.Route.Match]; ok {
			if r.Requests != n {
				t.Errorf("%s: %d requests, want %d", r.Route.Match, r.Requests, n)
			}
			delete(want, r.Route.Match)
		}
	}
	if len(want) > 0 {
		t.Errorf("not learned: %v (got %+v)", want, got.Routes)
	}
	out := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(out, []byte(got.YAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(out); err != nil {
		t.Fatalf("suggested YAML: %v\n%s", err, got.YAML)
	}
	if !strings.Contains(got.YAML, "body fields: password, username") {
		t.Errorf("the YAML does not show the login's body fields:\n%s", got.YAML)
	}
}
