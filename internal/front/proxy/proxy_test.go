package proxy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"

	"github.com/golang-jwt/jwt/v5"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// upstream is a loopback API that records the requests reaching it. It
// reads each request body to the end before answering, so a body the proxy
// cuts short fails the round trip instead of racing the response.
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	seen  []http.Header
	paths []string
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.paths = append(u.paths, r.URL.Path)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "upstream says hi")
	}))
	t.Cleanup(u.Close)
	return u
}

// calls returns how many requests the upstream answered.
func (u *upstream) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// last returns the headers of the last request the upstream answered.
func (u *upstream) last(t testing.TB) http.Header {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream was never called")
	}
	return u.seen[len(u.seen)-1]
}

// reached reports whether the upstream answered a request for path.
func (u *upstream) reached(path string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Contains(u.paths, path)
}

// seenCookie returns the Cookie headers of every request the upstream
// answered, joined.
func (u *upstream) seenCookie() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var b strings.Builder
	for _, h := range u.seen {
		b.WriteString(h.Get("Cookie") + "\n")
	}
	return b.String()
}

// slowUpstream returns the URL of an upstream that never answers: each
// request blocks until its context ends or the test is over.
func slowUpstream(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblock handlers so Close returns
	return s.URL
}

// closedUpstream returns the URL of a loopback port nothing listens on.
func closedUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// harness is a Proxy over a config, with its metrics, access log and clock.
type harness struct {
	p       *Proxy
	metrics *telemetry.Metrics
	log     *bytes.Buffer
	clock   *clock.Fake
}

// newHarness compiles yaml with upstreamURL as the upstream and returns a
// Proxy on it. A nil transport gets NewTransport(5s).
func newHarness(t testing.TB, yaml, upstreamURL string, transport http.RoundTripper) *harness {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	c.Upstream = upstreamURL
	pol, err := engine.Compile(c, engine.NewShared(engine.Options{Limits: memory.New(memory.Options{}), RiskEntities: 1000, Getenv: os.Getenv}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pol.Close)
	if transport == nil {
		tr := NewTransport(5 * time.Second)
		t.Cleanup(tr.CloseIdleConnections)
		transport = tr
	}
	h := &harness{metrics: telemetry.NewMetrics(), log: &bytes.Buffer{}, clock: clock.NewFake(t0)}
	h.p = New(Options{
		Engine:    engine.New(pol),
		Metrics:   h.metrics,
		AccessLog: telemetry.NewAccessLog(h.log),
		Logger:    slog.New(slog.DiscardHandler),
		Transport: transport,
		Now:       h.clock.Now,
	})
	return h
}

// do serves r from peer (an "ip:port" RemoteAddr) and returns the response.
func (h *harness) do(r *http.Request, peer string) *httptest.ResponseRecorder {
	r.RemoteAddr = peer
	rec := httptest.NewRecorder()
	h.p.ServeHTTP(rec, r)
	return rec
}

// logLines returns the access log lines written so far, decoded.
func (h *harness) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(h.log.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// newRequest returns a request with headers given as "Name: value"; a
// header named twice gets two lines.
func newRequest(method, target string, body io.Reader, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, body)
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ": ")
		r.Header.Add(k, v)
	}
	return r
}

// chunked hides a reader's length, so the request is sent chunked.
type chunked struct{ io.Reader }

// problemBody is a problem+json response body.
type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail"`
	Rule      string `json:"rule"`
	RequestID string `json:"request_id"`
}

// checkProblem asserts that rec is a problem+json refusal with status,
// reason and rule, and returns its body.
func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, reason, rule string) problemBody {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	if p.Status != status || p.Reason != reason || p.Rule != rule {
		t.Errorf("problem = %+v, want status %d, reason %q, rule %q", p, status, reason, rule)
	}
	if p.Type != "urn:abuseguard:problem:"+reason {
		t.Errorf("problem type = %q", p.Type)
	}
	if p.RequestID == "" {
		t.Error("problem has no request_id")
	}
	return p
}

