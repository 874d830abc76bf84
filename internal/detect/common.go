package detect

import (
	"net/netip"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Common holds the settings every detector has. Detector configs embed it
// inline, so they read `mode`, `weight` and `max_entities` at their top level.
type Common struct {
	// Mode is enforce (the default; "on" is the same), shadow (signals
	// become events but add no risk) or off.
	Mode verdict.Mode `yaml:"mode"`
	// Weight is the risk points one signal adds (default per detector).
	Weight float64 `yaml:"weight"`
	// MaxEntities bounds the entities the detector tracks (default: its
	// share of state.max_memory; 100000 where no config sizes it); beyond
	// it the least recently seen are evicted, and counted.
	MaxEntities int `yaml:"max_entities"`
}

// Defaults returns c with zero fields set to weight w and 100000 entities.
func (c Common) Defaults(w float64) Common {
	if c.Weight == 0 {
		c.Weight = w
	}
	if c.MaxEntities == 0 {
		c.MaxEntities = 100_000
	}
	return c
}

// Modes are the modes a detector takes.
var Modes = verdict.ModesOf(verdict.Enforce, verdict.Shadow, verdict.Off)

// Stateful is a detector whose state can be swept and measured.
type Stateful interface {
	// Sweep drops state idle at now (unix nanoseconds).
	Sweep(now int64)
	// Stats returns the size and churn of the detector's state.
	Stats() TableStats
}

// Steps remembers which multiples of a threshold a measure has crossed, so
// that a detector signals once per step (at 1x, 2x, 3x the threshold ...)
// rather than on every request past it. The zero Steps has crossed none.
type Steps uint8

// Cross records measure against threshold and returns how many new steps
// it crossed. When the measure falls back (its window moved on), the steps
// fall with it and are crossed again later.
func (s *Steps) Cross(measure, threshold float64) int {
	if threshold <= 0 {
		return 0
	}
	k := int(min(measure/threshold, 255))
	old := int(*s)
	*s = Steps(k)
	return max(0, k-old)
}

// orDefault returns d when v is zero.
func orDefault[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// subjectTableKey hashes the entity Subject(v) names without allocating, as a
// key for per-entity tables.
func subjectTableKey(h Hasher, v *request.View) uint64 {
	switch {
	case v.Identity.KeyID != "":
		return h.String(byte(verdict.ScopeKey), v.Identity.KeyID)
	case v.Identity.User != "":
		return h.String(byte(verdict.ScopeUser), v.Identity.User)
	case v.BySession():
		return h.String(byte(verdict.ScopeSession), v.Identity.Session)
	}
	ip := v.ClientIP.As16()
	return h.Bytes(byte(verdict.ScopeIP), ip[:])
}

// addrKey hashes an address in namespace ns without allocating.
func addrKey(h Hasher, ns byte, a netip.Addr) uint64 {
	b := a.As16()
	return h.Bytes(ns, b[:])
}

// tableStatsSum adds the stats of the tables one detector keeps.
func tableStatsSum(a, b TableStats) TableStats {
	return TableStats{
		Entries:     a.Entries + b.Entries,
		MaxEntries:  a.MaxEntries + b.MaxEntries,
		Evictions:   a.Evictions + b.Evictions,
		Expirations: a.Expirations + b.Expirations,
	}
}
