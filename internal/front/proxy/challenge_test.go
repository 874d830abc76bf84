package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// challengeConfig challenges every request to /guarded with a CEL rule,
// at difficulty 8 (so tests solve in microseconds).
const challengeConfig = `
rules:
  - name: guard
    when: request.path.startsWith("/guarded")
    action: challenge
    reason: test
challenge:
  difficulty: [8, 10]
  ttl: 1m
  pass_ttl: 10m
  rotation: 1h
`

// challengeOf checks that rec is a challenge with reason and returns it.
func challengeOf(t *testing.T, rec *httptest.ResponseRecorder, reason string) challenge.Challenge {
	t.Helper()
	checkProblem(t, rec, http.StatusTooManyRequests, reason, "rule:guard")
	c, err := challenge.ParseProblem(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("problem body: %v (%s)", err, rec.Body)
	}
	h, err := challenge.ParseWWWAuthenticate(rec.Header().Get("Www-Authenticate"))
	if err != nil {
		t.Fatalf("WWW-Authenticate %q: %v", rec.Header().Get("Www-Authenticate"), err)
	}
	if h.Token != c.Token || h.Difficulty != c.Difficulty || c.Difficulty != 8 {
		t.Fatalf("header %+v and body %+v disagree (want difficulty 8)", h, c)
	}
	if !c.Expires.Equal(t0.Add(time.Minute)) {
		t.Errorf("expires %v, want %v", c.Expires, t0.Add(time.Minute))
	}
	return c
}