func TestAllowedRequestsReachUpstreamWithRateLimitHeaders(t *testing.T) {
	up := newUpstream(t)
	// per-method comes first but leaves more requests: the headers name
	// the tightest limit, per-ip.
	h := newHarness(t, `
limits:
  - {name: per-method, key: [method], rate: 100/m, burst: 100}
  - {name: per-ip, key: [ip], rate: 5/m, burst: 5}
`, up.URL, nil)
	ids := map[string]bool{}
	for i := range 3 {
		t.Run(fmt.Sprintf("request %d", i+1), func(t *testing.T) {
			rec := h.do(newRequest("GET", "/v1/things?page=2", nil, "X-Request-Id: client-chosen"), "203.0.113.7:5555")
			if rec.Code != http.StatusOK || rec.Body.String() != "upstream says hi" {
				t.Fatalf("got %d %q", rec.Code, rec.Body)
			}
			// every limit is listed; per-method (100/m) refills 0.6s a
			// request: 0.6s, 1.2s, 1.8s, rounded up
			if got, want := rec.Header().Get("RateLimit"), fmt.Sprintf(`"per-method";r=%d;t=%d, "per-ip";r=%d;t=%d`, 99-i, []int{1, 2, 2}[i], 4-i, 12*(i+1)); got != want {
				t.Errorf("RateLimit = %q, want %q", got, want)
			}
			if got, want := rec.Header().Get("RateLimit-Policy"), `"per-method";q=100;w=60, "per-ip";q=5;w=60`; got != want {
				t.Errorf("RateLimit-Policy = %q, want %q", got, want)
			}
			if up.calls() != i+1 {
				t.Fatalf("upstream calls = %d, want %d", up.calls(), i+1)
			}
			id := up.last(t).Get("X-Request-Id")
			if id == "" || id == "client-chosen" || ids[id] {
				t.Errorf("upstream X-Request-Id = %q: want a fresh id of the proxy's", id)
			}
			ids[id] = true
		})
	}
}

func TestThrottled(t *testing.T) {
	up := newUpstream(t)
	h := newHarness(t, `
limits:
  - {name: per-ip, key: [ip], rate: 5/m, burst: 5}
`, up.URL, nil)
	const peer = "203.0.113.7:5555"
	for i := range 5 {
		if rec := h.do(newRequest("GET", "/x", nil), peer); rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, rec.Code)
		}
	}
	rec := h.do(newRequest("GET", "/x", nil), peer)
	checkProblem(t, rec, http.StatusTooManyRequests, "rate_limited", "per-ip")
	for name, want := range map[string]string{
		"Retry-After":      "12",
		"RateLimit":        `"per-ip";r=0;t=12`, // t agrees with Retry-After
		"RateLimit-Policy": `"per-ip";q=5;w=60`,
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if up.calls() != 5 {
		t.Errorf("upstream calls = %d, want 5: a throttled request must not reach it", up.calls())
	}
	// Retry-After tells the truth: after it, one more request passes.
	h.clock.Advance(12 * time.Second)
	if rec := h.do(newRequest("GET", "/x", nil), peer); rec.Code != http.StatusOK {
		t.Errorf("after Retry-After: status %d, want 200", rec.Code)
	}
}

