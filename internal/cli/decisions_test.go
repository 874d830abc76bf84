package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"
	"github.com/abuseguard/abuseguard/internal/verdict"

	"github.com/spf13/cobra"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/decision"
)

const testToken = "cli-test-token"

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

type signals struct{}

func (signals) Explain(e verdict.Entity, now time.Time) decision.Explanation {
	return decision.Explanation{Score: 71.5, Signals: []verdict.Evidence{{
		Time: now, Detector: "credential_stuffing", Summary: "40 failed logins for 31 usernames in 10m0s",
		Count: 31, Threshold: 20, Window: "10m0s", Weight: 35, RequestID: "req-77",
	}}}
}

// adminServer runs the admin API with a real decision.Store on loopback.
func adminServer(t *testing.T) (*httptest.Server, decision.Store, *clock.Fake) {
	t.Helper()
	c := clock.NewFake(t0)
	store, err := decision.Open(decision.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewServer(admin.Handler(admin.Options{Decisions: store, Token: testToken, Now: c.Now, Explainer: signals{}}))
	t.Cleanup(srv.Close)
	return srv, store, c
}

// runDecisions runs `abuseguard decisions args...` as Execute does and
// returns stdout, stderr and the exit code.
func runDecisions(t *testing.T, now func() time.Time, args ...string) (string, string, int) {
	t.Helper()
	root := &cobra.Command{Use: "abuseguard", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newDecisionsCmd(now))
	var stdout, stderr bytes.Buffer
	root.SetArgs(append([]string{"decisions"}, args...))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	code := 0
	if err := root.Execute(); err != nil {
		if !errors.As(err, new(exitError)) {
			fmt.Fprintln(&stderr, "abuseguard:", err)
		}
		code = 1
	}
	return stdout.String(), stderr.String(), code
}

func TestDecisionsCommands(t *testing.T) {
	srv, store, c := adminServer(t)
	t.Setenv(envAdminURL, srv.URL)
	t.Setenv(envAdminToken, testToken)

	out, errOut, code := runDecisions(t, c.Now, "list")
	if code != 0 || out != "no active decisions\n" {
		t.Fatalf("empty list: %d %q %q", code, out, errOut)
	}

	out, errOut, code = runDecisions(t, c.Now, "add", "ip:203.0.113.7", "--reason", "card testing")
	m := regexp.MustCompile(`^added (d_[0-9a-f]+): block ip:203\.0\.113\.7 for 1h \(offense 1, expires 2026-11-28T13:00:00Z\)\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("add: %d %q %q", code, out, errOut)
	}
	id := m[1]
	out, _, _ = runDecisions(t, c.Now, "add", "ip:203.0.113.7", "--action", "throttle")
	if !strings.HasPrefix(out, "kept "+id+": block on ip:203.0.113.7 is at least as strong (expires in 1h)") {
		t.Errorf("weaker add: %q", out)
	}

	// An automatic decision with evidence, as the engine would add it.
	c.Advance(time.Minute)
	auto, _, err := store.Add(decision.Decision{
		Scope: verdict.ScopeKey, Value: "k_0123", Action: verdict.Throttle, Reason: "probing", Source: "detector:probing", Mode: verdict.Shadow, Score: 64,
		Evidence: []verdict.Evidence{{Time: c.Now(), Detector: "probing", Summary: "23 distinct 404 paths in 5m0s", Count: 23, Threshold: 20, Window: "5m0s", Weight: 40, RequestID: "req-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	c.Advance(90 * time.Second)
	out, _, code = runDecisions(t, c.Now, "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("list: %d\n%s", code, out)
	}
	for i, want := range [][]string{
		{"ID", "SCOPE", "VALUE", "ACTION", "REASON", "SOURCE", "EXPIRES", "IN", "OFFENSE"},
		{id, "ip", "203.0.113.7", "block", "card", "testing", "manual", "57m30s", "1"},
		{auto.ID, "key", "k_0123", "throttle", "(shadow)", "probing", "detector:probing", "3m30s", "1"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("list line %d = %q, want fields %q", i, lines[i], want)
		}
	}

	out, _, _ = runDecisions(t, c.Now, "list", "key:k_0123", "--json")
	var list struct {
		Decisions []decision.Decision `json:"decisions"`
		Total     int                 `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Total != 1 || list.Decisions[0].ID != auto.ID {
		t.Errorf("list --json: %v %s", err, out)
	}

	out, _, code = runDecisions(t, c.Now, "explain", "key:k_0123")
	for _, want := range []string{
		"key:k_0123\n  score: 71.5\n  decisions:\n",
		auto.ID + "  throttle (shadow)  reason probing  source detector:probing  offense 1  expires in 3m30s",
		"score at decision: 64",
		"- 2026-11-28T12:01:00Z probing: 23 distinct 404 paths in 5m0s (count 23, threshold 20, window 5m0s, weight 40, request req-1)",
		"sample request ids: req-1",
		"recent signals:\n    - 2026-11-28T12:02:30Z credential_stuffing: 40 failed logins for 31 usernames in 10m0s (count 31, threshold 20, window 10m0s, weight 35, request req-77)",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = runDecisions(t, c.Now, "explain", "prefix:198.51.100.0/24")
	if !strings.Contains(out, "prefix:198.51.100.0/24\n") || !strings.Contains(out, "decisions: none active") {
		t.Errorf("explain of a prefix:\n%s", out)
	}

	out, errOut, code = runDecisions(t, c.Now, "remove", id)
	if code != 0 || out != "removed "+id+": block ip:203.0.113.7\n" {
		t.Fatalf("remove: %d %q %q", code, out, errOut)
	}
	if store.Len() != 1 {
		t.Errorf("store holds %d after remove, want 1", store.Len())
	}
}

func TestDecisionsErrors(t *testing.T) {
	srv, _, c := adminServer(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream down\nmore", http.StatusBadGateway)
	}))
	defer broken.Close()
	t.Setenv(envAdminURL, "http://127.0.0.1:1") // overridden by --admin below
	t.Setenv(envAdminToken, testToken)

	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"wrong token", []string{"list", "--admin", srv.URL, "--token", "nope"}, "abuseguard: 401 unauthorized: send the admin token as Authorization: Bearer TOKEN\n"},
		{"invalid value", []string{"add", "ip:203.0.113.300", "--admin", srv.URL}, "abuseguard: 400 invalid_request: value: \"203.0.113.300\" is not an IP address\n"},
		{"invalid ttl", []string{"add", "key:k", "--ttl", "7d", "--admin", srv.URL}, "abuseguard: 400 invalid_request: ttl: \"7d\" is not a duration such as 30m or 12h\n"},
		{"unknown id", []string{"remove", "d_nope", "--admin", srv.URL}, "abuseguard: 404 not_found: no active decision \"d_nope\"\n"},
		{"no colon", []string{"add", "203.0.113.7", "--admin", srv.URL}, "abuseguard: \"203.0.113.7\" is not SCOPE:VALUE, e.g. ip:203.0.113.7\n"},
		{"not the admin API", []string{"list", "--admin", broken.URL}, "abuseguard: 502 Bad Gateway: upstream down\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runDecisions(t, c.Now, tc.args...)
			if code != 1 || errOut != tc.stderr || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, tc.stderr)
			}
		})
	}

	t.Setenv(envAdminToken, "")
	if _, errOut, code := runDecisions(t, c.Now, "list", "--admin", srv.URL); code != 1 || !strings.Contains(errOut, "no admin token: pass --token or set ABUSEGUARD_ADMIN_TOKEN") {
		t.Errorf("no token: %d %q", code, errOut)
	}
	if _, errOut, code := runDecisions(t, c.Now, "list"); code != 1 || !strings.Contains(errOut, "no admin token") {
		t.Errorf("no token: %d %q", code, errOut)
	}
}

func TestDecisionsHelpHidesToken(t *testing.T) {
	t.Setenv(envAdminToken, "very-secret-value")
	out, _, code := runDecisions(t, time.Now, "--help")
	if code != 0 || strings.Contains(out, "very-secret-value") || !strings.Contains(out, "--token") {
		t.Fatalf("help (exit %d) leaks the token or lacks --token:\n%s", code, out)
	}
}
