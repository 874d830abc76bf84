// Package store builds the state behind an engine from a config, the same
// way for serve and replay: the limiter state and the decision store, sized
// by state.max_memory. Adding a store (Redis) is a case here and a package
// beside store/memory.
package store

import (
	"fmt"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

// Upper bounds of what one tracked entity costs in detection state, as
// measured (docs/benchmarks.md): an entry in one detector's table, and an
// entry in the risk table with its evidence records.
const (
	detectorEntryBytes = 400
	riskEntryBytes     = 1000
)

// Sizes is how much state a config allows, all of it out of
// state.max_memory: half for limiter keys, half for detection.
type Sizes struct {
	LimiterKeys      int // limiter keys (memory.Options.MaxKeys)
	RiskEntities     int // risk table entries
	DetectorEntities int // entities per detector, where its config sets none
}

// SizesFor splits c.State.MaxMemory between limiter and detection state:
// the detection half over the risk table and one table per registered
// detector. An explicit risk.max_entities, or a detector's max_entities,
// overrides its share (and is then the operator's to budget).
func SizesFor(c *config.Config) Sizes {
	half := int64(c.State.MaxMemory) / 2
	perEntity := int64(len(detect.Registered())*detectorEntryBytes + riskEntryBytes)
	entities := max(1000, int(half/perEntity))
	s := Sizes{LimiterKeys: memory.MaxKeysFor(half), RiskEntities: entities, DetectorEntities: entities}
	if c.Risk.MaxEntities > 0 {
		s.RiskEntities = c.Risk.MaxEntities
	}
	return s
}

// Options configures Open.
type Options struct {
	// Now is the clock of decision expiry (default time.Now).
	Now func() time.Time
	// Ephemeral keeps decisions in memory only, whatever decisions.path
	// says (replay, tests).
	Ephemeral bool
}

// Set is the state an engine runs on.
type Set struct {
	Limits    limit.Store
	Decisions decision.Store
	Sizes     Sizes
	// Memory is the limiter state when it is in this process, for its
	// sweeps and statistics; nil otherwise.
	Memory *memory.Store
}

// Open builds the stores c asks for.
func Open(c *config.Config, o Options) (*Set, error) {
	sizes := SizesFor(c)
	path := c.Decisions.Path
	if o.Ephemeral {
		path = ""
	}
	ds, err := decision.Open(decision.Options{
		Path: path, Ladder: c.Decisions.Ladder, MaxTTL: c.Decisions.MaxTTL,
		OffenseMemory: c.Decisions.OffenseMemory, MaxDecisions: c.Decisions.MaxDecisions, Now: o.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	mem := memory.New(memory.Options{MaxKeys: sizes.LimiterKeys})
	return &Set{Limits: mem, Decisions: ds, Sizes: sizes, Memory: mem}, nil
}

// Sweep drops expired limiter state; decisions are swept by the engine.
func (s *Set) Sweep(now time.Time) {
	if s.Memory != nil {
		s.Memory.Sweep(now.UnixNano())
	}
}

// Close closes the stores.
func (s *Set) Close() error { return s.Decisions.Close() }