func TestForwardingHeaders(t *testing.T) {
	const trust = `
network:
  trusted_proxies: [10.0.0.0/8]
`
	tests := []struct {
		name       string
		config     string
		peer       string
		headers    []string
		wantXFF    string // X-Forwarded-For the upstream sees
		wantClient string // client_ip in the access log
		wantKept   []string
		wantGone   []string
	}{{
		name:    "untrusted peer: spoofed headers ignored and stripped",
		config:  trust,
		peer:    "198.51.100.7:40000",
		headers: []string{"X-Forwarded-For: 1.2.3.4", "Forwarded: for=5.6.7.8", "X-Real-Ip: 9.9.9.9"},
		wantXFF: "198.51.100.7", wantClient: "198.51.100.7",
		wantGone: []string{"Forwarded", "X-Real-Ip"},
	}, {
		name:    "no trusted proxies configured: spoofed headers ignored and stripped",
		peer:    "198.51.100.7:40000",
		headers: []string{"X-Forwarded-For: 1.2.3.4, 10.0.0.1", "Forwarded: for=5.6.7.8", "X-Real-Ip: 9.9.9.9"},
		wantXFF: "198.51.100.7", wantClient: "198.51.100.7",
		wantGone: []string{"Forwarded", "X-Real-Ip"},
	}, {
		name:    "untrusted IPv6 peer",
		config:  trust,
		peer:    "[2001:db8::1]:40000",
		headers: []string{"X-Forwarded-For: 1.2.3.4"},
		wantXFF: "2001:db8::1", wantClient: "2001:db8::1",
	}, {
		name:    "trusted peer: chain kept and peer appended",
		config:  trust,
		peer:    "10.0.0.5:40000",
		headers: []string{"X-Forwarded-For: 203.0.113.9, 10.0.0.4", "X-Real-Ip: 203.0.113.9"},
		wantXFF: "203.0.113.9, 10.0.0.4, 10.0.0.5", wantClient: "203.0.113.9",
		wantKept: []string{"X-Real-Ip"},
	}, {
		name:    "trusted peer: X-Forwarded-For over two lines",
		config:  trust,
		peer:    "10.0.0.5:40000",
		headers: []string{"X-Forwarded-For: 203.0.113.9", "X-Forwarded-For: 10.0.0.4"},
		wantXFF: "203.0.113.9, 10.0.0.4, 10.0.0.5", wantClient: "203.0.113.9",
	}, {
		name:    "trusted peer without forwarding headers",
		config:  trust,
		peer:    "10.0.0.5:40000",
		wantXFF: "10.0.0.5", wantClient: "10.0.0.5",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t)
			h := newHarness(t, tt.config, up.URL, nil)
			rec := h.do(newRequest("GET", "/x", nil, tt.headers...), tt.peer)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := up.last(t)
			if xff := strings.Join(got.Values("X-Forwarded-For"), ", "); xff != tt.wantXFF {
				t.Errorf("upstream X-Forwarded-For = %q, want %q", xff, tt.wantXFF)
			}
			for _, name := range tt.wantGone {
				if v, ok := got[http.CanonicalHeaderKey(name)]; ok {
					t.Errorf("upstream got %s: %q; want it stripped", name, v)
				}
			}
			for _, name := range tt.wantKept {
				if got.Get(name) == "" {
					t.Errorf("upstream lost %s", name)
				}
			}
			lines := h.logLines(t)
			if len(lines) != 1 || lines[0]["client_ip"] != tt.wantClient {
				t.Errorf("access log = %v, want one line with client_ip %s", lines, tt.wantClient)
			}
		})
	}
}

func TestClientIPForLimits(t *testing.T) {
	const cfg = `
network:
  trusted_proxies: [10.0.0.0/8]
limits:
  - {name: per-ip, key: [ip], rate: 2/m, burst: 2}
`
	tests := []struct {
		name  string
		peer  string
		xffs  []string // one request per entry
		codes []int
	}{{
		name:  "untrusted peer: different spoofed X-Forwarded-For share the peer's limit",
		peer:  "198.51.100.7:40000",
		xffs:  []string{"1.1.1.1", "2.2.2.2", "3.3.3.3"},
		codes: []int{200, 200, 429},
	}, {
		name:  "trusted peer: each forwarded client has its own limit",
		peer:  "10.0.0.5:40000",
		xffs:  []string{"1.1.1.1", "2.2.2.2", "3.3.3.3", "1.1.1.1", "1.1.1.1"},
		codes: []int{200, 200, 200, 200, 429},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t)
			h := newHarness(t, cfg, up.URL, nil)
			for i, xff := range tt.xffs {
				rec := h.do(newRequest("GET", "/x", nil, "X-Forwarded-For: "+xff), tt.peer)
				if rec.Code != tt.codes[i] {
					t.Errorf("request %d (X-Forwarded-For %s): status %d, want %d", i+1, xff, rec.Code, tt.codes[i])
				}
			}
		})
	}
}

// jwtSecret is the HS256 secret of the JWT tests, set in AG_TEST_JWT_SECRET.
const jwtSecret = "jwt-test-secret-0123456789abcdef"

