// Package decision holds the active verdicts on entities (an IP, a prefix,
// an API key, a user, a fingerprint): what is done to them, until when, and
// the evidence that led there. Repeat offenders get longer decisions
// (an escalation ladder), and decisions survive restarts in a bbolt file.
package decision

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/detect"
)

// Actions a decision applies, mildest first.
const (
	ActionThrottle  = "throttle"
	ActionChallenge = "challenge"
	ActionBlock     = "block"
)

// Modes. A shadow decision is recorded and reported, never enforced.
const (
	ModeEnforce = "enforce"
	ModeShadow  = "shadow"
)

// SourceManual is the Source of decisions made by an operator.
const SourceManual = "manual"

// Bounds on what one decision holds.
const (
	// MaxEvidence is how many Evidence entries a decision keeps; the first
	// ones given are kept.
	MaxEvidence = 16
	// MaxValueLen is the longest entity value accepted, in bytes.
	MaxValueLen = 256
	// MaxTextLen is the longest Reason, Source or Evidence summary kept,
	// in bytes; longer ones are cut.
	MaxTextLen = 256
)

// Decision is an active verdict on one entity until it expires. A Decision
// held by a Store is never modified; a change replaces it.
type Decision struct {
	ID       string     `json:"id"`
	Scope    string     `json:"scope"`  // ip, prefix, key, user, fingerprint (detect.Scope names)
	Value    string     `json:"value"`  // canonical: an IP as netip prints it, a prefix masked
	Action   string     `json:"action"` // throttle, challenge, block
	Reason   string     `json:"reason"` // stable code: probing, honeypot, risk_score, manual, or a rule's reason
	Source   string     `json:"source"` // "detector:probing", "rule:NAME", "score", "manual"
	Mode     string     `json:"mode"`   // enforce or shadow
	Score    float64    `json:"score"`
	Offense  int        `json:"offense"` // 1 for the entity's first decision within the offense memory, 2 for the next ...
	Evidence []Evidence `json:"evidence"`
	Created  time.Time  `json:"created"`
	Expires  time.Time  `json:"expires"`
}

// Evidence is one signal that led to a decision.
type Evidence struct {
	Time      time.Time `json:"time"`
	Detector  string    `json:"detector"`
	Summary   string    `json:"summary"`
	Count     float64   `json:"count"`
	Threshold float64   `json:"threshold"`
	Window    string    `json:"window"` // Go duration string, "" when the signal has no window
	Weight    float64   `json:"weight"`
	RequestID string    `json:"request_id"`
}

// EvidenceFrom returns the evidence of a detector's signal observed at t.
func EvidenceFrom(s detect.Signal, t time.Time) Evidence {
	e := Evidence{
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

// Entity returns the entity d is about. Its Scope is 0 when d.Scope is not
// a scope name.
func (d *Decision) Entity() detect.Entity {
	sc, _ := detect.ParseScope(d.Scope)
	return detect.Entity{Scope: sc, Value: d.Value}
}

// Enforced reports whether d acts on requests (it is not a shadow decision).
func (d *Decision) Enforced() bool { return d.Mode != ModeShadow }

// Stronger reports whether d outranks o for the same entity: an enforced
// decision outranks a shadow one whatever their actions (so a shadow
// decision never holds back enforcement, nor replaces it); between equal
// modes, block > challenge > throttle.
func (d *Decision) Stronger(o *Decision) bool {
	if d.Enforced() != o.Enforced() {
		return d.Enforced()
	}
	return ActionRank(d.Action) > ActionRank(o.Action)
}

// ActionRank orders actions: 1 throttle, 2 challenge, 3 block, 0 for
// anything else.
func ActionRank(action string) int {
	switch action {
	case ActionThrottle:
		return 1
	case ActionChallenge:
		return 2
	case ActionBlock:
		return 3
	}
	return 0
}

// ErrInvalid is wrapped by every error about a malformed decision or entity.
var ErrInvalid = errors.New("invalid")

// FieldError is a malformed decision field.
type FieldError struct {
	Field string // json name of the field: scope, value, action, mode, expires
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// ParseEntity parses "scope:value" (ip:203.0.113.7, prefix:203.0.113.0/24,
// key:k_0123, ip:2001:db8::1) into a canonical Entity; see NormalizeValue.
func ParseEntity(s string) (detect.Entity, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return detect.Entity{}, &FieldError{"entity", fmt.Sprintf("%q is not SCOPE:VALUE, e.g. ip:203.0.113.7", s)}
	}
	sc, err := parseScope(name)
	if err != nil {
		return detect.Entity{}, err
	}
	v, err := NormalizeValue(sc, value)
	if err != nil {
		return detect.Entity{}, err
	}
	return detect.Entity{Scope: sc, Value: v}, nil
}

func parseScope(name string) (detect.Scope, error) {
	sc, ok := detect.ParseScope(name)
	if !ok {
		return 0, &FieldError{"scope", fmt.Sprintf("%q is not one of ip, prefix, key, user, fingerprint", name)}
	}
	return sc, nil
}

// NormalizeValue checks an entity value for its scope and returns its
// canonical form, the one the engine looks up: an IP address as
// netip.Addr.String prints it (IPv4-mapped IPv6 unmapped), a prefix in
// CIDR form with its host bits cleared. Other scopes take any 1 to
// MaxValueLen bytes without control characters, unchanged.
func NormalizeValue(sc detect.Scope, v string) (string, error) {
	switch {
	case v == "":
		return "", &FieldError{"value", "is empty"}
	case len(v) > MaxValueLen:
		return "", &FieldError{"value", fmt.Sprintf("is longer than %d bytes", MaxValueLen)}
	}
	switch sc {
	case detect.ScopeIP:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "", &FieldError{"value", fmt.Sprintf("%q is not an IP address", v)}
		}
		return a.Unmap().String(), nil
	case detect.ScopePrefix:
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return "", &FieldError{"value", fmt.Sprintf("%q is not a CIDR prefix, e.g. 203.0.113.0/24", v)}
		}
		return p.Masked().String(), nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return "", &FieldError{"value", "contains a control character"}
		}
	}
	return v, nil
}

// normalize checks d's scope, value, action and mode, fills the defaults
// (mode enforce), cuts over-long text and evidence, and zeroes numbers
// that are not finite.
func normalize(d *Decision) (detect.Scope, error) {
	sc, err := parseScope(d.Scope)
	if err != nil {
		return 0, err
	}
	if d.Value, err = NormalizeValue(sc, d.Value); err != nil {
		return 0, err
	}
	if ActionRank(d.Action) == 0 {
		return 0, &FieldError{"action", fmt.Sprintf("%q is not one of throttle, challenge, block", d.Action)}
	}
	switch d.Mode {
	case "":
		d.Mode = ModeEnforce
	case ModeEnforce, ModeShadow:
	default:
		return 0, &FieldError{"mode", fmt.Sprintf("%q is not enforce or shadow", d.Mode)}
	}
	d.Reason = cut(d.Reason)
	d.Source = cut(d.Source)
	d.Score = finite(d.Score)
	if len(d.Evidence) > MaxEvidence {
		d.Evidence = d.Evidence[:MaxEvidence]
	}
	ev := make([]Evidence, len(d.Evidence))
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
