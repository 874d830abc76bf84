// Package verdict is the vocabulary every part of abuseguard shares: who a
// finding or decision is about (Entity, Scope), what is done (Action), how
// a rule acts (Mode), why (Evidence, Explanation), and the Verdict a front
// renders in its own protocol. It depends on nothing else in abuseguard
// but the problem renderer.
package verdict

import (
	"errors"
	"fmt"
	"net/netip"
)

// Scope is the kind of entity a signal or decision is about.
type Scope uint8

// Scopes. Identity scopes (Key, User, Session) are preferred over network
// scopes when a request carries an identity, so one abuser behind a shared
// NAT does not lock out the others.
const (
	ScopeIP Scope = iota + 1
	ScopePrefix
	ScopeKey
	ScopeUser
	ScopeFingerprint
	ScopeSession
	// ScopeCampaign is a group of entities acting together (the campaign
	// detector's "c_..." IDs); a decision on it applies to its members.
	ScopeCampaign
)

var scopeNames = [...]string{ScopeIP: "ip", ScopePrefix: "prefix", ScopeKey: "key", ScopeUser: "user",
	ScopeFingerprint: "fingerprint", ScopeSession: "session", ScopeCampaign: "campaign"}

// ScopeNames lists the scope names, for messages.
const ScopeNames = "ip, prefix, key, user, fingerprint, session, campaign"

func (s Scope) String() string { return nameOf(scopeNames[:], s) }

// ParseScope parses a scope name.
func ParseScope(s string) (Scope, bool) { return parseName[Scope](scopeNames[:], s) }

// MarshalText returns the scope's name.
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a scope name.
func (s *Scope) UnmarshalText(b []byte) error {
	sc, ok := ParseScope(string(b))
	if !ok {
		return &FieldError{"scope", fmt.Sprintf("%q is not one of %s", b, ScopeNames)}
	}
	*s = sc
	return nil
}

// Entity is who a signal or decision is about: a scope and its value (an
// IP, a prefix in CIDR form, a key id, a user, a fingerprint or session id).
type Entity struct {
	Scope Scope
	Value string
}

func (e Entity) String() string { return e.Scope.String() + ":" + e.Value }

// MaxValueLen is the longest entity value accepted, in bytes.
const MaxValueLen = 256

// ParseEntity parses "scope:value" (ip:203.0.113.7, prefix:203.0.113.0/24,
// key:k_0123, ip:2001:db8::1) into a canonical Entity; see NormalizeValue.
func ParseEntity(s string) (Entity, error) {
	name, value, ok := cut(s, ':')
	if !ok {
		return Entity{}, &FieldError{"entity", fmt.Sprintf("%q is not SCOPE:VALUE, e.g. ip:203.0.113.7", s)}
	}
	var sc Scope
	if err := sc.UnmarshalText([]byte(name)); err != nil {
		return Entity{}, err
	}
	v, err := NormalizeValue(sc, value)
	if err != nil {
		return Entity{}, err
	}
	return Entity{Scope: sc, Value: v}, nil
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// NormalizeValue checks an entity value for its scope and returns its
// canonical form, the one the engine looks up: an IP address as
// netip.Addr.String prints it (IPv4-mapped IPv6 unmapped), a prefix in
// CIDR form with its host bits cleared. Other scopes take any 1 to
// MaxValueLen bytes without control characters, unchanged.
func NormalizeValue(sc Scope, v string) (string, error) {
	switch {
	case v == "":
		return "", &FieldError{"value", "is empty"}
	case len(v) > MaxValueLen:
		return "", &FieldError{"value", fmt.Sprintf("is longer than %d bytes", MaxValueLen)}
	}
	switch sc {
	case ScopeIP:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "", &FieldError{"value", fmt.Sprintf("%q is not an IP address", v)}
		}
		return a.Unmap().String(), nil
	case ScopePrefix:
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

// Action is what is done to a request or an entity.
type Action uint8

// Actions, mildest first: comparing two Actions compares their strength.
const (
	Allow Action = iota
	Throttle
	Challenge
	Block
)

var actionNames = [...]string{Allow: "allow", Throttle: "throttle", Challenge: "challenge", Block: "block"}

func (a Action) String() string { return nameOf(actionNames[:], a) }

// ParseAction parses an action name.
func ParseAction(s string) (Action, bool) { return parseName[Action](actionNames[:], s) }

// MarshalText returns the action's name.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses an action name.
func (a *Action) UnmarshalText(b []byte) error {
	x, ok := ParseAction(string(b))
	if !ok {
		return &FieldError{"action", fmt.Sprintf("%q is not one of allow, throttle, challenge, block", b)}
	}
	*a = x
	return nil
}

// Mode says whether something acts: enforce acts, shadow only records what
// it would have done, canary enforces for a fixed share of entities and
// shadows the rest, off does nothing at all. Limits, rules, detectors, the
// risk score and decisions share it; each accepts the modes that make sense
// for it (Modes.Has).
type Mode uint8

// Modes. The zero Mode is Enforce.
const (
	Enforce Mode = iota
	Shadow
	Canary
	Off
)

var modeNames = [...]string{Enforce: "enforce", Shadow: "shadow", Canary: "canary", Off: "off"}

func (m Mode) String() string { return nameOf(modeNames[:], m) }

// ParseMode parses a mode name; "" is Enforce, and "on" (the detectors'
// historic spelling) is too.
func ParseMode(s string) (Mode, bool) {
	if s == "" || s == "on" {
		return Enforce, true
	}
	return parseName[Mode](modeNames[:], s)
}

// MarshalText returns the mode's name.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses a mode name.
func (m *Mode) UnmarshalText(b []byte) error {
	x, ok := ParseMode(string(b))
	if !ok {
		return &FieldError{"mode", fmt.Sprintf("%q is not one of enforce, shadow, canary, off", b)}
	}
	*m = x
	return nil
}

// Modes is a set of modes, for saying which ones a setting accepts.
type Modes uint8

// ModesOf returns the set of ms.
func ModesOf(ms ...Mode) Modes {
	var s Modes
	for _, m := range ms {
		s |= 1 << m
	}
	return s
}

// Has reports whether m is in s.
func (s Modes) Has(m Mode) bool { return m < 8 && s&(1<<m) != 0 }

// String lists the set: "enforce, shadow or canary".
func (s Modes) String() string {
	var names []string
	for m := Enforce; m <= Off; m++ {
		if s.Has(m) {
			names = append(names, m.String())
		}
	}
	out := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			out += " or "
		default:
			out += ", "
		}
		out += n
	}
	return out
}

// nameOf returns the name of v in names, or "invalid".
func nameOf[T ~uint8](names []string, v T) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return "invalid"
}

// parseName returns the value whose name in names is s.
func parseName[T ~uint8](names []string, s string) (T, bool) {
	for i, n := range names {
		if n != "" && n == s {
			return T(i), true
		}
	}
	return 0, false
}

// ErrInvalid is wrapped by every error about a malformed entity, action,
// mode or decision field.
var ErrInvalid = errors.New("invalid")

// FieldError is a malformed field of an entity or decision.
type FieldError struct {
	Field string // json name of the field: scope, value, action, mode, expires
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }
