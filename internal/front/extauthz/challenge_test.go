package extauthz

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	authpb "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// challengeYAML challenges /guarded at the default difficulty ladder
// (16 bits first) and limits nothing the test reaches.
const challengeYAML = `
rules:
  - name: guard
    when: request.path.startsWith("/guarded")
    action: challenge
    reason: test
detectors:
  honeypot: {mode: off}
  probing: {mode: off}
  automation: {mode: off}
  scraping: {mode: off}
  credentials: {mode: off}
  enumeration: {mode: off}
  sharing: {mode: off}
  volumetric: {mode: off}
  graphql: {mode: off}
`

// deniedChallenge checks that resp is Envoy's denied 429 challenge with reason
// (the body a problem, or the page when page), and returns the puzzle
// from its WWW-Authenticate header.
func deniedChallenge(t *testing.T, resp *authpb.CheckResponse, reason string, page bool) challenge.Challenge {
	t.Helper()
	d := resp.GetDeniedResponse()
	if codes.Code(resp.GetStatus().GetCode()) != codes.ResourceExhausted || d.GetStatus().GetCode() != http.StatusTooManyRequests {
		t.Fatalf("want a 429 challenge, got %v", resp)
	}
	h := headerMap(d.GetHeaders())
	c, err := challenge.ParseWWWAuthenticate(h["Www-Authenticate"])
	if err != nil || c.Difficulty != 16 {
		t.Fatalf("WWW-Authenticate %q: %v (want difficulty 16)", h["Www-Authenticate"], err)
	}
	if page {
		if !strings.HasPrefix(h["Content-Type"], "text/html") || !strings.Contains(d.GetBody(), c.Token) {
			t.Fatalf("browser: %q, want the interstitial page with the token", h["Content-Type"])
		}
		return c
	}
	b, err := challenge.ParseProblem([]byte(d.GetBody()))
	if err != nil || b.Token != c.Token || !strings.Contains(d.GetBody(), `"reason":"`+reason+`"`) {
		t.Fatalf("problem %s (%v): want reason %s and the header's token", d.GetBody(), err, reason)
	}
	return c
}

func solution(t *testing.T, c challenge.Challenge) challenge.Solution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sol, _, err := challenge.Solver{}.Solve(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return sol
}

// TestCheckChallenge: over gRPC, a challenged request is denied with the
// puzzle (problem and WWW-Authenticate, or the page for a browser); a
// solution is allowed, with the pass for the client in
// response_headers_to_add and the protocol's headers removed from the
// upstream request; the pass lets the client through, and a client that
// does not solve stays out.
func TestCheckChallenge(t *testing.T) {
	c := clientOf(t, newServerYAML(t, challengeYAML))
	const ip = "203.0.113.20"
	api := map[string]string{"user-agent": "app/2.1"}
	start := time.Now()
	pz := deniedChallenge(t, check(t, c, ip, "/guarded/items", api), "challenge_required", false)
	for range 3 { // no solver, no entry
		deniedChallenge(t, check(t, c, ip, "/guarded/items", api), "challenge_required", false)
	}
	sol := solution(t, pz)
	resp := check(t, c, ip, "/guarded/items", map[string]string{"user-agent": "app/2.1", "abuseguard-solution": sol.String()})
	ok := resp.GetOkResponse()
	if codes.Code(resp.GetStatus().GetCode()) != codes.OK || ok == nil {
		t.Fatalf("with a solution: %v", resp)
	}
	t.Logf("ext_authz: a difficulty 16 challenge solved and allowed in %v", time.Since(start))
	pass := headerMap(ok.GetResponseHeadersToAdd())[challenge.PassHeader]
	if !challenge.ValidToken(pass) {
		t.Fatalf("no pass for the client: %v", ok.GetResponseHeadersToAdd())
	}
	if !contains(ok.GetHeadersToRemove(), "abuseguard-solution") || !contains(ok.GetHeadersToRemove(), "abuseguard-pass") {
		t.Errorf("the protocol's headers are not removed upstream: %v", ok.GetHeadersToRemove())
	}
	deniedChallenge(t, check(t, c, ip, "/guarded/items", map[string]string{"user-agent": "app/2.1", "abuseguard-solution": sol.String()}), "challenge_replayed", false)
	if resp := check(t, c, ip, "/guarded/items", map[string]string{"user-agent": "app/2.1", "abuseguard-pass": pass}); resp.GetOkResponse() == nil {
		t.Errorf("with the pass: %v", resp)
	}
	deniedChallenge(t, check(t, c, "198.51.100.20", "/guarded/items", map[string]string{"user-agent": "app/2.1", "abuseguard-pass": pass}), "pass_transplanted", false)

	// A browser on TLS (Envoy reports the scheme): the page, then one
	// Secure, HttpOnly pass cookie for its solution cookie.
	browser := map[string]string{"user-agent": "Mozilla/5.0", "accept": "text/html,*/*;q=0.8"}
	pz = deniedChallenge(t, checkScheme(t, c, ip, "/guarded/page", "https", browser), "", true)
	s := solution(t, pz)
	browser["cookie"] = "theme=dark; " + challenge.SolutionCookie + "=" + s.Token + "." + strconv.FormatUint(s.Nonce, 10)
	resp = checkScheme(t, c, ip, "/guarded/page", "https", browser)
	if resp.GetOkResponse() == nil {
		t.Fatalf("browser with the solution cookie: %v", resp)
	}
	var cookies []string
	for _, h := range resp.GetOkResponse().GetResponseHeadersToAdd() {
		if h.GetHeader().GetKey() == "Set-Cookie" {
			cookies = append(cookies, h.GetHeader().GetValue())
		}
	}
	parsed := (&http.Response{Header: http.Header{"Set-Cookie": cookies}}).Cookies()
	if len(parsed) != 1 || parsed[0].Name != challenge.PassCookie || !parsed[0].HttpOnly || !parsed[0].Secure {
		t.Fatalf("Set-Cookie %q: want one Secure, HttpOnly pass cookie", cookies)
	}
	browser["cookie"] = challenge.PassCookie + "=" + parsed[0].Value
	if resp := checkScheme(t, c, ip, "/guarded/other", "https", browser); resp.GetOkResponse() == nil {
		t.Errorf("browser with the pass cookie: %v", resp)
	}
}
