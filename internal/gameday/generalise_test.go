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
		"scraping-slow": "13.2 s, over 5 s (within the issue's 30 s for slow scraping): a harvest campaign needs two reads from each of 10 members, one round over 90 addresses takes 12 s",
	},
	"tickets/defaults": {
		"honeypot":      "never: /api/v3/ops/replay-queue has no decoy word and is not declared (an unlinked path without one is indistinguishable from a rarely used real endpoint)",
		"scraping-slow": "13.2 s: as tickets/docs",
	},
	// The held-out help-desk API (docs/detection-quality.md, "Held-out
	// API: desk"): built while the fixes for tickets were made, and not
	// tuned for; each entry is why.
	"desk/docs": {
		"account-enumeration": "never: the people lookup is a GET with the email in the query; a route's field is a body field and GETs are never inferred, so no identifier is counted",
		"scraping-slow":       "14.2 s, over 5 s: a harvest campaign, as on tickets",
	},
	"desk/defaults": {
		"account-enumeration": "a GET lookup is never inferred (the 200/404 on it count nowhere): volumetric at 41.6 s",
		"scraping-slow":       "never: undeclared, 6-character base62 ids (a third all letters) are not inferred as ids, so no id route groups the harvest",
	},
	// The held-out mobile banking API (docs/detection-quality.md,
	// "Held-out API: bank"): built after issue 10's fixes for tickets and
	// desk, and not tuned for; each entry is why.
	"bank/docs": {},
	"bank/defaults": {
		"leaked-key":    "never: Ocp-Apim-Subscription-Key (Azure API Management's header) is not among the headers keys are read from by default, so the key is no identity and its 55 addresses each look like a light anonymous client",
		"token-churn":   "median time to mitigate 6.7 s (seeds 1 and 2): made-up keys in an unread header are not key churn; only the 401s-on-any-path check (credentials) catches it, as on tickets/defaults",
		"partner-batch": "borderline: 1 of 902 requests of the aggregator's undeclared key is refused by volumetric (not blocked; 0.0011, just above 0.001): at seeds 1 and 2 on main at 43eeae2, in some runs at 080b795",
	},
}

// TestGameDayGeneralises runs the standard mixed game day (60 s, virtual
// clock, seed 1) against the sample shop under the embedded defaults and
// against the marketplace and the held-out ticketing API under the
// defaults and under examples/market.yaml and examples/tickets.yaml, and
// the held-out help-desk and banking APIs likewise (examples/desk.yaml,
// examples/bank.yaml) (the shop under
// examples/shop.yaml is
// TestStandardGameDay), and checks issue 10's targets against the
// shortfalls listed above. Two things are never a shortfall: the office
// behind its NAT address is never refused, and under a config that
// declares the partner's key, no request of the partner's sync is blocked.
func TestGameDayGeneralises(t *testing.T) {
	t.Setenv(sample.TokenSecretEnv, "game-day-test-secret")
	for _, tc := range []struct {
		api      string
		defaults bool
	}{{"shop", true}, {"market", false}, {"market", true}, {"tickets", false}, {"tickets", true}, {"desk", false}, {"desk", true}, {"bank", false}, {"bank", true}} {
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
