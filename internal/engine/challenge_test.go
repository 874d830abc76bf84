package engine

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	ichallenge "github.com/abuseguard/abuseguard/internal/challenge"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

const challengeYAML = `
challenge:
  difficulty: [4, 6, 8]
  step_score: 5
  relief: 20
`

// challenged adds an enforced challenge decision on ip.
func (w *world) challenged(ip string, action verdict.Action) {
	w.t.Helper()
	if _, _, err := w.ds.Add(decision.Decision{Scope: verdict.ScopeIP, Value: ip, Action: action, Reason: "test",
		Source: decision.SourceManual, Mode: verdict.Enforce, Expires: w.now.Add(time.Hour)}); err != nil {
		w.t.Fatal(err)
	}
}

// send decides one request from ip with headers and returns a copy of the
// verdict.
func (w *world) send(ip string, headers ...string) verdict.Verdict {
	w.t.Helper()
	r := httptest.NewRequest("GET", "/items", nil)
	r.RemoteAddr = ip + ":1"
	r.Header.Set("User-Agent", "app/1")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	v := &request.View{ID: "r"}
	if prob := w.p.Parser.ParseHTTP(r, w.now, v); prob != nil {
		w.t.Fatalf("parse: %v", prob)
	}
	vd := w.p.Decide(v)
	out := vd.Verdict
	vd.Finish(w.now)
	w.now = w.now.Add(time.Second)
	return out
}

func (w *world) score(ip string) float64 {
	return w.p.entityScore(verdict.Entity{Scope: verdict.ScopeIP, Value: ip}, &request.View{Time: w.now})
}

func solved(t *testing.T, c challenge.Challenge) string {
	t.Helper()
	sol, _, err := challenge.Solver{}.Solve(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return sol.String()
}

// TestUnsolvedChallengesClimbTheLadderThenBlock: a client that never
// solves pays more with each challenge (its score climbs with the
// persistence points of each refused request) and ends blocked, as
// before challenges could be solved.
func TestUnsolvedChallengesClimbTheLadderThenBlock(t *testing.T) {
	w := newWorld(t, challengeYAML)
	const ip = "203.0.113.7"
	w.challenged(ip, verdict.Challenge)
	seen := map[int]bool{}
	last := 0
	for i := range 40 {
		vd := w.send(ip)
		if vd.Action == verdict.Block {
			if !seen[4] || !seen[6] || !seen[8] {
				t.Fatalf("blocked after %d requests having seen difficulties %v, want 4, 6 and 8", i, seen)
			}
			// A block is never lifted by a pass or a solution.
			b := w.p.challenges
			bind := bindingOf(w, ip)
			pass, _ := b.IssuePass(bind, 8, w.now)
			if vd := w.send(ip, challenge.PassHeader, pass); vd.Action != verdict.Block {
				t.Fatalf("a pass lifted a block: %v", vd.Action)
			}
			return
		}
		if vd.Action != verdict.Challenge || vd.Challenge.Token == "" || vd.Reason != "challenge_required" {
			t.Fatalf("request %d: %v %q token %q", i, vd.Action, vd.Reason, vd.Challenge.Token)
		}
		if d := vd.Challenge.Difficulty; d < last {
			t.Fatalf("difficulty fell from %d to %d", last, d)
		} else {
			last = d
			seen[d] = true
		}
	}
	t.Fatal("40 unsolved challenges and no block")
}

func bindingOf(w *world, ip string) ichallenge.Binding {
	v := w.view(ip, "/items")
	v.UserAgent = "app/1"
	return w.p.bindingOf(v)
}

func TestSolvedChallengeRelievesScore(t *testing.T) {
	w := newWorld(t, challengeYAML)
	const ip = "203.0.113.8"
	w.challenged(ip, verdict.Challenge)
	var vd verdict.Verdict
	for range 5 {
		vd = w.send(ip) // 5 refused requests: 5 x persistence_weight 4
	}
	before := w.score(ip)
	if before < 15 {
		t.Fatalf("score %.1f after 5 challenged requests", before)
	}
	got := w.send(ip, challenge.SolutionHeader, solved(t, vd.Challenge))
	if got.Action != verdict.Allow || got.Pass == "" {
		t.Fatalf("solution: %v %q, pass %q", got.Action, got.Reason, got.Pass)
	}
	if after := w.score(ip); after > before-19 {
		t.Fatalf("score %.1f -> %.1f: want relief 20", before, after)
	}
	// The pass lets later requests through without work.
	for range 3 {
		if vd := w.send(ip, challenge.PassHeader, got.Pass); vd.Action != verdict.Allow || !vd.PassUsed {
			t.Fatalf("with the pass: %v %q", vd.Action, vd.Reason)
		}
	}
}

func TestDifficultyLadder(t *testing.T) {
	w := newWorld(t, challengeYAML) // challenge_at 60, step_score 5, ladder [4 6 8]
	for _, tt := range []struct {
		score           float64
		offense         int
		required, least int
	}{
		{0, 1, 4, 4}, {60, 1, 4, 4}, {64.9, 1, 4, 4}, {65, 1, 6, 4}, {70, 1, 8, 6}, {99, 1, 8, 6},
		{0, 2, 6, 4}, {0, 3, 8, 6}, {65, 2, 8, 6}, {0, 9, 8, 6},
	} {
		r, l := w.p.difficulty(tt.score, tt.offense)
		if r != tt.required || l != tt.least {
			t.Errorf("difficulty(%v, offense %d) = %d, %d; want %d, %d", tt.score, tt.offense, r, l, tt.required, tt.least)
		}
	}
}

// TestChallengeRuleSolutionAndPass: a rule's challenge is answered like a
// decision's: a solution bound to the client, single use, earning a pass.
func TestChallengeRuleSolutionAndPass(t *testing.T) {
	w := newWorld(t, challengeYAML+`
rules:
  - name: guard
    when: request.path == "/items"
    action: challenge
`)
	vd := w.send("198.51.100.1")
	if vd.Action != verdict.Challenge || vd.Rule != "rule:guard" || vd.Challenge.Difficulty != 4 {
		t.Fatalf("rule challenge: %+v", vd)
	}
	sol := solved(t, vd.Challenge)
	if got := w.send("192.0.2.1", challenge.SolutionHeader, sol); got.Reason != "challenge_transplanted" || got.Challenge.Token == "" {
		t.Fatalf("transplanted: %v %q", got.Action, got.Reason)
	}
	got := w.send("198.51.100.1", challenge.SolutionHeader, sol)
	if got.Action != verdict.Allow || got.Pass == "" || got.Rule != "" {
		t.Fatalf("solved: %v %q rule %q", got.Action, got.Reason, got.Rule)
	}
	if again := w.send("198.51.100.1", challenge.SolutionHeader, sol); again.Reason != "challenge_replayed" {
		t.Fatalf("replayed: %q", again.Reason)
	}
}
