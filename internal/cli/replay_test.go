package cli

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeLog writes a combined log: an ordinary client, and a prober asking
// for 40 missing paths; with a malformed line in the middle.
func writeLog(t *testing.T, dir string, gz bool) string {
	t.Helper()
	var b strings.Builder
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for i := range 40 {
		ts := at.Add(time.Duration(i) * 700 * time.Millisecond).Format("02/Jan/2006:15:04:05 -0700")
		fmt.Fprintf(&b, "198.51.100.1 - - [%s] \"GET /products/%d HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0 Firefox/128.0\"\n", ts, i%5)
		fmt.Fprintf(&b, "203.0.113.9 - - [%s] \"GET /old-%d.php HTTP/1.1\" 404 153 \"-\" \"Mozilla/5.0\"\n", ts, i)
		if i == 20 {
			b.WriteString("this is not an access log line\n")
		}
	}
	name := filepath.Join(dir, "access.log")
	data := []byte(b.String())
	if gz {
		name += ".gz"
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(f)
		zw.Write(data)
		zw.Close()
		f.Close()
		return name
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestReplayCommand(t *testing.T) {
	dir := t.TempDir()
	log := writeLog(t, dir, true)
	out := filepath.Join(dir, "events.jsonl")
	code, _, errOut := run("replay", "--format", "combined", "--out", out, log)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"read 81 lines: 80 replayed, 1 skipped",
		"skipped " + log + ":43: ",
		"decisions by source: detector:probing",
		"ip:203.0.113.9",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "ip:198.51.100.1") {
		t.Errorf("the ordinary client is an offender:\n%s", errOut)
	}
	events, _ := os.ReadFile(out)
	if !strings.Contains(string(events), `"source":{"ip":"203.0.113.9"}`) || !strings.Contains(string(events), `"action":"decision"`) {
		t.Errorf("events:\n%.2000s", events)
	}
}

func TestReplayCompare(t *testing.T) {
	dir := t.TempDir()
	log := writeLog(t, dir, false)
	old := filepath.Join(dir, "old.yaml")
	proposed := filepath.Join(dir, "new.yaml")
	os.WriteFile(old, []byte("detectors: {probing: {mode: \"off\"}}\n"), 0o600)
	os.WriteFile(proposed, []byte("detectors: {probing: {mode: \"on\"}}\n"), 0o600)
	code, out, errOut := run("replay", "--format", "nginx", "--compare", old+","+proposed, log)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"added", "detector:probing", "+ ip:203.0.113.9"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "- ip:") {
		t.Errorf("turning a detector on removed decisions:\n%s", out)
	}
}

func TestReplayBadInput(t *testing.T) {
	if code, _, errOut := run("replay", "--format", "nope", "x.log"); code != 1 || !strings.Contains(errOut, "combined") {
		t.Errorf("unknown format: %d %s", code, errOut)
	}
	if code, _, errOut := run("replay", "--format", "combined", filepath.Join(t.TempDir(), "missing.log")); code != 1 || !strings.Contains(errOut, "missing.log") {
		t.Errorf("missing file: %d %s", code, errOut)
	}
	if code, _, errOut := run("replay", "--format", "json", "--map", "colour=x", "x.log"); code != 1 || !strings.Contains(errOut, "--map") {
		t.Errorf("bad mapping: %d %s", code, errOut)
	}
}

// TestReplayCountsOverlongLines feeds a log through stdin with an
// over-long line and an empty one: both are counted, the long one reported.
func TestReplayCountsOverlongLines(t *testing.T) {
	log := `203.0.113.1 - - [28/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"` + "\n" +
		strings.Repeat("x", 70<<10) + "\n\n" +
		`203.0.113.1 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"` + "\n"
	root := Root()
	var out, errOut strings.Builder
	root.SetArgs([]string{"replay", "--format", "combined", "-"})
	root.SetIn(strings.NewReader(log))
	root.SetOut(&out)
	root.SetErr(&errOut)
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "read 4 lines: 2 replayed, 1 skipped") || !strings.Contains(errOut.String(), "longer than 64 KiB") {
		t.Fatalf("summary:\n%s", errOut.String())
	}
}

// TestReplaySessions replays a JSON log whose client addresses are blank,
// with --map session=sid: the probing session is the offender, the
// browsing ones are not, and no line is skipped.
func TestReplaySessions(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for i := range 60 {
		for s := range 3 {
			fmt.Fprintf(&b, `{"time":%q,"ip":"","method":"GET","path":"/products/%d","status":200,"sid":"good-%d","user_agent":"Mozilla/5.0"}`+"\n",
				at.Add(time.Duration(s)*10*time.Millisecond).Format(time.RFC3339Nano), (i+s)%7, s)
		}
		fmt.Fprintf(&b, `{"time":%q,"ip":"","method":"GET","path":"/archive-%d.tar","status":404,"sid":"bad","user_agent":"Mozilla/5.0"}`+"\n",
			at.Add(100*time.Millisecond).Format(time.RFC3339Nano), i)
		at = at.Add(time.Duration(1+i%3) * time.Second)
	}
	log := filepath.Join(dir, "access.jsonl")
	if err := os.WriteFile(log, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "events.jsonl")
	code, _, errOut := run("replay", "--format", "json", "--map", "session=sid", "--out", out, log)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "read 240 lines: 240 replayed, 0 skipped") || !strings.Contains(errOut, "decisions by source: detector:probing") {
		t.Errorf("summary:\n%s", errOut)
	}
	_, offenders, _ := strings.Cut(errOut, "top offenders:\n")
	if lines := strings.Split(strings.TrimSpace(offenders), "\n"); len(lines) != 1 || !strings.HasPrefix(strings.TrimSpace(lines[0]), "session:s_") {
		t.Errorf("offenders, want one session:\n%s", offenders)
	}
}
