package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/sample"
)

func TestSimulateRefusesOffLoopback(t *testing.T) {
	code, _, stderr := run("simulate", "--target", "http://203.0.113.1:8080", "--duration", "1s")
	if code == 0 || !strings.Contains(stderr, "loopback") {
		t.Fatalf("exit %d, stderr %q: want a loopback refusal", code, stderr)
	}
	code, _, stderr = run("simulate", "--duration", "1s")
	if code == 0 || !strings.Contains(stderr, `"target" not set`) {
		t.Fatalf("exit %d, stderr %q: want --target required", code, stderr)
	}
	code, _, stderr = run("simulate", "--target", "http://127.0.0.1:1", "--params", "no-such-file.yaml")
	if code == 0 || !strings.Contains(stderr, "no-such-file.yaml") {
		t.Fatalf("exit %d, stderr %q: want the params file named", code, stderr)
	}
}

// TestDemo runs `abuseguard demo` for a short game day on the virtual
// clock and checks what it prints and writes.
func TestDemo(t *testing.T) {
	t.Setenv(sample.TokenSecretEnv, "cli-demo-test-secret")
	out := t.TempDir()
	code, stdout, stderr := run("demo", "--virtual-clock", "--duration", "20s", "--out", out, "--scenario", "browsing,scraping-fast,path-probing")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"scraping-fast", "path-probing", "browsing", "all scenarios", "benign_false_block_rate", filepath.Join(out, "report.html")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "20s/20s") || !strings.Contains(stderr, "guard on http://127.0.0.1:") {
		t.Errorf("stderr lacks the progress line or the addresses:\n%s", stderr)
	}
	for _, f := range []string{"summary.json", "report.md", "report.html", "guard.yaml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestSimulateFailOnMiss aims a short game day at a server that lets
// everything through: every attack reaches it, so the run misses its
// targets, and --fail-on-miss turns that into exit status 1.
func TestSimulateFailOnMiss(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	out := t.TempDir()
	args := []string{"simulate", "--target", srv.URL, "--scenario", "path-probing", "--params", writeParams(t), "--duration", "1s", "--out", out}
	if code, stdout, stderr := run(args...); code != 0 || !strings.Contains(stdout, "never") {
		t.Fatalf("without --fail-on-miss: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, stderr := run(append(args, "--fail-on-miss")...); code != 1 || !strings.Contains(stderr, "missed a target") {
		t.Fatalf("with --fail-on-miss: exit %d, stderr %q", code, stderr)
	}
}

// writeParams writes scenario parameters that start the probe at once.
func writeParams(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "params.yaml")
	if err := os.WriteFile(f, []byte("path_probing: {start: 0, rate: 20}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}
