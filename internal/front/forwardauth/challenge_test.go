package forwardauth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/abuseguard/abuseguard/internal/testenv"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// More loopback clients, one per part of the challenge scenario (a
// challenge binds the user agent too, so they could share one; separate
// addresses keep the parts apart in the logs).
const (
	clientD = "127.0.0.10"
	clientE = "127.0.0.11"
)

// challengeYAML is guardYAML with a rule that challenges /guarded at the
// default difficulty ladder (16 bits first), and a per-IP limit the
// scenario's requests stay within.
func challengeYAML(t testing.TB) string {
	t.Helper()
	y := guardYAML()
	for old, repl := range map[string]string{
		"rate: 3/m\n    burst: 3": "rate: 100000/m\n    burst: 100000",
		"rules:\n":                "rules:\n  - name: guard\n    when: request.path.startsWith(\"/guarded\")\n    action: challenge\n    reason: test\n",
	} {
		if !strings.Contains(y, old) {
			t.Fatalf("guardYAML no longer has %q", old)
		}
		y = strings.Replace(y, old, repl, 1)
	}
	return y
}

// challengeIn checks that a is a challenge at the default difficulty, with
// the same puzzle in the problem body (reason) and in WWW-Authenticate,
// and returns it.
func challengeIn(t *testing.T, a answer, reason string) challenge.Challenge {
	t.Helper()
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("want a 429 challenge, got %d %s", a.status, a.body)
	}
	h, err := challenge.ParseWWWAuthenticate(a.header.Get("Www-Authenticate"))
	if err != nil {
		t.Fatalf("WWW-Authenticate %q: %v", a.header.Get("Www-Authenticate"), err)
	}
	if h.Difficulty != 16 {
		t.Errorf("difficulty %d, want the default ladder's 16", h.Difficulty)
	}
	if strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		return h
	}
	c, err := challenge.ParseProblem([]byte(a.body))
	if err != nil {
		t.Fatalf("problem body: %v (%s)", err, a.body)
	}
	if c.Token != h.Token || c.Difficulty != h.Difficulty {
		t.Fatalf("body %+v and header %+v name different puzzles", c, h)
	}
	if !strings.Contains(a.body, `"reason":"`+reason+`"`) {
		t.Errorf("reason: %s, want %s", a.body, reason)
	}
	return c
}

