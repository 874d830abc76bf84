package gameday_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/gameday"
	"github.com/abuseguard/abuseguard/internal/sample"
)

// generalisationShortfalls are, per sample API and guard config, what
// docs/detection-quality.md says falls short of issue 10's targets: a
// scenario name (any of its per-scenario checks fails) or "target:NAME"
// (a run-level target fails). As in TestStandardGameDay, a check that
// starts failing and is not listed fails the test, and one listed that
// stops failing fails it too, so the docs are corrected; "borderline"
// entries may go either way (they sit on a threshold, or vary between
// runs).
var generalisationShortfalls = map[string]map[string]string{
	"shop/defaults":   {},
	"market/docs":     {},
	"market/defaults": {},
	// The held-out ticketing API (docs/detection-quality.md, "Held-out
	// API: tickets"): measured, not tuned for; each entry is why.
	"tickets/docs": {
		"account-enumeration":             "on signup most guesses answer 201 (not taken), so the revealing (409) share stays under min_ratio: no enumeration signal; automation's cadence at 11.5 s, 90 of 91 after",
		"credential-stuffing":             "400 invalid_grant is not a login failure (failure_statuses 401, 403): only automation's cadence, 46.5 s",
		"credential-stuffing-distributed": "never: its failures are 400s, so no fingerprint or prefix spike is counted",
		"office-abuser":                   "never: 400s are not login failures, and the office address is judged per session",
		"scraping-fast":                   "borderline: UUID ids have no order to walk; scraping (volume) at 29.8 s at seed 1, 3.3 s at seed 2",
		"scraping-slow":                   "never: 90 addresses, UUID ids: no id walk for the walk checks or walk campaigns to see",
	},
	"tickets/defaults": {
		"account-enumeration":             "as tickets/docs: 409s a minority on signup; automation at 11.5 s",
		"credential-stuffing":             "400 invalid_grant is not a login failure (the route is inferred a login by /oauth/token): never or late (automation)",
		"credential-stuffing-distributed": "never: its failures are 400s",
		"honeypot":                        "never: /api/v3/ops/replay-queue has no decoy word and is not declared; it answers 404 once to a browser-shaped visitor, which no safe rule tells from a broken link (docs/detection-quality.md)",
		"office-abuser":                   "never: 400s are not login failures",
		"scraping-fast":                   "borderline: UUID ids have no order to walk; 3.4 s at seed 1 now, automation at 21-28 s in earlier runs",
		"scraping-slow":                   "never: UUID ids",
	},
}

// TestGameDayGeneralises runs the standard mixed game day (60 s, virtual
// clock, seed 1) against the sample shop under the embedded defaults and
// against the marketplace and the held-out ticketing API under the
// defaults and under examples/market.yaml and examples/tickets.yaml (the
// shop under examples/shop.yaml is
// TestStandardGameDay), and checks issue 10's targets against the
// shortfalls listed above. Two things are never a shortfall: the office
// behind its NAT address is never refused, and under a config that
// declares the partner's key, no request of the partner's sync is blocked.
func TestGameDayGeneralises(t *testing.T) {
	t.Setenv(sample.TokenSecretEnv, "game-day-test-secret")
	for _, tc := range []struct {
		api      string
		defaults bool
	}{{"shop", true}, {"market", false}, {"market", true}, {"tickets", false}, {"tickets", true}} {
		name := tc.api + "/docs"
		if tc.defaults {
			name = tc.api + "/defaults"
		}
		t.Run(name, func(t *testing.T) {
			_, s, err := gameday.Demo(context.Background(), gameday.DemoOptions{
				Duration: time.Minute, Seed: 1, Out: t.TempDir(), Virtual: true, API: tc.api, Defaults: tc.defaults,
				AdminListen: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			known := generalisationShortfalls[name]
			failing := map[string]string{}
			for _, tg := range s.Targets {
				if !tg.Pass {
					failing["target:"+tg.Name] = tg.Name
				}
			}
			for _, line := range s.Shortfalls {
				name, _, _ := strings.Cut(strings.TrimPrefix(line, `Scenario "`), `"`)
				failing[name] = line
			}
			for k, line := range failing {
				if _, ok := known[k]; !ok {
					t.Errorf("%s falls short and is not listed: %s", k, line)
				}
			}
			for k, why := range known {
				if _, ok := failing[k]; !ok && !strings.HasPrefix(why, "borderline") {
					t.Errorf("%s no longer falls short (%s): update docs/detection-quality.md and generalisationShortfalls", k, why)
				}
			}
			if s.OfficeRequests < 150 || s.OfficeMitigated != 0 {
				t.Errorf("office: %d of %d requests refused, want 0 of 150 or more", s.OfficeMitigated, s.OfficeRequests)
			}
			if p := s.Scenarios["partner-batch"]; p == nil || p.BenignRequests < 500 {
				t.Errorf("partner-batch: %+v, want 500 requests or more", p)
			} else if !tc.defaults && p.Blocked != 0 {
				t.Errorf("partner-batch: %d requests of a declared key blocked (refused by %v)", p.Blocked, p.RefusedBy)
			}
			for _, sc := range gameday.Scenarios {
				got := s.Scenarios[sc.Name]
				if sc.Label != gameday.Attack || got == nil {
					continue
				}
				if _, short := known[sc.Name]; !short && got.AttackersMitigated != got.Attackers {
					t.Errorf("%s: %d of %d attackers mitigated", sc.Name, got.AttackersMitigated, got.Attackers)
				}
			}
			if tc.api != "shop" && slices.ContainsFunc(s.Shortfalls, func(l string) bool { return strings.Contains(l, `"graphql-abuse"`) }) {
				t.Errorf("the %s API has no GraphQL, yet graphql-abuse ran", tc.api)
			}
		})
	}
}
