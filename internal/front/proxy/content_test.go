package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// echoUpstream is a loopback API that records the bodies reaching it.
type echoUpstream struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newEchoUpstream(t *testing.T) *echoUpstream {
	u := &echoUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		u.mu.Lock()
		u.bodies = append(u.bodies, string(b))
		u.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *echoUpstream) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.bodies...)
}

// post sends a body through the proxy served on loopback.
func post(t *testing.T, srv *httptest.Server, target, ctype, body string) (int, string) {
	t.Helper()
	r, err := http.NewRequest("POST", srv.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", ctype)
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
	r.Header.Set("Accept", "application/json")
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestContentGuardsOverLoopback runs both content guards in enforce mode
// in front of a real upstream: valid bodies arrive whole after the
// guards peeked at them, and refused ones never arrive.
func TestContentGuardsOverLoopback(t *testing.T) {
	up := newEchoUpstream(t)
	h := newHarness(t, `
network: {trusted_proxies: []}
routes_from: ../../../examples/openapi/shop.yaml
openapi: {mode: enforce, max_body_bytes: 1KiB}
waf: {mode: enforce}
detectors: {probing: {mode: "off"}}
`, up.URL, nil)
	srv := httptest.NewServer(h.p)
	t.Cleanup(srv.Close)

	valid := `{"sku":"A-100","quantity":2}`
	if code, body := post(t, srv, "/v1/orders", "application/json", valid); code != 200 {
		t.Fatalf("valid order: %d %s", code, body)
	}
	if got := up.seen(); len(got) != 1 || got[0] != valid {
		t.Fatalf("upstream got %q, want the whole body once", got)
	}

	code, body := post(t, srv, "/v1/orders", "application/json", `{"sku":"A-100","quantity":0}`)
	if code != 400 || !strings.Contains(body, `"reason":"openapi_bad_body"`) || !strings.Contains(body, `"rule":"openapi"`) {
		t.Errorf("order of quantity 0: %d %s", code, body)
	}
	code, body = post(t, srv, "/v1/orders", "application/json", `{"sku":"`+strings.Repeat("x", 2000)+`","quantity":1}`)
	if code != 413 || !strings.Contains(body, `"reason":"openapi_body_too_large"`) {
		t.Errorf("order over the cap: %d %s", code, body)
	}
	code, body = post(t, srv, "/v1/orders", "application/json", `{"sku":"1' UNION SELECT pw FROM u--","quantity":1}`)
	if code != 403 || !strings.Contains(body, `"reason":"waf_blocked"`) || !strings.Contains(body, "942100") {
		t.Errorf("SQL injection in a valid body: %d %s", code, body)
	}
	if got := up.seen(); len(got) != 1 {
		t.Errorf("refused requests reached the upstream: %q", got[1:])
	}
}
