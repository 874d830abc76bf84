// Package engine decides what happens to each request. It owns no I/O: a
// front parses a request into a request.View with the Policy's Parser,
// asks the Policy to Decide, renders the Verdict and calls Finish. A Policy
// is an immutable compiled configuration; reloading swaps in a new one
// while the limiter state, which lives in a limit.Store, carries over.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/policy"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/telemetry"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Policy is a compiled configuration: everything a decision needs besides
// limiter state. It is immutable and safe for concurrent use.
type Policy struct {
	Config   *config.Config
	Parser   request.Parser
	Upstream *url.URL // nil when the config names none

	limits       []limitRule
	cel          *policy.Rules
	blockUnknown bool
	v4, v6       int // ip_prefix sizes
	store        limit.Store
	shared       *Shared
	closers      []func()

	detectors       []detect.Detector
	shadowDetectors map[string]bool
	throttle        limit.Rate // the rate of throttle decisions
	allowNets       request.Proxies
	allowKeys       map[string]bool
	allowUsers      map[string]bool
}

// Shared is the state every Policy of one engine shares, so that a reload
// keeps it: limiter state, decisions, risk scores, detector state, events.
type Shared struct {
	Limits    limit.Store
	Decisions decision.Store    // nil: no decisions are recorded or enforced
	Events    *telemetry.Events // nil: no events are written
	// OnDecision and OnSignal, when set, see every decision the engine
	// records and every signal it scores (offline replay counts them).
	OnDecision func(decision.Decision)
	OnSignal   func(detect.Signal)

	risk          *detect.Table[risk]
	hasher        detect.Hasher
	detectors     *detect.Factory
	persistErrors atomic.Uint64
	ruleErrors    atomic.Uint64
}

// NewShared returns the shared state over limits, with no decision store
// and no event sink; set Decisions and Events before compiling. Detectors
// hash with a random seed; NewReplayShared is the repeatable twin.
func NewShared(limits limit.Store, maxEntities int) *Shared {
	return newShared(limits, maxEntities, detect.NewHasher())
}

// NewReplayShared is NewShared for offline replay: detectors hash with a
// fixed seed, so a replay is repeatable and compared configs see the same
// hashes. Never serve with it: its hashes are predictable.
func NewReplayShared(limits limit.Store, maxEntities int) *Shared {
	return newShared(limits, maxEntities, detect.NewFixedHasher())
}

func newShared(limits limit.Store, maxEntities int, h detect.Hasher) *Shared {
	return &Shared{
		Limits:    limits,
		risk:      detect.NewTable[risk](max(1, maxEntities), 24*time.Hour),
		hasher:    h,
		detectors: detect.NewFactory(h),
	}
}

// Sweep drops idle detector, risk and limiter state and expired decisions.
func (s *Shared) Sweep(p *Policy, now time.Time) {
	n := now.UnixNano()
	s.risk.Sweep(n)
	for _, d := range p.detectors {
		if st, ok := d.(detect.Stateful); ok {
			st.Sweep(n)
		}
	}
	if s.Decisions != nil {
		s.Decisions.Sweep(now)
	}
}

type ruleKind uint8

const (
	rateRule ruleKind = iota
	quotaRule
	concurrencyRule
)

type dimension uint8

const (
	dimIP dimension = iota
	dimIPPrefix
	dimAPIKey
	dimUser
	dimTenant
	dimPlan
	dimRoute
	dimMethod
	dimHeader
)

var dimensionNames = map[string]dimension{
	"ip": dimIP, "ip_prefix": dimIPPrefix, "api_key": dimAPIKey, "user": dimUser,
	"tenant": dimTenant, "plan": dimPlan, "route": dimRoute, "method": dimMethod,
}

type dim struct {
	kind   dimension
	header int // index into View.Headers for dimHeader
}

// limitRule is one compiled limit.
type limitRule struct {
	name   string
	kind   ruleKind
	dims   []dim
	routes []bool // by route index; nil applies to every request
	// who is 0 for every request, anonymousOnly or identifiedOnly.
	who     audience
	mode    verdict.Mode
	canary  rollout.Canary // the keys a canary-mode limit enforces for
	base    *amount
	perPlan map[string]*amount
}

