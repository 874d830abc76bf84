// Package incident groups decisions into incidents: one campaign of abuse
// seen as the decisions it caused. A decision joins the open incident that
// already holds its entity, or else the open incident with the same reason
// whose last decision is at most Gap before it; otherwise it opens a new
// one. An incident's timeline is first seen (the earliest signal in its
// decisions' evidence), detected (its first decision), mitigated (its
// first enforced decision), blocked (its first enforced block) and
// resolved (Gap after its last decision ended, expired or lifted, with no
// new one), from which TTD, TTM, TTB and time to resolve follow.
package incident

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Bounds of a Tracker.
const (
	DefaultGap = 10 * time.Minute
	// MaxIncidents is how many incidents are kept; the oldest resolved
	// ones go first.
	MaxIncidents = 1000
	// MaxEntities is how many entities an incident lists; past it they are
	// counted only.
	MaxEntities = 500
)

// Incident is one campaign: its decisions' common reason, the entities
// they were on, and its timeline.
type Incident struct {
	ID        string   `json:"id"`
	Reason    string   `json:"reason"`
	Reasons   []string `json:"reasons"` // every reason of its decisions, the first one first
	Entities  []string `json:"entities"`
	EntityN   int      `json:"entity_count"`
	Decisions int      `json:"decisions"`
	Active    int      `json:"active_decisions"`

	FirstSeen time.Time `json:"first_seen"`
	Detected  time.Time `json:"detected"`
	Mitigated time.Time `json:"mitigated,omitzero"`
	Blocked   time.Time `json:"blocked,omitzero"`
	LastEnded time.Time `json:"last_ended,omitzero"` // when its last decision ended (expired or lifted)
	Resolved  time.Time `json:"resolved,omitzero"`

	// Durations in seconds; absent when the step did not happen.
	TTD     *float64 `json:"ttd_seconds,omitempty"`     // first seen -> detected
	TTM     *float64 `json:"ttm_seconds,omitempty"`     // first seen -> mitigated
	TTB     *float64 `json:"ttb_seconds,omitempty"`     // first seen -> blocked
	Resolve *float64 `json:"resolve_seconds,omitempty"` // detected -> resolved

	Timeline []Event `json:"timeline"`
}

// Event is one step of an incident's timeline.
type Event struct {
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"` // first_seen, decision, lifted, expired, resolved
	DecisionID string    `json:"decision_id,omitempty"`
	Entity     string    `json:"entity,omitempty"`
	Action     string    `json:"action,omitempty"`
	Reason     string    `json:"reason,omitempty"`
}

// MaxTimeline bounds an incident's timeline; later decision events are
// counted in Decisions only.
const MaxTimeline = 200

// Open reports whether the incident is not resolved.
func (i *Incident) Open() bool { return i.Resolved.IsZero() }

// Summary is what Tracker.Summary reports over the incidents it keeps.
type Summary struct {
	Open     int      `json:"open"`
	Resolved int      `json:"resolved"`
	MTTD     *float64 `json:"mttd_seconds,omitempty"` // mean TTD
	MTTB     *float64 `json:"mttb_seconds,omitempty"` // mean TTB, over incidents that reached a block
	MTTR     *float64 `json:"mttr_seconds,omitempty"` // mean time from detection to resolution
}

// Tracker groups decisions into incidents. It is safe for concurrent use.
type Tracker struct {
	gap time.Duration

	mu        sync.Mutex
	incidents []*tracked // oldest first
	byID      map[string]*tracked
}

type tracked struct {
	Incident
	entities map[string]bool
	live     map[string]time.Time // active decision id -> expires
	last     time.Time            // its last decision's time
}

// New returns a Tracker joining decisions at most gap apart (default
// DefaultGap).
func New(gap time.Duration) *Tracker {
	if gap <= 0 {
		gap = DefaultGap
	}
	return &Tracker{gap: gap, byID: map[string]*tracked{}}
}

// Add records decision d (made by the engine, a rule or an operator).
func (t *Tracker) Add(d decision.Decision) {
	entity := d.Entity().String()
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.join(entity, d.Reason, d.Created)
	if in == nil {
		in = &tracked{Incident: Incident{ID: newID(), Reason: d.Reason, Detected: d.Created, FirstSeen: d.Created},
			entities: map[string]bool{}, live: map[string]time.Time{}}
		t.incidents = append(t.incidents, in)
		t.byID[in.ID] = in
		t.trim()
	}
	first := d.Created
	for _, e := range d.Evidence {
		if !e.Time.IsZero() && e.Time.Before(first) {
			first = e.Time
		}
	}
	if first.Before(in.FirstSeen) {
		in.FirstSeen = first
	}
	if !slices.Contains(in.Reasons, d.Reason) {
		in.Reasons = append(in.Reasons, d.Reason)
	}
	if !in.entities[entity] {
		in.EntityN++
		if len(in.entities) < MaxEntities {
			in.entities[entity] = true
			in.Entities = append(in.Entities, entity)
		}
	}
	in.Decisions++
	in.live[d.ID] = d.Expires
	in.last = d.Created
	if d.Enforced() {
		if in.Mitigated.IsZero() {
			in.Mitigated = d.Created
		}
		if d.Action == verdict.Block && in.Blocked.IsZero() {
			in.Blocked = d.Created
		}
	}
	in.event(Event{Time: d.Created, Kind: "decision", DecisionID: d.ID, Entity: entity, Action: d.Action.String(), Reason: d.Reason})
}

