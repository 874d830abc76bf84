package cli

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/routelearn"
)

// TestRoutesSuggestFromLog learns routes from a combined access log with a
// bad line in it, keeping the routes --config declares: the output loads as
// a config, the declared route comes first, ids are {id}, the login's
// refused credentials make it a login route, and the bad line is counted.
func TestRoutesSuggestFromLog(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	line := func(i int, method, target string, status int) {
		fmt.Fprintf(&b, "198.51.100.%d - - [07/Dec/2026:09:%02d:%02d +0000] \"%s %s HTTP/1.1\" %d 512 \"-\" \"Mozilla/5.0\"\n",
			1+i%50, i/60%60, i%60, method, target, status)
	}
	for i := range 300 {
		line(i, "GET", fmt.Sprintf("/v2/catalog/items/%d", 1000+i*7), 200)
		line(i, "GET", fmt.Sprintf("/v2/catalog/items/%d/reviews", 1000+i), []int{200, 404}[i%2])
		if i%3 == 0 {
			line(i, "POST", "/v2/account/signin", []int{200, 401, 200}[i%9/3])
		}
		if i%10 == 0 {
			line(i, "GET", "/v2/find?term=shoe", 200)
		}
	}
	b.WriteString("this is not a log line\n")
	logFile := filepath.Join(dir, "access.log")
	cfgFile := filepath.Join(dir, "abuseguard.yaml")
	if err := os.WriteFile(logFile, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte("routes:\n  - {name: search, match: \"GET /v2/find\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("routes", "suggest", "--log", logFile, "--format", "combined", "--config", cfgFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "read 730 requests; skipped 1 bad") || !strings.Contains(errOut, "access.log:731") {
		t.Errorf("stderr does not count and name the bad line:\n%s", errOut)
	}
	suggested := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(suggested, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(suggested)
	if err != nil {
		t.Fatalf("output does not load: %v\n%s", err, out)
	}
	got := map[string]config.Route{}
	for _, r := range cfg.Routes {
		got[r.Match] = r
	}
	if len(cfg.Routes) == 0 || cfg.Routes[0].Name != "search" {
		t.Errorf("the declared route is not kept first:\n%s", out)
	}
	for _, m := range []string{"GET /v2/catalog/items/{id}", "GET /v2/catalog/items/{id}/reviews"} {
		if _, ok := got[m]; !ok {
			t.Errorf("%s not suggested:\n%s", m, out)
		}
	}
	if r := got["POST /v2/account/signin"]; r.Kind != "login" {
		t.Errorf("signin route %+v, want kind login:\n%s", r, out)
	}
	if !strings.Contains(out, "# kept (declared): 30 requests") {
		t.Errorf("the declared route's traffic is not shown:\n%s", out)
	}
}

func TestRoutesSuggestNeedsFormat(t *testing.T) {
	if code, _, errOut := run("routes", "suggest", "--log", "x.log"); code == 0 || !strings.Contains(errOut, "--format") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// learnedRoutes is an admin.RouteSuggester over a learner.
type learnedRoutes struct{ l *routelearn.Learner }

func (s learnedRoutes) SuggestRoutes() routelearn.Suggestion { return s.l.Suggest(nil) }

// TestRoutesSuggestFromAdmin prints what a running guard learned, through
// its admin API.
func TestRoutesSuggestFromAdmin(t *testing.T) {
	l := routelearn.New(routelearn.Options{})
	for i := range 10 {
		l.Observe(routelearn.Observation{Method: "GET", Path: fmt.Sprintf("/v1/users/%d", i), Status: 200})
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{Token: testToken, Routes: learnedRoutes{l}}))
	t.Cleanup(srv.Close)
	t.Setenv(envAdminToken, testToken)
	code, out, errOut := run("routes", "suggest", "--admin", srv.URL)
	if code != 0 || !strings.Contains(out, `match: "GET /v1/users/{id}"`) || !strings.HasPrefix(out, "# Suggested") {
		t.Fatalf("exit %d: %s\n%s", code, out, errOut)
	}
	t.Setenv(envAdminToken, "")
	if code, _, errOut := run("routes", "suggest", "--admin", srv.URL); code == 0 || !strings.Contains(errOut, "no admin token") {
		t.Fatalf("without a token: exit %d: %s", code, errOut)
	}
}
