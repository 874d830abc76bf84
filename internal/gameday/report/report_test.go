package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/gameday"
)

// loadRun reads a run from testdata: run.json is a small run with a
// scenario of every kind (attacks stopped fast, slow and never, and benign
// users, some of them refused, with overhead samples); run-escape.json has
// names that need escaping; run-small.json one benign user.
func loadRun(t *testing.T, name string) *gameday.Run {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var run gameday.Run
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &run
}

// golden compares got with testdata/name; UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 go test writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (UPDATE_GOLDEN=1 go test rewrites it):\n%s", name, path, got)
	}
}

func writeReports(t *testing.T, run *gameday.Run) (dir string, files map[string]string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "reports", "run1") // does not exist yet
	if err := Write(dir, run, gameday.Evaluate(run)); err != nil {
		t.Fatal(err)
	}
	files = map[string]string{}
	for _, name := range []string{"summary.json", "report.md", "report.html"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	return dir, files
}

func TestWrite(t *testing.T) {
	_, files := writeReports(t, loadRun(t, "run.json"))

	var m map[string]any
	if err := json.Unmarshal([]byte(files["summary.json"]), &m); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if !strings.Contains(files["summary.json"], "\n  \"target\"") {
		t.Error("summary.json is not indented")
	}
	if !regexp.MustCompile(`\n {4}"attack_reached": \[[0-9]+(, [0-9]+){11}\],\n`).MatchString(files["summary.json"]) {
		t.Errorf("summary.json does not hold the timeline one line a series:\n%s", files["summary.json"])
	}
	if !strings.Contains(files["summary.json"], `"op": ">="`) {
		t.Error("summary.json escapes > in the targets")
	}
	golden(t, "report.md", []byte(files["report.md"]))

	html := files["report.html"]
	for _, want := range []string{
		"<!DOCTYPE html>", "<svg", "Requests per second", "Attack recall per scenario",
		"Time to mitigate per attacker", "Latency through the guard",
		"credential-stuffing", "MISS", "docs/gamedays.md",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestReportHTMLSelfContained(t *testing.T) {
	run := loadRun(t, "run.json")
	run.Target = "https://guard.example:8443/"
	_, files := writeReports(t, run)
	html := files["report.html"]

	// The URLs the user supplied may appear as text; nothing else may.
	rest := strings.NewReplacer(run.Target, "", run.Overhead.Direct, "").Replace(html)
	for _, bad := range []string{"http://", "https://"} {
		if strings.Contains(rest, bad) {
			t.Errorf("report.html mentions %q", bad)
		}
	}
	refs := regexp.MustCompile(`(?i)(\bsrc\s*=|\bhref\s*=|url\(|@import|<link|<script|<iframe|<object|<embed)`)
	if m := refs.FindAllString(html, -1); m != nil {
		t.Errorf("report.html refers to other resources: %q", m)
	}
}

func TestReportsEscapeNames(t *testing.T) {
	run := loadRun(t, "run-escape.json")
	_, files := writeReports(t, run)

	html := files["report.html"]
	if strings.Contains(html, "<script") || strings.Contains(html, "<img") {
		t.Error("report.html holds a user-supplied tag unescaped")
	}
	if !strings.Contains(html, "&lt;script&gt;") {
		t.Error("report.html lacks the escaped scenario name")
	}

	md := files["report.md"]
	if strings.Contains(md, "<script") || strings.Contains(md, "<img") {
		t.Error("report.md holds a user-supplied tag unescaped")
	}
	if !strings.Contains(md, "&lt;script>") || !strings.Contains(md, `a\|b`) {
		t.Errorf("report.md does not escape names:\n%s", md)
	}
}

func TestReportsWithoutRunOrOverhead(t *testing.T) {
	run := loadRun(t, "run-small.json")
	dir := t.TempDir()
	if err := Write(dir, nil, gameday.Evaluate(run)); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"Time to mitigate per attacker", "Attack recall per scenario", "Latency through the guard"} {
		if strings.Contains(string(html), absent) {
			t.Errorf("report.html has chart %q with nothing to draw", absent)
		}
	}
	if !strings.Contains(string(html), "Not measured") {
		t.Error("report.html does not say the overhead was not measured")
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	WriteTable(&b, gameday.Evaluate(loadRun(t, "run.json")))
	golden(t, "table.txt", b.Bytes())

	for _, want := range []string{"never", "MISS  attack_recall_after_first_mitigation", "PASS  median_time_to_mitigate_s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestTopRefusers(t *testing.T) {
	by := map[string]int{"detector:scraping-fast": 4, "per-ip": 2, "detector:credentials": 1}
	if top := topRefusers(by, 2); top != "detector:scraping-fast 4, per-ip 2, 1 more" {
		t.Errorf("topRefusers = %q", top)
	}
	if top := topRefusers(nil, 2); top != "-" {
		t.Errorf("topRefusers(nil) = %q", top)
	}
}
