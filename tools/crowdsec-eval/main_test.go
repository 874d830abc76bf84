package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/replay"
)

func TestParseLabels(t *testing.T) {
	in := "test,kind,log_type,log_file,log_lines,scenarios_under_test,expected_alert_count,expected_alerts(scenario|source|events)\n" +
		"probe-a,detection,nginx,a.log,12,crowdsecurity/http-probing,1,crowdsecurity/http-probing|203.0.113.4|11\n" +
		"two,detection,nginx,b.log,3,x/http-bad-user-agent;x/http-open-proxy,2,x/http-bad-user-agent|198.51.100.1|2;x/http-open-proxy|2001:0db8::0001|1\n" +
		"quiet,negative/whitelist,caddy,c.log,5,,0,\n"
	ls, err := parseLabels(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 3 || ls[0].Test != "probe-a" || ls[0].LogLines != 12 || len(ls[0].Expected) != 1 || ls[0].Expected[0].Events != 11 {
		t.Fatalf("labels %+v", ls)
	}
	if len(ls[1].Scenarios) != 2 || len(ls[1].Expected) != 2 || ls[1].Expected[1].Source != "2001:0db8::0001" {
		t.Fatalf("second row %+v", ls[1])
	}
	if ls[2].Kind != "negative/whitelist" || len(ls[2].Expected) != 0 || len(ls[2].Scenarios) != 0 {
		t.Fatalf("third row %+v", ls[2])
	}
	if _, err := parseLabels(strings.NewReader("test,kind\nx,y\n")); err == nil {
		t.Fatal("a header without the needed columns parsed")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name      string
		scenarios []string
		class     string
		inScope   bool
	}{
		{"probing", []string{"crowdsecurity/http-probing"}, "probing", true},
		{"cve probing is behaviour", []string{"./scenarios/crowdsecurity/http-cve-probing.yaml"}, "probing", true},
		{"one CVE is not", []string{"./scenarios/crowdsecurity/CVE-2030-0001.yaml"}, "cve", false},
		{"a product exploit is not", []string{"crowdsecurity/vmware-something-rce"}, "cve", false},
		{"a cve path traversal is a CVE", []string{"scenarios/crowdsecurity/http-cve-2021-41773.yaml"}, "cve", false},
		{"brute force", []string{"crowdsecurity/http-generic-bf", "someone/http-generic-401-bf"}, "brute force", true},
		{"dos", []string{"crowdsecurity/http-dos-swithcing-ua"}, "dos", true},
		{"mixed", []string{"crowdsecurity/http-bad-user-agent", "crowdsecurity/http-open-proxy"}, "mixed (bad user agent, open proxy)", true},
		{"a CVE among behaviours skips the test", []string{"crowdsecurity/http-probing", "crowdsecurity/CVE-2030-0002"}, "cve", false},
		{"any -bf is brute force", []string{"someone/app-login-bf"}, "brute force", true},
		{"not in the table", []string{"someone/mystery"}, "unknown", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			class, in, reason := classify(label{Scenarios: tc.scenarios})
			if class != tc.class || in != tc.inScope || (!in && reason == "") {
				t.Fatalf("classify(%v) = %q %v %q, want %q %v", tc.scenarios, class, in, reason, tc.class, tc.inScope)
			}
		})
	}
}

// TestAdapters reads one line of each layout the tool adapts and checks
// that the combined line it writes reads back, through the replay
// package's own parser, as the same request.
func TestAdapters(t *testing.T) {
	parser, err := replay.NewParser("combined", replay.JSONMapping{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, line                  string
		ip, method, path, query, ua string
		status                      int
		hasUA                       bool
		at                          time.Time
	}{
		{name: "bunkerweb with a request id",
			line: `api.example.net 203.0.113.8 - 7f3a9c - [03/Feb/2026:10:11:12 +0100] "GET /v2/items?id=4 HTTP/1.1" 404 120 "-" "probe/0.1"`,
			ip:   "203.0.113.8", method: "GET", path: "/v2/items", query: "id=4", ua: "probe/0.1", status: 404, hasUA: true,
			at: time.Date(2026, 2, 3, 9, 11, 12, 0, time.UTC)},
		{name: "common log without a User-Agent",
			line: `198.51.100.3 - - [03/Feb/2026:10:11:12 +0000] "HEAD / HTTP/1.0" 200 0`,
			ip:   "198.51.100.3", method: "HEAD", path: "/", status: 200, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "status dash",
			line: `198.51.100.4 - - [03/Feb/2026:10:11:12 +0000] "GET /slow HTTP/1.1" - - "-" "client/1"`,
			ip:   "198.51.100.4", method: "GET", path: "/slow", ua: "client/1", status: 0, hasUA: true, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "nginx error-log auth failure",
			line: `2026/02/03 10:11:12 [error] 7#7: *42 user "mallory": password mismatch, client: 203.0.113.50, server: api, request: "GET /admin HTTP/1.1", host: "api"`,
			ip:   "203.0.113.50", method: "GET", path: "/admin", status: 401, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "zoraxy",
			line: `2026/02/03 10:11:12 [2026-02-03 10:11:12.250000] [router:host-http] [origin:api.example.net] [client: 2001:db8::7] [useragent: Mozilla/5.0 (X11) Firefox/140.0] POST /v1/login 401`,
			ip:   "2001:db8::7", method: "POST", path: "/v1/login", ua: "Mozilla/5.0 (X11) Firefox/140.0", status: 401, hasUA: true,
			at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "aws alb",
			line: `https 2026-02-03T10:11:12.500000Z app/lb/abc 203.0.113.60:40000 10.0.0.2:80 0.001 0.002 0.000 403 403 10 99 "GET https://api.example.net:443/v1/x?y=1 HTTP/1.1" "tool/2" ECDHE TLSv1.2 arn:x "Root=1" "api.example.net" "arn:c" 0 2026-02-03T10:11:12.400000Z "forward" "-" "-"`,
			ip:   "203.0.113.60", method: "GET", path: "/v1/x", query: "y=1", ua: "tool/2", status: 403, hasUA: true,
			at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "haproxy behind syslog",
			line: `Feb  3 10:11:12 lb1 haproxy[99]: 198.51.100.70:51000 [03/Feb/2026:10:11:12.345] fe~ be/s1 0/0/1/2/3 404 200 - - ---- 1/1/0/0/0 0/0 "GET /nothing HTTP/1.1"`,
			ip:   "198.51.100.70", method: "GET", path: "/nothing", status: 404, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "iis event",
			line: `<Event><EventData><Data Name="date">2026-02-03</Data><Data Name="time">10:11:12</Data><Data Name="c-ip">203.0.113.80</Data><Data Name="cs-method">GET</Data><Data Name="cs-uri-stem">/owa/x</Data><Data Name="cs-uri-query">a=1&amp;b=2</Data><Data Name="sc-status">302</Data><Data Name="sc-bytes">10</Data><Data Name="csUser-Agent">Mozilla/5.0+(Windows)</Data></EventData></Event>`,
			ip:   "203.0.113.80", method: "GET", path: "/owa/x", query: "a=1&b=2", ua: "Mozilla/5.0 (Windows)", status: 302, hasUA: true,
			at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "traefik json with a client list",
			line: `{"ClientHost":"203.0.113.90,10.0.0.1","StartUTC":"2026-02-03T10:11:12.5Z","RequestMethod":"GET","RequestPath":"/a?b=c","RequestProtocol":"HTTP/1.1","DownstreamStatus":200,"DownstreamContentSize":5}`,
			ip:   "203.0.113.90", method: "GET", path: "/a", query: "b=c", status: 200, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "upsun message",
			line: `{"timestamp":1,"container":{"name":"x"},"message":"web.0 nginx: 198.51.100.99 - - [03/Feb/2026:10:11:12 +0000] \"GET /z HTTP/1.1\" 200 1 \"-\" \"ua/1\""}`,
			ip:   "198.51.100.99", method: "GET", path: "/z", ua: "ua/1", status: 200, hasUA: true, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, how, err := adapt(tc.line)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			if rec.HasUA != tc.hasUA {
				t.Errorf("%s: HasUA %v, want %v", how, rec.HasUA, tc.hasUA)
			}
			var e replay.Entry
			out := rec.combined()
			if err := parser.Parse(out, &e); err != nil {
				t.Fatalf("%s wrote %q, which does not parse: %v", how, out, err)
			}
			if e.ClientIP.String() != tc.ip || e.Method != tc.method || e.Path != tc.path || e.Query != tc.query ||
				e.UserAgent != tc.ua || e.Status != tc.status || !e.Time.Truncate(time.Second).Equal(tc.at) {
				t.Fatalf("%s wrote %q, read back as %+v", how, out, e)
			}
		})
	}
}

