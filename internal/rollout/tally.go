package rollout

import (
	"sync"
	"sync/atomic"
	"time"
)

// MaxTallyEntities bounds the distinct entities a Tally keeps per rule and
// the confirmed entities it remembers; past it, distinct counts are lower
// bounds (Report.Capped).
const MaxTallyEntities = 10_000

// Tally counts, per limit or rule, the requests it acted on and those it
// would have acted on (shadow or outside its canary), and the distinct
// entities among them, for `abuseguard rules report`. It also remembers
// the entities analysts confirmed as abusive, to report a rule's overlap
// with confirmed abuse. Entities are kept as 64-bit hashes. Record takes
// no global lock: one mutex per rule guards its entity set. It is safe for
// concurrent use.
type Tally struct {
	now   func() time.Time
	rules sync.Map // name -> *ruleTally

	mu        sync.Mutex
	confirmed map[uint64]struct{}
}

type ruleTally struct {
	since        time.Time
	acted, would atomic.Uint64
	mu           sync.Mutex
	entities     map[uint64]struct{}
	capped       bool
}

// NewTally returns an empty Tally on the clock now (default time.Now).
func NewTally(now func() time.Time) *Tally {
	if now == nil {
		now = time.Now
	}
	return &Tally{now: now, confirmed: map[uint64]struct{}{}}
}

// EntityHash returns the hash Record and Confirm take for the entity
// scope:value.
func EntityHash(scope, value string) uint64 {
	return NewHash().String(scope).Sep().String(value).Sum()
}

// Record counts one request rule acted on (would false) or would have
// acted on (would true), by the entity whose EntityHash is entity.
func (t *Tally) Record(rule string, would bool, entity uint64) {
	v, ok := t.rules.Load(rule)
	if !ok {
		v, _ = t.rules.LoadOrStore(rule, &ruleTally{since: t.now(), entities: map[uint64]struct{}{}})
	}
	r := v.(*ruleTally)
	if would {
		r.would.Add(1)
	} else {
		r.acted.Add(1)
	}
	r.mu.Lock()
	if _, seen := r.entities[entity]; !seen {
		if len(r.entities) < MaxTallyEntities {
			r.entities[entity] = struct{}{}
		} else {
			r.capped = true
		}
	}
	r.mu.Unlock()
}

// Confirm remembers entity as confirmed abuse.
func (t *Tally) Confirm(entity uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.confirmed) < MaxTallyEntities {
		t.confirmed[entity] = struct{}{}
	}
}

// Report is what a Tally knows of one rule since it first acted or would
// have: the basis for promoting it.
type Report struct {
	Name     string    `json:"name"`
	Since    time.Time `json:"since,omitzero"`
	WouldAct uint64    `json:"would_act"` // requests it would have refused (shadow, outside its canary)
	Acted    uint64    `json:"acted"`     // requests it refused
	Entities int       `json:"entities"`  // distinct entities among them
	// Confirmed is how many of those entities analysts confirmed as abuse
	// (`abuseguard decisions confirm`).
	Confirmed int  `json:"confirmed"`
	Capped    bool `json:"capped,omitempty"` // Entities and Confirmed are lower bounds
}

// Report returns the tally of rule; a rule that never acted has zeros.
func (t *Tally) Report(rule string) Report {
	rep := Report{Name: rule}
	v, ok := t.rules.Load(rule)
	if !ok {
		return rep
	}
	r := v.(*ruleTally)
	rep.Since, rep.WouldAct, rep.Acted = r.since, r.would.Load(), r.acted.Load()
	r.mu.Lock()
	ents := make([]uint64, 0, len(r.entities))
	for e := range r.entities {
		ents = append(ents, e)
	}
	rep.Capped = r.capped
	r.mu.Unlock()
	rep.Entities = len(ents)
	t.mu.Lock()
	for _, e := range ents {
		if _, ok := t.confirmed[e]; ok {
			rep.Confirmed++
		}
	}
	t.mu.Unlock()
	return rep
}
