package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/gameday"
)

// reportData is what every report shows, formatted once.
type reportData struct {
	Header     []headerField
	Passed     bool
	Verdict    string
	Targets    []targetRow
	Rows       []scenarioRow // scenarios in ScenarioNames order, then the run
	Shortfalls []string
	Overhead   []overheadRow  // empty without overhead samples
	Challenges []challengeRow // scenarios that met challenges; empty when none did
	Direct     string
	Charts     []*chart // report.html only
	HowToRead  string
}

type headerField struct{ Name, Value string }

type targetRow struct {
	Name, Want, Got, Verdict string
	Pass                     bool
}

type scenarioRow struct {
	Name, Label, Requests, Mitigated, Recall, AfterFirst string
	MedianTTM, P95TTM, Attackers, FalseBlocks, Longest   string
	RefusedBy                                            string // the top refusers, "-" for none
	Short                                                bool   // the scenario falls short of a target
	Total                                                bool   // the row of the whole run
}

type overheadRow struct{ Quantile, Guarded, Bare, Overhead string }

type challengeRow struct {
	Name, Label, Issued, Solved, PassesUsed, Hashes, Solving, PerSolve string
}

func reportDataOf(s *gameday.Summary) *reportData {
	d := &reportData{Passed: s.Passed(), Shortfalls: s.Shortfalls, Direct: s.OverheadDirect, HowToRead: howToRead()}
	clock := "wall clock"
	if s.VirtualClock {
		clock = "virtual clock"
	}
	d.Header = []headerField{{"Target", s.Target}, {"Seed", strconv.FormatUint(s.Seed, 10)}}
	if !s.Start.IsZero() {
		d.Header = append(d.Header, headerField{"Start", s.Start.Format(time.RFC3339)})
	}
	d.Header = append(d.Header,
		headerField{"Duration", gameday.FormatNumber(s.DurationS) + " s"},
		headerField{"Clock", clock},
		headerField{"Requests", fmt.Sprintf("%d (attack %d, benign %d; failed %d)",
			s.Requests, s.AttackRequests, s.BenignRequests, s.FailedRequests)},
		headerField{"Actors", fmt.Sprintf("%d attackers, %d benign", s.Attackers, s.BenignActors)},
	)

	missed := 0
	for _, t := range s.Targets {
		row := targetRow{Name: t.Name, Want: t.Op + " " + gameday.FormatNumber(t.Want), Got: "never", Verdict: "MISS", Pass: t.Pass}
		if t.Got != nil {
			row.Got = gameday.FormatNear(*t.Got, t.Want)
		}
		if strings.HasSuffix(t.Name, "_s") {
			row.Want += " s"
			if t.Got != nil {
				row.Got += " s"
			}
		}
		if t.Pass {
			row.Verdict = "PASS"
		} else {
			missed++
		}
		d.Targets = append(d.Targets, row)
	}
	if d.Passed {
		d.Verdict = "PASS: every target is met and no scenario falls short."
	} else {
		d.Verdict = fmt.Sprintf("MISS: %d of %d targets missed; %d scenario shortfalls.",
			missed, len(s.Targets), len(s.Shortfalls))
	}

	for _, name := range s.ScenarioNames() {
		sc := s.Scenarios[name]
		r := rowOf(name, sc.Label, &sc.Counts, s.FallsShort(name))
		r.RefusedBy = topRefusers(sc.RefusedBy, 3)
		d.Rows = append(d.Rows, r)
	}
	for _, name := range s.ScenarioNames() {
		sc := s.Scenarios[name]
		c := sc.Challenges
		if c == nil {
			continue
		}
		perSolve := "-"
		if c.Solved > 0 {
			perSolve = strconv.FormatUint(c.Hashes/uint64(c.Solved), 10)
		}
		d.Challenges = append(d.Challenges, challengeRow{Name: name, Label: sc.Label, Issued: strconv.Itoa(c.Issued),
			Solved: strconv.Itoa(c.Solved), PassesUsed: strconv.Itoa(c.PassesUsed), Hashes: strconv.FormatUint(c.Hashes, 10),
			Solving: strconv.FormatFloat(c.SolvingS, 'f', 3, 64) + " s", PerSolve: perSolve})
	}
	total := rowOf("all scenarios", "-", &s.Counts, false)
	total.RefusedBy = "-"
	total.Total = true
	d.Rows = append(d.Rows, total)

	if s.GuardedP50Ms != nil {
		msText := func(v *float64) string { return strconv.FormatFloat(*v, 'f', 3, 64) + " ms" }
		d.Overhead = []overheadRow{
			{"p50", msText(s.GuardedP50Ms), msText(s.BareP50Ms), msText(s.LatencyOverheadP50Ms)},
			{"p99", msText(s.GuardedP99Ms), msText(s.BareP99Ms), msText(s.LatencyOverheadP99Ms)},
		}
	}
	return d
}

// rowOf formats one scenario's counts (or the run's); "-" marks a measure
// the row has nothing for.
func rowOf(name, label string, c *gameday.Counts, short bool) scenarioRow {
	r := scenarioRow{
		Name: name, Label: label, Short: short,
		Requests:  strconv.Itoa(c.Requests),
		Mitigated: strconv.Itoa(c.AttackMitigated + c.BenignWronglyBlocked),
		Recall:    "-", AfterFirst: "-", MedianTTM: "-", P95TTM: "-", Attackers: "-",
		FalseBlocks: "-", Longest: "-",
	}
	if c.Attackers > 0 {
		r.Recall = gameday.FormatNumber(c.AttackRecall)
		r.AfterFirst = gameday.FormatNear(c.AttackRecallAfterFirstMitigation, gameday.TargetRecallAfterFirstMitigation)
		r.MedianTTM = formatSeconds(c.MedianTimeToMitigateS, gameday.TargetTimeToMitigate.Seconds())
		r.P95TTM = formatSeconds(c.P95TimeToMitigateS, gameday.TargetTimeToMitigate.Seconds())
		r.Attackers = fmt.Sprintf("%d of %d", c.AttackersMitigated, c.Attackers)
	}
	if c.BenignActors > 0 {
		r.FalseBlocks = fmt.Sprintf("%d (%s)", c.BenignWronglyBlocked, gameday.FormatNear(c.BenignFalseBlockRate, gameday.TargetBenignFalseBlockRate))
		r.Longest = formatSeconds(&c.LongestBenignRefusalS, gameday.TargetLongestBenignRefusal.Seconds())
	}
	return r
}

// topRefusers lists the n rules that refused the most requests, with
// their counts, most first (ties by name); "-" when none did.
func topRefusers(by map[string]int, n int) string {
	if len(by) == 0 {
		return "-"
	}
	names := slices.Collect(maps.Keys(by))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(by[b], by[a]), cmp.Compare(a, b)) })
	parts := make([]string, 0, n+1)
	for i, name := range names {
		if i == n {
			parts = append(parts, fmt.Sprintf("%d more", len(names)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, by[name]))
	}
	return strings.Join(parts, ", ")
}

// formatSeconds formats a time in seconds, "never" when it is nil.
func formatSeconds(v *float64, limit float64) string {
	if v == nil {
		return "never"
	}
	return gameday.FormatNear(*v, limit) + " s"
}
