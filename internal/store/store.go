// Package store builds the state behind an engine from a config, the same
// way for serve and replay: the limiter state and the decision store, sized
// by state.max_memory. Adding a store (Redis) is a case here and a package
// beside store/memory.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	redisstore "github.com/abuseguard/abuseguard/internal/store/redis"
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
	// Local keeps every store in this process, whatever state.store says
	// (replay, check).
	Local bool
	// Context bounds connecting to a remote store (default Background).
	Context context.Context
	// Logger receives a remote store's outages and recoveries (default: discarded).
	Logger *slog.Logger
	// Getenv reads secrets named in the config (default os.Getenv).
	Getenv func(string) string
}

// Set is the state an engine runs on.
type Set struct {
	Limits    limit.Store
	Decisions decision.Store
	Sizes     Sizes
	// Memory is the limiter state kept in this process, for its sweeps and
	// statistics: all of it with state.store memory, what is decided
	// locally with redis.
	Memory *memory.Store
	// Redis is the shared limiter state with state.store redis; nil otherwise.
	Redis *redisstore.Store
	// SharedDecisions is Decisions when they are shared through Redis; nil otherwise.
	SharedDecisions *redisstore.Decisions
	// Sketches are the detectors' cluster-wide counts with state.store
	// redis; nil otherwise.
	Sketches *redisstore.Sketches
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
	set := &Set{Limits: mem, Decisions: ds, Sizes: sizes, Memory: mem}
	if c.State.Store == "redis" && !o.Local {
		if o.Context == nil {
			o.Context = context.Background()
		}
		if o.Getenv == nil {
			o.Getenv = os.Getenv
		}
		if o.Logger != nil && (c.Identity.SecretEnv == "" || o.Getenv(c.Identity.SecretEnv) == "") {
			o.Logger.Warn("state.store redis without an identity secret: each node makes its own, so API key and user ids, " +
				"and the limits keyed on them, differ between nodes; set the same " + c.Identity.SecretEnv + " on every node")
		}
		rs, err := openRedis(c, o, mem, sizes)
		if err != nil {
			ds.Close()
			return nil, err
		}
		set.Limits, set.Redis = rs, rs
		shared, err := openRedisDecisions(c, o, ds)
		if err != nil {
			rs.Close()
			ds.Close()
			return nil, err
		}
		set.Decisions, set.SharedDecisions = shared, shared
		r := c.State.Redis
		sk, err := redisstore.NewSketches(redisstore.SketchOptions{Addrs: r.Addrs, SentinelMaster: r.SentinelMaster,
			Username: r.Username, Password: passwordOf(c, o), Prefix: r.Prefix, FlushInterval: min(r.SyncInterval, 100*time.Millisecond),
			MaxSets: sizes.DetectorEntities, Logger: o.Logger})
		if err != nil {
			set.Close()
			return nil, fmt.Errorf("state.redis: %w", err)
		}
		set.Sketches = sk
	}
	return set, nil
}

// passwordOf reads the Redis password from the variable the config names.
func passwordOf(c *config.Config, o Options) string {
	if c.State.Redis.PasswordEnv == "" {
		return ""
	}
	return o.Getenv(c.State.Redis.PasswordEnv)
}

// Cluster returns what the nodes count together for the detectors, or nil
// on a single node.
func (s *Set) Cluster() detect.Cluster {
	if s.Sketches == nil {
		return nil
	}
	return s.Sketches
}

// openRedisDecisions shares the decisions through Redis; it returns once
// every active decision is loaded.
func openRedisDecisions(c *config.Config, o Options, local *decision.Local) (*redisstore.Decisions, error) {
	r := c.State.Redis
	opts := redisstore.DecisionOptions{Addrs: r.Addrs, SentinelMaster: r.SentinelMaster, Username: r.Username,
		Prefix: r.Prefix, Logger: o.Logger, Now: o.Now}
	opts.Password = passwordOf(c, o)
	d, err := redisstore.NewDecisions(o.Context, local, opts)
	if err != nil {
		return nil, fmt.Errorf("state.redis: %w", err)
	}
	return d, nil
}

// openRedis connects the shared limiter state; a Redis that does not
// answer at start is an error, so that a node never reports ready without
// its shared state.
func openRedis(c *config.Config, o Options, local *memory.Store, sizes Sizes) (*redisstore.Store, error) {
	r := c.State.Redis
	opts := redisstore.Options{
		Addrs: r.Addrs, SentinelMaster: r.SentinelMaster, Username: r.Username,
		Mode: redisstore.Mode(r.Mode), OnError: redisstore.OnError(r.OnError),
		Timeout: r.Timeout, SyncInterval: r.SyncInterval, Prefix: r.Prefix,
		Local: local, MaxKeys: sizes.LimiterKeys, Logger: o.Logger, Now: o.Now,
	}
	opts.Password = passwordOf(c, o)
	rs, err := redisstore.New(o.Context, opts)
	if err != nil {
		return nil, fmt.Errorf("state.redis: %w", err)
	}
	return rs, nil
}

// Sweep drops expired limiter state; decisions are swept by the engine.
func (s *Set) Sweep(now time.Time) {
	if s.Memory != nil {
		s.Memory.Sweep(now.UnixNano())
	}
}

// Close closes the stores.
func (s *Set) Close() error {
	if s.Sketches != nil {
		s.Sketches.Close()
	}
	if s.Redis != nil {
		s.Redis.Close()
	}
	return s.Decisions.Close()
}