func solve(t *testing.T, c challenge.Challenge) challenge.Solution {
	t.Helper()
	sol, _, err := challenge.Solver{}.Solve(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return sol
}

// checkChallenge runs the challenge scenario every gateway must pass on
// /guarded: a client without a solver stays out; the Go client solves,
// gets through and rides its pass; a solution earns the Abuseguard-Pass
// header once (replayed, it is refused) and a pass works for its own
// client only; a browser gets the interstitial page, and the page's
// solution cookie earns the one HttpOnly pass cookie. The protocol's
// headers never reach the upstream.
func checkChallenge(t *testing.T, gateway, base string, up *upstream) {
	url := base + "/guarded/items"
	calls := up.calls()
	for range 3 {
		challengeIn(t, send(t, clientA, url, "User-Agent", "curl/8.5"), "challenge_required")
	}
	if up.calls() != calls {
		t.Fatal("a client that does not solve reached the upstream")
	}

	// The Go client.
	solves := 0
	tr := &challenge.Transport{Base: clientFrom(clientB).Transport,
		OnSolve: func(_ challenge.Challenge, _ challenge.Stats, err error) {
			if err == nil {
				solves++
			}
		}}
	hc := &http.Client{Transport: tr, Timeout: testTimeout}
	get := func() (int, string, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}
	status, body, took := get()
	if status != http.StatusOK || body != "upstream ok" || solves != 1 || tr.Pass(hostPort(base)) == "" {
		t.Fatalf("Go client: %d %q after %d solves, pass %q", status, body, solves, tr.Pass(hostPort(base)))
	}
	t.Logf("%s: the Go client solved difficulty 16 and reached the upstream in %v", gateway, took)
	if h := up.last(); h.Get(challenge.SolutionHeader) != "" || h.Get(challenge.PassHeader) != "" {
		t.Errorf("the upstream saw the protocol's headers: solution %q, pass %q", h.Get(challenge.SolutionHeader), h.Get(challenge.PassHeader))
	}
	if status, _, _ := get(); status != http.StatusOK || solves != 1 {
		t.Errorf("on the pass: %d after %d solves, want 200 without solving again", status, solves)
	}
	if h := up.last(); h.Get(challenge.PassHeader) != "" {
		t.Errorf("the upstream saw the pass %q", h.Get(challenge.PassHeader))
	}

	// By hand: one solution, one pass.
	c := challengeIn(t, send(t, clientC, url, "User-Agent", "tool/1"), "challenge_required")
	sol := solve(t, c).String()
	a := send(t, clientC, url, "User-Agent", "tool/1", challenge.SolutionHeader, sol)
	pass := a.header.Get(challenge.PassHeader)
	if a.status != http.StatusOK || !challenge.ValidToken(pass) {
		t.Fatalf("with a solution: %d %s, pass %q", a.status, a.body, pass)
	}
	challengeIn(t, send(t, clientC, url, "User-Agent", "tool/1", challenge.SolutionHeader, sol), "challenge_replayed")
	challengeIn(t, send(t, clientC, url, "User-Agent", "tool/2", challenge.PassHeader, pass), "pass_transplanted")
	a = send(t, clientC, url, "User-Agent", "tool/1", challenge.PassHeader, pass)
	if a.status != http.StatusOK {
		t.Errorf("with the pass: %d %s", a.status, a.body)
	}
	// Nothing to hand back then: no pass header, no cookie.
	if v, c := a.header.Values(challenge.PassHeader), a.header.Values("Set-Cookie"); len(v) != 0 || len(c) != 0 {
		t.Errorf("an answer on a pass carries pass %q and Set-Cookie %q, want neither", v, c)
	}

	// A browser, as the page would act.
	browser := []string{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64)", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}
	a = send(t, clientD, url, browser...)
	c = challengeIn(t, a, "")
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(a.body, c.Token) || !strings.Contains(a.body, "<noscript>") {
		t.Fatalf("browser: %s, want the interstitial page with the token:\n%.300s", ct, a.body)
	}
	s := solve(t, c)
	a = send(t, clientD, url, append(browser, "Cookie", challenge.SolutionCookie+"="+s.Token+"."+strconv.FormatUint(s.Nonce, 10))...)
	if a.status != http.StatusOK {
		t.Fatalf("browser with the solution cookie: %d %s", a.status, a.body)
	}
	cookies := (&http.Response{Header: a.header}).Cookies()
	if len(cookies) != 1 || cookies[0].Name != challenge.PassCookie || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode || cookies[0].Secure {
		t.Fatalf("Set-Cookie %q: want one HttpOnly, SameSite=Lax pass cookie, not Secure on plain HTTP", a.header.Values("Set-Cookie"))
	}
	if a := send(t, clientD, url, append(browser, "Cookie", challenge.PassCookie+"="+cookies[0].Value)...); a.status != http.StatusOK {
		t.Errorf("browser with the pass cookie: %d %s", a.status, a.body)
	}
}

// TestChallengeHandler runs the scenario against the handler itself, the
// test client in the gateway's role.
func TestChallengeHandler(t *testing.T) {
	guard, _ := startGuardYAML(t, challengeYAML(t))
	up := startUpstream(t)
	// A gateway in front of up: ask /auth, then pass the request on or
	// answer with the refusal, copying the answer's headers to the client.
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest(http.MethodGet, guard.URL+AuthPath, nil)
		req.Header = r.Header.Clone()
		req.Header.Set("X-Forwarded-Method", r.Method)
		req.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
		req.Header.Set("X-Forwarded-For", strings.Split(r.RemoteAddr, ":")[0])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for _, k := range []string{"Ratelimit", "Ratelimit-Policy", challenge.PassHeader, "Set-Cookie", "Www-Authenticate", "Content-Type"} {
			for _, v := range resp.Header.Values(k) {
				w.Header().Add(k, v)
			}
		}
		if resp.StatusCode != http.StatusOK {
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
			return
		}
		out, _ := http.NewRequest(r.Method, up.URL+r.URL.RequestURI(), nil)
		for k, vs := range r.Header {
			if k != challenge.SolutionHeader && k != challenge.PassHeader {
				out.Header[k] = vs
			}
		}
		ur, err := http.DefaultClient.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer ur.Body.Close()
		_, _ = io.Copy(w, ur.Body)
	}))
	t.Cleanup(gw.Close)
	checkChallenge(t, "handler", gw.URL, up)
}

