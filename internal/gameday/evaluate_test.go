package gameday

import (
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// evalActor is an actor of a hand-built run and its requests: Outcomes
// holds one letter per request (R reached, T throttled, C challenged,
// B blocked, F failed), sent at At seconds, or at 0, 1, 2... s when At is
// nil.
type evalActor struct {
	Name, Scenario, Group string
	Label                 Label
	Outcomes              string
	At                    []float64
}

// evalRun builds a run of actors whose results arrive in the order the
// actors and their requests are listed.
func evalRun(actors ...evalActor) *Run {
	run := &Run{Target: "http://127.0.0.1:8080", Seed: 7, Duration: 10 * time.Second, Virtual: true}
	outcomes := map[rune]Outcome{'R': Reached, 'T': Throttled, 'C': Challenged, 'B': Blocked, 'F': Failed}
	for i, a := range actors {
		run.Actors = append(run.Actors, ActorInfo{Name: a.Name, Scenario: a.Scenario, Label: a.Label, Group: a.Group})
		for k, o := range []rune(a.Outcomes) {
			at := float64(k)
			if a.At != nil {
				at = a.At[k]
			}
			r := Result{Actor: i, At: time.Duration(at * float64(time.Second)), Outcome: outcomes[o], Status: 200}
			switch r.Outcome {
			case Failed:
				r.Status = 0
			case Throttled:
				r.Status, r.Reason, r.Rule = 429, "rate_limited", "per-ip"
			case Challenged:
				r.Status, r.Reason, r.Rule = 429, "challenge_required", "detector:credentials"
			case Blocked:
				r.Status, r.Reason, r.Rule = 403, "blocked", "detector:"+a.Scenario
			}
			run.Results = append(run.Results, r)
		}
	}
	return run
}

// summaryJSON returns s as summary.json decodes into a map.
func summaryJSON(t *testing.T, s *Summary) map[string]any {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// lookup returns the value at a dotted path of keys ("scenarios.x.attackers").
func lookup(m map[string]any, path string) (any, bool) {
	var v any = m
	for _, key := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestEvaluateDefinitions(t *testing.T) {
	scrape := func(name, outcomes string, at ...float64) evalActor {
		return evalActor{Name: name, Scenario: "scrape", Label: Attack, Outcomes: outcomes, At: at}
	}
	user := func(name, group, outcomes string, at ...float64) evalActor {
		return evalActor{Name: name, Scenario: "users", Label: Benign, Group: group, Outcomes: outcomes, At: at}
	}
	tests := []struct {
		name   string
		actors []evalActor
		want   map[string]any // JSON key path -> value; nil for null
	}{{
		name:   "recall counts every request, recall after first only those at or after the first mitigation",
		actors: []evalActor{scrape("a", "RRBRBT")},
		// 3 of 6 mitigated; from t=2 on: B R B T, 3 of 4.
		want: map[string]any{
			"attack_requests": 6.0, "attack_mitigated": 3.0, "attack_recall": 0.5,
			"attack_requests_after_first_mitigation": 4.0, "attack_recall_after_first_mitigation": 0.75,
			"attackers": 1.0, "attackers_mitigated": 1.0,
			"median_time_to_mitigate_s": 2.0, "p95_time_to_mitigate_s": 2.0,
			"blocked": 2.0, "throttled": 1.0, "challenged": 0.0,
			"scenarios.scrape.label": "attack", "scenarios.scrape.attack_recall_after_first_mitigation": 0.75,
		},
	}, {
		name:   "a median landing on a never-mitigated attacker is null",
		actors: []evalActor{scrape("a", "B"), scrape("b", "RRR"), scrape("c", "RRR")},
		// Times 0, +Inf, +Inf: the nearest-rank median is the 2nd.
		want: map[string]any{
			"attackers": 3.0, "attackers_mitigated": 1.0,
			"median_time_to_mitigate_s": nil, "p95_time_to_mitigate_s": nil,
			"attack_recall": 1.0 / 7, "attack_recall_after_first_mitigation": 1.0,
			"scenarios.scrape.median_time_to_mitigate_s": nil,
		},
	}, {
		name:   "a median on a mitigated attacker, a p95 on a never-mitigated one",
		actors: []evalActor{scrape("a", "RB"), scrape("b", "RRRB"), scrape("c", "RRR")},
		// Times 1, 3, +Inf: median (2nd) 3, p95 (3rd) never.
		want: map[string]any{"median_time_to_mitigate_s": 3.0, "p95_time_to_mitigate_s": nil},
	}, {
		name:   "no attacker mitigated: recall after first is 0",
		actors: []evalActor{scrape("a", "RR")},
		want: map[string]any{
			"attack_recall_after_first_mitigation": 0.0, "attack_requests_after_first_mitigation": 0.0,
			"median_time_to_mitigate_s": nil, "median_time_to_95pct_mitigated_s": nil,
		},
	}, {
		name:   "failed requests count as requests, never as mitigated",
		actors: []evalActor{scrape("a", "FFB"), user("u", "", "RFR")},
		want: map[string]any{
			"requests": 6.0, "failed_requests": 3.0,
			"attack_requests": 3.0, "attack_mitigated": 1.0, "attack_recall": 1.0 / 3,
			"median_time_to_mitigate_s": 2.0, "attack_recall_after_first_mitigation": 1.0,
			"benign_requests": 3.0, "benign_wrongly_blocked": 0.0, "benign_false_block_rate": 0.0,
			"scenarios.users.failed_requests": 1.0, "scenarios.scrape.failed_requests": 2.0,
		},
	}, {
		name: "time to 95%: the earliest t whose suffix is 95% mitigated",
		// Mitigated from t=5, but the request at t=10 reached: from 5,
		// 14 of 15 (93%); from 10, 9 of 10; from 11, 9 of 9.
		actors: []evalActor{scrape("a", "RRRRRBBBBBRBBBBBBBBB")},
		want: map[string]any{
			"median_time_to_mitigate_s": 5.0, "median_time_to_95pct_mitigated_s": 11.0,
		},
	}, {
		name: "time to 95%: exactly 95% qualifies",
		// From the third request on, 19 of 20 are mitigated; earlier
		// suffixes fall short (20 of 22, 19 of 21).
		actors: []evalActor{scrape("a", "BRRBBBBBBBBBBBBBBBBBBB")},
		want: map[string]any{
			"median_time_to_mitigate_s": 0.0, "median_time_to_95pct_mitigated_s": 2.0,
		},
	}, {
		name: "time to 95%: never before the first mitigation",
		// 19 of all 20 mitigated, but the first request reached.
		actors: []evalActor{scrape("a", "RBBBBBBBBBBBBBBBBBBB")},
		want: map[string]any{
			"median_time_to_mitigate_s": 1.0, "median_time_to_95pct_mitigated_s": 1.0,
		},
	}, {
		name:   "time to 95%: never when the last request reached",
		actors: []evalActor{scrape("a", "BBBR")},
		want: map[string]any{
			"median_time_to_mitigate_s": 0.0, "median_time_to_95pct_mitigated_s": nil,
		},
	}, {
		name: "results are ordered by At, not by arrival",
		// Arrive as B@3, R@0, R@1, R@2.
		actors: []evalActor{scrape("a", "BRRR", 3, 0, 1, 2)},
		want: map[string]any{
			"median_time_to_mitigate_s": 3.0, "attack_requests_after_first_mitigation": 1.0,
		},
	}, {
		name: "a request sent at the instant of the first mitigation counts as after it",
		// Sorted: R@0, then B@2 and R@2 (either arrival order).
		actors: []evalActor{scrape("a", "RBR", 0, 2, 2), scrape("b", "RRB", 0, 2, 2)},
		want: map[string]any{
			"attack_requests_after_first_mitigation": 4.0, "attack_recall_after_first_mitigation": 0.5,
			"median_time_to_mitigate_s": 2.0,
		},
	}, {
		name: "longest benign refusal runs from a mitigation to the next request that reached",
		// Refused 10 -> 45 (the failed request at 30 does not end it) and
		// 50 -> 70 (no reach after: to the last mitigated request).
		actors: []evalActor{
			user("u1", "", "RBTFRBC", 0, 10, 20, 30, 45, 50, 70),
			user("u2", "", "RRR"),
		},
		want: map[string]any{
			"longest_benign_refusal_s": 35.0,
			"benign_requests":          10.0, "benign_wrongly_blocked": 4.0, "benign_false_block_rate": 0.4,
			"benign_actors": 2.0, "benign_actors_affected": 1.0,
			"failed_requests": 1.0, "challenged": 1.0,
			"scenarios.users.label": "benign", "scenarios.users.longest_benign_refusal_s": 35.0,
		},
	}, {
		name:   "a refusal never followed by a reach ends at the last mitigated request",
		actors: []evalActor{user("u", "", "RBBF", 0, 5, 12, 20)},
		want:   map[string]any{"longest_benign_refusal_s": 7.0},
	}, {
		name:   "office counts the requests of benign actors in group office",
		actors: []evalActor{user("o1", "office", "RRB"), user("o2", "office", "RR"), user("m", "mobile", "BB")},
		want: map[string]any{
			"office_requests": 5.0, "office_mitigated": 1.0,
			"benign_wrongly_blocked": 3.0, "benign_actors_affected": 2.0,
			"scenarios.users.office_mitigated": 1.0,
		},
	}, {
		name:   "without benign requests the false-block rate is 0",
		actors: []evalActor{scrape("a", "B")},
		want: map[string]any{
			"benign_requests": 0.0, "benign_false_block_rate": 0.0, "longest_benign_refusal_s": 0.0,
		},
	}, {
		name: "scenarios add up their own actors",
		actors: []evalActor{
			{Name: "f", Scenario: "fast", Label: Attack, Outcomes: "RBBB"},
			{Name: "s1", Scenario: "slow", Label: Attack, Outcomes: "RRRRRRB"},
			{Name: "s2", Scenario: "slow", Label: Attack, Outcomes: "RR"},
			{Name: "u", Scenario: "users", Label: Benign, Outcomes: "RRRB"},
		},
		want: map[string]any{
			"attackers": 3.0, "attackers_mitigated": 2.0,
			"median_time_to_mitigate_s":    6.0, // times 1, 6, +Inf
			"scenarios.fast.attack_recall": 0.75, "scenarios.fast.median_time_to_mitigate_s": 1.0,
			"scenarios.fast.benign_requests": 0.0,
			"scenarios.slow.attack_requests": 9.0, "scenarios.slow.attack_mitigated": 1.0,
			"scenarios.slow.attackers": 2.0, "scenarios.slow.median_time_to_mitigate_s": 6.0,
			"scenarios.slow.p95_time_to_mitigate_s":   nil,
			"scenarios.users.benign_false_block_rate": 0.25, "scenarios.users.attackers": 0.0,
			"scenarios.users.median_time_to_mitigate_s": nil,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := summaryJSON(t, Evaluate(evalRun(tt.actors...)))
			for path, want := range tt.want {
				got, ok := lookup(m, path)
				if !ok {
					t.Errorf("%s: missing", path)
					continue
				}
				if g, ok := got.(float64); ok {
					if w, ok := want.(float64); ok && math.Abs(g-w) < 1e-9 {
						continue
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
		})
	}
}

func TestEvaluateTargets(t *testing.T) {
	attacker := func(outcomes string) evalActor {
		return evalActor{Name: "a", Scenario: "attack", Label: Attack, Outcomes: outcomes}
	}
	user := func(group, outcomes string, at ...float64) evalActor {
		return evalActor{Name: "u", Scenario: "users", Label: Benign, Group: group, Outcomes: outcomes, At: at}
	}
	tests := []struct {
		name   string
		actors []evalActor
		want   map[string]bool // target name -> pass; targets not listed must be absent
	}{{
		name:   "all pass, no office target without office requests",
		actors: []evalActor{attacker("RBBBB"), user("", "RRRR")},
		want: map[string]bool{
			"attack_recall_after_first_mitigation": true, "median_time_to_mitigate_s": true,
			"benign_false_block_rate": true, "longest_benign_refusal_s": true,
		},
	}, {
		name:   "slow, leaky mitigation misses",
		actors: []evalActor{attacker("RRRRRRBRB"), user("office", "RRR")},
		want: map[string]bool{
			"attack_recall_after_first_mitigation": false, "median_time_to_mitigate_s": false,
			"benign_false_block_rate": true, "longest_benign_refusal_s": true, "office_mitigated": true,
		},
	}, {
		name:   "never mitigated misses the median target",
		actors: []evalActor{attacker("RRR"), user("", "R")},
		want: map[string]bool{
			"attack_recall_after_first_mitigation": false, "median_time_to_mitigate_s": false,
			"benign_false_block_rate": true, "longest_benign_refusal_s": true,
		},
	}, {
		name:   "benign refusals miss, no attack targets without attackers",
		actors: []evalActor{user("office", "RBR", 0, 1, 62)},
		want: map[string]bool{
			"benign_false_block_rate": false, "longest_benign_refusal_s": false, "office_mitigated": false,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Evaluate(evalRun(tt.actors...))
			got := map[string]bool{}
			for _, target := range s.Targets {
				got[target.Name] = target.Pass
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("targets = %v, want %v", got, tt.want)
			}
			if s.Passed() && len(tt.want) > 0 && !allTrue(tt.want) {
				t.Error("Passed() with a missed target")
			}
		})
	}
}

func allTrue(m map[string]bool) bool {
	for _, v := range m {
		if !v {
			return false
		}
	}
	return true
}

func TestEvaluateShortfalls(t *testing.T) {
	run := evalRun(
		evalActor{Name: "g", Scenario: "good", Label: Attack, Outcomes: "RBBBBBBBBB"},
		evalActor{Name: "s", Scenario: "slow", Label: Attack, Outcomes: "RRRRRRRBBB"},
		evalActor{Name: "l", Scenario: "leaky", Label: Attack, Outcomes: "RBRBRBBBBB"},
		evalActor{Name: "n", Scenario: "never", Label: Attack, Outcomes: "RRRR"},
		evalActor{Name: "m1", Scenario: "mostly-never", Label: Attack, Outcomes: "BBBB"},
		evalActor{Name: "m2", Scenario: "mostly-never", Label: Attack, Outcomes: "RRRR"},
		evalActor{Name: "m3", Scenario: "mostly-never", Label: Attack, Outcomes: "RRRR"},
		evalActor{Name: "o", Scenario: "office", Label: Benign, Group: "office", Outcomes: "RRRB"},
		evalActor{Name: "q", Scenario: "quiet", Label: Benign, Outcomes: "RRRR"},
		evalActor{Name: "i", Scenario: "idle", Label: Attack},
	)
	s := Evaluate(run)
	wantShort := map[string]string{
		"slow":         "median time to mitigate is 7 s",
		"leaky":        "recall after first mitigation is 0.7778",
		"never":        "no attacker was ever mitigated",
		"mostly-never": "2 of 3 attackers were never mitigated, so the median time to mitigate is never",
		"office":       "false-block rate is 0.25",
		"idle":         "sent no requests",
	}
	for name, phrase := range wantShort {
		found := false
		for _, line := range s.Shortfalls {
			if strings.Contains(line, `"`+name+`"`) && strings.Contains(line, phrase) {
				found = true
			}
		}
		if !found {
			t.Errorf("no shortfall for %q saying %q in %q", name, phrase, s.Shortfalls)
		}
	}
	for _, line := range s.Shortfalls {
		for _, fine := range []string{"good", "quiet"} {
			if strings.Contains(line, `"`+fine+`"`) {
				t.Errorf("shortfall for %q, which meets its targets: %s", fine, line)
			}
		}
	}
	if s.Passed() {
		t.Error("Passed() with shortfalls")
	}
}

func TestEvaluateNoShortfallsIsEmptyList(t *testing.T) {
	s := Evaluate(evalRun(evalActor{Name: "a", Scenario: "x", Label: Attack, Outcomes: "BBB"}))
	m := summaryJSON(t, s)
	if got, ok := m["shortfalls"].([]any); !ok || len(got) != 0 {
		t.Errorf("shortfalls = %#v, want []", m["shortfalls"])
	}
	if !s.Passed() {
		t.Errorf("Passed() = false for %+v", s.Targets)
	}
}

func TestEvaluateOverhead(t *testing.T) {
	msList := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	run := evalRun(evalActor{Name: "u", Scenario: "users", Outcomes: "R"})
	run.Overhead = &Overhead{
		Direct: "http://127.0.0.1:9000",
		// Nearest rank of 10: p50 is the 5th, p99 the 10th.
		Guarded: msList(19, 18, 17, 16, 15, 14, 13, 12, 11, 10),
		Bare:    msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 20),
	}
	m := summaryJSON(t, Evaluate(run))
	want := map[string]float64{
		"guarded_p50_ms": 14, "bare_p50_ms": 5, "latency_overhead_p50_ms": 9,
		"guarded_p99_ms": 19, "bare_p99_ms": 20, "latency_overhead_p99_ms": -1,
	}
	for k, w := range want {
		if got, _ := m[k].(float64); got != w {
			t.Errorf("%s = %v, want %v", k, m[k], w)
		}
	}
	if run.Overhead.Guarded[0] != 19*time.Millisecond {
		t.Error("Evaluate reordered Overhead.Guarded")
	}

	run.Overhead = nil
	m = summaryJSON(t, Evaluate(run))
	for k := range want {
		if _, ok := m[k]; ok {
			t.Errorf("%s present without overhead samples", k)
		}
	}
}

func TestEvaluateTimeline(t *testing.T) {
	run := evalRun(
		evalActor{Name: "a", Scenario: "scrape", Label: Attack, Outcomes: "RBF", At: []float64{0.5, 1.2, 1.5}},
		evalActor{Name: "u", Scenario: "users", Label: Benign, Outcomes: "BR", At: []float64{1.9, 2.0}},
	)
	run.Duration = 3 * time.Second
	s := Evaluate(run)
	want := Timeline{
		StepS:           1,
		AttackReached:   []int{1, 0, 0},
		AttackMitigated: []int{0, 1, 0},
		BenignReached:   []int{0, 0, 1},
		BenignMitigated: []int{0, 1, 0},
	}
	if !reflect.DeepEqual(s.Timeline, want) {
		t.Errorf("timeline = %+v, want %+v", s.Timeline, want)
	}
	if tl := s.Scenarios["scrape"].Timeline; tl.BenignReached != nil || !reflect.DeepEqual(tl.AttackMitigated, want.AttackMitigated) {
		t.Errorf("scrape timeline = %+v", tl)
	}
	if tl := s.Scenarios["users"].Timeline; tl.AttackReached != nil || !reflect.DeepEqual(tl.BenignMitigated, want.BenignMitigated) {
		t.Errorf("users timeline = %+v", tl)
	}

	// A request sent after the planned end lengthens the timeline.
	run.Results = append(run.Results, Result{Actor: 0, At: 4500 * time.Millisecond, Outcome: Blocked})
	if n := len(Evaluate(run).Timeline.AttackMitigated); n != 5 {
		t.Errorf("timeline length %d, want 5", n)
	}
}

func TestEvaluateIgnoresUnknownActors(t *testing.T) {
	run := evalRun(evalActor{Name: "a", Scenario: "x", Label: Attack, Outcomes: "BB"})
	run.Results = append(run.Results, Result{Actor: 5, Outcome: Reached}, Result{Actor: -1, Outcome: Reached})
	if s := Evaluate(run); s.Requests != 2 {
		t.Errorf("requests = %d, want 2", s.Requests)
	}
}

func TestSummaryJSONKeys(t *testing.T) {
	run := evalRun(
		evalActor{Name: "a", Scenario: "scrape", Label: Attack, Outcomes: "RRB"},
		evalActor{Name: "u", Scenario: "users", Label: Benign, Outcomes: "RR"},
	)
	run.Overhead = &Overhead{Guarded: []time.Duration{2}, Bare: []time.Duration{1}}
	m := summaryJSON(t, Evaluate(run))
	perScenario := []string{
		"requests", "attack_requests", "attack_mitigated", "attack_recall",
		"attack_recall_after_first_mitigation", "attackers", "attackers_mitigated",
		"median_time_to_mitigate_s", "p95_time_to_mitigate_s", "median_time_to_95pct_mitigated_s",
		"benign_requests", "benign_wrongly_blocked", "benign_false_block_rate",
		"benign_actors", "benign_actors_affected", "longest_benign_refusal_s",
		"office_requests", "office_mitigated", "failed_requests", "throttled", "challenged", "blocked",
		"timeline",
	}
	top := append([]string{
		"seed", "duration_s", "virtual_clock", "target", "targets", "shortfalls", "scenarios",
		"latency_overhead_p50_ms", "latency_overhead_p99_ms",
		"guarded_p50_ms", "guarded_p99_ms", "bare_p50_ms", "bare_p99_ms",
	}, perScenario...)
	for _, k := range top {
		if _, ok := m[k]; !ok {
			t.Errorf("summary.json lacks %q", k)
		}
	}
	scenarios, _ := m["scenarios"].(map[string]any)
	if len(scenarios) != 2 {
		t.Fatalf("scenarios = %v", m["scenarios"])
	}
	for name, sc := range scenarios {
		obj, _ := sc.(map[string]any)
		for _, k := range append([]string{"label"}, perScenario...) {
			if _, ok := obj[k]; !ok {
				t.Errorf("scenarios.%s lacks %q", name, k)
			}
		}
	}
	targets, _ := m["targets"].([]any)
	for _, tg := range targets {
		obj, _ := tg.(map[string]any)
		for _, k := range []string{"name", "op", "want", "got", "pass"} {
			if _, ok := obj[k]; !ok {
				t.Errorf("target %v lacks %q", obj, k)
			}
		}
	}
}

func TestFormatNear(t *testing.T) {
	tests := []struct {
		v, limit float64
		want     string
	}{
		{0.995, 0.99, "0.995"},
		{0.98996, 0.99, "0.98996"},
		{0.99, 0.99, "0.99"},
		{1, 0.99, "1"},
		{5.00001, 5, "5.00001"},
		{0.25, 0.001, "0.25"},
		{0.0010004, 0.001, "0.0010004"},
	}
	for _, tt := range tests {
		if got := FormatNear(tt.v, tt.limit); got != tt.want {
			t.Errorf("FormatNear(%v, %v) = %q, want %q", tt.v, tt.limit, got, tt.want)
		}
	}
}

func TestRefusedBy(t *testing.T) {
	scrape := func(name, outcomes string) evalActor {
		return evalActor{Name: name, Scenario: "scraping-fast", Label: Attack, Outcomes: outcomes}
	}
	s := Evaluate(evalRun(scrape("a", "RTTBBB"), scrape("b", "BRC")))
	got := s.Scenarios["scraping-fast"].RefusedBy
	want := map[string]int{"detector:scraping-fast": 4, "per-ip": 2, "detector:credentials": 1}
	if !maps.Equal(got, want) {
		t.Errorf("refused_by = %v, want %v", got, want)
	}
}
