package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRolloutThroughServe promotes a shadow limit through `abuseguard
// rules`, sees it act at once, survive a restart, be audited in the
// events and roll back; then edits the file, which wins over the override.
func TestRolloutThroughServe(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	defer upstream.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "abuseguard.yaml")
	write := func(mode string) {
		conf := fmt.Sprintf(`decisions: {path: %q}
access_log: off
events: %q
limits:
  - {name: tight, key: [ip], rate: 1/h, burst: 1, %s}
`, filepath.Join(dir, "decisions.db"), filepath.Join(dir, "events.jsonl"), mode)
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("mode: shadow")
	t.Setenv("ABUSEGUARD_ADMIN_TOKEN", "test-token")
	g := startGuard(t, cfg, upstream.URL)
	t.Setenv(envAdminURL, g.admin)
	rules := func(args ...string) string {
		t.Helper()
		code, out, errOut := run(append([]string{"rules"}, args...)...)
		if code != 0 {
			t.Fatalf("rules %v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	client := clientFrom("127.0.0.4")
	status := func() int { s, _ := get(t, client, g.proxy+"/x"); return s }

	if out := rules("list"); !regexp.MustCompile(`(?m)^tight\s+limit\s+shadow\s+shadow\s+-$`).MatchString(out) {
		t.Fatalf("rules list:\n%s", out)
	}
	for i := range 3 {
		if s := status(); s != 200 {
			t.Fatalf("request %d in shadow: %d", i, s)
		}
	}
	if out := rules("report", "tight"); !strings.Contains(out, "would act:  2 requests") || !strings.Contains(out, "entities:   1 distinct") {
		t.Errorf("report in shadow:\n%s", out)
	}
	if out := rules("promote", "tight", "--to", "enforce"); out != "limit tight now runs in enforce (the file says shadow)\n" {
		t.Errorf("promote: %q", out)
	}
	if s := status(); s != 429 {
		t.Fatalf("after promote: %d, want 429", s)
	}
	if out := rules("list"); !regexp.MustCompile(`(?m)^tight\s+limit\s+enforce\s+shadow\s+\S+ by 127\.0\.0\.1 from shadow$`).MatchString(out) {
		t.Errorf("rules list after promote:\n%s", out)
	}
	code, _, errOut := run("rules", "promote", "nope")
	if code != 1 || !strings.Contains(errOut, "404 not_found") {
		t.Errorf("promote of an unknown rule: %d %q", code, errOut)
	}

	g.stop() // flushes the events
	events, _ := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if !strings.Contains(string(events), `"action":"rollout_promote"`) || !strings.Contains(string(events), "limit tight: shadow -> enforce through the admin API from 127.0.0.1") {
		t.Errorf("no audit event for the promotion in:\n%.3000s", events)
	}

	g = startGuard(t, cfg, upstream.URL)
	t.Setenv(envAdminURL, g.admin)
	// Limiter state is in memory: the restart gave the client a fresh
	// burst of 1; the mode survived.
	if s1, s2 := status(), status(); s1 != 200 || s2 != 429 {
		t.Fatalf("after restart: %d then %d, want 200 then 429 (still enforced)", s1, s2)
	}
	if out := rules("rollback", "tight"); out != "limit tight rolled back to shadow\n" {
		t.Errorf("rollback: %q", out)
	}
	if s := status(); s != 200 {
		t.Fatalf("after rollback: %d, want 200", s)
	}
	code, _, errOut = run("rules", "rollback", "tight")
	if code != 1 || !strings.Contains(errOut, "nothing to roll back") {
		t.Errorf("second rollback: %d %q", code, errOut)
	}

	// Promote again, then change the mode in the file: the file wins.
	rules("promote", "tight", "--to", "canary:10")
	g.stop()
	write("mode: canary, canary_percent: 50")
	g = startGuard(t, cfg, upstream.URL)
	defer g.stop()
	t.Setenv(envAdminURL, g.admin)
	if out := rules("list"); !regexp.MustCompile(`(?m)^tight\s+limit\s+canary:50\s+canary:50\s+-$`).MatchString(out) {
		t.Errorf("after the file changed the mode, the override should be gone:\n%s", out)
	}
}

// TestFeedbackThroughServe marks decisions confirmed and false positive
// through `abuseguard decisions`: the false positive is lifted, both are
// counted in the precision metric.
func TestFeedbackThroughServe(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	defer upstream.Close()
	t.Setenv("ABUSEGUARD_ADMIN_TOKEN", "test-token")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "abuseguard.yaml")
	if err := os.WriteFile(cfg, []byte("decisions: {path: \"\"}\naccess_log: off\nevents: off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGuard(t, cfg, upstream.URL)
	defer g.stop()
	t.Setenv(envAdminURL, g.admin)
	add := func(entity string) string {
		t.Helper()
		code, out, errOut := run("decisions", "add", entity, "--reason", "card_testing")
		m := regexp.MustCompile(`^added (d_[0-9a-f]+)`).FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("add: %d %q %q", code, out, errOut)
		}
		return m[1]
	}
	fp, ok := add("ip:127.0.0.5"), add("ip:127.0.0.6")
	if s, _ := get(t, clientFrom("127.0.0.5"), g.proxy+"/"); s != 403 {
		t.Fatalf("blocked client got %d", s)
	}
	code, out, errOut := run("decisions", "false-positive", fp)
	if code != 0 || !strings.HasPrefix(out, "marked "+fp+" a false positive and lifted it: block ip:127.0.0.5") {
		t.Fatalf("false-positive: %d %q %q", code, out, errOut)
	}
	if s, _ := get(t, clientFrom("127.0.0.5"), g.proxy+"/"); s != 200 {
		t.Errorf("after the false positive the client got %d, want 200", s)
	}
	code, out, _ = run("decisions", "confirm", ok)
	if code != 0 || !strings.Contains(out, "stays in force") {
		t.Fatalf("confirm: %d %q", code, out)
	}
	if s, _ := get(t, clientFrom("127.0.0.6"), g.proxy+"/"); s != 403 {
		t.Errorf("after confirm the client got %d, want 403", s)
	}
	code, _, errOut = run("decisions", "confirm", fp)
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("feedback on a lifted decision: %d %q", code, errOut)
	}
	_, metrics := get(t, http.DefaultClient, g.admin+"/metrics")
	for _, want := range []string{
		`abuseguard_feedback_total{reason="card_testing",verdict="false_positive"} 1`,
		`abuseguard_feedback_total{reason="card_testing",verdict="confirmed"} 1`,
		`abuseguard_decisions_total{action="block",mode="enforce",reason="card_testing",source="manual"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestIncidentsThroughServe blocks a prober through serve and finds its
// incident with `abuseguard incidents list` and `show`.
func TestIncidentsThroughServe(t *testing.T) {
	upstream := httptest.NewServer(http.NotFoundHandler())
	defer upstream.Close()
	t.Setenv("ABUSEGUARD_ADMIN_TOKEN", "test-token")
	cfg := filepath.Join(t.TempDir(), "abuseguard.yaml")
	if err := os.WriteFile(cfg, []byte("decisions: {path: \"\"}\naccess_log: off\nevents: off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGuard(t, cfg, upstream.URL)
	defer g.stop()
	t.Setenv(envAdminURL, g.admin)
	code, out, _ := run("incidents", "list")
	if code != 0 || out != "0 open, 0 resolved; mean TTD -, mean TTB -, MTTR -\n" {
		t.Fatalf("incidents list before any decision: %d %q", code, out)
	}
	prober := clientFrom("127.0.0.8")
	for i := 1; i <= 40; i++ {
		if s, _ := get(t, prober, fmt.Sprintf("%s/.git-%d/config", g.proxy, i)); s == 403 {
			break
		}
	}
	code, out, errOut := run("incidents", "list")
	m := regexp.MustCompile(`(?m)^(inc_[0-9a-f]+)\s+\S*probing\S*\s+open\s+1\s+\d+\s`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("incidents list: %d %q %q", code, out, errOut)
	}
	code, out, _ = run("incidents", "show", m[1])
	for _, want := range []string{m[1], "ip:127.0.0.8", "first_seen", "decision", "TTD "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("incidents show lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := run("incidents", "show", "inc_nope"); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("show of an unknown incident: %d %q", code, errOut)
	}
}

// TestEventsToSIEM runs serve with its events going to a syslog listener
// on loopback, then to a webhook that is down: the decision's event
// arrives as an RFC 5424 message, and with the SIEM down the guard keeps
// serving and exports the SIEM queue's counters.
func TestEventsToSIEM(t *testing.T) {
	upstream := httptest.NewServer(http.NotFoundHandler())
	defer upstream.Close()
	t.Setenv("ABUSEGUARD_ADMIN_TOKEN", "test-token")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	for _, tc := range []struct{ name, events string }{
		{"syslog", "syslog+udp://" + pc.LocalAddr().String()},
		{"webhook down", "http://" + deadAddr + "/events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "abuseguard.yaml")
			conf := fmt.Sprintf("decisions: {path: \"\"}\naccess_log: off\nevents: %q\n", tc.events)
			if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			g := startGuard(t, cfg, upstream.URL)
			prober := clientFrom("127.0.0.9")
			blocked := false
			for i := 1; i <= 40 && !blocked; i++ {
				s, _ := get(t, prober, fmt.Sprintf("%s/.env-%d", g.proxy, i))
				blocked = s == 403
			}
			if !blocked {
				t.Fatal("the prober was not blocked")
			}
			_, metrics := get(t, http.DefaultClient, g.admin+"/metrics")
			if !strings.Contains(metrics, "abuseguard_siem_dropped_total 0") || !strings.Contains(metrics, "abuseguard_siem_queued") {
				t.Errorf("/metrics lacks the SIEM queue's counters:\n%s", grepLines(metrics, "siem"))
			}
			g.stop() // delivers what is queued
			if tc.name != "syslog" {
				return
			}
			buf := make([]byte, 64<<10)
			for {
				_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					t.Fatalf("no decision event reached syslog: %v", err)
				}
				msg := string(buf[:n])
				if !regexp.MustCompile(`^<109>1 \S+ \S+ abuseguard \d+ event - \{`).MatchString(msg) {
					t.Fatalf("not an RFC 5424 message: %q", msg)
				}
				if strings.Contains(msg, `"action":"decision"`) && strings.Contains(msg, `"ip":"127.0.0.9"`) {
					return
				}
			}
		})
	}
}
