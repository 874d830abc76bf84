// Package config loads abuseguard's YAML configuration: strict decoding onto
// the embedded defaults, then validation that reports every problem at once
// with its file:line:col. A loaded Config is checked and typed; the engine
// compiles it without further validation.
package config

import (
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // quota time zones work on machines without a zone database

	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/guard/graphqlcost"
	"github.com/abuseguard/abuseguard/internal/guard/openapi"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/policy"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration, which documents
// every setting.
func DefaultYAML() []byte { return defaultYAML }

// Config is abuseguard's whole configuration.
type Config struct {
	Listen      string   `yaml:"listen"`
	AdminListen string   `yaml:"admin_listen"`
	Upstream    string   `yaml:"upstream"`
	Server      Server   `yaml:"server"`
	Network     Network  `yaml:"network"`
	Paths       Paths    `yaml:"paths"`
	Identity    Identity `yaml:"identity"`
	Routes      []Route  `yaml:"routes"`
	// RoutesFrom names an OpenAPI 3 spec whose operations are added to
	// Routes (declared routes win); relative to the config's directory.
	RoutesFrom    string  `yaml:"routes_from"`
	UnknownRoutes string  `yaml:"unknown_routes"`
	Limits        []Limit `yaml:"limits"`
	State         State   `yaml:"state"`
	AccessLog     string  `yaml:"access_log"`
	// AccessLogBenignSample is the share of benign requests' lines the
	// access log keeps (0 to 1; 1 keeps all): allowed, no rule that would
	// have acted, upstream status below 400. Every other line is kept.
	AccessLogBenignSample float64             `yaml:"access_log_benign_sample"`
	Risk                  Risk                `yaml:"risk"`
	Decisions             Decisions           `yaml:"decisions"`
	Challenge             Challenge           `yaml:"challenge"`
	Allowlist             Allowlist           `yaml:"allowlist"`
	Events                string              `yaml:"events"`
	EventsSchema          string              `yaml:"events_schema"`
	Admin                 Admin               `yaml:"admin"`
	OpenAPI               OpenAPI             `yaml:"openapi"`
	WAF                   WAF                 `yaml:"waf"`
	Detectors             detect.Config       `yaml:"detectors"`
	Rules                 []policy.RuleConfig `yaml:"rules"`
	GraphQL               GraphQL             `yaml:"graphql"`
	Breaker               Breaker             `yaml:"breaker"`
	Adaptive              Adaptive            `yaml:"adaptive"`
	Budgets               Budgets             `yaml:"budgets"`
	Fronts                Fronts              `yaml:"fronts"`

	// File is the file the config came from, "" for the defaults alone.
	File string `yaml:"-"`
	// Positions says where each setting was written.
	Positions Positions `yaml:"-"`

	rules       *policy.Rules      // Rules compiled by Parse
	graphQLCost *graphqlcost.Model // GraphQL's cost model, built by Parse
	openAPISpec *openapi.Spec      // the spec RoutesFrom names, loaded by Parse
}

// CompiledRules returns the CEL rules, compiled and type-checked once when
// the config was parsed (or now, for a Config that was not parsed).
func (c *Config) CompiledRules() (*policy.Rules, error) {
	if c.rules != nil {
		return c.rules, nil
	}
	rules, errs := policy.Compile(c.Rules)
	if len(errs) > 0 {
		return nil, c.ErrorAt(fmt.Sprintf("rules[%d]", errs[0].Rule), errs[0])
	}
	c.rules = rules
	return rules, nil
}

// Server holds the proxy's timeouts and size caps.
type Server struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	UpstreamTimeout   time.Duration `yaml:"upstream_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	MaxBodyBytes      ByteSize      `yaml:"max_body_bytes"`
	MaxHeaderBytes    ByteSize      `yaml:"max_header_bytes"`
	// ReadBodyTimeout bounds the whole body; MinBodyRate (bytes a second,
	// 0: off) is the average a body must keep after BodyRateGrace.
	ReadBodyTimeout time.Duration `yaml:"read_body_timeout"`
	MinBodyRate     ByteSize      `yaml:"min_body_rate"`
	BodyRateGrace   time.Duration `yaml:"body_rate_grace"`
	// MaxConns caps open client connections in total (0: half the open
	// file limit), MaxConnsPerClient per client address (0: no cap).
	MaxConns          int   `yaml:"max_conns"`
	MaxConnsPerClient int   `yaml:"max_conns_per_client"`
	HTTP2             HTTP2 `yaml:"http2"`
}

// HTTP2 holds the HTTP/2 server's limits (net/http's HTTP/2 server, the
// bundled golang.org/x/net/http2).
type HTTP2 struct {
	// Cleartext serves HTTP/2 with prior knowledge (h2c) on listen, for
	// a load balancer that speaks HTTP/2 to its backends.
	Cleartext            bool     `yaml:"cleartext"`
	MaxConcurrentStreams int      `yaml:"max_concurrent_streams"`
	MaxReadFrameSize     ByteSize `yaml:"max_read_frame_size"`
	// MaxReceiveBufferPerConnection and PerStream bound the flow-control
	// windows: what one connection or stream may send before the server
	// reads it.
	MaxReceiveBufferPerConnection ByteSize `yaml:"max_receive_buffer_per_connection"`
	MaxReceiveBufferPerStream     ByteSize `yaml:"max_receive_buffer_per_stream"`
}

// Network says which peers are trusted proxies and how clients group.
type Network struct {
	TrustedProxies []string `yaml:"trusted_proxies"`
	IPv4Prefix     int      `yaml:"ipv4_prefix"`
	IPv6Prefix     int      `yaml:"ipv6_prefix"`
}

// Identity says how requests identify themselves.
type Identity struct {
	SecretEnv string  `yaml:"secret_env"`
	APIKey    APIKey  `yaml:"api_key"`
	JWT       *JWT    `yaml:"jwt"`
	Session   Session `yaml:"session"`
}

// Session says where a request's session id is: a header, else the first
// of Cookies present. Without Cookies the session cookies of common
// frameworks are read (request.DefaultSessionCookies); Off reads none.
type Session struct {
	Header  string   `yaml:"header"`
	Cookies []string `yaml:"cookies"`
	Off     bool     `yaml:"off"`
}

// APIKey locates API keys in requests and describes the known ones.
type APIKey struct {
	// Header is the one header carrying keys, the operator's choice; ""
	// reads Headers.
	Header string `yaml:"header"`
	// Headers are the headers read for a key when Header is "", the first
	// present wins; unset (nil): request.DefaultKeyHeaders (X-API-Key,
	// Api-Key, X-Auth-Token, X-Access-Token, and Authorization under a key
	// scheme: Token, ApiKey, Key, Basic with an empty password); []: none.
	Headers      []string `yaml:"headers"`
	Query        string   `yaml:"query"`
	RequireKnown bool     `yaml:"require_known"`
	// Bearer reads keys from "Authorization: Bearer KEY" too: a token that
	// is not a JWT is a key (hashed without the scheme); a JWT is verified
	// under jwt, else it is the session. Unset (nil), it is on unless jwt
	// is configured (BearerKeys). With Header naming Authorization the
	// header reads every value as a key and Bearer changes nothing.
	Bearer *bool `yaml:"bearer"`
	// KnownAfter is the accepted (2xx) answers after which an undeclared
	// key, rarely refused and used from few networks, is a known client,
	// judged by its key (docs/detectors.md); 0: never.
	KnownAfter int       `yaml:"known_after"`
	Keys       []KeyInfo `yaml:"keys"`
}

// BearerKeys reports whether opaque bearer tokens are read as keys: Bearer
// when set, else true unless jwt is configured (an API with a JWT
// verifier expects JWTs as bearer tokens, so an opaque one is malformed).
func (id *Identity) BearerKeys() bool {
	if id.APIKey.Bearer != nil {
		return *id.APIKey.Bearer
	}
	return id.JWT == nil
}

// KeyInfo describes one known API key, identified by the SHA-256 of the key
// so that the config holds no secret.
type KeyInfo struct {
	ID     string `yaml:"id"`
	SHA256 string `yaml:"sha256"`
	Plan   string `yaml:"plan"`
	Tenant string `yaml:"tenant"`
	Owner  string `yaml:"owner"`
}

// JWT configures bearer token verification.
type JWT struct {
	Algorithms     []string      `yaml:"algorithms"`
	Issuer         string        `yaml:"issuer"`
	Audience       []string      `yaml:"audience"`
	Leeway         time.Duration `yaml:"leeway"`
	SecretEnv      string        `yaml:"secret_env"`
	KeyFile        string        `yaml:"key_file"`
	JWKSURL        string        `yaml:"jwks_url"`
	JWKSRefresh    time.Duration `yaml:"jwks_refresh"`
	JWKSMinRefetch time.Duration `yaml:"jwks_min_refetch"`
	Claims         Claims        `yaml:"claims"`
}

// Claims names the token claims that carry identity.
type Claims struct {
	User   string `yaml:"user"`
	Tenant string `yaml:"tenant"`
	Plan   string `yaml:"plan"`
	Scopes string `yaml:"scopes"`
}

// Route names an endpoint: "GET /v1/users/{id}". Kind tells detectors what
// the endpoint is for; Field names the body field a login, verify, signup
// or reset endpoint is about.
type Route struct {
	Name  string `yaml:"name"`
	Match string `yaml:"match"`
	Kind  string `yaml:"kind"`
	Field string `yaml:"field"`
	// Cost is what one request costs in cost units (default 1), for limits
	// with cost: route or graphql; CostHeader names an upstream response
	// header reporting the real cost, charged after the fact.
	Cost       int64  `yaml:"cost"`
	CostHeader string `yaml:"cost_header"`
}

// RouteKinds are the values of Route.Kind.
var RouteKinds = []string{"login", "verify", "signup", "reset", "static", "decoy", "graphql"}

// Limit is one keyed limit: a rate, a calendar quota or an in-flight cap.
type Limit struct {
	Name          string       `yaml:"name"`
	Key           []string     `yaml:"key"`
	Routes        []string     `yaml:"routes"`
	AppliesTo     string       `yaml:"applies_to"` // all, anonymous or identified
	Mode          verdict.Mode `yaml:"mode"`       // enforce, shadow or canary
	CanaryPercent float64      `yaml:"canary_percent"`
	// Cost is what each request charges: request (1, the default), route
	// (its route's cost) or graphql (its GraphQL documents' price on a
	// graphql route, its route's cost elsewhere).
	Cost    string `yaml:"cost"`
	Amount  `yaml:",inline"`
	PerPlan map[string]Amount `yaml:"per_plan"`
}

// Amount is how much a limit allows: exactly one of a rate (with its burst),
// a quota or a concurrency cap.
type Amount struct {
	Rate        *Rate  `yaml:"rate"`
	Burst       int64  `yaml:"burst"`
	Quota       *Quota `yaml:"quota"`
	Concurrency int64  `yaml:"concurrency"`
}

// Quota is a calendar quota: Limit requests per day or month in a time zone.
type Quota struct {
	Limit    int64        `yaml:"limit"`
	Period   limit.Period `yaml:"period"` // day or month
	Timezone string       `yaml:"timezone"`
}

// Risk turns detector signals into a decaying score per entity and the
// score into actions.
type Risk struct {
	HalfLife      time.Duration `yaml:"half_life"`
	ThrottleAt    float64       `yaml:"throttle_at"`
	ChallengeAt   float64       `yaml:"challenge_at"`
	BlockAt       float64       `yaml:"block_at"`
	ThrottleRate  Rate          `yaml:"throttle_rate"`
	ThrottleBurst int64         `yaml:"throttle_burst"`
	// PersistenceWeight is the risk points each request refused by a
	// throttle or challenge decision adds to its entity.
	PersistenceWeight float64      `yaml:"persistence_weight"`
	Mode              verdict.Mode `yaml:"mode"` // enforce or shadow
	MaxEntities       int          `yaml:"max_entities"`
}

// Challenge configures the proof-of-work challenges a challenge decision
// or rule poses (docs/challenges.md).
type Challenge struct {
	// SecretEnv names the environment variable holding the secret that
	// signs tokens and passes (the same on every replica); unset or empty,
	// a random secret lives as long as the process. PreviousSecretEnv
	// still verifies what the secret before it signed.
	SecretEnv         string `yaml:"secret_env"`
	PreviousSecretEnv string `yaml:"previous_secret_env"`
	// Difficulty is the ladder of leading zero bits: the first step for a
	// first offense at risk.challenge_at, one step up per StepScore points
	// above it and per repeated offense.
	Difficulty []int   `yaml:"difficulty"`
	StepScore  float64 `yaml:"step_score"`
	// TTL is how long a challenge can be solved, PassTTL how long the pass
	// a solution earns lasts, Rotation how often the signing key rolls
	// over (at least PassTTL, so a pass outlives its key).
	TTL      time.Duration `yaml:"ttl"`
	PassTTL  time.Duration `yaml:"pass_ttl"`
	Rotation time.Duration `yaml:"rotation"`
	// Relief is the risk points a solved challenge takes off the
	// entity's score; it never lifts a block.
	Relief float64 `yaml:"relief"`
	// ReplayEntries bounds the cache of spent solutions.
	ReplayEntries int `yaml:"replay_entries"`
}

// Decisions configures the decision store.
type Decisions struct {
	Path          string          `yaml:"path"`
	Ladder        []time.Duration `yaml:"ladder"`
	MaxTTL        time.Duration   `yaml:"max_ttl"`
	OffenseMemory time.Duration   `yaml:"offense_memory"`
	MaxDecisions  int             `yaml:"max_decisions"`
}

// Allowlist names clients that decisions, detectors and rules never act on.
type Allowlist struct {
	CIDRs  []string `yaml:"cidrs"`
	KeyIDs []string `yaml:"key_ids"`
	Users  []string `yaml:"users"`
}

// Admin configures the admin API on the admin listener.
type Admin struct {
	TokenEnv string `yaml:"token_env"`
}

// State bounds the memory limiter state may use, and says where it lives.
type State struct {
	MaxMemory ByteSize `yaml:"max_memory"`
	Store     string   `yaml:"store"` // memory or redis
	Redis     Redis    `yaml:"redis"`
}

// Default returns the embedded default configuration.
func Default() (*Config, error) {
	return parse("", nil)
}

// Load reads the config file at path over the embedded defaults.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data)
}

// Parse decodes data, as if read from file, over the embedded defaults.
func Parse(file string, data []byte) (*Config, error) {
	return parse(file, data)
}

func parse(file string, data []byte) (*Config, error) {
	c := &Config{File: file, Positions: Positions{}}
	if errs := decode("defaults", defaultYAML, c, nil); errs != nil {
		return nil, fmt.Errorf("embedded defaults: %w", errs)
	}
	var decodeErrs Errors
	if data != nil {
		decodeErrs = decode(file, data, c, c.Positions)
	}
	errs := slices.Clone(decodeErrs)
	errs = append(errs, c.importRoutes()...)
	for _, e := range c.validateRules(data) {
		if !restates(e, decodeErrs) {
			errs = append(errs, e)
		}
	}
	for _, e := range c.validate() {
		if !restates(e, decodeErrs) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Error) int {
			return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
		})
		return nil, errs
	}
	return c, nil
}

// restates reports whether validation error e is about a setting that
// failed to decode, or one that contains it: such an error only repeats
// the decode error in other words. A conflict between settings present
// together never restates one.
func restates(e *Error, decodeErrs Errors) bool {
	if e.conflict {
		return false
	}
	for _, d := range decodeErrs {
		if d.Path == e.Path || strings.HasPrefix(d.Path, e.Path+".") || strings.HasPrefix(d.Path, e.Path+"[") {
			return true
		}
	}
	return false
}

// ErrorAt returns an Error at the position where the setting at path was
// written or, when it was not written, where its nearest written parent was;
// at the file alone when the setting came from the defaults.
func (c *Config) ErrorAt(path string, err error) *Error {
	p, ok := c.Positions[path]
	for parent := path; !ok && parent != ""; {
		parent = parent[:max(0, strings.LastIndexAny(parent, ".["))]
		p, ok = c.Positions[parent]
	}
	if !ok {
		p = Position{File: c.File}
		if c.File == "" {
			p.File = "defaults"
		}
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	return &Error{Pos: p, Path: path, Msg: err.Error(), Err: err}
}
