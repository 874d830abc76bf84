package engine

import (
	"context"
	"crypto/rand"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/guard/waf"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// Options configures the state an engine keeps for the life of the
// process, across every reload. Nil fields get safe defaults.
type Options struct {
	// Limits is the limiter state. Required.
	Limits limit.Store
	// Decisions are the active decisions; nil records and enforces none.
	Decisions decision.Store
	// Events receives decisions, signals and would-acts; nil writes none.
	Events *telemetry.Events
	// RiskEntities bounds the risk table and DetectorEntities each
	// detector's table where its settings set no max_entities (default
	// 100000 each; store.SizesFor derives both from state.max_memory).
	RiskEntities, DetectorEntities int
	// Getenv reads the environment variables a config names for secrets
	// (identity.secret_env, identity.jwt.secret_env). Default: an empty
	// environment. The engine never reads the environment itself.
	Getenv func(string) string
	// Context bounds background work (JWKS refresh). Default: Background;
	// Shared.Close stops it too.
	Context context.Context
	// Repeatable fixes the detectors' hash seed and, when the config names
	// no secret, the HMAC secret of key ids, so that an offline replay is
	// repeatable and compared configs see the same ids. Never serve with it:
	// its ids are predictable.
	Repeatable bool
	// DryRun provisions without side effects (no JWKS fetch, a missing
	// secret environment variable is not an error): what `check` does.
	DryRun bool
	// OnDecision and OnSignal, when set, see every decision the engine
	// records and every signal it scores (offline replay counts them).
	OnDecision func(decision.Decision)
	OnSignal   func(detect.Signal)
	// Cluster is what the nodes of a cluster count together, for the
	// detectors that look at the whole cluster; nil on a single node.
	Cluster detect.Cluster
	// Routes, when set, sees every answered request after its response
	// (route learning, internal/routelearn); nil: none is shown.
	Routes RouteObserver
}

// Shared is the state every Policy of one engine shares, so that a reload
// keeps it: limiter state, decisions, risk scores, detector state, events,
// the HMAC secret of key ids and the JWT verifier.
type Shared struct {
	Limits     limit.Store
	Decisions  decision.Store    // nil: no decisions are recorded or enforced
	Events     *telemetry.Events // nil: no events are written
	OnDecision func(decision.Decision)
	OnSignal   func(detect.Signal)

	risk             *detect.Table[risk]
	addresses        *sharedAddresses
	keys             *keyRecords
	hasher           detect.Hasher
	detectors        *detect.Factory
	getenv           func(string) string
	detectorEntities int
	cluster          detect.Cluster
	routes           RouteObserver
	dryRun           bool
	repeatable       bool
	ctx              context.Context
	stop             context.CancelFunc
	persistErrors    atomic.Uint64
	ruleErrors       atomic.Uint64
	budgets          budgetAlerts

	mu         sync.Mutex
	secrets    map[string][]byte // HMAC secrets by the environment variable naming them
	jwt        *sharedJWT
	challenges *sharedChallenges
	// The WAF and the options it was built with: one compiled rule set
	// while they do not change.
	wafInstance *waf.WAF
	wafOptions  waf.Options
}

// sharedJWT is the JWT verifier and the options it was made with: a
// reload with the same options keeps it (and its JWKS cache).
type sharedJWT struct {
	opts request.JWTOptions
	v    *request.JWTVerifier
}

// NewShared returns the process-lived state of an engine.
func NewShared(o Options) *Shared {
	if o.RiskEntities <= 0 {
		o.RiskEntities = 100_000
	}
	if o.DetectorEntities <= 0 {
		o.DetectorEntities = 100_000
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	h := detect.NewHasher()
	if o.Repeatable {
		h = detect.NewFixedHasher()
	}
	ctx, stop := context.WithCancel(o.Context)
	s := &Shared{
		Limits: o.Limits, Decisions: o.Decisions, Events: o.Events, OnDecision: o.OnDecision, OnSignal: o.OnSignal,
		risk:      detect.NewTable[risk](o.RiskEntities, 24*time.Hour),
		addresses: newSharedAddresses(o.RiskEntities, h),
		keys:      newKeyRecords(o.RiskEntities/4+1, h),
		hasher:    h,
		detectors: detect.NewFactory(h),
		getenv:    o.Getenv, dryRun: o.DryRun, repeatable: o.Repeatable, detectorEntities: o.DetectorEntities, cluster: o.Cluster,
		routes: o.Routes, ctx: ctx, stop: stop,
		secrets: map[string][]byte{},
	}
	s.budgets.given = detect.NewTable[budgetAlert](max(1024, o.RiskEntities/4), 32*24*time.Hour)
	return s
}

// Close stops the shared state's background work (JWKS refresh).
func (s *Shared) Close() {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jwt != nil {
		s.jwt.v.Close()
		s.jwt = nil
	}
}

// secret returns the HMAC secret of key ids: the value of the environment
// variable env, or, when it is unset, a random secret made once for the
// life of the process, so that ids (and with them limiter state, decisions
// and honeytoken matches) survive reloads.
func (s *Shared) secret(env string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.secrets[env]; ok {
		return b
	}
	var b []byte
	if v := s.getenv(env); env != "" && v != "" {
		b = []byte(v)
	} else if s.repeatable {
		b = []byte("abuseguard-replay")
	} else {
		b = make([]byte, 32)
		_, _ = rand.Read(b)
	}
	s.secrets[env] = b
	return b
}

// jwtVerifier returns a verifier for opts: the current one when opts did
// not change, else a new one, which replaces (and stops) the old.
func (s *Shared) jwtVerifier(opts request.JWTOptions) (*request.JWTVerifier, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jwt != nil && reflect.DeepEqual(s.jwt.opts, opts) {
		return s.jwt.v, nil
	}
	made := opts
	if s.dryRun {
		made.JWKSURL = "" // checked by config validation; not fetched
		if made.KeyFile == "" && len(made.HMACSecret) == 0 {
			made.HMACSecret = []byte("dry-run")
		}
	}
	v, err := request.NewJWTVerifier(s.ctx, made)
	if err != nil {
		return nil, err
	}
	if s.dryRun {
		return v, nil
	}
	if s.jwt != nil {
		s.jwt.v.Close() // Verify keeps working with the keys it has
	}
	s.jwt = &sharedJWT{opts: opts, v: v}
	return v, nil
}

// Sweep drops idle detector, risk and limiter state and expired decisions.
func (s *Shared) Sweep(p *Policy, now time.Time) {
	n := now.UnixNano()
	s.risk.Sweep(n)
	s.addresses.sweep(n)
	s.keys.sweep(n)
	for _, d := range p.detectors {
		if st, ok := d.(detect.Stateful); ok {
			st.Sweep(n)
		}
	}
	if s.Decisions != nil {
		s.Decisions.Sweep(now)
	}
}
