package forwardauth

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/front/outcome"
	"github.com/abuseguard/abuseguard/internal/testenv"
)

// answer is one response through a gateway.
type answer struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, from, url string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := clientFrom(from).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// checkGateway runs the scenario every gateway must pass: allow with
// identity headers for the upstream, 429 with Retry-After once a client's
// 3 requests are spent, 403 for the banned client, and a client's own
// X-Forwarded-For, Forwarded and identity headers changing nothing.
//
// The RateLimit header of an allowed request is checked where the gateway
// passes it to the client (allowedHeaders; the shipped nginx.conf and
// Caddyfile both do).
func checkGateway(t *testing.T, base string, up *upstream, allowedHeaders bool) {
	spoof := []string{"X-Forwarded-For", clientB, "Forwarded", "for=" + clientB, "X-Real-Ip", clientB}

	// Allowed, with the key's identity for the upstream and none of the
	// client's made-up identity headers.
	a := send(t, clientA, base+"/items?page=1", append([]string{"X-API-Key", acmeKey, "X-Abuseguard-User", "mallory"}, spoof...)...)
	if a.status != http.StatusOK || a.body != "upstream ok" {
		t.Fatalf("first request: %d %q", a.status, a.body)
	}
	h := up.last()
	for name, want := range map[string]string{"X-Abuseguard-Key-Id": "acme-prod", "X-Abuseguard-Tenant": "acme", "X-Abuseguard-Plan": "gold", "X-Abuseguard-User": ""} {
		if got := h.Get(name); got != want {
			t.Errorf("upstream saw %s %q, want %q", name, got, want)
		}
	}
	if rl := a.header.Get("Ratelimit"); allowedHeaders && !strings.HasPrefix(rl, `"per-ip";r=2;`) {
		t.Errorf("RateLimit header %q, want per-ip with 2 left", rl)
	}

	// Two more, each claiming another client: all count for clientA.
	for i, xff := range []string{"198.51.100.1", "198.51.100.2, " + clientC} {
		if a := send(t, clientA, base+"/items", "X-Forwarded-For", xff, "Forwarded", "for="+xff); a.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+2, a.status, a.body)
		}
	}
	calls := up.calls()
	a = send(t, clientA, base+"/items", spoof...)
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("fourth request: %d %s", a.status, a.body)
	}
	if ra, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("429 Retry-After %q", a.header.Get("Retry-After"))
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") || !strings.Contains(a.body, `"reason":"rate_limited"`) {
		t.Errorf("429 %s %s, want problem+json rate_limited", ct, a.body)
	}
	if up.calls() != calls {
		t.Error("a refused request reached the upstream")
	}

	// clientB, whose address clientA claimed, has its whole budget.
	for i := range 3 {
		if a := send(t, clientB, base+"/items"); a.status != http.StatusOK {
			t.Errorf("clientB request %d: %d %s", i+1, a.status, a.body)
		}
	}

	// The banned client is refused whoever it claims to be, and claiming
	// to be the banned client bans no one.
	a = send(t, bannedIP, base+"/items", "X-Forwarded-For", clientC, "Forwarded", "for="+clientC)
	if a.status != http.StatusForbidden || !strings.Contains(a.body, `"reason":"banned"`) {
		t.Errorf("banned client: %d %s", a.status, a.body)
	}
	if a := send(t, clientC, base+"/items", "X-Forwarded-For", bannedIP, "Forwarded", "for="+bannedIP); a.status != http.StatusOK {
		t.Errorf("client claiming the banned address: %d %s", a.status, a.body)
	}
}