func signHS256(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tokenClaims returns valid claims with the changes in kv applied.
func tokenClaims(kv ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "iss": "https://idp.test/", "aud": "api", "exp": time.Now().Add(time.Hour).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

func TestRefusals(t *testing.T) {
	t.Setenv("AG_TEST_JWT_SECRET", jwtSecret)
	const caps = `
network:
  trusted_proxies: [10.0.0.0/8]
server:
  max_body_bytes: 1KiB
  max_header_bytes: 1KiB
`
	const jwtCfg = `
identity:
  jwt:
    algorithms: [HS256]
    secret_env: AG_TEST_JWT_SECRET
    issuer: https://idp.test/
    audience: [api]
`
	// bearerKeys reads opaque bearer keys beside JWTs; "hello" is known.
	const bearerKeys = jwtCfg + `
  api_key:
    bearer: true
    require_known: true
    keys:
      - {id: acme, sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824}
`
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, tokenClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(tok string) string { return "Authorization: Bearer " + tok }
	big := bytes.Repeat([]byte("x"), 2048)

	tests := []struct {
		name     string
		config   string
		upstream func(t *testing.T) string // default: a recording upstream
		timeout  time.Duration             // upstream header timeout; default 5s
		peer     string                    // default 203.0.113.7:40000
		req      func() *http.Request
		status   int
		reason   string
		rule     string
		// mayReach: the upstream sees the request start (a chunked body is
		// cut off in flight); otherwise it must never see it.
		mayReach bool
	}{{
		name:   "malformed X-Forwarded-For from a trusted peer",
		config: caps, peer: "10.0.0.5:40000",
		req:    func() *http.Request { return newRequest("GET", "/x", nil, "X-Forwarded-For: not-an-ip") },
		status: 400, reason: "bad_forwarding_header",
	}, {
		name:   "Forwarded without for= from a trusted peer",
		config: caps, peer: "10.0.0.5:40000",
		req:    func() *http.Request { return newRequest("GET", "/x", nil, "Forwarded: by=10.0.0.9") },
		status: 400, reason: "bad_forwarding_header",
	}, {
		name:   "malformed X-Forwarded-For from an untrusted peer is ignored",
		config: caps,
		req:    func() *http.Request { return newRequest("GET", "/x", nil, "X-Forwarded-For: not-an-ip") },
		status: 200,
	}, {
		name:   "body over max_body_bytes with Content-Length",
		config: caps,
		req:    func() *http.Request { return newRequest("POST", "/upload", bytes.NewReader(big)) },
		status: 413, reason: "request_too_large",
	}, {
		name:   "chunked body over max_body_bytes",
		config: caps,
		req:    func() *http.Request { return newRequest("POST", "/upload", chunked{bytes.NewReader(big)}) },
		status: 413, reason: "request_too_large", mayReach: true,
	}, {
		name:   "chunked body within max_body_bytes",
		config: caps,
		req:    func() *http.Request { return newRequest("POST", "/upload", chunked{bytes.NewReader(big[:1024])}) },
		status: 200,
	}, {
		name:   "headers over max_header_bytes",
		config: caps,
		req: func() *http.Request {
			return newRequest("GET", "/x", nil, "X-Padding: "+strings.Repeat("p", 1100))
		},
		status: 431, reason: "headers_too_large",
	}, {
		name:   "valid token",
		config: jwtCfg,
		req: func() *http.Request {
			return newRequest("GET", "/x", nil, bearer(signHS256(t, jwtSecret, tokenClaims())))
		},
		status: 200,
	}, {
		name:   "token with a bad signature",
		config: jwtCfg,
		req: func() *http.Request {
			return newRequest("GET", "/x", nil, bearer(signHS256(t, "some-other-secret-0123456789abcd", tokenClaims())))
		},
		status: 401, reason: "token_bad_signature",
	}, {
		name:   "token with alg none",
		config: jwtCfg,
		req:    func() *http.Request { return newRequest("GET", "/x", nil, bearer(none)) },
		status: 401, reason: "token_alg_not_allowed",
	}, {
		name:   "expired token",
		config: jwtCfg,
		req: func() *http.Request {
			return newRequest("GET", "/x", nil, bearer(signHS256(t, jwtSecret, tokenClaims("exp", time.Now().Add(-time.Hour).Unix()))))
		},
		status: 401, reason: "token_expired",
	}, {
		name:   "token for another audience",
		config: jwtCfg,
		req: func() *http.Request {
			return newRequest("GET", "/x", nil, bearer(signHS256(t, jwtSecret, tokenClaims("aud", "billing"))))
		},
		status: 401, reason: "token_bad_audience",
	}, {
		name:   "token from another issuer",
		config: jwtCfg,
		req: func() *http.Request {
			return newRequest("GET", "/x", nil, bearer(signHS256(t, jwtSecret, tokenClaims("iss", "https://evil.test/"))))
		},
		status: 401, reason: "token_bad_issuer",
	}, {
		name:   "token that is not a JWT (with jwt, bearer keys are off unless set)",
		config: jwtCfg,
		req:    func() *http.Request { return newRequest("GET", "/x", nil, bearer("not.a.jwt")) },
		status: 401, reason: "token_malformed",
	}, {
		name:   "opaque bearer token without jwt: an unverified key by default",
		config: "",
		req:    func() *http.Request { return newRequest("GET", "/x", nil, bearer("not.a.jwt")) },
		status: 200,
	}, {
		name:   "known opaque bearer key",
		config: bearerKeys,
		req:    func() *http.Request { return newRequest("GET", "/x", nil, bearer("hello")) },
		status: 200,
	}, {
		name:   "unknown opaque bearer key when known keys are required",
		config: bearerKeys,
		req:    func() *http.Request { return newRequest("GET", "/x", nil, bearer("guessed")) },
		status: 401, reason: "unknown_api_key",
	}, {
		name:   "valid token beside bearer keys",
		config: bearerKeys,
		req: func() *http.Request {
			return newRequest("GET", "/x", nil, bearer(signHS256(t, jwtSecret, tokenClaims())))
		},
		status: 200,
	}, {
		name:   "token with a bad signature beside bearer keys",
		config: bearerKeys,
		req: func() *http.Request {
			return newRequest("GET", "/x", nil, bearer(signHS256(t, "some-other-secret-0123456789abcd", tokenClaims())))
		},
		status: 401, reason: "token_bad_signature",
	}, {
		name: "unknown API key when known keys are required",
		config: `
identity:
  api_key:
    require_known: true
    keys:
      - {id: acme, sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824}
`,
		req:    func() *http.Request { return newRequest("GET", "/x", nil, "X-API-Key: guessed") },
		status: 401, reason: "unknown_api_key",
	}, {
		name: "unknown route blocked",
		config: `
routes:
  - {name: get-user, match: "GET /v1/users/{id}"}
unknown_routes: block
`,
		req:    func() *http.Request { return newRequest("GET", "/v1/admin", nil) },
		status: 404, reason: "unknown_route",
	}, {
		name: "known route with unknown_routes block",
		config: `
routes:
  - {name: get-user, match: "GET /v1/users/{id}"}
unknown_routes: block
`,
		req:    func() *http.Request { return newRequest("GET", "/v1/users/42", nil) },
		status: 200,
	}, {
		name:     "upstream down",
		upstream: closedUpstream,
		req:      func() *http.Request { return newRequest("GET", "/x", nil) },
		status:   502, reason: "upstream_unavailable",
	}, {
		name:     "upstream slower than upstream_timeout",
		upstream: slowUpstream, timeout: 100 * time.Millisecond,
		req:    func() *http.Request { return newRequest("GET", "/x", nil) },
		status: 504, reason: "upstream_timeout",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var up *upstream
			var url string
			if tt.upstream != nil {
				url = tt.upstream(t)
			} else {
				up = newUpstream(t)
				url = up.URL
			}
			var transport http.RoundTripper
			if tt.timeout > 0 {
				tr := NewTransport(tt.timeout)
				t.Cleanup(tr.CloseIdleConnections)
				transport = tr
			}
			h := newHarness(t, tt.config, url, transport)
			peer := cmpOr(tt.peer, "203.0.113.7:40000")
			rec := h.do(tt.req(), peer)
			if tt.status == http.StatusOK {
				if rec.Code != http.StatusOK || up.calls() != 1 {
					t.Fatalf("status %d, upstream calls %d: want 200 from the upstream (body %s)", rec.Code, up.calls(), rec.Body)
				}
				return
			}
			p := checkProblem(t, rec, tt.status, tt.reason, tt.rule)
			if up != nil && !tt.mayReach && up.calls() != 0 {
				t.Errorf("the upstream answered %d requests; want the request refused before it", up.calls())
			}
			// The access log line and the metrics carry the same request.
			lines := h.logLines(t)
			if len(lines) != 1 || lines[0]["request_id"] != p.RequestID || lines[0]["reason"] != tt.reason ||
				lines[0]["status"] != float64(tt.status) {
				t.Errorf("access log = %v, want one line with request_id %s, reason %s, status %d", lines, p.RequestID, tt.reason, tt.status)
			}
			// A request cut short on its way to the upstream was decided
			// (allowed) first; the others were refused before or by a decision.
			if wantAllowed := tt.mayReach || tt.upstream != nil; len(lines) == 1 && (lines[0]["action"] == "allow") != wantAllowed {
				t.Errorf("access log action = %v; want allow only for a request refused on the way to the upstream", lines[0]["action"])
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// The mixed traffic shared by TestAccessLog and TestMetrics.
const (
	mixSecret = "hmac-secret-for-key-ids"
	mixKey    = "sk_live_SUPERSECRET42"
	mixConfig = `
identity:
  secret_env: AG_TEST_KEY_SECRET
  jwt:
    algorithms: [HS256]
    secret_env: AG_TEST_JWT_SECRET
network:
  trusted_proxies: [10.0.0.0/8]
server:
  max_header_bytes: 1KiB
routes:
  - {name: get-user, match: "GET /v1/users/{id}"}
limits:
  - {name: per-ip, key: [ip], rate: 2/m, burst: 2}
  - {name: key-shadow, key: [api_key], rate: 1/m, burst: 1, mode: shadow}
`
)

// mixStep is one request of the mixed traffic and what it must log.
type mixStep struct {
	name    string
	peer    string
	req     func(t *testing.T) *http.Request
	status  int
	route   string
	keyed   bool // key_id is the HMAC id of mixKey
	action  string
	rule    string
	mode    string
	reason  string
	client  string
	refused bool // answered with problem+json
}

var mixSteps = []mixStep{{
	name: "allowed with an API key", peer: "203.0.113.50:1000",
	req: func(*testing.T) *http.Request {
		return newRequest("GET", "/v1/users/1", nil, "X-API-Key: "+mixKey)
	},
	status: 200, route: "get-user", keyed: true, action: "allow", client: "203.0.113.50",
}, {
	name: "allowed, a shadow limit would have throttled", peer: "203.0.113.50:1000",
	req: func(*testing.T) *http.Request {
		return newRequest("GET", "/v1/users/2", nil, "X-API-Key: "+mixKey)
	},
	status: 200, route: "get-user", keyed: true, action: "allow", rule: "key-shadow", mode: "shadow",
	reason: "rate_limited", client: "203.0.113.50",
}, {
	name: "throttled", peer: "203.0.113.50:1000",
	req: func(*testing.T) *http.Request {
		return newRequest("GET", "/v1/users/3", nil, "X-API-Key: "+mixKey)
	},
	status: 429, route: "get-user", keyed: true, action: "throttle", rule: "per-ip", mode: "enforce",
	reason: "rate_limited", client: "203.0.113.50", refused: true,
}, {
	name: "unmatched route through a trusted proxy", peer: "10.0.0.1:1000",
	req: func(*testing.T) *http.Request {
		return newRequest("GET", "/other", nil, "X-Forwarded-For: 198.51.100.20")
	},
	status: 200, action: "allow", client: "198.51.100.20",
}, {
	name: "malformed X-Forwarded-For", peer: "10.0.0.1:1000",
	req: func(*testing.T) *http.Request {
		return newRequest("GET", "/v1/users/4", nil, "X-Forwarded-For: garbage")
	},
	status: 400, action: "block", reason: "bad_forwarding_header", client: "10.0.0.1", refused: true,
}, {
	name: "headers too large", peer: "198.51.100.21:1000",
	req: func(*testing.T) *http.Request {
		return newRequest("GET", "/other", nil, "X-Padding: "+strings.Repeat("p", 1100))
	},
	status: 431, action: "block", reason: "headers_too_large", client: "198.51.100.21", refused: true,
}, {
	name: "expired token", peer: "198.51.100.22:1000",
	req: func(t *testing.T) *http.Request {
		tok := signHS256(t, jwtSecret, jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(-time.Hour).Unix()})
		return newRequest("GET", "/v1/users/5", nil, "Authorization: Bearer "+tok)
	},
	status: 401, route: "get-user", action: "block", reason: "token_expired", client: "198.51.100.22", refused: true,
}}

// runMix sends mixSteps through a fresh proxy.
func runMix(t *testing.T) *harness {
	t.Helper()
	t.Setenv("AG_TEST_KEY_SECRET", mixSecret)
	t.Setenv("AG_TEST_JWT_SECRET", jwtSecret)
	up := newUpstream(t)
	h := newHarness(t, mixConfig, up.URL, nil)
	for _, s := range mixSteps {
		rec := h.do(s.req(t), s.peer)
		if rec.Code != s.status {
			t.Fatalf("%s: status %d, want %d (%s)", s.name, rec.Code, s.status, rec.Body)
		}
		if s.refused {
			rule := ""
			if s.action == "throttle" {
				rule = s.rule
			}
			checkProblem(t, rec, s.status, s.reason, rule)
		}
	}
	return h
}

func TestAccessLog(t *testing.T) {
	h := runMix(t)
	mac := hmac.New(sha256.New, []byte(mixSecret))
	mac.Write([]byte(mixKey))
	wantKeyID := "k_" + hex.EncodeToString(mac.Sum(nil)[:8])
	if !regexp.MustCompile(`^k_[0-9a-f]{16}$`).MatchString(wantKeyID) {
		t.Fatalf("bad expected key id %q", wantKeyID)
	}
	if strings.Contains(h.log.String(), mixKey) || strings.Contains(h.log.String(), "SUPERSECRET") {
		t.Errorf("the access log holds the raw API key:\n%s", h.log)
	}
	lines := h.logLines(t)
	if len(lines) != len(mixSteps) {
		t.Fatalf("access log has %d lines, want %d:\n%s", len(lines), len(mixSteps), h.log)
	}
	ids := map[any]bool{}
	for i, s := range mixSteps {
		t.Run(s.name, func(t *testing.T) {
			line := lines[i]
			keyID := ""
			if s.keyed {
				keyID = wantKeyID
			}
			want := map[string]any{
				"key_id": keyID, "action": s.action, "rule": s.rule, "mode": s.mode, "reason": s.reason,
				"status": float64(s.status), "route": s.route, "client_ip": s.client,
				"time": t0.Format(time.RFC3339),
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %#v, want %#v", k, line[k], v)
				}
			}
			if id, _ := line["request_id"].(string); id == "" || ids[id] {
				t.Errorf("request_id = %q: want a fresh id", id)
			}
			ids[line["request_id"]] = true
		})
	}
}

// TestAccessLogNamesRefusedRequests checks that requests refused before
// any decision (caps, forwarding headers) still log their method and path.
func TestAccessLogNamesRefusedRequests(t *testing.T) {
	up := newUpstream(t)
	h := newHarness(t, `
network:
  trusted_proxies: [10.0.0.0/8]
server:
  max_body_bytes: 1KiB
  max_header_bytes: 1KiB
`, up.URL, nil)
	tests := []struct {
		name   string
		peer   string
		req    *http.Request
		status int
	}{
		{"bad forwarding header", "10.0.0.1:1", newRequest("DELETE", "/v1/a", nil, "X-Forwarded-For: garbage"), 400},
		{"body too large", "203.0.113.1:1", newRequest("POST", "/v1/b", bytes.NewReader(make([]byte, 2048))), 413},
		{"headers too large", "203.0.113.1:1", newRequest("PUT", "/v1/c", nil, "X-Padding: "+strings.Repeat("p", 1100)), 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.log.Reset()
			if rec := h.do(tt.req, tt.peer); rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			lines := h.logLines(t)
			if len(lines) != 1 || lines[0]["method"] != tt.req.Method || lines[0]["path"] != tt.req.URL.Path {
				t.Errorf("access log = %v, want method %s and path %s", lines, tt.req.Method, tt.req.URL.Path)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	h := runMix(t)
	families, err := h.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// counters maps "name{k=v,...}" (labels sorted) to the value.
	counters := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
				v := l.GetValue()
				if _, err := netip.ParseAddr(v); err == nil {
					t.Errorf("%s has a label holding an IP: %s=%q", f.GetName(), l.GetName(), v)
				}
				for _, secret := range []string{"203.0.113", "198.51.100", "10.0.0", mixKey, "k_", "bob", "alice"} {
					if strings.Contains(v, secret) {
						t.Errorf("%s has a label holding a client IP, key or user: %s=%q", f.GetName(), l.GetName(), v)
					}
				}
			}
			if m.GetCounter() != nil {
				slices.Sort(labels)
				counters[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"abuseguard_requests_total{action=allow,mode=,route=get-user,rule=}":                 1,
		"abuseguard_requests_total{action=allow,mode=shadow,route=get-user,rule=key-shadow}": 1,
		"abuseguard_requests_total{action=throttle,mode=enforce,route=get-user,rule=per-ip}": 1,
		"abuseguard_requests_total{action=allow,mode=,route=unmatched,rule=}":                1,
		"abuseguard_refused_total{reason=bad_forwarding_header}":                             1,
		"abuseguard_refused_total{reason=headers_too_large}":                                 1,
		"abuseguard_refused_total{reason=token_expired}":                                     1,
		"abuseguard_config_reloads_total{result=failed}":                                     0,
		// The operations metrics (docs/metrics.md).
		"abuseguard_acted_total{action=throttle,identity=anonymous,mode=enforce,reason=rate_limited}": 1,
		"abuseguard_acted_total{action=allow,identity=anonymous,mode=shadow,reason=rate_limited}":     1,
		"abuseguard_upstream_responses_total{code=2xx,route=get-user}":                                2,
		"abuseguard_upstream_responses_total{code=2xx,route=unmatched}":                               1,
		"abuseguard_verified_requests_total{}":                                                        0,
	} {
		if got, ok := counters[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	var requests, refused float64
	for key, v := range counters {
		switch {
		case strings.HasPrefix(key, "abuseguard_requests_total{"):
			requests += v
		case strings.HasPrefix(key, "abuseguard_refused_total{"):
			refused += v
		}
	}
	// Every request is counted once: decided ones in requests_total,
	// those refused before a decision in refused_total.
	if requests != 4 || refused != 3 {
		t.Errorf("requests_total sums to %v, refused_total to %v; want 4 and 3:\n%v", requests, refused, counters)
	}
}

// TestServedOverLoopback runs the proxy behind a real listener, so the
// forwarding headers and problem responses cross actual HTTP connections.
func TestServedOverLoopback(t *testing.T) {
	up := newUpstream(t)
	h := newHarness(t, `
limits:
  - {name: per-ip, key: [ip], rate: 1/m, burst: 1}
`, up.URL, nil)
	srv := httptest.NewServer(h.p)
	t.Cleanup(srv.Close)
	client := srv.Client()

	get := func() *http.Response {
		r, err := http.NewRequest("GET", srv.URL+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-Forwarded-For", "1.2.3.4")
		r.Header.Set("X-Real-Ip", "1.2.3.4")
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := get(); resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	seen := up.last(t)
	if xff := seen.Get("X-Forwarded-For"); xff != "127.0.0.1" || seen.Get("X-Real-Ip") != "" {
		t.Errorf("upstream got X-Forwarded-For %q, X-Real-Ip %q; want 127.0.0.1 and none", xff, seen.Get("X-Real-Ip"))
	}
	resp := get()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Content-Type") != "application/problem+json" ||
		resp.Header.Get("Retry-After") != "60" || !strings.Contains(string(body), `"reason":"rate_limited"`) {
		t.Errorf("second request: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if up.calls() != 1 {
		t.Errorf("upstream calls = %d, want 1", up.calls())
	}
}
