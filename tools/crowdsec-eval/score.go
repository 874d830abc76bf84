package main

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/replay"
)

// finding is one signal an entity got: the detector and what it saw.
type finding struct {
	Detector, Kind, Summary string
	Weight                  float64
}

// sourceResult is what happened to one source IP CrowdSec alerts on.
type sourceResult struct {
	IP        string
	Findings  []finding // signals, artefacts left out
	Artefacts []finding // empty User-Agent signals from logs that record none
	Decisions []string  // "block probing"
	Facts     facts
}

// Flagged reports whether the source got a signal or a decision.
func (s sourceResult) Flagged() bool { return len(s.Findings) > 0 || len(s.Decisions) > 0 }

// testResult is one test's outcome.
type testResult struct {
	label
	Class     string
	InScope   bool
	Skip      string // why the test is not measured
	Plan      *plan
	Replayed  int // lines the replay parsed
	Sources   []sourceResult
	Flagged   map[string][]finding // negatives: every entity flagged, with why
	Decisions []string             // negatives: every decision
	Matched   bool
}

// Evaluated reports whether any line of the test could be replayed.
func (t *testResult) Evaluated() bool { return t.Replayed > 0 }

// signalKinds name a signal by its detector and the start of its evidence
// summary, for the tables.
var signalKinds = []struct{ detector, prefix, kind string }{
	{"automation", "tool User-Agent", "tool UA"},
	{"automation", "scanner User-Agent", "scanner UA"},
	{"automation", "empty User-Agent", "empty UA"},
	{"automation", "machine cadence", "machine cadence"},
	{"automation", "rotating User-Agent", "rotating UA"},
	{"automation", "User-Agent", "browser UA without browser headers"},
	{"probing", "sensitive path", "sensitive path"},
	{"probing", "injection probe", "injection probe"},
	{"probing", "proxy request", "proxy request"},
	{"probing", "request line with no path", "not an HTTP request"},
	{"probing", "", "404/403/400 misses"},
	{"credentials", "authentication failures", "401s on any path"},
	{"volumetric", "burst", "cache-busting burst"},
}

// weakKinds are signals too weak to act on alone (10 points against a
// throttle band of 40).
var weakKinds = []string{"tool UA", "empty UA"}

func kindOf(detector, summary string) string {
	for _, k := range signalKinds {
		if k.detector == detector && strings.HasPrefix(summary, k.prefix) {
			return k.kind
		}
	}
	return detector
}

// report is every test's outcome.
type report struct {
	Data    string
	Folders int
	Date    time.Time
	Tests   []*testResult
}

// measured returns the behavioural detection tests.
func (r *report) measured() []*testResult {
	var out []*testResult
	for _, t := range r.Tests {
		if t.Kind == "detection" && t.InScope {
			out = append(out, t)
		}
	}
	return out
}

func (r *report) negatives() []*testResult {
	var out []*testResult
	for _, t := range r.Tests {
		if t.Kind == "negative/whitelist" {
			out = append(out, t)
		}
	}
	return out
}

// onlyWeak reports whether a source was flagged by weak signals only and
// got no decision.
func (s sourceResult) onlyWeak() bool {
	if len(s.Decisions) > 0 || len(s.Findings) == 0 {
		return false
	}
	for _, f := range s.Findings {
		if !slices.Contains(weakKinds, f.Kind) {
			return false
		}
	}
	return true
}

// meetsTarget reports whether matched of n is at least targetMatched, in
// integer percent so that 27 of 30 is 90%.
func meetsTarget(matched, n int) bool {
	return n > 0 && 100*matched >= int(math.Round(100*targetMatched))*n
}

// score records, from what the replay of t.Plan flagged and decided and the
// signals its events explain (found, by entity and detector), who was
// flagged and whether the test is matched: every expected source flagged,
// or, for a negative test, nothing flagged at all.
func (t *testResult) score(r *replay.Replayer, found map[string]map[string][]finding) {
	p := t.Plan
	factsBy := factsOf(p)
	artefact := func(ip string, f finding) bool { return f.Kind == "empty UA" && p.NoUA[ip] }
	// Every entity flagged, from the replayer's own record, explained by
	// the events; an entity whose only signals are artefacts is not.
	flagged := map[string][]finding{}
	for entity, detectors := range r.Flagged {
		ip, _ := strings.CutPrefix(entity, "ip:")
		for _, d := range detectors {
			fs := found[entity][d]
			if len(fs) == 0 {
				fs = []finding{{Detector: d, Kind: d}}
			}
			for _, f := range fs {
				if strings.HasPrefix(entity, "ip:") && artefact(ip, f) {
					continue
				}
				flagged[entity] = append(flagged[entity], f)
			}
		}
	}
	decided := map[string][]string{}
	for _, d := range r.Decisions {
		e := d.Entity().String()
		decided[e] = append(decided[e], d.Action.String()+" "+d.Reason)
	}
	t.Flagged = flagged
	if t.Kind == "negative/whitelist" {
		for e, ds := range decided {
			for _, d := range ds {
				t.Decisions = append(t.Decisions, e+" "+d)
			}
		}
		slices.Sort(t.Decisions)
		t.Matched = t.Evaluated() && len(flagged) == 0 && len(t.Decisions) == 0
		return
	}
	t.Matched = t.Evaluated()
	var seen []string
	for _, a := range t.Expected {
		ip := canonicalIP(a.Source)
		if slices.Contains(seen, ip) {
			continue
		}
		seen = append(seen, ip)
		s := sourceResult{IP: ip, Findings: flagged["ip:"+ip], Decisions: decided["ip:"+ip], Facts: factsBy[ip]}
		for _, fs := range found["ip:"+ip] {
			for _, f := range fs {
				if artefact(ip, f) {
					s.Artefacts = append(s.Artefacts, f)
				}
			}
		}
		if !s.Flagged() {
			t.Matched = false
		}
		t.Sources = append(t.Sources, s)
	}
}

// totals are the counts the report's sections share.
type totals struct {
	ms, negs                                                   []*testResult // the measured detection tests, the negatives
	replayable, notReplayable                                  []*testResult // of ms
	matched, decided, weakOnly                                 int           // of replayable
	negEval, negFlagged, negDecided, negClean, negCleanFlagged int
}

// totals counts r's tests for the report.
func (r *report) totals() *totals {
	tot := &totals{ms: r.measured(), negs: r.negatives()}
	for _, t := range tot.ms {
		if t.Evaluated() {
			tot.replayable = append(tot.replayable, t)
		} else {
			tot.notReplayable = append(tot.notReplayable, t)
		}
	}
	for _, t := range tot.replayable {
		if t.Matched {
			tot.matched++
			all, weak := true, false
			for _, s := range t.Sources {
				all = all && len(s.Decisions) > 0
				weak = weak || s.onlyWeak()
			}
			if all {
				tot.decided++
			}
			if weak {
				tot.weakOnly++
			}
		}
	}
	for _, t := range tot.negs {
		if !t.Evaluated() {
			continue
		}
		tot.negEval++
		_, conflict := labelConflicts[t.Test]
		if !conflict {
			tot.negClean++
		}
		if len(t.Flagged) > 0 || len(t.Decisions) > 0 {
			tot.negFlagged++
			if !conflict {
				tot.negCleanFlagged++
			}
		}
		if len(t.Decisions) > 0 {
			tot.negDecided++
		}
	}
	return tot
}