// TestChallengePage: /challenge renders the page from the problem a
// trusted gateway passes, and nothing for anyone else or from a problem
// without a challenge.
func TestChallengePage(t *testing.T) {
	c, _ := newGuardEngineYAML(t, challengeYAML(t))
	h := New(c)
	rec := do(h, "127.0.0.1:1234", "GET", "/auth", "X-Forwarded-Uri", "/guarded/x", "X-Forwarded-For", clientA, "Accept", "text/html")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get(PageHeader) != "1" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("browser at /auth: %d %q page %q", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get(PageHeader))
	}
	prob := rec.Header().Get(ProblemHeader)
	want, err := challenge.ParseProblem([]byte(prob))
	if err != nil {
		t.Fatalf("%s %q: %v", ProblemHeader, prob, err)
	}
	page := do(h, "127.0.0.1:1234", "GET", ChallengePath, ProblemHeader, prob)
	if page.Code != http.StatusTooManyRequests || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(page.Body.String(), want.Token) || page.Header().Get("Www-Authenticate") != want.WWWAuthenticate() {
		t.Fatalf("page: %d %q %q\n%.200s", page.Code, page.Header().Get("Content-Type"), page.Header().Get("Www-Authenticate"), page.Body)
	}
	if rec := do(h, "192.0.2.1:1234", "GET", ChallengePath, ProblemHeader, prob); rec.Code != http.StatusForbidden {
		t.Errorf("untrusted peer: %d", rec.Code)
	}
	for _, bad := range []string{"", "{}", `{"reason":"rate_limited"}`, "not json", `{"challenge":{"algorithm":"md5","token":"x","difficulty":1}}`} {
		if rec := do(h, "127.0.0.1:1234", "GET", ChallengePath, ProblemHeader, bad); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "bad_challenge") {
			t.Errorf("problem %q: %d %s", bad, rec.Code, rec.Body)
		}
	}
}

func TestNginxChallenge(t *testing.T) {
	listen, up := startNginx(t, challengeYAML(t))
	checkChallenge(t, "nginx", "http://"+listen, up)
}

func TestCaddyChallenge(t *testing.T) {
	listen, up := startCaddy(t, challengeYAML(t))
	checkChallenge(t, "caddy", "http://"+listen, up)
}

// TestBrowserThroughGateways: headless Chromium, challenged through nginx
// and Caddy, solves the interstitial page and reaches the upstream with
// the pass cookie.
func TestBrowserThroughGateways(t *testing.T) {
	tab := testenv.Chromium(t)
	for name, start := range map[string]func(testing.TB, string) (string, *upstream){"nginx": startNginx, "caddy": startCaddy} {
		t.Run(name, func(t *testing.T) {
			listen, up := start(t, challengeYAML(t))
			ctx, cancel := context.WithTimeout(tab, 30*time.Second)
			defer cancel()
			url := "http://" + listen + "/guarded/page"
			begin := time.Now()
			if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(url)); err != nil {
				t.Fatal(err)
			}
			if err := testenv.WaitForText(ctx, "upstream ok"); err != nil {
				t.Fatal(err)
			}
			took := time.Since(begin)
			// The page's reload carried the solution and earned the pass
			// cookie; the next page goes through on it.
			calls := up.calls()
			if err := chromedp.Run(ctx, chromedp.Navigate("http://"+listen+"/guarded/other")); err != nil {
				t.Fatal(err)
			}
			if err := testenv.WaitForText(ctx, "upstream ok"); err != nil || up.calls() == calls {
				t.Fatalf("next page: %v", err)
			}
			if !strings.Contains(up.last().Get("Cookie"), challenge.PassCookie+"=") {
				t.Errorf("next page: the upstream saw Cookie %q, want the pass cookie", up.last().Get("Cookie"))
			}
			t.Logf("%s: Chromium solved difficulty 16 and reached the upstream in %v", name, took)
		})
	}
}

