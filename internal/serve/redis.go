package serve

import (
	redisstore "github.com/abuseguard/abuseguard/internal/store/redis"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// redisStats is the shared limiter state's snapshot as metrics see it.
func redisStats(s redisstore.Stats) telemetry.RedisStats {
	return telemetry.RedisStats{Available: s.Available, Calls: s.Calls, Errors: s.Errors, Fallbacks: s.Fallbacks,
		Refused: s.Refusals, Outages: s.Outages, Recoveries: s.Recoveries, Syncs: s.Syncs, SyncErrors: s.SyncErrors, Nodes: s.Nodes}
}
