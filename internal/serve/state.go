package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	redisstore "github.com/abuseguard/abuseguard/internal/store/redis"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// limitState is the limiter store state.store names, with what serve
// needs around it.
type limitState struct {
	store limit.Store
	local *memory.Store     // the memory store (state.store memory), or Redis's local one
	redis *redisstore.Store // nil with state.store memory
	close func()
}

// openLimitState builds the limiter store of cfg: memory, or Redis with a
// memory store for what is decided locally. A Redis that does not answer
// at start is an error: a node must not report ready without its state.
func openLimitState(ctx context.Context, cfg *config.Config, sizes engine.Sizes, log *slog.Logger) (*limitState, error) {
	local := memory.New(memory.Options{MaxKeys: sizes.LimiterKeys})
	if cfg.State.Store != "redis" {
		return &limitState{store: local, local: local, close: func() {}}, nil
	}
	r := cfg.State.Redis
	opts := redisstore.Options{
		Addrs: r.Addrs, SentinelMaster: r.SentinelMaster, Username: r.Username,
		Mode: redisstore.Mode(r.Mode), OnError: redisstore.OnError(r.OnError),
		Timeout: r.Timeout, SyncInterval: r.SyncInterval, Prefix: r.Prefix,
		Local: local, MaxKeys: sizes.LimiterKeys, Logger: log,
	}
	if r.PasswordEnv != "" {
		opts.Password = os.Getenv(r.PasswordEnv)
	}
	s, err := redisstore.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("state.redis: %w", err)
	}
	log.Info("limiter state on redis", "addrs", r.Addrs, "mode", r.Mode, "on_error", r.OnError, "timeout", r.Timeout.String())
	return &limitState{store: s, local: local, redis: s, close: s.Close}, nil
}

// watch exports the store's metrics.
func (ls *limitState) watch(m *telemetry.Metrics) {
	m.WatchState(func() telemetry.StateStats {
		s := ls.local.Stats()
		return telemetry.StateStats{Keys: s.Keys, MaxKeys: s.MaxKeys, Evictions: s.Evictions, Expirations: s.Expirations}
	})
	if ls.redis == nil {
		return
	}
	m.WatchRedis(func() telemetry.RedisStats {
		s := ls.redis.Stats()
		return telemetry.RedisStats{Available: s.Available, Calls: s.Calls, Errors: s.Errors, Fallbacks: s.Fallbacks,
			Refused: s.Refusals, Outages: s.Outages, Recoveries: s.Recoveries, Syncs: s.Syncs, SyncErrors: s.SyncErrors, Nodes: s.Nodes}
	})
}
