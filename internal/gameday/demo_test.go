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
	"sync/atomic"
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
	"token-churn": "slow: the second churn step is what acts",
}

// caughtEventually are the shortfalls that are still mitigated in the run.
var caughtEventually = []string{"token-churn"}

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
		if sc.Alone {
			continue
		}
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

// TestOverloadGameDay: the upstream slows down under a flood. The shop
// runs on a small server (gameday.Overloaded: 8 workers, 40ms each, so at
// most 200 requests a second) behind the guard with the adaptive limit
// (gameday.OverloadGuardConfig). Signed-in app users and a partner's sync
// job use it; from 30% of the run a flood from 100 addresses, each under
// the per-address limits, asks for 500 a second. The legitimate users
// keep their success rate and their latency; the flood is shed (503
// concurrency_shed) or refused. On the wall clock (concurrency is the
// point), 12 s.
func TestOverloadGameDay(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock load test: it runs in the full pass, not the short one under the race detector")
	}
	t.Setenv(sample.TokenSecretEnv, "game-day-test-secret")
	const service = 40 * time.Millisecond
	run, s, err := gameday.Demo(context.Background(), gameday.DemoOptions{
		Duration: 12 * time.Second, Seed: 1, Out: t.TempDir(),
		Scenarios: []string{"mobile", "partner-batch", "overload-flood"},
		Upstream:  gameday.Overloaded(8, service), GuardConfig: gameday.OverloadGuardConfig,
	})
	if err != nil {
		t.Fatal(err)
	}
	flood := s.Scenarios["overload-flood"]
	if flood == nil || flood.AttackRequests < 2000 {
		t.Fatalf("the flood sent too little: %+v", flood)
	}
	// The legitimate users' requests sent while the flood ran.
	var served, other int
	var latencies []time.Duration
	floodStart := time.Duration(0.3 * float64(run.Duration))
	for _, r := range run.Results {
		// The latency probe is left out: half its requests go straight to
		// the upstream, the others are anonymous like the flood.
		a := run.Actors[r.Actor]
		if a.Label != gameday.Benign || a.Scenario == "latency-probe" || r.At < floodStart+time.Second {
			continue
		}
		if r.Outcome == gameday.Reached && r.Status < 400 {
			served++
			latencies = append(latencies, r.Latency)
		} else {
			other++
		}
	}
	slices.Sort(latencies)
	var p90 time.Duration
	if len(latencies) > 0 {
		p90 = latencies[len(latencies)*9/10]
	}
	t.Logf("during the flood: users %d served, %d not, p90 latency %v; flood %d requests, %d mitigated, refused by %v",
		served, other, p90, flood.AttackRequests, flood.AttackMitigated, flood.RefusedBy)
	if served < 50 || float64(other) > 0.01*float64(served+other) {
		t.Errorf("legitimate users during the flood: %d served, %d not; want at least 99%% served", served, other)
	}
	// Unlimited, the flood would keep ~100 requests queued on 8 workers:
	// 500ms each.
	if p90 > 200*time.Millisecond {
		t.Errorf("legitimate users' p90 latency %v during the flood, want under 200ms (5x the service time)", p90)
	}
	// 500 a second on a server for 200: at least 60% cannot be served.
	if flood.RefusedBy["concurrency_shed"] == 0 || flood.AttackRecall < 0.5 {
		t.Errorf("flood: %d of %d mitigated, %d shed by the adaptive limit; want at least half mitigated, by shedding",
			flood.AttackMitigated, flood.AttackRequests, flood.RefusedBy["concurrency_shed"])
	}
	for _, name := range []string{"mobile", "partner-batch"} {
		if sc := s.Scenarios[name]; sc == nil || sc.FailedRequests != 0 {
			t.Errorf("%s: failed requests in %+v", name, sc)
		}
	}
}

// TestGraphQLCostLimitStopsTheSimulator: the graphql-abuse scenario's deep
// and alias-heavy queries are refused by the GraphQL cost limit alone (the
// depth and alias limits off) with 400 graphql_too_complex before they
// reach the shop, while the app's own product-screen query passes. The
// shop counts the GraphQL requests it is sent, by client.
func TestGraphQLCostLimitStopsTheSimulator(t *testing.T) {
	t.Setenv(sample.TokenSecretEnv, "game-day-test-secret")
	var abusive, app atomic.Int64
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/graphql" {
				if strings.HasPrefix(r.UserAgent(), "gql/") {
					abusive.Add(1)
				} else {
					app.Add(1)
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	run, s, err := gameday.Demo(context.Background(), gameday.DemoOptions{
		Duration: 40 * time.Second, Seed: 1, Out: t.TempDir(), Virtual: true,
		Scenarios: []string{"mobile", "graphql-abuse"}, Upstream: count,
		GuardConfig: "graphql: {mode: enforce, max_depth: 0, max_aliases: 0, max_root_fields: 0, max_batch: 0, max_tokens: 0, max_cost: 1000}\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	abuse := s.Scenarios["graphql-abuse"]
	if abuse == nil || abuse.AttackRequests < 20 {
		t.Fatalf("graphql-abuse sent too little: %+v", abuse)
	}
	// Each is refused by the cost limit until the graphql detector's
	// signals block the client (403 blocked): from the second query on.
	blocked := false
	for _, r := range run.Results {
		if run.Actors[r.Actor].Scenario != "graphql-abuse" {
			continue
		}
		switch {
		case r.Status == 400 && r.Reason == "graphql_too_complex" && !blocked:
		case r.Status == 403 && r.Reason == "blocked":
			blocked = true
		default:
			t.Errorf("a graphql-abuse query at %v: %d %s, want 400 graphql_too_complex until blocked", r.At, r.Status, r.Reason)
		}
	}
	if abuse.RefusedBy["graphql"] == 0 {
		t.Errorf("refused by %v, want the GraphQL guard (rule graphql) first", abuse.RefusedBy)
	}
	if n := abusive.Load(); n != 0 {
		t.Errorf("the shop was sent %d of the simulator's abusive queries", n)
	}
	if app.Load() == 0 || s.Scenarios["mobile"].BenignWronglyBlocked != 0 {
		t.Errorf("the app's queries: %d reached the shop, %d app requests refused", app.Load(), s.Scenarios["mobile"].BenignWronglyBlocked)
	}
}

func deref(p *float64) any {
	if p == nil {
		return "never"
	}
	return *p
}
