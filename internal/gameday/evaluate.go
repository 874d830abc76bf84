package gameday

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// The targets a game day is held to. Targets lists the run-level checks;
// Shortfalls names the scenarios that miss the per-scenario ones.
const (
	// TargetRecallAfterFirstMitigation is the least acceptable
	// attack_recall_after_first_mitigation, for the run and for each
	// attack scenario.
	TargetRecallAfterFirstMitigation = 0.99
	// TargetTimeToMitigate is the longest acceptable
	// median_time_to_mitigate_s, for the run and for each attack scenario.
	TargetTimeToMitigate = 5 * time.Second
	// TargetBenignFalseBlockRate is the highest acceptable
	// benign_false_block_rate, for the run and for each benign scenario.
	TargetBenignFalseBlockRate = 0.001
	// TargetLongestBenignRefusal is the longest acceptable
	// longest_benign_refusal_s for the run.
	TargetLongestBenignRefusal = 60 * time.Second
	// TargetOfficeMitigated is the most office requests the guard may
	// refuse in a run (checked only when the run has office requests).
	TargetOfficeMitigated = 0
)

// Summary is what a run adds up to: the measures of Counts for the whole
// run and for each scenario, the targets and what falls short of them, the
// latency overhead and a per-second timeline. It is written as
// summary.json.
type Summary struct {
	Target       string    `json:"target"`
	Seed         uint64    `json:"seed"`
	Start        time.Time `json:"start"`
	DurationS    float64   `json:"duration_s"` // the planned length
	VirtualClock bool      `json:"virtual_clock"`

	Counts

	// Latency overhead in milliseconds, present only when the run has
	// Overhead samples. latency_overhead_pNN_ms is the NN-th percentile
	// (nearest rank) of Overhead.Guarded minus the same percentile of
	// Overhead.Bare; it may be negative.
	OverheadDirect       string   `json:"overhead_direct,omitempty"`
	OverheadSamples      int      `json:"overhead_samples,omitempty"`
	LatencyOverheadP50Ms *float64 `json:"latency_overhead_p50_ms,omitempty"`
	LatencyOverheadP99Ms *float64 `json:"latency_overhead_p99_ms,omitempty"`
	GuardedP50Ms         *float64 `json:"guarded_p50_ms,omitempty"`
	GuardedP99Ms         *float64 `json:"guarded_p99_ms,omitempty"`
	BareP50Ms            *float64 `json:"bare_p50_ms,omitempty"`
	BareP99Ms            *float64 `json:"bare_p99_ms,omitempty"`

	// Targets are the run-level checks, in a fixed order. The attack
	// targets are left out when no attacker sent a request, the office
	// target when there are no office requests.
	Targets []Target `json:"targets"`
	// Shortfalls has one sentence per scenario check that fails (see
	// Evaluate); empty, never null, when every scenario meets its targets.
	Shortfalls []string `json:"shortfalls"`

	Scenarios map[string]*ScenarioSummary `json:"scenarios"`
	Timeline  Timeline                    `json:"timeline"`
}

// ScenarioSummary is the measures of one scenario's actors.
type ScenarioSummary struct {
	// Label is "attack" when any actor of the scenario is an attacker,
	// else "benign".
	Label string `json:"label"`
	Counts
	// RefusedBy counts the scenario's mitigated requests by what refused
	// them: a limit's name, "detector:NAME" or "rule:NAME" (the reason
	// code when the guard named no rule).
	RefusedBy map[string]int `json:"refused_by"`
	Timeline  Timeline       `json:"timeline"`
	// Challenges is what the scenario's actors met and paid in
	// proof-of-work challenges; absent when they met none.
	Challenges *Challenges `json:"challenges,omitempty"`
}

// Challenges sums ChallengeCosts: challenges issued, solutions accepted,
// requests let through by a pass, and the work solving took.
type Challenges struct {
	Issued     int     `json:"issued"`
	Solved     int     `json:"solved"`
	PassesUsed int     `json:"passes_used"`
	Hashes     uint64  `json:"hashes"`
	SolvingS   float64 `json:"solving_s"`
}

