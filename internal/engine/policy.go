// Package engine decides what happens to each request. It owns no I/O: a
// front parses a request into a request.View with the Policy's Parser,
// asks the Policy to Decide, renders the Verdict and calls Finish. A Policy
// is an immutable compiled configuration; reloading swaps in a new one
// while the limiter state, which lives in a limit.Store, carries over.
package engine

import (
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/abuseguard/abuseguard/internal/challenge"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/policy"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Policy is a compiled configuration: everything a decision needs besides
// limiter state. It is immutable and safe for concurrent use.
type Policy struct {
	Config   *config.Config
	Parser   request.Parser
	Upstream *url.URL // nil when the config names none

	limits       []limitRule
	graphql      *graphQLLimits // nil: the GraphQL hard limits are off
	budgets      *budgets       // nil: no spending budget applies
	cel          *policy.Rules
	blockUnknown bool
	v4, v6       int // ip_prefix sizes
	store        limit.Store
	shared       *Shared
	closers      []func()

	detectors       []detect.Detector
	campaigns       campaignIndex // the campaign detector, nil when off
	shadowDetectors map[string]bool
	throttle        limit.Rate // the rate of throttle decisions
	allowNets       request.Proxies
	allowKeys       map[string]bool
	allowUsers      map[string]bool
	declaredKeys    map[string]bool // ids of identity.api_key.keys
	knownAfter      float64         // identity.api_key.known_after; 0: no known clients
	challenges      *challenge.Authority
}

// Compile builds a Policy from a loaded config over shared state, which
// every Policy of one engine shares and which outlives reloads (limiter
// state, decisions, risk scores, detectors whose settings did not change,
// the HMAC secret of key ids, JWT verifiers). It provisions each part in
// order (upstream, routes, identity, rules, detectors, limits) and returns
// the first error, at the setting's file:line:col. Compiling is not safe
// for concurrent use with another Compile over the same shared state.
func Compile(c *config.Config, shared *Shared) (*Policy, error) {
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
		declaredKeys:    declaredKeyIDs(c.Identity.APIKey.Keys),
		knownAfter:      float64(c.Identity.APIKey.KnownAfter),
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
	p.Parser.Paths = c.Paths.Policy()
	// Route learning sees body field names (and credentials' kind
	// inference uses them) when there is a route observer.
	p.Parser.BodyFields = shared.routes != nil
	routes := make([]request.Route, len(c.Routes))
	routeIndex := map[string]int{}
	for i, r := range c.Routes {
		routes[i] = request.Route{Name: r.Name, Template: r.Match, Kind: r.Kind, Field: r.Field, Cost: r.Cost,
			CostHeader: r.CostHeader}
		routeIndex[r.Name] = i
	}
	router, err := request.NewRouter(routes)
	if err != nil {
		return nil, c.ErrorAt("routes", err)
	}
	p.Parser.Router = router
	if p.Parser.Checks, err = p.contentChecks(c); err != nil {
		return nil, err
	}
	ident, err := p.identifier(c)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.Parser.Identifier = ident
	cel, err := c.CompiledRules()
	if err != nil {
		p.Close()
		return nil, err
	}
	p.cel = cel
	if p.challenges, err = shared.challengeAuthority(c.Challenge); err != nil {
		p.Close()
		return nil, c.ErrorAt("challenge.secret_env", err)
	}
	p.detectors = shared.detectors.Build(&c.Detectors, detect.Env{Pseudonym: ident.Pseudonym,
		RoutesConfigured: len(c.Routes) > 0 && (p.blockUnknown || c.RoutesFrom != ""), Cluster: shared.cluster}, shared.detectorEntities)
	p.campaigns = findCampaigns(p.detectors)
	for name, mode := range c.Detectors.Modes() {
		if mode == verdict.Shadow {
			p.shadowDetectors[name] = true
		}
	}
	p.graphql = compileGraphQL(c, &p.Parser)
	p.budgets = compileBudgets(c)
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

func (p *Policy) identifier(c *config.Config) (*request.Identifier, error) {
	id := c.Identity
	opts := request.IdentifierOptions{
		KeyHeader:      id.APIKey.Header,
		KeyHeaders:     id.APIKey.Headers,
		KeyQuery:       id.APIKey.Query,
		RequireKnown:   id.APIKey.RequireKnown,
		KeyBearer:      id.BearerKeys(),
		Keys:           map[[32]byte]request.KeyInfo{},
		Secret:         p.shared.secret(id.SecretEnv),
		SessionHeader:  id.Session.Header,
		SessionCookies: id.Session.Cookies,
		BearerSession:  !id.Session.Off,
	}
	if id.Session.Off {
		opts.SessionHeader, opts.SessionCookies = "", []string{}
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
			jo.HMACSecret = []byte(p.shared.getenv(j.SecretEnv))
			if len(jo.HMACSecret) == 0 && !p.shared.dryRun {
				return nil, c.ErrorAt("identity.jwt.secret_env", fmt.Errorf("the environment variable %s is not set", j.SecretEnv))
			}
			if len(jo.HMACSecret) == 0 {
				jo.HMACSecret = []byte("dry-run")
			}
		}
		v, err := p.shared.jwtVerifier(jo)
		if err != nil {
			return nil, c.ErrorAt("identity.jwt", err)
		}
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

// Close releases what the Policy holds that the shared state does not.
// Decisions already under way finish normally.
func (p *Policy) Close() {
	for _, c := range p.closers {
		c()
	}
	p.closers = nil
}

// declaredKeyIDs returns the set of the declared keys' ids.
func declaredKeyIDs(keys []config.KeyInfo) map[string]bool {
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k.ID] = true
	}
	return out
}
