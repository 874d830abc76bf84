package gameday_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/gameday"
	"github.com/abuseguard/abuseguard/internal/gameday/report"
	"github.com/abuseguard/abuseguard/internal/sample"
)

// knownShortfalls are the scenarios docs/gamedays.md says the default
// policy does not stop within the targets. A scenario that starts falling
// short fails the test; one that stops falling short fails it too, so the
// docs are corrected.
var knownShortfalls = map[string]string{
	"token-churn":         "slow: the second churn step is what acts",
	"office-abuser":       "borderline: 10 failures at 2 a second",
	"account-enumeration": "borderline: 10 identifiers at 3 a second, then the throttle's burst",
}

// caughtEventually are the shortfalls that are still mitigated in the run.
var caughtEventually = []string{"token-churn", "office-abuser", "account-enumeration"}

// TestStandardGameDay runs the standard mixed game day (60 s on the
// virtual clock, seed 1) through the real guard in front of the real
// sample API, and checks the targets of docs/gamedays.md.
func TestStandardGameDay(t *testing.T) {
	t.Setenv(sample.TokenSecretEnv, "game-day-test-secret")
	out := t.TempDir()
	t.Setenv("ABUSEGUARD_ADMIN_TOKEN", "demo-test-token")
	var dashboard string // the login page's status, fetched while the guard runs
	run, s, err := gameday.Demo(context.Background(), gameday.DemoOptions{Duration: time.Minute, Seed: 1, Out: out, Virtual: true,
		AdminListen: "127.0.0.1:0",
		Dashboard: func(url, token string) {
			resp, err := http.Get(url + "login")
			if err != nil {
				dashboard = err.Error()
				return
			}
			resp.Body.Close()
			dashboard = fmt.Sprintf("%s %d %s", url[strings.LastIndex(url, "/ui/"):], resp.StatusCode, token)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if dashboard != "/ui/ 200 demo-test-token" {
		t.Errorf("the demo's dashboard: %q, want its login page to answer 200 and the token to be the environment's", dashboard)
	}
	if err := report.Write(out, run, s); err != nil {
		t.Fatal(err)
	}
	if len(run.Results) < 5000 {
		t.Fatalf("only %d requests in a 60 s game day", len(run.Results))
	}
	for _, tg := range s.Targets {
		if !tg.Pass {
			t.Errorf("target %s: got %v, want %s %v", tg.Name, deref(tg.Got), tg.Op, tg.Want)
		}
	}
	if s.OfficeRequests < 500 || s.OfficeMitigated != 0 {
		t.Errorf("office: %d of %d requests refused, want 0 of more than 500", s.OfficeMitigated, s.OfficeRequests)
	}
	for _, sc := range gameday.Scenarios {
		got := s.Scenarios[sc.Name]
		if got == nil {
			t.Errorf("scenario %s missing from the summary", sc.Name)
			continue
		}
		if sc.Label == gameday.Benign {
			if got.BenignRequests == 0 || got.BenignFalseBlockRate > gameday.TargetBenignFalseBlockRate {
				t.Errorf("%s: %d of %d benign requests refused", sc.Name, got.BenignWronglyBlocked, got.BenignRequests)
			}
			continue
		}
		short := slices.ContainsFunc(s.Shortfalls, func(line string) bool { return strings.Contains(line, `"`+sc.Name+`"`) })
		why, known := knownShortfalls[sc.Name]
		switch {
		case short && !known:
			t.Errorf("%s falls short: %q", sc.Name, s.Shortfalls)
		case !short && known && !strings.HasPrefix(why, "borderline"):
			t.Errorf("%s no longer falls short (%s): update docs/gamedays.md and knownShortfalls", sc.Name, why)
		}
		mitigatedSomehow := !known || slices.Contains(caughtEventually, sc.Name)
		if mitigatedSomehow && got.AttackersMitigated != got.Attackers {
			t.Errorf("%s: %d of %d attackers mitigated", sc.Name, got.AttackersMitigated, got.Attackers)
		}
	}
	if office := s.Scenarios["office-abuser"]; office == nil || office.AttackMitigated == 0 {
		t.Error("the abuser behind the office NAT was never stopped")
	}

	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var summary map[string]any
	if err := json.Unmarshal(data, &summary); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"attack_requests", "attack_mitigated", "attack_recall", "benign_requests", "benign_wrongly_blocked",
		"benign_false_block_rate", "median_time_to_mitigate_s", "p95_time_to_mitigate_s", "scenarios"} {
		if _, ok := summary[k]; !ok {
			t.Errorf("summary.json has no %q", k)
		}
	}
	for _, f := range []string{"report.md", "report.html", "guard.yaml", "events.jsonl", "access.log"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return "never"
	}
	return *p
}
