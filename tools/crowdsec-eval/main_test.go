package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunOnWrittenData runs the whole tool on a tiny data folder written
// here: a scanner that must be flagged, and a negative test of ordinary
// browsing that must not be.
func TestRunOnWrittenData(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("labels.csv", "test,kind,log_type,log_file,log_lines,scenarios_under_test,expected_alert_count,expected_alerts(scenario|source|events)\n"+
		"scan,detection,nginx,scan.log,12,crowdsecurity/http-probing,1,crowdsecurity/http-probing|203.0.113.77|12\n"+
		"calm,negative/whitelist,nginx,calm.log,3,,0,\n"+
		"cve,detection,nginx,cve.log,1,crowdsecurity/CVE-2030-1,1,crowdsecurity/CVE-2030-1|203.0.113.78|1\n"+
		"events,detection,magento-extension,events.log,2,crowdsecurity/http-magento-bf,1,crowdsecurity/http-magento-bf|203.0.113.79|2\n")
	write("tests/events/config.yaml", "log_file: events.log\nlog_type: magento-extension\n")
	write("tests/events/events.log", `[2026-02-03 10:11:12] app.INFO:  {"type":"ADMIN_LOGIN_FAILED","ip":"203.0.113.79"} []`+"\n"+
		`[2026-02-03 10:11:13] app.INFO:  {"type":"ADMIN_LOGIN_FAILED","ip":"203.0.113.79"} []`+"\n")
	var scan strings.Builder
	for i := range 12 {
		scan.WriteString(`203.0.113.77 - - [03/Feb/2026:10:11:` + twoDigits(i) + ` +0000] "GET /guess-` + twoDigits(i) + ` HTTP/1.1" 404 1 "-" "Mozilla/5.0 (X11) Firefox/140.0"` + "\n")
	}
	write("tests/scan/config.yaml", "log_file: scan.log\nlog_type: nginx\n")
	write("tests/scan/scan.log", scan.String())
	write("tests/calm/config.yaml", "log_file: calm.log\nlog_type: nginx\n")
	write("tests/calm/calm.log", `198.51.100.9 - - [03/Feb/2026:10:11:12 +0000] "GET / HTTP/1.1" 200 900 "-" "Mozilla/5.0 (X11) Firefox/140.0"`+"\n"+
		`198.51.100.9 - - [03/Feb/2026:10:11:15 +0000] "GET /about HTTP/1.1" 200 900 "https://example.net/" "Mozilla/5.0 (X11) Firefox/140.0"`+"\n")
	rep, err := evaluate(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tests) != 4 || !rep.Tests[0].Matched || !rep.Tests[1].Matched || rep.Tests[2].Skip == "" || rep.Tests[3].Evaluated() {
		for _, tt := range rep.Tests {
			t.Logf("%s: matched %v skip %q sources %+v flagged %v", tt.Test, tt.Matched, tt.Skip, tt.Sources, tt.Flagged)
		}
		t.Fatal("unexpected outcome")
	}
	var b bytes.Buffer
	rep.write(&b, "go run ./tools/crowdsec-eval --data X")
	for _, want := range []string{"| scan | probing | nginx | combined (native) | 203.0.113.77 |", "| calm | nginx |", "| cve | detection | cve |", "| 1 of 1 replayable (100%); 1 not replayable (no HTTP request in the log) | PASS |",
		"| events | brute force | magento-extension |", "| not replayable |", "Counting the 1 not-replayable detection tests as misses: 1 of 2 (50%)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func twoDigits(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func TestMeetsTarget(t *testing.T) {
	for _, tc := range []struct {
		matched, n int
		want       bool
	}{{27, 30, true}, {26, 30, false}, {9, 10, true}, {89, 100, false}, {0, 0, false}, {32, 32, true}} {
		if got := meetsTarget(tc.matched, tc.n); got != tc.want {
			t.Errorf("meetsTarget(%d, %d) = %v, want %v", tc.matched, tc.n, got, tc.want)
		}
	}
}