// nginxConfig is deploy/gateways/nginx.conf for a test: the guard, the
// upstream and the listen address replaced, and every file nginx writes
// under dir.
func nginxConfig(t testing.TB, dir, guard, api, listen, syslog string) string {
	conf := readDeploy(t, "nginx.conf")
	for old, repl := range map[string]string{
		"127.0.0.1:5140":                 syslog,
		"127.0.0.1:8081":                 guard,
		"127.0.0.1:3000":                 api,
		"listen 8000;":                   "listen " + listen + ";",
		"worker_processes auto;":         "worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log " + filepath.Join(dir, "error.log") + " info;",
		"pid /run/nginx-abuseguard.pid;": "pid " + filepath.Join(dir, "nginx.pid") + ";",
		"http {":                         "http {\n    access_log off;\n    client_body_temp_path " + dir + "/body;\n    proxy_temp_path " + dir + "/proxy;\n    fastcgi_temp_path " + dir + "/fastcgi;\n    uwsgi_temp_path " + dir + "/uwsgi;\n    scgi_temp_path " + dir + "/scgi;",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("deploy/gateways/nginx.conf no longer has %q", old)
		}
		conf = strings.ReplaceAll(conf, old, repl)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func logsOf(path string) func() string {
	return func() string { b, _ := os.ReadFile(path); return string(b) }
}

// start runs cmd until the test ends.
func start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

func TestNginx(t *testing.T) {
	nginx := testenv.LookPath(t, "nginx")
	guard, eng := startGuardEngine(t)
	up := startUpstream(t)
	feeder := outcome.NewFeeder(eng)
	syslog, err := outcome.ListenSyslog("127.0.0.1:0", feeder, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go syslog.Run(ctx)
	dir := t.TempDir()
	listen := freePort(t)
	conf := nginxConfig(t, dir, hostPort(guard.URL), hostPort(up.URL), listen, syslog.Addr().String())
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
	checkGateway(t, "http://"+listen, up, true)

	// The 7 requests the guard let through reach it again as outcomes
	// over syslog; the 2 it refused do not.
	deadline := time.Now().Add(testTimeout)
	for feeder.Fed.Load() < 7 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if fed, bad := feeder.Fed.Load(), feeder.Bad.Load(); fed != 7 || bad != 0 {
		t.Errorf("outcomes over syslog: %d fed, %d bad; want 7 and 0", fed, bad)
	}

	// With the guard gone, nginx fails closed with a problem of its own.
	guard.Close()
	if a := send(t, clientC, "http://"+listen+"/items"); a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "guard_unavailable") {
		t.Errorf("guard down: %d %s", a.status, a.body)
	}
}

// caddyConfig is deploy/gateways/Caddyfile with the guard, the upstream and
// the site address replaced.
func caddyConfig(t testing.TB, dir, guard, api, listen string) string {
	conf := readDeploy(t, "Caddyfile")
	for old, repl := range map[string]string{
		"127.0.0.1:8081": guard,
		"127.0.0.1:3000": api,
		":8000 {":        "http://" + listen + " {\n\tbind 127.0.0.1",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("deploy/gateways/Caddyfile no longer has %q", old)
		}
		conf = strings.ReplaceAll(conf, old, repl)
	}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// caddyEnv keeps Caddy's data and config directories in dir.
func caddyEnv(dir string) []string {
	return append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
}

func TestCaddy(t *testing.T) {
	caddy := testenv.LookPath(t, "caddy")
	guard, up := startGuard(t), startUpstream(t)
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
	checkGateway(t, "http://"+listen, up, true)
}

// TestDeployExamplesValidate checks the shipped nginx.conf and Caddyfile
// with the real programs.
func TestDeployExamplesValidate(t *testing.T) {
	t.Run("nginx", func(t *testing.T) {
		nginx := testenv.LookPath(t, "nginx")
		dir := t.TempDir()
		conf := nginxConfig(t, dir, "127.0.0.1:8081", "127.0.0.1:3000", "127.0.0.1:8000", "127.0.0.1:5140")
		if out, err := exec.Command(nginx, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput(); err != nil {
			t.Fatalf("nginx -t: %v\n%s", err, out)
		}
	})
	t.Run("caddy", func(t *testing.T) {
		caddy := testenv.LookPath(t, "caddy")
		dir := t.TempDir()
		cmd := exec.Command(caddy, "validate", "--config", filepath.Join(deployDir, "Caddyfile"), "--adapter", "caddyfile")
		cmd.Env = caddyEnv(dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("caddy validate: %v\n%s", err, out)
		}
	})
}

func hostPort(url string) string { return strings.TrimPrefix(url, "http://") }