func TestAdaptRefusesWhatIsNoRequest(t *testing.T) {
	for _, line := range []string{
		`2026/02/03 10:11:12 [notice] 1#1: signal process started`,
		`2026-02-03 10:11:12.123456 [NOTICE] [42] [203.0.113.1:5000:HTTP2-1#_AdminVHost] [STDERR] Failed Login Attempt - username:x ip:203.0.113.1 url:`,
		`198.51.100.2:50034 [03/Feb/2026:02:43:11.234] frontend/backend: SSL handshake failure`,
		`{"logger":"http.handlers.waf","ts":1,"msg":"Coraza: Warning"}`,
		`{"eventTime":"2026-02-03T10:11:12","eventData":{"sourceIP":"203.0.113.1"}}`,
		`something else entirely`,
	} {
		if r, how, err := adapt(line); err == nil {
			t.Errorf("adapt(%q) = %+v via %s, want an error", line, r, how)
		}
	}
}

// TestPlanLines checks that lines a replay format reads stay as they are,
// that the others are adapted in order, and that the CRI header is
// stripped.
func TestPlanLines(t *testing.T) {
	native := `203.0.113.5 - - [03/Feb/2026:10:11:12 +0000] "GET /a HTTP/1.1" 200 1 "-" "ua/1"`
	vhost := `api.example.net 203.0.113.5 - 9d1c - [03/Feb/2026:10:11:13 +0000] "GET /b HTTP/1.1" 404 1 "-" "ua/1"`
	common := `203.0.113.6 - - [03/Feb/2026:10:11:14 +0000] "GET /c HTTP/1.1" 404 1`
	p, err := planLines("nginx", []string{native, vhost, common, "", "not a log line"})
	if err != nil {
		t.Fatal(err)
	}
	// One combined segment: the adapted line is combined too.
	if seg := p.Segments; p.Native || len(seg) != 1 || len(seg[0].Lines) != 3 || seg[0].Lines[0] != native || seg[0].Lines[2] != common ||
		!strings.HasPrefix(seg[0].Lines[1], "203.0.113.5 - - [03/Feb/2026:10:11:13 +0000]") {
		t.Fatalf("plan %+v", p)
	}
	if !p.NoUA["203.0.113.6"] || p.NoUA["203.0.113.5"] {
		t.Fatalf("NoUA %v: want only the common-format client", p.NoUA)
	}
	if n := len(p.How); n != 3 || !strings.HasPrefix(p.How[2].How, "not replayed") {
		t.Fatalf("how %+v", p.How)
	}

	cri := `2026-02-03T10:11:12.000000001+00:00 stdout F {"start_time":"2026-02-03T10:11:12.000Z","method":"GET","x-envoy-origin-path":"/p","response_code":404,"user-agent":"ua/2","downstream_remote_address":"198.51.100.8:4000",":authority":"h"}`
	p, err = planLines("containerd", []string{cri})
	if err != nil {
		t.Fatal(err)
	}
	if p.Native || len(p.Segments) != 1 || p.Segments[0].Format != "json" || strings.HasPrefix(p.Segments[0].Lines[0], "2026") {
		t.Fatalf("plan %+v", p)
	}
}

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