func (c *Challenges) add(x ChallengeCost) {
	c.Issued += x.Issued
	c.Solved += x.Solved
	c.PassesUsed += x.PassesUsed
	c.Hashes += x.Hashes
	c.SolvingS += x.Solving.Seconds()
}

// Counts are the measures a run and each scenario share. An actor counts
// only once it has sent a request; a Result whose Actor is not an index
// into Run.Actors is ignored.
//
// Definitions:
//
//   - A request is mitigated when its Outcome.Mitigated(): throttled,
//     challenged or blocked. Failed requests count in the requests but
//     never as mitigated; failed_requests counts them.
//   - attack_recall = attack_mitigated / attack_requests (0 without
//     attack requests).
//   - attack_recall_after_first_mitigation: for each attacker, only its
//     requests sent at or after its first mitigated request (by At), summed
//     over attackers: attack_mitigated /
//     attack_requests_after_first_mitigation. Attackers never mitigated add
//     nothing; 0 when no attacker was mitigated.
//   - time to mitigate (of one attacker) = At of its first mitigated
//     request - At of its first request. An attacker never mitigated has
//     time +Inf: it sorts last, and a median or p95 that lands on it is
//     null ("never" in text). median_time_to_mitigate_s and
//     p95_time_to_mitigate_s are nearest-rank percentiles over the
//     attackers; null also when there are no attackers.
//   - time to 95% mitigated (of one attacker) = the smallest t such that
//     at least 95% of the attacker's requests sent at or after t were
//     mitigated, minus At of its first request, and never less than its
//     time to mitigate; +Inf when there is no such t.
//     median_time_to_95pct_mitigated_s is the nearest-rank median.
//   - benign_wrongly_blocked = benign requests mitigated (throttled,
//     challenged or blocked); benign_false_block_rate =
//     benign_wrongly_blocked / benign_requests (0 without benign requests).
//   - benign_actors_affected = benign actors with at least one mitigated
//     request.
//   - longest_benign_refusal_s = over benign actors, the longest stretch
//     from a mitigated request to the actor's next request that reached
//     the upstream, or to its last mitigated request when none reached
//     after it. Failed requests neither start nor end a stretch.
//   - office_requests and office_mitigated count the requests of benign
//     actors whose Group is "office", and those of them mitigated.
//   - throttled, challenged and blocked count requests of every label by
//     outcome.
type Counts struct {
	Requests int `json:"requests"`

	AttackRequests                     int      `json:"attack_requests"`
	AttackMitigated                    int      `json:"attack_mitigated"`
	AttackRecall                       float64  `json:"attack_recall"`
	AttackRequestsAfterFirstMitigation int      `json:"attack_requests_after_first_mitigation"`
	AttackRecallAfterFirstMitigation   float64  `json:"attack_recall_after_first_mitigation"`
	Attackers                          int      `json:"attackers"`
	AttackersMitigated                 int      `json:"attackers_mitigated"`
	MedianTimeToMitigateS              *float64 `json:"median_time_to_mitigate_s"`
	P95TimeToMitigateS                 *float64 `json:"p95_time_to_mitigate_s"`
	MedianTimeTo95PctMitigatedS        *float64 `json:"median_time_to_95pct_mitigated_s"`

	BenignRequests        int     `json:"benign_requests"`
	BenignWronglyBlocked  int     `json:"benign_wrongly_blocked"`
	BenignFalseBlockRate  float64 `json:"benign_false_block_rate"`
	BenignActors          int     `json:"benign_actors"`
	BenignActorsAffected  int     `json:"benign_actors_affected"`
	LongestBenignRefusalS float64 `json:"longest_benign_refusal_s"`
	OfficeRequests        int     `json:"office_requests"`
	OfficeMitigated       int     `json:"office_mitigated"`

	FailedRequests int `json:"failed_requests"`
	Throttled      int `json:"throttled"`
	Challenged     int `json:"challenged"`
	Blocked        int `json:"blocked"`
}

