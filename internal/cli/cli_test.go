package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Execute(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCheckExamples runs `abuseguard check` on every example config.
func TestCheckExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	code, out, errOut := run(append([]string{"check"}, files...)...)
	if code != 0 {
		t.Fatalf("check exit %d: %s", code, errOut)
	}
	for _, f := range files {
		if !strings.Contains(out, f+": ok") {
			t.Errorf("check did not report %s ok:\n%s", f, out)
		}
	}
}

func TestCheckReportsEveryErrorWithPosition(t *testing.T) {
	code, out, errOut := run("check", "../../examples/quickstart.yaml", "../config/testdata/limits.bad.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "quickstart.yaml: ok") {
		t.Errorf("the good file was not reported: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) < 10 || !strings.HasPrefix(lines[0], "../config/testdata/limits.bad.yaml:1:9: ") {
		t.Errorf("stderr = %q", errOut)
	}
}

func TestCheckNeedsAFile(t *testing.T) {
	if code, _, errOut := run("check"); code != 1 || !strings.Contains(errOut, "at least one FILE") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	code, out, _ := run("check", "--print-defaults")
	if code != 0 || !strings.Contains(out, "limits:") {
		t.Fatalf("print-defaults exit %d: %q", code, out)
	}
}

func TestVersion(t *testing.T) {
	if code, out, _ := run("version"); code != 0 || !strings.HasPrefix(out, "abuseguard ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestServeNeedsAnUpstream(t *testing.T) {
	code, _, errOut := run("serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "--upstream") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestSampleAPIServes runs `abuseguard sample-api` and asks it for health.
func TestSampleAPIServes(t *testing.T) {
	cmd := sampleAPICmd()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd.SetArgs([]string{"--listen", addr})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("healthz %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sample-api did not serve: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("sample-api returned %v", err)
	}
}
