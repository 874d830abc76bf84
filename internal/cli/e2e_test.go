package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/serve"
)

// guard is one abuseguard serve process, run in-process on loopback.
type guard struct {
	proxy, admin string
	stop         func()
}

func startGuard(t *testing.T, configFile, upstream string) *guard {
	t.Helper()
	ready := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		done <- serve.Run(ctx, serve.Options{
			ConfigFile: configFile, Upstream: upstream, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			Logger: slog.New(slog.DiscardHandler),
			Ready:  func(p, a net.Addr) { ready <- [2]net.Addr{p, a} },
		})
	}()
	select {
	case addrs := <-ready:
		g := &guard{proxy: "http://" + addrs[0].String(), admin: "http://" + addrs[1].String()}
		g.stop = func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve returned %v", err)
			}
		}
		return g
	case err := <-done:
		cancel()
		t.Fatalf("serve failed: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return nil
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip, so the guard sees a distinct client.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestProbingBlockedExplainedAndPersisted is the detection issue's end to
// end test: through serve, one IP probing 40 missing paths is blocked
// (403 problem+json) before its 40th request while a benign IP is
// untouched; `decisions explain` names the detector; after a restart the
// block is still in force.
func TestProbingBlockedExplainedAndPersisted(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			io.WriteString(w, "home\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer upstream.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "abuseguard.yaml")
	conf := fmt.Sprintf("decisions: {path: %q}\naccess_log: off\nevents: %q\n", filepath.Join(dir, "decisions.db"), filepath.Join(dir, "events.jsonl"))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ABUSEGUARD_ADMIN_TOKEN", "test-token")
	g := startGuard(t, cfg, upstream.URL)

	prober, benign := clientFrom("127.0.0.2"), clientFrom("127.0.0.3")
	blockedAt := 0
	for i := 1; i <= 40 && blockedAt == 0; i++ {
		status, body := get(t, prober, fmt.Sprintf("%s/wp-%d.php.old", g.proxy, i))
		switch status {
		case 404, 429:
		case 403:
			var p struct{ Reason, Rule string }
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Reason != "blocked" || !strings.HasPrefix(p.Rule, "detector:") {
				t.Fatalf("403 body %s", body)
			}
			blockedAt = i
		default:
			t.Fatalf("probe %d: status %d", i, status)
		}
		if status, _ := get(t, benign, g.proxy+"/"); status != 200 {
			t.Fatalf("benign client got %d at probe %d", status, i)
		}
	}
	if blockedAt == 0 {
		t.Fatal("prober not blocked within 40 requests")
	}
	t.Logf("prober blocked at request %d", blockedAt)

	code, out, errOut := run("decisions", "explain", "ip:127.0.0.2", "--admin", g.admin, "--token", "test-token")
	if code != 0 {
		t.Fatalf("explain exit %d: %s", code, errOut)
	}
	for _, want := range []string{"ip:127.0.0.2", "block", "detector:probing", "distinct paths", "sample request ids"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	g.stop() // flushes the events
	events, _ := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if !strings.Contains(string(events), `"action":"decision"`) || !strings.Contains(string(events), `"source":{"ip":"127.0.0.2"}`) {
		t.Errorf("no decision event for the prober in:\n%.2000s", events)
	}

	g = startGuard(t, cfg, upstream.URL)
	defer g.stop()
	if status, _ := get(t, prober, g.proxy+"/"); status != 403 {
		t.Fatalf("after restart the prober got %d, want 403", status)
	}
	if status, _ := get(t, benign, g.proxy+"/"); status != 200 {
		t.Fatalf("after restart the benign client got %d", status)
	}
}