// Target is one run-level check: Got compared with Want by Op ("<=",
// ">=" or "=="). Got is nil when the measure is null (an attacker never
// mitigated); such a target does not pass.
type Target struct {
	Name string   `json:"name"` // the Counts key it checks
	Op   string   `json:"op"`
	Want float64  `json:"want"`
	Got  *float64 `json:"got"`
	Pass bool     `json:"pass"`
}

// Timeline counts requests per second of the run, by the second they were
// sent in (element i covers [i s, i+1 s) since the run's start): those
// that reached the upstream and those mitigated; failed requests are in
// neither. Every slice has the same length, the planned duration or more
// when requests were sent after it; a scenario without attackers has no
// attack slices and one without benign actors no benign slices.
type Timeline struct {
	StepS           int   `json:"step_s"` // always 1
	AttackReached   []int `json:"attack_reached,omitempty"`
	AttackMitigated []int `json:"attack_mitigated,omitempty"`
	BenignReached   []int `json:"benign_reached,omitempty"`
	BenignMitigated []int `json:"benign_mitigated,omitempty"`
}

// Passed reports whether every target passes and no scenario falls short.
func (s *Summary) Passed() bool {
	for _, t := range s.Targets {
		if !t.Pass {
			return false
		}
	}
	return len(s.Shortfalls) == 0
}