func solveHeader(t *testing.T, c challenge.Challenge) string {
	t.Helper()
	sol, _, err := challenge.Solver{}.Solve(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return sol.String()
}

func TestChallengeProtocol(t *testing.T) {
	up := newUpstream(t)
	h := newHarness(t, challengeConfig, up.URL, nil)
	const peer = "203.0.113.7:4000"

	// Unchallenged paths pass; a challenged one gets a puzzle.
	if rec := h.do(newRequest("GET", "/open", nil), peer); rec.Code != http.StatusOK {
		t.Fatalf("open path: %d", rec.Code)
	}
	c := challengeOf(t, h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1"), peer), "challenge_required")

	// A curl-like client that does not solve stays refused.
	for range 3 {
		challengeOf(t, h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1"), peer), "challenge_required")
	}
	sol := solveHeader(t, c)

	// From another network, or with another user agent, the solution is
	// someone else's.
	challengeOf(t, h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1", "Abuseguard-Solution: "+sol), "198.51.100.9:1"), "challenge_transplanted")
	challengeOf(t, h.do(newRequest("GET", "/guarded", nil, "User-Agent: curl/8", "Abuseguard-Solution: "+sol), peer), "challenge_transplanted")

	// The solution answers as the request would be without the challenge,
	// with a pass; the upstream never sees the protocol's headers.
	calls := up.calls()
	rec := h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1", "Abuseguard-Solution: "+sol), "203.0.113.99:5")
	if rec.Code != http.StatusOK || rec.Body.String() != "upstream says hi" || up.calls() != calls+1 {
		t.Fatalf("solved: %d %q", rec.Code, rec.Body)
	}
	if up.last(t).Get(challenge.SolutionHeader) != "" {
		t.Error("the upstream saw the solution header")
	}
	pass := rec.Header().Get(challenge.PassHeader)
	if !challenge.ValidToken(pass) || rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("pass %q, Set-Cookie %q: want a pass header and no cookie for an API client", pass, rec.Header().Get("Set-Cookie"))
	}

	// Replayed: refused, with a fresh challenge.
	challengeOf(t, h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1", "Abuseguard-Solution: "+sol), peer), "challenge_replayed")

	// The pass works on later requests, until it expires; it is bound too.
	for range 3 {
		if rec := h.do(newRequest("GET", "/guarded/more", nil, "User-Agent: app/1", "Abuseguard-Pass: "+pass), peer); rec.Code != http.StatusOK {
			t.Fatalf("with the pass: %d %s", rec.Code, rec.Body)
		}
	}
	challengeOf(t, h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1", "Abuseguard-Pass: "+pass), "198.51.100.9:1"), "pass_transplanted")
	h.clock.Advance(10 * time.Minute)
	challengeOf2 := h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1", "Abuseguard-Pass: "+pass), peer)
	checkProblem(t, challengeOf2, http.StatusTooManyRequests, "pass_expired", "rule:guard")

	// Expired and forged solutions have their own reasons.
	h.clock.Set(t0)
	c2 := challengeOf(t, h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1"), peer), "challenge_required")
	sol2 := solveHeader(t, c2)
	forged := strings.Replace(sol2, c2.Token[:10], "AAAAAAAAAA", 1)
	if forged == sol2 {
		forged = strings.Replace(sol2, c2.Token[:10], "BBBBBBBBBB", 1)
	}
	challengeOf(t, h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1", "Abuseguard-Solution: "+forged), peer), "challenge_forged")
	h.clock.Advance(time.Minute)
	checkProblem(t, h.do(newRequest("GET", "/guarded", nil, "User-Agent: app/1", "Abuseguard-Solution: "+sol2), peer),
		http.StatusTooManyRequests, "challenge_expired", "rule:guard")

	// Metrics count what happened.
	body := metricsText(t, h)
	for _, want := range []string{`abuseguard_challenges_total{outcome="issued"}`, `abuseguard_challenges_total{outcome="solved"} 1`,
		`abuseguard_challenges_total{outcome="pass"} 3`, `abuseguard_challenges_total{outcome="challenge_replayed"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func metricsText(t *testing.T, h *harness) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(h.metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

var tlsState tls.ConnectionState

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestChallengeBrowserGetsPageAndCookie(t *testing.T) {
	up := newUpstream(t)
	h := newHarness(t, challengeConfig, up.URL, nil)
	const peer = "203.0.113.7:4000"
	const ua = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/140"
	rec := h.do(newRequest("GET", "/guarded/page", nil, ua, "Accept: text/html,application/xhtml+xml"), peer)
	if rec.Code != http.StatusTooManyRequests || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("browser: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	c, err := challenge.ParseWWWAuthenticate(rec.Header().Get("Www-Authenticate"))
	if err != nil || !strings.Contains(rec.Body.String(), c.Token) || !strings.Contains(rec.Body.String(), "<noscript>") {
		t.Fatalf("page does not carry the challenge (%v)", err)
	}
	sol, _, err := challenge.Solver{}.Solve(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// The page leaves the solution in a cookie and reloads.
	cookie := "Cookie: other=1; " + challenge.SolutionCookie + "=" + sol.Token + "." + itoa(sol.Nonce)
	rec = h.do(newRequest("GET", "/guarded/page", nil, ua, "Accept: text/html", cookie), peer)
	if rec.Code != http.StatusOK {
		t.Fatalf("solved by cookie: %d %s", rec.Code, rec.Body)
	}
	res := http.Response{Header: rec.Header()}
	var pass *http.Cookie
	cleared := false
	for _, ck := range res.Cookies() {
		switch ck.Name {
		case challenge.PassCookie:
			pass = ck
		case challenge.SolutionCookie:
			cleared = ck.MaxAge < 0
		}
	}
	if pass == nil || !pass.HttpOnly || pass.Secure || pass.SameSite != http.SameSiteLaxMode || pass.MaxAge != 600 || pass.Path != "/" {
		t.Fatalf("pass cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP, Max-Age 600", pass)
	}
	if !cleared {
		t.Error("the solution cookie was not cleared")
	}
	rec = h.do(newRequest("GET", "/guarded/page", nil, ua, "Accept: text/html", "Cookie: "+challenge.PassCookie+"="+pass.Value), peer)
	if rec.Code != http.StatusOK {
		t.Fatalf("with the pass cookie: %d", rec.Code)
	}
	// Over TLS the cookie is Secure.
	c3, _ := challenge.ParseWWWAuthenticate(h.do(newRequest("GET", "/guarded/x", nil, ua, "Accept: text/html"), peer).Header().Get("Www-Authenticate"))
	sol3, _, _ := challenge.Solver{}.Solve(context.Background(), c3)
	r := newRequest("GET", "/guarded/x", nil, ua, "Accept: text/html", "Cookie: "+challenge.SolutionCookie+"="+sol3.Token+"."+itoa(sol3.Nonce))
	r.TLS = &tlsState
	rec = h.do(r, peer)
	if sc := rec.Header().Values("Set-Cookie"); rec.Code != http.StatusOK || len(sc) == 0 || !strings.Contains(sc[0], "Secure") {
		t.Fatalf("over TLS: %d, Set-Cookie %q", rec.Code, sc)
	}
}

// TestGoClientThroughGuard runs the public Transport against the proxy on
// a loopback port: it solves, keeps the pass and reuses it.
func TestGoClientThroughGuard(t *testing.T) {
	up := newUpstream(t)
	h := newHarness(t, challengeConfig, up.URL, nil)
	srv := httptest.NewServer(h.p)
	t.Cleanup(srv.Close)
	var solves int
	tr := &challenge.Transport{OnSolve: func(challenge.Challenge, challenge.Stats, error) { solves++ }}
	client := &http.Client{Transport: tr}
	for i := range 4 {
		resp, err := client.Post(srv.URL+"/guarded/orders", "application/json", strings.NewReader(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "upstream says hi" {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	if solves != 1 {
		t.Errorf("solved %d times, want 1 (the pass is reused)", solves)
	}
	// Without a solver, a plain client stays out.
	resp, err := http.Get(srv.URL + "/guarded/orders")
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Reason string }
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || p.Reason != "challenge_required" {
		t.Fatalf("plain client: %d %q", resp.StatusCode, p.Reason)
	}
}
