package serve

import (
	"github.com/abuseguard/abuseguard/internal/store"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// redisStats is the shared state's snapshot as metrics see it.
func redisStats(set *store.Set) telemetry.RedisStats {
	s := set.Redis.Stats()
	out := telemetry.RedisStats{Available: s.Available, Calls: s.Calls, Errors: s.Errors, Fallbacks: s.Fallbacks,
		Refused: s.Refusals, Outages: s.Outages, Recoveries: s.Recoveries, Syncs: s.Syncs, SyncErrors: s.SyncErrors, Nodes: s.Nodes}
	if d := set.SharedDecisions; d != nil {
		ds := d.Shared()
		out.DecisionsPublished, out.DecisionsReceived, out.DecisionWriteErrors, out.DecisionsQueued = ds.Published, ds.Received, ds.WriteErrors, ds.Queued
	}
	if sk := set.Sketches; sk != nil {
		ss := sk.Stats()
		out.SketchFlushes, out.SketchErrors = ss.Flushes, ss.Errors
	}
	return out
}
