package forwardauth

import (
	"net/http"
	"testing"
)

// FuzzHandler sends subrequests with arbitrary forwarded method, URI, host
// and X-Forwarded-For from a trusted gateway, under /ext_authz, and to
// /challenge (the host doubling as the problem header it renders): every
// answer is a decision, a page or a problem, never a panic or a 5xx.
func FuzzHandler(f *testing.F) {
	f.Add("GET", "/items?page=1", "api.example", "127.0.0.5", "/auth")
	f.Add("POST", "http://evil.example/x", "", "1.2.3.4, 127.0.0.1", "/auth")
	f.Add("", "%zz", "h:1", "not an ip", "/auth")
	f.Add("DELETE", "", "", "::1", "/ext_authz/a/../b")
	f.Add("GET", "/guarded/x", "api.example", "127.0.0.8", "/auth")
	f.Add("GET", "", `{"challenge":{"algorithm":"sha256-leading-zero-bits","token":"abc","difficulty":3},"request_id":"<x>"}`, "", "/challenge")
	f.Add("GET", "", `{"challenge":{"algorithm":"sha256-leading-zero-bits","token":"","difficulty":99}}`, "", "/challenge")
	c, _ := newGuardEngineYAML(f, challengeYAML(f))
	h := New(c)
	f.Fuzz(func(t *testing.T, method, uri, host, xff, path string) {
		if len(method)+len(uri)+len(host)+len(xff)+len(path) > 4096 || path == "" || path[0] != '/' {
			return
		}
		r, err := http.NewRequest(http.MethodGet, "http://guard"+path, nil)
		if err != nil {
			return
		}
		r.RemoteAddr = "127.0.0.1:4000"
		r.Header = http.Header{"X-Forwarded-Method": {method}, "X-Forwarded-Uri": {uri}, "X-Forwarded-Host": {host}, "X-Forwarded-For": {xff}, ProblemHeader: {host}}
		w := &statusRecorder{h: http.Header{}}
		h.ServeHTTP(w, r)
		if w.code >= 500 {
			t.Fatalf("%q %q %q %q %q: status %d", method, uri, host, xff, path, w.code)
		}
	})
}

type statusRecorder struct {
	h    http.Header
	code int
}

func (w *statusRecorder) Header() http.Header { return w.h }
func (w *statusRecorder) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}
func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(b), nil
}
