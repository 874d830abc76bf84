package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"runtime/debug"
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

// TestSampleAPIServes runs `abuseguard sample-api` on a free port and asks
// it for health once the command has said where it listens.
func TestSampleAPIServes(t *testing.T) {
	cmd := sampleAPICmd()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	cmd.SetOut(pw)
	cmd.SetErr(pw)
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody is waiting any more; keep draining
			}
		}
	}()
	cmd.SetArgs([]string{"--listen", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() {
		err := cmd.ExecuteContext(ctx)
		pw.Close()
		done <- err
	}()

	var url string
	for url == "" {
		select {
		case line := <-lines:
			if rest, ok := strings.CutPrefix(line, "sample-api listening on "); ok {
				url, _, _ = strings.Cut(rest, " ")
			}
		case err := <-done:
			t.Fatalf("sample-api returned %v before it listened", err)
		case <-time.After(10 * time.Second):
			t.Fatal("sample-api did not say where it listens")
		}
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("sample-api returned %v", err)
	}
}

func TestVersionOf(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "93f4a8e0123456789abcdef"}, {Key: "vcs.time", Value: "2026-12-07T05:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		release string
		info    *debug.BuildInfo
		want    string
	}{
		{"v1.2.3", info, "v1.2.3 (commit 93f4a8e01234+dirty, 2026-12-07T05:00:00Z, go1.26.8, " + platform + ")"},
		{"", info, "dev (commit 93f4a8e01234+dirty, 2026-12-07T05:00:00Z, go1.26.8, " + platform + ")"},
		{"", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.0"}}, "v0.4.0 (go1.26.8, " + platform + ")"},
		{"", nil, "dev (" + platform + ")"},
	} {
		if got := versionOf(tc.release, tc.info); got != tc.want {
			t.Errorf("versionOf(%q) = %q, want %q", tc.release, got, tc.want)
		}
	}
}