// audience is which requests a limit applies to.
type audience uint8

const (
	everyone audience = iota
	anonymousOnly
	identifiedOnly
)

// amount is a compiled config.Amount.
type amount struct {
	rate   limit.Rate
	quota  int64
	cal    limit.Calendar
	slots  int64
	policy string // RateLimit-Policy header value
}

// lease bounds how long an in-flight slot may be held by a request whose
// Finish never came (a crash in a front): it is then reclaimed.
const lease = 10 * time.Minute

// Compile builds a Policy from a validated config over shared state,
// which every Policy of one engine shares; ctx bounds background work such
// as JWKS refresh, which Close also stops. Compiling is not safe for
// concurrent use with another Compile over the same shared state.
func Compile(ctx context.Context, c *config.Config, shared *Shared) (*Policy, error) {
	p := &Policy{
		Config:          c,
		store:           shared.Limits,
		shared:          shared,
		blockUnknown:    c.UnknownRoutes == "block",
		v4:              c.Network.IPv4Prefix,
		v6:              c.Network.IPv6Prefix,
		throttle:        limit.PerPeriod(c.Risk.ThrottleRate.Count, c.Risk.ThrottleRate.Period, c.Risk.ThrottleBurst),
		allowNets:       c.Allowlist.Networks(),
		allowKeys:       setOf(c.Allowlist.KeyIDs),
		allowUsers:      setOf(c.Allowlist.Users),
		shadowDetectors: map[string]bool{},
	}
	if c.Upstream != "" {
		u, err := config.ParseUpstream(c.Upstream)
		if err != nil {
			return nil, c.ErrorAt("upstream", err)
		}
		p.Upstream = u
	}
	p.Parser.Proxies = c.Network.Proxies()
	routes := make([]request.Route, len(c.Routes))
	routeIndex := map[string]int{}
	for i, r := range c.Routes {
		routes[i] = request.Route{Name: r.Name, Template: r.Match, Kind: r.Kind, Field: r.Field}
		routeIndex[r.Name] = i
	}
	router, err := request.NewRouter(routes)
	if err != nil {
		return nil, c.ErrorAt("routes", err)
	}
	p.Parser.Router = router
	ident, err := p.identifier(ctx, c)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.Parser.Identifier = ident
	cel, errs := policy.Compile(c.Rules)
	if len(errs) > 0 {
		p.Close()
		return nil, c.ErrorAt(fmt.Sprintf("rules[%d]", errs[0].Rule), errs[0])
	}
	p.cel = cel
	p.detectors = shared.detectors.Build(c.Detectors, len(c.Routes) > 0 && p.blockUnknown, ident.Pseudonym, SizesFor(c).DetectorEntities)
	for name, mode := range c.Detectors.Modes() {
		if mode == verdict.Shadow {
			p.shadowDetectors[name] = true
		}
	}
	headers := map[string]int{}
	for _, kind := range []ruleKind{rateRule, quotaRule, concurrencyRule} {
		for _, l := range c.Limits {
			r := compileLimit(l, routeIndex, headers, &p.Parser.HeaderNames)
			if r.kind == kind {
				p.limits = append(p.limits, r)
			}
		}
	}
	return p, nil
}