// startNginx runs deploy/gateways/nginx.conf in front of a guard with the
// config yaml and a test upstream, and returns nginx's address.
func startNginx(t testing.TB, yaml string) (string, *upstream) {
	t.Helper()
	nginx := testenv.LookPath(t, "nginx")
	guard, _ := startGuardYAML(t, yaml)
	up := startUpstream(t)
	dir := t.TempDir()
	listen := freePort(t)
	conf := nginxConfig(t, dir, hostPort(guard.URL), hostPort(up.URL), listen, "127.0.0.1:9") // outcomes: discarded
	cmd := exec.Command(nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	start(t, cmd)
	logs := func() string { return out.String() + logsOf(filepath.Join(dir, "error.log"))() }
	waitListening(t, listen, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx:\n%s", logs())
		}
	})
	return listen, up
}

// startCaddy runs deploy/gateways/Caddyfile in front of a guard with the
// config yaml and a test upstream, and returns Caddy's address.
func startCaddy(t testing.TB, yaml string) (string, *upstream) {
	t.Helper()
	caddy := testenv.LookPath(t, "caddy")
	guard, _ := startGuardYAML(t, yaml)
	up := startUpstream(t)
	dir := t.TempDir()
	listen := freePort(t)
	conf := caddyConfig(t, dir, hostPort(guard.URL), hostPort(up.URL), listen)
	cmd := exec.Command(caddy, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = caddyEnv(dir)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	start(t, cmd)
	waitListening(t, listen, out.String)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("caddy:\n%s", out.String())
		}
	})
	return listen, up
}

// TestExtAuthzHTTPChallenge: Envoy's HTTP ext_authz asks under
// /ext_authz; the test client, from the trusted 127.0.0.1, is Envoy. The
// denied answer carries the puzzle, a solution is allowed with the pass in
// the answer's headers (Envoy's allowed_client_headers_on_success passes
// them to the client), and the pass lets the client through.
func TestExtAuthzHTTPChallenge(t *testing.T) {
	guard, _ := startGuardYAML(t, challengeYAML(t))
	envoy := func(headers ...string) answer {
		t.Helper()
		return send(t, "127.0.0.1", guard.URL+ExtAuthzPrefix+"/guarded/items", append([]string{"X-Forwarded-For", clientE, "User-Agent", "app/3"}, headers...)...)
	}
	c := challengeIn(t, envoy(), "challenge_required")
	challengeIn(t, envoy(), "challenge_required")
	a := envoy(challenge.SolutionHeader, solve(t, c).String())
	pass := a.header.Get(challenge.PassHeader)
	if a.status != http.StatusOK || !challenge.ValidToken(pass) {
		t.Fatalf("with a solution: %d %s, pass %q", a.status, a.body, pass)
	}
	if a := envoy(challenge.PassHeader, pass); a.status != http.StatusOK {
		t.Errorf("with the pass: %d %s", a.status, a.body)
	}
}

// BenchmarkChallengeThroughGateways is what a challenge at the default
// difficulty (16) costs a client that gets through nginx and Caddy: a
// fresh Go client (pkg/challenge.Transport, no pass) from the first
// request to the upstream's answer, and headless Chromium from navigating
// to the challenged page to the upstream's page (load, solve in the
// page's workers, reload).
func BenchmarkChallengeThroughGateways(b *testing.B) {
	tab := testenv.Chromium(b)
	for _, gw := range []struct {
		name  string
		start func(testing.TB, string) (string, *upstream)
	}{{"nginx", startNginx}, {"caddy", startCaddy}} {
		listen, _ := gw.start(b, challengeYAML(b))
		url := "http://" + listen + "/guarded/items"
		b.Run(gw.name+"/go", func(b *testing.B) {
			for b.Loop() {
				hc := &http.Client{Transport: &challenge.Transport{Base: clientFrom(clientB).Transport}, Timeout: testTimeout}
				resp, err := hc.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
		b.Run(gw.name+"/chromium", func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithTimeout(tab, 30*time.Second)
				err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(url))
				if err == nil {
					err = testenv.WaitForText(ctx, "upstream ok")
				}
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
