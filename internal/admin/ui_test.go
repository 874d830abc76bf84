package admin

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/abuseguard/abuseguard/internal/clock"
	"github.com/abuseguard/abuseguard/internal/decision"
)

func TestUISessions(t *testing.T) {
	c := clock.NewFake(t0)
	store, err := decision.Open(decision.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	api := Handler(Options{Decisions: store, Token: token, Now: c.Now})
	mux := http.NewServeMux()
	mux.Handle("/ui/", UI(UIOptions{API: api, Token: token, Metrics: prometheus.NewRegistry(), Now: c.Now, SessionTTL: time.Hour}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}

	resp, err := client.Get(srv.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/ui/login" {
		t.Fatalf("without a session /ui/ went to %s, want /ui/login", resp.Request.URL.Path)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	resp, _ = client.PostForm(srv.URL+"/ui/login", url.Values{"token": {"wrong"}})
	resp.Body.Close()
	if resp.Request.URL.RawQuery != "failed" || len(jar.Cookies(mustURL(srv.URL+"/ui/"))) != 0 {
		t.Fatalf("a wrong token: ended at %s with cookies %v", resp.Request.URL, jar.Cookies(mustURL(srv.URL+"/ui/")))
	}
	resp, _ = client.PostForm(srv.URL+"/ui/login", url.Values{"token": {token}})
	body := readAll(t, resp)
	m := regexp.MustCompile(`<meta name="csrf" content="([0-9a-f]{64})">`).FindStringSubmatch(body)
	if resp.Request.URL.Path != "/ui/" || m == nil {
		t.Fatalf("after sign-in: %s, page without a CSRF token:\n%.500s", resp.Request.URL, body)
	}
	csrf := m[1]
	for _, h := range resp.Request.Response.Header.Values("Set-Cookie") {
		if !strings.Contains(h, "HttpOnly") || !strings.Contains(h, "SameSite=Strict") || !strings.Contains(h, "Path=/ui/") {
			t.Errorf("session cookie %q: want HttpOnly, SameSite=Strict, Path=/ui/", h)
		}
	}

	// The API answers for the session; a change needs the CSRF token.
	resp, _ = client.Get(srv.URL + "/ui/api/v1/decisions")
	if b := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(b, `"decisions": []`) {
		t.Errorf("GET through the session: %d %s", resp.StatusCode, b)
	}
	add := func(csrfHeader string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/ui/api/v1/decisions", strings.NewReader(`{"scope":"ip","value":"203.0.113.9","action":"block"}`))
		if csrfHeader != "" {
			req.Header.Set("X-CSRF-Token", csrfHeader)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := add(""); s != 403 {
		t.Errorf("POST without the CSRF token: %d, want 403", s)
	}
	if s := add(strings.Repeat("0", 64)); s != 403 {
		t.Errorf("POST with a wrong CSRF token: %d, want 403", s)
	}
	if s := add(csrf); s != 201 {
		t.Errorf("POST with the CSRF token: %d, want 201", s)
	}
	resp, _ = client.Get(srv.URL + "/ui/api/nope")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/ui/api/nope: %d", resp.StatusCode)
	}
	resp, _ = client.Get(srv.URL + "/ui/static/vendor/uPlot.iife.min.js")
	if b := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(b, "uPlot") {
		t.Errorf("the vendored chart library: %d", resp.StatusCode)
	}

	// The session expires.
	c.Advance(time.Hour)
	resp, _ = client.Get(srv.URL + "/ui/api/v1/decisions")
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("after the session expired: %d, want 401", resp.StatusCode)
	}
}

func TestUIOffWithoutToken(t *testing.T) {
	srv := httptest.NewServer(UI(UIOptions{API: http.NotFoundHandler()}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("without a token: %d, want 404", resp.StatusCode)
	}
}

func TestQuantile(t *testing.T) {
	bucket := func(le float64, n uint64) *dto.Bucket { return &dto.Bucket{UpperBound: &le, CumulativeCount: &n} }
	count := uint64(100)
	h := &dto.Histogram{SampleCount: &count, Bucket: []*dto.Bucket{bucket(1e-5, 50), bucket(1e-4, 90), bucket(1e-3, 100)}}
	if got := quantile(h, 0.5); got != 1e-5 {
		t.Errorf("p50 = %v, want 1e-5", got)
	}
	if got := quantile(h, 0.95); got < 5.4e-4 || got > 5.6e-4 {
		t.Errorf("p95 = %v, want 5.5e-4 (halfway through the last bucket)", got)
	}
	zero := uint64(0)
	if got := quantile(&dto.Histogram{SampleCount: &zero}, 0.99); got != 0 {
		t.Errorf("empty histogram: %v", got)
	}
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