// join returns the open incident decision (entity, reason at time at)
// belongs to, or nil.
func (t *Tracker) join(entity, reason string, at time.Time) *tracked {
	var same *tracked
	for i := len(t.incidents) - 1; i >= 0; i-- {
		in := t.incidents[i]
		if !in.Open() {
			continue
		}
		if in.entities[entity] {
			return in
		}
		if same == nil && in.Reason == reason && at.Sub(in.last) <= t.gap {
			same = in
		}
	}
	return same
}

// Lifted records that decision id ended before it expired (removed, or
// marked a false positive) at time at.
func (t *Tracker) Lifted(d decision.Decision, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, in := range t.incidents {
		if _, ok := in.live[d.ID]; ok {
			delete(in.live, d.ID)
			in.LastEnded = at
			in.event(Event{Time: at, Kind: "lifted", DecisionID: d.ID, Entity: d.Entity().String()})
			return
		}
	}
}

// Sweep notes the decisions that expired by now and resolves the
// incidents whose decisions all ended at least the gap ago.
func (t *Tracker) Sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, in := range t.incidents {
		if !in.Open() {
			continue
		}
		for id, exp := range in.live {
			if !exp.After(now) {
				delete(in.live, id)
				if exp.After(in.LastEnded) {
					in.LastEnded = exp
				}
				in.event(Event{Time: exp, Kind: "expired", DecisionID: id})
			}
		}
		if len(in.live) == 0 && !in.LastEnded.IsZero() && now.Sub(in.LastEnded) >= t.gap {
			in.Resolved = in.LastEnded
			in.event(Event{Time: in.Resolved, Kind: "resolved"})
		}
	}
}

// trim drops the oldest resolved incidents beyond MaxIncidents, else the
// oldest open ones; t.mu is held.
func (t *Tracker) trim() {
	for len(t.incidents) > MaxIncidents {
		drop := 0
		for i, in := range t.incidents {
			if !in.Open() {
				drop = i
				break
			}
		}
		delete(t.byID, t.incidents[drop].ID)
		t.incidents = slices.Delete(t.incidents, drop, drop+1)
	}
}

func (in *tracked) event(e Event) {
	if len(in.Timeline) < MaxTimeline {
		in.Timeline = append(in.Timeline, e)
	}
}

// snapshot returns a copy of in with its derived durations.
func (in *tracked) snapshot() Incident {
	out := in.Incident
	out.Reasons = slices.Clone(in.Reasons)
	out.Entities = slices.Clone(in.Entities)
	out.Active = len(in.live)
	tl := make([]Event, 0, len(in.Timeline)+1)
	tl = append(tl, Event{Time: in.FirstSeen, Kind: "first_seen"})
	tl = append(tl, in.Timeline...)
	slices.SortStableFunc(tl, func(a, b Event) int { return a.Time.Compare(b.Time) })
	out.Timeline = tl
	since := func(from, to time.Time) *float64 {
		if from.IsZero() || to.IsZero() {
			return nil
		}
		s := max(to.Sub(from), 0).Seconds()
		return &s
	}
	out.TTD = since(in.FirstSeen, in.Detected)
	out.TTM = since(in.FirstSeen, in.Mitigated)
	out.TTB = since(in.FirstSeen, in.Blocked)
	out.Resolve = since(in.Detected, in.Resolved)
	return out
}

// List returns the incidents, newest first.
func (t *Tracker) List() []Incident {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Incident, 0, len(t.incidents))
	for i := len(t.incidents) - 1; i >= 0; i-- {
		out = append(out, t.incidents[i].snapshot())
	}
	return out
}

// Get returns the incident with id.
func (t *Tracker) Get(id string) (Incident, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	in, ok := t.byID[id]
	if !ok {
		return Incident{}, false
	}
	return in.snapshot(), true
}

// Summary returns counts and mean times over the incidents kept.
func (t *Tracker) Summary() Summary {
	var s Summary
	var ttd, ttb, ttr []float64
	for _, in := range t.List() {
		if in.Open() {
			s.Open++
		} else {
			s.Resolved++
		}
		if in.TTD != nil {
			ttd = append(ttd, *in.TTD)
		}
		if in.TTB != nil {
			ttb = append(ttb, *in.TTB)
		}
		if in.Resolve != nil {
			ttr = append(ttr, *in.Resolve)
		}
	}
	s.MTTD, s.MTTB, s.MTTR = mean(ttd), mean(ttb), mean(ttr)
	return s
}

func mean(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	m := sum / float64(len(xs))
	return &m
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "inc_" + hex.EncodeToString(b[:])
}
