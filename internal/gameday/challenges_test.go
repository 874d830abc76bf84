package gameday_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/examples"
	"github.com/abuseguard/abuseguard/internal/gameday"
	"github.com/abuseguard/abuseguard/internal/sample"
)

// TestChallengedGameDay runs the mixed game day with a guard that
// challenges every request but sign-ins: the benign clients solve (the app,
// the partner and the office with the Go client, people as their browsers
// would) and get through on their passes; the attackers do not solve
// (those that only log in are not challenged here), except the slow
// scraper, which pays in hashes.
func TestChallengedGameDay(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 s virtual-clock game day")
	}
	t.Setenv(sample.TokenSecretEnv, "game-day-test-secret")
	config := strings.Replace(string(examples.Shop), "\nrules:\n", `
rules:
  - name: challenge-everyone
    when: request.path != "/api/login"
    action: challenge
    reason: game_day
`, 1) + "\nchallenge:\n  difficulty: [12]\n"
	run, s, err := gameday.Demo(context.Background(), gameday.DemoOptions{Duration: 20 * time.Second, Seed: 1,
		Out: t.TempDir(), Virtual: true, Config: []byte(config)})
	if err != nil {
		t.Fatal(err)
	}
	if run.Challenges == nil {
		t.Fatal("no actor met a challenge")
	}
	for _, sc := range gameday.Scenarios {
		got := s.Scenarios[sc.Name]
		if got == nil || got.Requests == 0 {
			continue
		}
		c := got.Challenges
		if c == nil {
			c = &gameday.Challenges{}
		}
		t.Logf("%-32s %-6s requests %5d mitigated %5d  challenges %+v", sc.Name, sc.Label, got.Requests,
			got.AttackMitigated+got.BenignWronglyBlocked, *c)
		switch {
		case sc.Label == gameday.Benign:
			if c.Issued == 0 || c.Solved == 0 || c.PassesUsed == 0 || c.Hashes == 0 {
				t.Errorf("%s: %+v, want challenges, solves, pass uses and hashes", sc.Name, *c)
			}
			if got.BenignWronglyBlocked*10 > got.BenignRequests {
				t.Errorf("%s: %d of %d benign requests refused", sc.Name, got.BenignWronglyBlocked, got.BenignRequests)
			}
		case sc.Name == "scraping-slow": // pays, within its budget
			if c.Hashes == 0 {
				t.Errorf("%s paid nothing: %+v", sc.Name, *c)
			}
		case c.Solved != 0 || c.Hashes != 0:
			t.Errorf("%s solved challenges: %+v", sc.Name, *c)
		}
	}
}
