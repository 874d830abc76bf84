package forwardauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// do sends a subrequest to h as the peer would.
func do(h http.Handler, peer, method, path string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = peer
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandler(t *testing.T) {
	h := New(newChecker(t))
	const gw = "127.0.0.1:4000"

	t.Run("untrusted peer", func(t *testing.T) {
		w := do(h, clientA+":5000", "GET", "/auth", "X-Forwarded-Uri", "/items", "X-Forwarded-For", bannedIP)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "untrusted_gateway") {
			t.Errorf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("forwarded request", func(t *testing.T) {
		w := do(h, gw, "GET", "/auth", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/items?x=1",
			"X-Forwarded-Host", "api.example", "X-Forwarded-For", bannedIP)
		if w.Code != http.StatusForbidden || w.Header().Get(StatusHeader) != "403" || !strings.Contains(w.Header().Get(ProblemHeader), `"reason":"banned"`) {
			t.Errorf("banned client through a trusted gateway: %d %v %s", w.Code, w.Header(), w.Body)
		}
	})
	t.Run("nginx original headers", func(t *testing.T) {
		w := do(h, gw, "GET", "/auth", "X-Original-Method", "GET", "X-Original-Uri", "/items", "X-Forwarded-For", clientA, "X-API-Key", acmeKey)
		if w.Code != http.StatusOK || w.Header().Get("X-Abuseguard-Key-Id") != "acme-prod" || w.Header().Get("Ratelimit") == "" {
			t.Errorf("%d %v", w.Code, w.Header())
		}
		if _, ok := w.Header()["X-Abuseguard-User"]; !ok {
			t.Error("an allowed answer leaves out the empty user header, so a gateway would keep a client's own")
		}
	})
	t.Run("bad uri", func(t *testing.T) {
		if w := do(h, gw, "GET", "/auth", "X-Forwarded-Uri", "not a target"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "bad_forwarded_uri") {
			t.Errorf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("envoy http ext_authz", func(t *testing.T) {
		w := do(h, gw, "DELETE", "/ext_authz/items/7?force=1", "X-Forwarded-For", bannedIP)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `"reason":"banned"`) {
			t.Errorf("%d %s", w.Code, w.Body)
		}
		for i := range 3 {
			if w := do(h, gw, "GET", "/ext_authz/items", "X-Forwarded-For", clientC); w.Code != http.StatusOK {
				t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
			}
		}
		w = do(h, gw, "GET", "/ext_authz/items", "X-Forwarded-For", clientC)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
			t.Errorf("fourth: %d %v", w.Code, w.Header())
		}
	})
	t.Run("other paths", func(t *testing.T) {
		if w := do(h, gw, "GET", "/items"); w.Code != http.StatusNotFound {
			t.Errorf("%d", w.Code)
		}
	})
}