// ScenarioNames returns the names of s.Scenarios, attack scenarios first,
// each group sorted by name: the order every report uses.
func (s *Summary) ScenarioNames() []string {
	names := make([]string, 0, len(s.Scenarios))
	for name := range s.Scenarios {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		la, lb := s.Scenarios[a].Label != "attack", s.Scenarios[b].Label != "attack"
		if la != lb {
			if !la {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	return names
}

// Evaluate adds up run, which must not be nil (see Counts for the
// definitions); it does not change run. It takes time linear in the number
// of results, plus sorting each actor's results by At (they are recorded
// in the order answers arrived).
//
// Per scenario, a check fails, and Shortfalls names the scenario, when:
// a scenario with attackers has attack_recall_after_first_mitigation below
// TargetRecallAfterFirstMitigation, or a median time to mitigate above
// TargetTimeToMitigate or never; a scenario with benign requests has a
// benign_false_block_rate above TargetBenignFalseBlockRate; a scenario
// sent no request at all.
func Evaluate(run *Run) *Summary {
	s := &Summary{
		Target:       run.Target,
		Seed:         run.Seed,
		Start:        run.Start,
		DurationS:    run.Duration.Seconds(),
		VirtualClock: run.Virtual,
		Targets:      []Target{},
		Shortfalls:   []string{},
		Scenarios:    map[string]*ScenarioSummary{},
	}

	// Scenarios and their labels come from the actors, so a scenario
	// that sent nothing still shows.
	hasAttack, hasBenign := map[string]bool{}, map[string]bool{}
	for _, a := range run.Actors {
		if s.Scenarios[a.Scenario] == nil {
			s.Scenarios[a.Scenario] = &ScenarioSummary{Label: Benign.String(), RefusedBy: map[string]int{}}
		}
		if a.Label == Attack {
			s.Scenarios[a.Scenario].Label = Attack.String()
			hasAttack[a.Scenario] = true
		} else {
			hasBenign[a.Scenario] = true
		}
	}

	seconds := timelineSeconds(run)
	s.Timeline = newTimeline(seconds, true, true)
	for name, sc := range s.Scenarios {
		sc.Timeline = newTimeline(seconds, hasAttack[name], hasBenign[name])
	}
	for _, r := range run.Results {
		if r.Actor < 0 || r.Actor >= len(run.Actors) {
			continue
		}
		a := &run.Actors[r.Actor]
		sec := min(max(int(r.At/time.Second), 0), seconds-1)
		s.Timeline.add(a.Label, r.Outcome, sec)
		s.Scenarios[a.Scenario].Timeline.add(a.Label, r.Outcome, sec)
		if r.Outcome.Mitigated() {
			s.Scenarios[a.Scenario].RefusedBy[cmp.Or(r.Rule, r.Reason)]++
		}
	}

	all := &attackerTimes{}
	byScenario := map[string]*attackerTimes{}
	for name := range s.Scenarios {
		byScenario[name] = &attackerTimes{}
	}
	for i, st := range statsByActor(run) {
		a := &run.Actors[i]
		s.Counts.add(a, &st, all)
		s.Scenarios[a.Scenario].Counts.add(a, &st, byScenario[a.Scenario])
	}
	s.Counts.finish(all)
	for name, sc := range s.Scenarios {
		sc.Counts.finish(byScenario[name])
	}

	for i, c := range run.Challenges {
		if i >= len(run.Actors) || c == (ChallengeCost{}) {
			continue
		}
		sc := s.Scenarios[run.Actors[i].Scenario]
		if sc.Challenges == nil {
			sc.Challenges = &Challenges{}
		}
		sc.Challenges.add(c)
	}
	s.Targets = targetsOf(&s.Counts)
	for _, name := range s.ScenarioNames() {
		s.Shortfalls = append(s.Shortfalls, shortfallsOf(name, s.Scenarios[name])...)
	}
	if o := run.Overhead; o != nil && len(o.Guarded) > 0 && len(o.Bare) > 0 {
		s.OverheadDirect = o.Direct
		s.OverheadSamples = min(len(o.Guarded), len(o.Bare))
		g50, g99 := durationPercentile(o.Guarded, 50), durationPercentile(o.Guarded, 99)
		b50, b99 := durationPercentile(o.Bare, 50), durationPercentile(o.Bare, 99)
		s.GuardedP50Ms, s.GuardedP99Ms = millisecondsOf(g50), millisecondsOf(g99)
		s.BareP50Ms, s.BareP99Ms = millisecondsOf(b50), millisecondsOf(b99)
		s.LatencyOverheadP50Ms, s.LatencyOverheadP99Ms = millisecondsOf(g50-b50), millisecondsOf(g99-b99)
	}
	return s
}

// attackerTimes collects the per-attacker times of a run or a scenario, in
// seconds (+Inf for never), for their percentiles.
type attackerTimes struct {
	toMitigate, to95 []float64
}

// add counts one actor's requests into c and its times into t.
func (c *Counts) add(a *ActorInfo, st *actorStats, t *attackerTimes) {
	if st.requests == 0 {
		return
	}
	c.Requests += st.requests
	c.FailedRequests += st.failed
	c.Throttled += st.throttled
	c.Challenged += st.challenged
	c.Blocked += st.blocked
	if a.Label == Attack {
		c.Attackers++
		c.AttackRequests += st.requests
		c.AttackMitigated += st.mitigated
		c.AttackRequestsAfterFirstMitigation += st.afterFirstMitigation
		if st.mitigated > 0 {
			c.AttackersMitigated++
		}
		t.toMitigate = append(t.toMitigate, st.timeToMitigate)
		t.to95 = append(t.to95, st.timeTo95)
		return
	}
	c.BenignActors++
	c.BenignRequests += st.requests
	c.BenignWronglyBlocked += st.mitigated
	if st.mitigated > 0 {
		c.BenignActorsAffected++
	}
	c.LongestBenignRefusalS = max(c.LongestBenignRefusalS, st.longestRefusal.Seconds())
	if a.Group == "office" {
		c.OfficeRequests += st.requests
		c.OfficeMitigated += st.mitigated
	}
}

// finish computes the ratios and percentiles once every actor is added.
func (c *Counts) finish(t *attackerTimes) {
	c.AttackRecall = fractionOf(c.AttackMitigated, c.AttackRequests)
	c.AttackRecallAfterFirstMitigation = fractionOf(c.AttackMitigated, c.AttackRequestsAfterFirstMitigation)
	c.BenignFalseBlockRate = fractionOf(c.BenignWronglyBlocked, c.BenignRequests)
	c.MedianTimeToMitigateS = percentile(t.toMitigate, 50)
	c.P95TimeToMitigateS = percentile(t.toMitigate, 95)
	c.MedianTimeTo95PctMitigatedS = percentile(t.to95, 50)
}

func fractionOf(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// percentile returns the nearest-rank p-th percentile of xs (sorting xs),
// or nil when xs is empty or the percentile is +Inf.
func percentile(xs []float64, p int) *float64 {
	if len(xs) == 0 {
		return nil
	}
	slices.Sort(xs)
	v := xs[nearestRank(len(xs), p)]
	if math.IsInf(v, 1) {
		return nil
	}
	return &v
}

// durationPercentile returns the nearest-rank p-th percentile of ds, which
// must not be empty; ds is not changed.
func durationPercentile(ds []time.Duration, p int) time.Duration {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return sorted[nearestRank(len(sorted), p)]
}

// nearestRank returns the index, in n sorted values, of the nearest-rank
// p-th percentile: the ceil(p/100*n)-th value.
func nearestRank(n, p int) int {
	return max((n*p+99)/100, 1) - 1
}

func millisecondsOf(d time.Duration) *float64 {
	v := float64(d) / float64(time.Millisecond)
	return &v
}

// actorStats is what one actor's results add up to.
type actorStats struct {
	requests, mitigated                    int
	throttled, challenged, blocked, failed int
	afterFirstMitigation                   int           // requests sent at or after the first mitigated one
	timeToMitigate                         float64       // seconds; +Inf when never mitigated
	timeTo95                               float64       // seconds; +Inf when never 95% mitigated
	longestRefusal                         time.Duration // see Counts
}

// statsByActor returns the stats of every actor of run, by index.
func statsByActor(run *Run) []actorStats {
	// Group the results' indices by actor (a counting sort), then order
	// each actor's by At, keeping arrival order among equal times.
	start := make([]int, len(run.Actors)+1)
	for _, r := range run.Results {
		if r.Actor >= 0 && r.Actor < len(run.Actors) {
			start[r.Actor+1]++
		}
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	next := slices.Clone(start)
	order := make([]int, start[len(start)-1])
	for i, r := range run.Results {
		if r.Actor >= 0 && r.Actor < len(run.Actors) {
			order[next[r.Actor]] = i
			next[r.Actor]++
		}
	}
	stats := make([]actorStats, len(run.Actors))
	for a := range run.Actors {
		idx := order[start[a]:start[a+1]]
		slices.SortStableFunc(idx, func(i, j int) int {
			return cmp.Compare(run.Results[i].At, run.Results[j].At)
		})
		stats[a] = statsOf(run.Results, idx)
	}
	return stats
}

// statsOf adds up the results at idx, which are one actor's, sorted by At.
func statsOf(results []Result, idx []int) actorStats {
	st := actorStats{timeToMitigate: math.Inf(1), timeTo95: math.Inf(1)}
	if len(idx) == 0 {
		return st
	}
	first := results[idx[0]].At
	firstMitigated := -1 // position in idx
	refusing := false
	var refusedSince, lastMitigated time.Duration
	for k, i := range idx {
		r := &results[i]
		st.requests++
		switch r.Outcome {
		case Throttled:
			st.throttled++
		case Challenged:
			st.challenged++
		case Blocked:
			st.blocked++
		case Failed:
			st.failed++
		}
		switch {
		case r.Outcome.Mitigated():
			st.mitigated++
			if firstMitigated < 0 {
				firstMitigated = k
				st.timeToMitigate = (r.At - first).Seconds()
			}
			if !refusing {
				refusing, refusedSince = true, r.At
			}
			lastMitigated = r.At
		case r.Outcome == Reached && refusing:
			st.longestRefusal = max(st.longestRefusal, r.At-refusedSince)
			refusing = false
		}
	}
	if refusing {
		st.longestRefusal = max(st.longestRefusal, lastMitigated-refusedSince)
	}
	if firstMitigated >= 0 {
		// "At or after": requests sent at the same instant as the first
		// mitigated one, but answered before it, count too.
		k := firstMitigated
		for k > 0 && results[idx[k-1]].At == results[idx[firstMitigated]].At {
			k--
		}
		st.afterFirstMitigation = len(idx) - k
	}
	// Time to 95%: walk back from the last request; each instant that
	// starts a group of equal At is a candidate t, whose suffix holds
	// every request sent at or after it. The earliest that qualifies wins.
	total, mitigated := 0, 0
	for k := len(idx) - 1; k >= 0; k-- {
		r := &results[idx[k]]
		total++
		if r.Outcome.Mitigated() {
			mitigated++
		}
		if k > 0 && results[idx[k-1]].At == r.At {
			continue
		}
		if mitigated*20 >= total*19 {
			st.timeTo95 = (r.At - first).Seconds()
		}
	}
	// The 5% allowance may not be spent before the first mitigation.
	st.timeTo95 = math.Max(st.timeTo95, st.timeToMitigate)
	return st
}

// timelineSeconds is the number of seconds a run's timeline covers: the
// planned duration, or longer when requests were sent after it.
func timelineSeconds(run *Run) int {
	n := int((run.Duration + time.Second - 1) / time.Second)
	for _, r := range run.Results {
		n = max(n, int(r.At/time.Second)+1)
	}
	return max(n, 1)
}

func newTimeline(seconds int, attack, benign bool) Timeline {
	t := Timeline{StepS: 1}
	if attack {
		t.AttackReached, t.AttackMitigated = make([]int, seconds), make([]int, seconds)
	}
	if benign {
		t.BenignReached, t.BenignMitigated = make([]int, seconds), make([]int, seconds)
	}
	return t
}

// add counts one request sent in second sec; failed requests are not
// counted.
func (t *Timeline) add(l Label, o Outcome, sec int) {
	reached, mitigated := t.BenignReached, t.BenignMitigated
	if l == Attack {
		reached, mitigated = t.AttackReached, t.AttackMitigated
	}
	switch {
	case o == Reached:
		reached[sec]++
	case o.Mitigated():
		mitigated[sec]++
	}
}

// targetsOf checks the run-level targets against c.
func targetsOf(c *Counts) []Target {
	var ts []Target
	check := func(name, op string, want float64, got *float64) {
		t := Target{Name: name, Op: op, Want: want, Got: got}
		if got != nil {
			switch op {
			case ">=":
				t.Pass = *got >= want
			case "<=":
				t.Pass = *got <= want
			case "==":
				t.Pass = *got == want
			}
		}
		ts = append(ts, t)
	}
	value := func(v float64) *float64 { return &v }
	if c.Attackers > 0 {
		check("attack_recall_after_first_mitigation", ">=", TargetRecallAfterFirstMitigation, value(c.AttackRecallAfterFirstMitigation))
		check("median_time_to_mitigate_s", "<=", TargetTimeToMitigate.Seconds(), c.MedianTimeToMitigateS)
	}
	check("benign_false_block_rate", "<=", TargetBenignFalseBlockRate, value(c.BenignFalseBlockRate))
	check("longest_benign_refusal_s", "<=", TargetLongestBenignRefusal.Seconds(), value(c.LongestBenignRefusalS))
	if c.OfficeRequests > 0 {
		check("office_mitigated", "==", TargetOfficeMitigated, value(float64(c.OfficeMitigated)))
	}
	return ts
}

// FallsShort reports whether the scenario name of s fails a per-scenario
// check (one of s.Shortfalls is about it).
func (s *Summary) FallsShort(name string) bool {
	sc := s.Scenarios[name]
	return sc != nil && len(shortfallsOf(name, sc)) > 0
}

// AttackerMitigation is how long one attacker of a run went unmitigated.
type AttackerMitigation struct {
	Actor int // index into Run.Actors
	// TimeToMitigateS runs from the attacker's first request to its first
	// mitigated one, in seconds; +Inf when it was never mitigated.
	TimeToMitigateS float64
}

// AttackerMitigations returns one AttackerMitigation per attacker of run
// that sent a request, in actor order.
func AttackerMitigations(run *Run) []AttackerMitigation {
	var out []AttackerMitigation
	for i, st := range statsByActor(run) {
		if run.Actors[i].Label == Attack && st.requests > 0 {
			out = append(out, AttackerMitigation{Actor: i, TimeToMitigateS: st.timeToMitigate})
		}
	}
	return out
}

// shortfallsOf returns one sentence per per-scenario check that sc fails.
func shortfallsOf(name string, sc *ScenarioSummary) []string {
	var out []string
	if sc.Requests == 0 {
		return []string{fmt.Sprintf("Scenario %q sent no requests, so nothing was measured.", name)}
	}
	if sc.Attackers > 0 && sc.AttackersMitigated == 0 {
		// Both attack checks fail; one sentence says why.
		out = append(out, fmt.Sprintf("Scenario %q: no attacker was ever mitigated (attackers: %d; attack requests: %d).",
			name, sc.Attackers, sc.AttackRequests))
	} else if sc.Attackers > 0 {
		if sc.AttackRecallAfterFirstMitigation < TargetRecallAfterFirstMitigation {
			out = append(out, fmt.Sprintf("Scenario %q: attack recall after first mitigation is %s (%d of %d requests mitigated), below %s.",
				name, FormatNear(sc.AttackRecallAfterFirstMitigation, TargetRecallAfterFirstMitigation),
				sc.AttackMitigated, sc.AttackRequestsAfterFirstMitigation, FormatNumber(TargetRecallAfterFirstMitigation)))
		}
		never := sc.Attackers - sc.AttackersMitigated
		switch m := sc.MedianTimeToMitigateS; {
		case m == nil:
			out = append(out, fmt.Sprintf("Scenario %q: %d of %d attackers were never mitigated, so the median time to mitigate is never.",
				name, never, sc.Attackers))
		case *m > TargetTimeToMitigate.Seconds():
			line := fmt.Sprintf("Scenario %q: median time to mitigate is %s s, above %s s.",
				name, FormatNear(*m, TargetTimeToMitigate.Seconds()), FormatNumber(TargetTimeToMitigate.Seconds()))
			if never > 0 {
				line += fmt.Sprintf(" %d of %d attackers were never mitigated.", never, sc.Attackers)
			}
			out = append(out, line)
		}
	}
	if sc.BenignRequests > 0 && sc.BenignFalseBlockRate > TargetBenignFalseBlockRate {
		out = append(out, fmt.Sprintf("Scenario %q: benign false-block rate is %s (%d of %d benign requests refused), above %s.",
			name, FormatNear(sc.BenignFalseBlockRate, TargetBenignFalseBlockRate),
			sc.BenignWronglyBlocked, sc.BenignRequests, FormatNumber(TargetBenignFalseBlockRate)))
	}
	return out
}

// FormatNumber formats v with four significant digits, as the shortfalls
// and the reports write numbers.
func FormatNumber(v float64) string {
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// FormatNear formats v with four significant digits, or with as many more
// as it takes to tell it from limit: 0.98996 against 0.99 reads 0.98996,
// never 0.99.
func FormatNear(v, limit float64) string {
	for prec := 4; prec <= 17; prec++ {
		s := strconv.FormatFloat(v, 'g', prec, 64)
		if v == limit || s != strconv.FormatFloat(limit, 'g', prec, 64) {
			return s
		}
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
