// Package decision holds the active verdicts on entities (an IP, a prefix,
// an API key, a user, a fingerprint): what is done to them, until when, and
// the evidence that led there. Repeat offenders get longer decisions
// (an escalation ladder), and decisions survive restarts in a bbolt file.
package decision

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Modes are the modes a decision takes: a shadow decision is recorded and
// reported, never enforced.
var Modes = verdict.ModesOf(verdict.Enforce, verdict.Shadow)

// SourceManual is the Source of decisions made by an operator.
const SourceManual = "manual"

// Bounds on what one decision holds.
const (
	// MaxEvidence is how many Evidence entries a decision keeps; the first
	// ones given are kept.
	MaxEvidence = 16
	// MaxTextLen is the longest Reason, Source or Evidence summary kept,
	// in bytes; longer ones are cut.
	MaxTextLen = 256
)

// Store holds the active decisions on entities. Local is the store of one
// process; a distributed store shares decisions between processes. Every
// method is safe for concurrent use.
type Store interface {
	// Add records d and returns the decision now in force for its entity
	// and whether d was added; see Local.Add for the contract.
	Add(d Decision) (Decision, bool, error)
	// Remove lifts the decision with id and reports whether it was active.
	Remove(id string) (bool, error)
	// Active returns the decision in force for an entity at now (Unix
	// nanoseconds), or nil. It is on every request's path: it must not
	// allocate or wait on the network. The result must not be modified.
	Active(scope verdict.Scope, value []byte, now int64) *Decision
	// Len returns the number of decisions held; 0 means Active is never
	// needed.
	Len() int
	// Get returns the active decision with id.
	Get(id string) (Decision, bool)
	// List returns the decisions active at now, oldest first.
	List(now time.Time) []Decision
	// ForEntity returns the decisions active at now for an entity.
	ForEntity(scope verdict.Scope, value string, now time.Time) []Decision
	// Sweep drops what expired by now and returns how many decisions.
	Sweep(now time.Time) int
	// Stats returns the store's counters.
	Stats() Stats
	// Close releases the store; it must not be used afterwards.
	Close() error
}

// Explanation is what is known about an entity: its risk score now, the
// signals that fed it, and its active decisions with their evidence.
type Explanation struct {
	Entity    string             `json:"entity"` // "ip:203.0.113.7"
	Score     float64            `json:"score"`
	Signals   []verdict.Evidence `json:"recent_signals"`
	Decisions []Decision         `json:"decisions"`
	// Campaign is the campaign (detect.Campaign) the entity is a member
	// of, "" for none; CampaignIDs is how many ids of its walk it took.
	Campaign    string `json:"campaign,omitempty"`
	CampaignIDs int    `json:"campaign_ids,omitempty"`
}

// Decision is an active verdict on one entity until it expires. A Decision
// held by a Store is never modified; a change replaces it.
type Decision struct {
	ID       string             `json:"id"`
	Scope    verdict.Scope      `json:"scope"`
	Value    string             `json:"value"`  // canonical: an IP as netip prints it, a prefix masked
	Action   verdict.Action     `json:"action"` // throttle, challenge or block
	Reason   string             `json:"reason"` // stable code: probing, honeypot, risk_score, manual, or a rule's reason
	Source   string             `json:"source"` // "detector:probing", "rule:NAME", "score", "manual"
	Mode     verdict.Mode       `json:"mode"`   // enforce or shadow
	Score    float64            `json:"score"`
	Offense  int                `json:"offense"` // 1 for the entity's first decision within the offense memory, 2 for the next ...
	Evidence []verdict.Evidence `json:"evidence"`
	Created  time.Time          `json:"created"`
	Expires  time.Time          `json:"expires"`
}

// EvidenceFrom returns the evidence of a detector's signal observed at t.
func EvidenceFrom(s detect.Signal, t time.Time) verdict.Evidence {
	e := verdict.Evidence{
		Time:      t.UTC(),
		Detector:  s.Detector,
		Summary:   s.Evidence.Summary,
		Count:     s.Evidence.Count,
		Threshold: s.Evidence.Threshold,
		Weight:    s.Weight,
		RequestID: s.Evidence.RequestID,
	}
	if s.Evidence.Window > 0 {
		e.Window = s.Evidence.Window.String()
	}
	return e
}

// Entity returns the entity d is about.
func (d *Decision) Entity() verdict.Entity { return verdict.Entity{Scope: d.Scope, Value: d.Value} }

// Enforced reports whether d acts on requests (it is not a shadow decision).
func (d *Decision) Enforced() bool { return d.Mode != verdict.Shadow }

// Stronger reports whether d outranks o for the same entity: an enforced
// decision outranks a shadow one whatever their actions (so a shadow
// decision never holds back enforcement, nor replaces it); between equal
// modes, block > challenge > throttle.
func (d *Decision) Stronger(o *Decision) bool {
	if d.Enforced() != o.Enforced() {
		return d.Enforced()
	}
	return d.Action > o.Action
}

// normalize checks d's scope, value, action and mode, fills the defaults
// (mode enforce), cuts over-long text and evidence, and zeroes numbers
// that are not finite.
func normalize(d *Decision) (verdict.Scope, error) {
	sc := d.Scope
	if sc.String() == "invalid" {
		return 0, &verdict.FieldError{Field: "scope", Msg: fmt.Sprintf("%d is not one of %s", sc, verdict.ScopeNames)}
	}
	var err error
	if d.Value, err = verdict.NormalizeValue(sc, d.Value); err != nil {
		return 0, err
	}
	if d.Action <= verdict.Allow || d.Action > verdict.Block {
		return 0, &verdict.FieldError{Field: "action", Msg: fmt.Sprintf("%q is not one of throttle, challenge, block", d.Action)}
	}
	if !Modes.Has(d.Mode) {
		return 0, &verdict.FieldError{Field: "mode", Msg: fmt.Sprintf("%q is not %s", d.Mode, Modes)}
	}
	d.Reason = cut(d.Reason)
	d.Source = cut(d.Source)
	d.Score = finite(d.Score)
	if len(d.Evidence) > MaxEvidence {
		d.Evidence = d.Evidence[:MaxEvidence]
	}
	ev := make([]verdict.Evidence, len(d.Evidence))
	for i, e := range d.Evidence {
		e.Summary = cut(e.Summary)
		e.Detector = cut(e.Detector)
		e.RequestID = cut(e.RequestID)
		e.Time = e.Time.UTC()
		e.Count, e.Threshold, e.Weight = finite(e.Count), finite(e.Threshold), finite(e.Weight)
		ev[i] = e
	}
	d.Evidence = ev // a copy: the caller's slice is never shared with the Store
	return sc, nil
}

// finite returns f, or 0 when f is NaN or infinite (JSON has neither).
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func cut(s string) string {
	if len(s) > MaxTextLen {
		return strings.ToValidUTF8(s[:MaxTextLen], "")
	}
	return s
}