func (p *Policy) identifier(ctx context.Context, c *config.Config) (*request.Identifier, error) {
	id := c.Identity
	opts := request.IdentifierOptions{
		KeyHeader:    id.APIKey.Header,
		KeyQuery:     id.APIKey.Query,
		RequireKnown: id.APIKey.RequireKnown,
		Keys:         map[[32]byte]request.KeyInfo{},
		Secret:       secret(id.SecretEnv),
	}
	for _, k := range id.APIKey.Keys {
		var sum [32]byte
		hex.Decode(sum[:], []byte(k.SHA256))
		opts.Keys[sum] = request.KeyInfo{ID: k.ID, Plan: k.Plan, Tenant: k.Tenant, Owner: k.Owner}
	}
	if j := id.JWT; j != nil {
		jo := request.JWTOptions{
			Algorithms: j.Algorithms, Issuer: j.Issuer, Audience: j.Audience, Leeway: j.Leeway,
			KeyFile: j.KeyFile, JWKSURL: j.JWKSURL, JWKSRefresh: j.JWKSRefresh, JWKSMinRefetch: j.JWKSMinRefetch,
			UserClaim: j.Claims.User, TenantClaim: j.Claims.Tenant, PlanClaim: j.Claims.Plan, ScopesClaim: j.Claims.Scopes,
		}
		if j.SecretEnv != "" {
			jo.HMACSecret = []byte(os.Getenv(j.SecretEnv))
			if len(jo.HMACSecret) == 0 {
				return nil, c.ErrorAt("identity.jwt.secret_env", fmt.Errorf("the environment variable %s is not set", j.SecretEnv))
			}
		}
		jctx, cancel := context.WithCancel(ctx)
		v, err := request.NewJWTVerifier(jctx, jo)
		if err != nil {
			cancel()
			return nil, c.ErrorAt("identity.jwt", err)
		}
		p.closers = append(p.closers, func() { v.Close(); cancel() })
		opts.JWT = v
	}
	return request.NewIdentifier(opts), nil
}

func setOf(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		if s != "" {
			m[s] = true
		}
	}
	return m
}

// secret returns the HMAC key from the environment variable env, or a
// random one when it is unset.
func secret(env string) []byte {
	if s := os.Getenv(env); env != "" && s != "" {
		return []byte(s)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

func compileLimit(l config.Limit, routeIndex map[string]int, headers map[string]int, headerNames *[]string) limitRule {
	r := limitRule{name: l.Name, mode: l.Mode, canary: rollout.NewCanary(l.CanaryPercent)}
	switch l.AppliesTo {
	case "anonymous":
		r.who = anonymousOnly
	case "identified":
		r.who = identifiedOnly
	}
	for _, d := range l.Key {
		if name, ok := strings.CutPrefix(d, "header:"); ok {
			name = textproto.CanonicalMIMEHeaderKey(name)
			i, seen := headers[name]
			if !seen {
				i = len(*headerNames)
				headers[name] = i
				*headerNames = append(*headerNames, name)
			}
			r.dims = append(r.dims, dim{kind: dimHeader, header: i})
			continue
		}
		r.dims = append(r.dims, dim{kind: dimensionNames[d]})
	}
	if len(l.Routes) > 0 {
		r.routes = make([]bool, len(routeIndex))
		for _, name := range l.Routes {
			r.routes[routeIndex[name]] = true
		}
	}
	if a := l.Amount; a.Rate != nil || a.Quota != nil || a.Concurrency != 0 {
		r.base = compileAmount(l.Name, a)
	}
	for plan, a := range l.PerPlan {
		if r.perPlan == nil {
			r.perPlan = map[string]*amount{}
		}
		r.perPlan[plan] = compileAmount(l.Name, a)
	}
	for _, a := range append([]*amount{r.base}, slices.Collect(maps.Values(r.perPlan))...) {
		if a == nil {
			continue
		}
		switch {
		case a.quota > 0:
			r.kind = quotaRule
		case a.slots > 0:
			r.kind = concurrencyRule
		}
	}
	return r
}

func compileAmount(name string, a config.Amount) *amount {
	q := strconv.Quote(name)
	switch {
	case a.Rate != nil:
		burst := a.BurstOrDefault()
		r := limit.PerPeriod(a.Rate.Count, a.Rate.Period, burst)
		window := time.Duration(burst) * r.Interval
		return &amount{rate: r, policy: fmt.Sprintf("%s;q=%d;w=%d", q, burst, max(1, int64(window/time.Second)))}
	case a.Quota != nil:
		period, _ := limit.ParsePeriod(a.Quota.Period)
		return &amount{quota: a.Quota.Limit, cal: limit.Calendar{Period: period, Location: a.Quota.Location()},
			policy: fmt.Sprintf("%s;q=%d;w=%d", q, a.Quota.Limit, period.Seconds())}
	default:
		return &amount{slots: a.Concurrency, policy: fmt.Sprintf("%s;q=%d", q, a.Concurrency)}
	}
}

// Close stops the Policy's background work (JWKS refresh). Decisions
// already under way finish normally.
func (p *Policy) Close() {
	for _, c := range p.closers {
		c()
	}
	p.closers = nil
}
