package engine

import (
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

// Upper bounds of what one tracked entity costs in detection state, as
// measured (docs/benchmarks.md): an entry in one detector's table, and an
// entry in the risk table with its evidence records.
const (
	detectorEntryBytes = 400
	riskEntryBytes     = 1000
	detectorTables     = 8
)

// Sizes is how much state a config allows, all of it out of
// state.max_memory: half for limiter keys, half for detection.
type Sizes struct {
	LimiterKeys      int // limiter keys (memory.Options.MaxKeys)
	RiskEntities     int // risk table entries
	DetectorEntities int // entities per detector, where its config sets none
}

// SizesFor splits c.State.MaxMemory between limiter and detection state.
// An explicit risk.max_entities, or a detector's max_entities, overrides
// its share (and is then the operator's to budget).
func SizesFor(c *config.Config) Sizes {
	half := int64(c.State.MaxMemory) / 2
	perEntity := int64(detectorTables*detectorEntryBytes + riskEntryBytes)
	entities := max(1000, int(half/perEntity))
	s := Sizes{LimiterKeys: memory.MaxKeysFor(half), RiskEntities: entities, DetectorEntities: entities}
	if c.Risk.MaxEntities > 0 {
		s.RiskEntities = c.Risk.MaxEntities
	}
	return s
}
