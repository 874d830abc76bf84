package incident

import (
	"fmt"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func dec(id, ip, reason string, action verdict.Action, at time.Duration, ttl time.Duration, firstSignal time.Duration) decision.Decision {
	return decision.Decision{ID: id, Scope: verdict.ScopeIP, Value: ip, Action: action, Reason: reason, Source: "detector:" + reason,
		Created: t0.Add(at), Expires: t0.Add(at + ttl),
		Evidence: []verdict.Evidence{{Time: t0.Add(firstSignal), Detector: reason}}}
}

func TestGroupingAndTimeline(t *testing.T) {
	tr := New(10 * time.Minute)
	// One stuffing campaign from three addresses within minutes, the first
	// signal 30 s before the first decision; a throttle, then a block.
	tr.Add(dec("d1", "203.0.113.1", "credentials", verdict.Throttle, 0, 5*time.Minute, -30*time.Second))
	tr.Add(dec("d2", "203.0.113.2", "credentials", verdict.Block, 2*time.Minute, 5*time.Minute, time.Minute))
	tr.Add(dec("d3", "203.0.113.1", "credentials", verdict.Block, 3*time.Minute, 5*time.Minute, 2*time.Minute)) // escalation
	// A prober at the same time: another incident.
	tr.Add(dec("p1", "198.51.100.9", "probing", verdict.Block, time.Minute, time.Hour, 50*time.Second))
	// The first probing address comes back with another reason: it joins
	// its open incident.
	tr.Add(dec("p2", "198.51.100.9", "automation", verdict.Throttle, 4*time.Minute, time.Hour, 4*time.Minute))
	// Credentials again an hour later: a new incident.
	tr.Add(dec("d4", "203.0.113.7", "credentials", verdict.Block, 70*time.Minute, 5*time.Minute, 69*time.Minute))

	list := tr.List()
	if len(list) != 3 {
		t.Fatalf("%d incidents, want 3: %+v", len(list), list)
	}
	stuffing, probing, later := list[2], list[1], list[0]
	if stuffing.Reason != "credentials" || stuffing.Decisions != 3 || stuffing.EntityN != 2 {
		t.Errorf("stuffing incident: %+v", stuffing)
	}
	if *stuffing.TTD != 30 || *stuffing.TTM != 30 || *stuffing.TTB != 150 {
		t.Errorf("stuffing TTD %v TTM %v TTB %v, want 30, 30, 150", *stuffing.TTD, *stuffing.TTM, *stuffing.TTB)
	}
	if probing.Decisions != 2 || len(probing.Reasons) != 2 || probing.Reasons[1] != "automation" {
		t.Errorf("probing incident: %+v", probing)
	}
	if later.Decisions != 1 || later.ID == stuffing.ID {
		t.Errorf("the later campaign: %+v", later)
	}

	// Resolution: the stuffing decisions end by 8m; resolved once quiet
	// for the gap (18m), not before.
	tr.Sweep(t0.Add(15 * time.Minute))
	if in, _ := tr.Get(stuffing.ID); !in.Open() || in.Active != 0 {
		t.Errorf("at 15m: open %v active %d; want open, no active decision", in.Open(), in.Active)
	}
	tr.Sweep(t0.Add(19 * time.Minute))
	in, _ := tr.Get(stuffing.ID)
	if in.Open() || !in.Resolved.Equal(t0.Add(8*time.Minute)) || *in.Resolve != 480 {
		t.Errorf("at 19m: resolved %v after %v s; want resolved at 8m, 480 s after detection", in.Resolved, in.Resolve)
	}
	kinds := ""
	for _, e := range in.Timeline {
		kinds += e.Kind + " "
	}
	if kinds != "first_seen decision decision decision expired expired expired resolved " {
		t.Errorf("timeline: %s", kinds)
	}

	// A lift ends a decision early.
	tr.Lifted(decision.Decision{ID: "p1", Scope: verdict.ScopeIP, Value: "198.51.100.9"}, t0.Add(20*time.Minute))
	tr.Lifted(decision.Decision{ID: "p2", Scope: verdict.ScopeIP, Value: "198.51.100.9"}, t0.Add(21*time.Minute))
	tr.Sweep(t0.Add(31 * time.Minute))
	if in, _ := tr.Get(probing.ID); in.Open() || !in.Resolved.Equal(t0.Add(21*time.Minute)) {
		t.Errorf("probing after its lifts: resolved %v, want 21m", in.Resolved)
	}

	s := tr.Summary()
	if s.Open != 1 || s.Resolved != 2 || s.MTTD == nil || s.MTTR == nil {
		t.Errorf("summary: %+v", s)
	}
	if _, ok := tr.Get("inc_nope"); ok {
		t.Error("Get found an unknown id")
	}
}

func TestBounded(t *testing.T) {
	tr := New(time.Minute)
	for i := range MaxIncidents + 50 {
		d := dec("d", "203.0.113.1", "r", verdict.Block, time.Duration(i)*time.Hour, time.Minute, 0)
		d.Value = fmt.Sprintf("10.0.%d.%d", i/256, i%256) // a new entity each time, an hour apart: a new incident each
		tr.Add(d)
	}
	if n := len(tr.List()); n != MaxIncidents {
		t.Errorf("%d incidents kept, want %d", n, MaxIncidents)
	}
}
