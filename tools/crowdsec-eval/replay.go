package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/replay"
	"github.com/abuseguard/abuseguard/internal/request"
)

// facts summarise one client's requests in the replayed log.
type facts struct {
	Requests, Paths, UAs int
	Statuses             map[int]int
	First, Last          time.Time
}

// eventLine is the part of an events line (docs/events.md) the tool reads.
type eventLine struct {
	Event struct {
		Action string `json:"action"`
	} `json:"event"`
	Labels struct {
		Scope    string `json:"scope"`
		Entity   string `json:"entity"`
		Detector string `json:"detector"`
		Action   string `json:"action"`
	} `json:"labels"`
	AG struct {
		Evidence struct {
			Summary string `json:"summary"`
		} `json:"evidence"`
	} `json:"abuseguard"`
}

// evaluate runs every labelled test under dir.
func evaluate(ctx context.Context, dir string) (*report, error) {
	labels, err := readLabels(filepath.Join(dir, "labels.csv"))
	if err != nil {
		return nil, err
	}
	folders, _ := os.ReadDir(filepath.Join(dir, "tests"))
	rep := &report{Data: dir, Folders: len(folders), Date: time.Now().UTC()}
	for _, l := range labels {
		t := &testResult{label: l}
		rep.Tests = append(rep.Tests, t)
		switch l.Kind {
		case "parser-only":
			t.Class, t.Skip = "parser-only", "parser test: no scenario, nothing to detect"
			continue
		case "detection":
			t.Class, t.InScope, t.Skip = classify(l)
			if !t.InScope {
				continue
			}
		case "negative/whitelist":
			t.Class = "negative"
		default:
			t.Class, t.Skip = l.Kind, "unknown kind "+l.Kind
			continue
		}
		if err := runTest(ctx, filepath.Join(dir, "tests", l.Test), t); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Test, err)
		}
	}
	return rep, nil
}

// runTest replays one test's log with the default config and records who
// was flagged.
func runTest(ctx context.Context, dir string, t *testResult) error {
	tc, err := readTestConfig(dir)
	if err != nil {
		return err
	}
	if tc.LogType != "" {
		t.LogType = tc.LogType
	}
	logPath := filepath.Join(dir, tc.LogFile)
	lines, err := readLines(logPath)
	if err != nil {
		return err
	}
	p, err := planLines(t.LogType, lines)
	if err != nil {
		return err
	}
	t.Plan = p
	cfg, err := config.Default()
	if err != nil {
		return err
	}
	var events bytes.Buffer
	r, err := replay.NewReplayer(ctx, cfg, &events)
	if err != nil {
		return err
	}
	defer r.Close()
	if p.Native {
		st, err := replay.Run(ctx, replay.Options{Format: p.Segments[0].Format, Mapping: p.Segments[0].Mapping}, []string{logPath}, r)
		if err != nil {
			return err
		}
		t.Replayed += st.Parsed
	} else {
		for _, seg := range p.Segments {
			n, err := replaySegment(ctx, seg, r)
			if err != nil {
				return err
			}
			t.Replayed += n
		}
	}
	found, err := readEvents(&events)
	if err != nil {
		return err
	}
	t.score(r, found)
	return nil
}

// replaySegment writes one segment to a temporary file and replays it.
func replaySegment(ctx context.Context, seg segment, r *replay.Replayer) (int, error) {
	f, err := os.CreateTemp("", "crowdsec-eval-*.log")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriter(f)
	for _, l := range seg.Lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	st, err := replay.Run(ctx, replay.Options{Format: seg.Format, Mapping: seg.Mapping}, []string{f.Name()}, r)
	return st.Parsed, err
}

// readEvents returns the signals in an events stream by entity and
// detector.
func readEvents(r io.Reader) (map[string]map[string][]finding, error) {
	out := map[string]map[string][]finding{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var ev eventLine
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		if ev.Event.Action != "signal" {
			continue
		}
		e := ev.Labels.Scope + ":" + ev.Labels.Entity
		if out[e] == nil {
			out[e] = map[string][]finding{}
		}
		f := finding{Detector: ev.Labels.Detector, Summary: ev.AG.Evidence.Summary}
		f.Kind = kindOf(f.Detector, f.Summary)
		out[e][f.Detector] = append(out[e][f.Detector], f)
	}
	return out, sc.Err()
}

// factsOf parses every replayed line again, with the product's parsers,
// and summarises each client's requests.
func factsOf(p *plan) map[string]facts {
	out := map[string]facts{}
	paths := map[string]map[string]bool{}
	uas := map[string]map[string]bool{}
	for e := range p.entries() {
		ip := e.ClientIP.String()
		f := out[ip]
		if f.Statuses == nil {
			f.Statuses = map[int]int{}
			paths[ip], uas[ip] = map[string]bool{}, map[string]bool{}
		}
		f.Requests++
		f.Statuses[e.Status]++
		paths[ip][e.Path] = true
		uas[ip][e.UserAgent] = true
		if f.First.IsZero() || e.Time.Before(f.First) {
			f.First = e.Time
		}
		if e.Time.After(f.Last) {
			f.Last = e.Time
		}
		f.Paths, f.UAs = len(paths[ip]), len(uas[ip])
		out[ip] = f
	}
	return out
}

// injectionCoverage counts the distinct queries of a test's log and how
// many of them the default probing detector takes for an injection probe.
// Each query is shown to a fresh detector as its own client's request, so a
// decision on the real client (which stops its later requests reaching the
// detectors) does not hide the rest.
func injectionCoverage(p *plan) (recognised, total int) {
	seen := map[string]bool{}
	for e := range p.entries() {
		if e.Query == "" || seen[e.Query] {
			continue
		}
		seen[e.Query] = true
		total++
		d := detect.NewProbing(detect.ProbingConfig{}, detect.NewHasher())
		var sink signalSink
		d.Request(&request.View{Time: e.Time, ClientIP: e.ClientIP, Method: e.Method, Path: "/", Query: e.Query}, &sink)
		for _, sig := range sink {
			if strings.HasPrefix(sig.Evidence.Summary, "injection probe") {
				recognised++
				break
			}
		}
	}
	return recognised, total
}

// signalSink keeps the signals emitted to it.
type signalSink []detect.Signal

func (s *signalSink) Emit(sig detect.Signal) { *s = append(*s, sig) }

// canonicalIP writes an IP as the replay parsers read it (IPv6
// compressed, IPv4-mapped as IPv4), as entities are.
func canonicalIP(s string) string {
	if a, ok := replay.ParseAddr(s); ok {
		return a.String()
	}
	return s
}
