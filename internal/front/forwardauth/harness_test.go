package forwardauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/front/gateway"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

// Loopback addresses the test clients send from: the gateways (and the
// handler tests' trusted peer) are 127.0.0.1, the only trusted proxy.
const (
	clientA     = "127.0.0.5"
	clientB     = "127.0.0.6"
	clientC     = "127.0.0.7"
	bannedIP    = "127.0.0.9"
	acmeKey     = "k-acme-secret"
	deployDir   = "../../../deploy/gateways"
	testTimeout = 10 * time.Second
)

// guardYAML is the guard's config in every forward-auth test: 3 requests
// per client IP, a rule that blocks bannedIP, one known API key, and no
// detectors, so the answers depend on the limits and the rule alone.
func guardYAML() string {
	sum := sha256.Sum256([]byte(acmeKey))
	return `
network:
  trusted_proxies: [127.0.0.1/32]
identity:
  api_key:
    header: X-API-Key
    keys:
      - {id: acme-prod, sha256: ` + hex.EncodeToString(sum[:]) + `, plan: gold, tenant: acme}
limits:
  - name: per-ip
    key: [ip]
    rate: 3/m
    burst: 3
rules:
  - name: banned
    when: 'request.ip == "` + bannedIP + `"'
    action: block
    reason: banned
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
}

// newChecker compiles guardYAML over a fresh memory store.
func newChecker(t testing.TB) *gateway.Checker {
	c, _ := newGuardEngine(t)
	return c
}

// newGuardEngine is newChecker, with the engine it decides with.
func newGuardEngine(t testing.TB) (*gateway.Checker, *engine.Engine) {
	t.Helper()
	return newGuardEngineYAML(t, guardYAML())
}

// newGuardEngineYAML is newGuardEngine with the config yaml.
func newGuardEngineYAML(t testing.TB, yaml string) (*gateway.Checker, *engine.Engine) {
	t.Helper()
	cfg, err := config.Parse("guard.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := engine.Compile(cfg, engine.NewShared(engine.Options{Limits: memory.New(memory.Options{}), RiskEntities: 1000, Getenv: os.Getenv}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pol.Close)
	eng := engine.New(pol)
	return gateway.New(gateway.Options{Engine: eng, Identity: cfg.Fronts.ForwardAuth.IdentityHeaders}), eng
}

// startGuard serves the forward-auth handler on 127.0.0.1.
func startGuard(t testing.TB) *httptest.Server {
	s, _ := startGuardEngine(t)
	return s
}

// startGuardEngine is startGuard, with the guard's engine.
func startGuardEngine(t testing.TB) (*httptest.Server, *engine.Engine) {
	t.Helper()
	return startGuardYAML(t, guardYAML())
}

// startGuardYAML is startGuardEngine with the config yaml.
func startGuardYAML(t testing.TB, yaml string) (*httptest.Server, *engine.Engine) {
	t.Helper()
	c, eng := newGuardEngineYAML(t, yaml)
	s := httptest.NewServer(New(c))
	t.Cleanup(s.Close)
	return s, eng
}

// upstream is a test API that records the headers reaching it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		io.WriteString(w, "upstream ok")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

func (u *upstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: testTimeout}
	return &http.Client{Timeout: testTimeout, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitListening waits until addr accepts connections.
func waitListening(t testing.TB, addr string, logs func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nothing listens on %s: %v\n%s", addr, err, logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func readDeploy(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
