package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/abuseguard/abuseguard/internal/guard/graphqlcost"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// GraphQL configures the GraphQL guard on routes of kind graphql: hard
// limits that refuse a document before the upstream sees it (400
// graphql_too_complex), and the cost model that prices each query for
// limits with cost: graphql.
type GraphQL struct {
	// Mode of the hard limits: off (default), shadow (record what would be
	// refused) or enforce.
	Mode verdict.Mode `yaml:"mode"`
	// The hard limits; 0 turns one off.
	MaxDepth      int   `yaml:"max_depth"`
	MaxAliases    int   `yaml:"max_aliases"`
	MaxRootFields int   `yaml:"max_root_fields"`
	MaxBatch      int   `yaml:"max_batch"`
	MaxTokens     int   `yaml:"max_tokens"`
	MaxCost       int64 `yaml:"max_cost"`
	// Cost model (package graphqlcost). Schema and Weights are file paths,
	// relative to the config file's directory: an SDL schema (with
	// optional @cost and @listSize directives) and a weights file.
	Schema          string `yaml:"schema"`
	Weights         string `yaml:"weights"`
	ObjectField     int64  `yaml:"object_field"`
	ScalarField     int64  `yaml:"scalar_field"`
	DefaultListSize int64  `yaml:"default_list_size"`
	MaxListSize     int64  `yaml:"max_list_size"`
	// PersistedQueries are the SHA-256 hashes (hex) of documents the hard
	// limits let through: a first-party client's known large queries, sent
	// whole or by hash (the persistedQuery extension).
	PersistedQueries []string `yaml:"persisted_queries"`
}

// Breaker configures circuit breakers in front of the upstream, one per
// route (and one for requests that match no route).
type Breaker struct {
	Enabled bool `yaml:"enabled"`
	// ConsecutiveFailures opens the circuit after that many failures in a
	// row (0: off). A failure is a 5xx answer, an unreachable upstream or,
	// with SlowCall, an answer slower than it.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// FailureRatio opens it when at least that share of the requests in
	// Window failed, once MinRequests were seen in it (0: off).
	FailureRatio float64       `yaml:"failure_ratio"`
	MinRequests  int           `yaml:"min_requests"`
	Window       time.Duration `yaml:"window"`
	SlowCall     time.Duration `yaml:"slow_call"`
	// OpenFor is how long an open circuit refuses (503
	// upstream_circuit_open, Retry-After); then Probes requests go through
	// (half-open): all succeeding close it, one failing opens it again.
	OpenFor time.Duration `yaml:"open_for"`
	Probes  int           `yaml:"probes"`
}

// Adaptive configures the adaptive concurrency limit of the upstream and
// which requests it sheds first.
type Adaptive struct {
	// Mode: off (default), shadow (count what would be shed) or enforce.
	Mode verdict.Mode `yaml:"mode"`
	// Algorithm: gradient (default) or vegas.
	Algorithm string `yaml:"algorithm"`
	Initial   int    `yaml:"initial"`
	Min       int    `yaml:"min"`
	Max       int    `yaml:"max"`
	// Tolerance is how much slower than the no-load latency the upstream
	// may get before the limit shrinks (gradient; default 2).
	Tolerance float64 `yaml:"tolerance"`
}

// Budgets configures spending budgets in cost units (a request's cost:
// its GraphQL price or its route's cost, plus what the upstream reports
// after the fact), per tenant and per API key, by calendar day and month.
type Budgets struct {
	// Mode: off (default), shadow (alerts at 80% and 100%, no refusal) or
	// enforce (alerts, and 429 budget_exhausted once a budget is spent,
	// with Retry-After until its period ends).
	Mode verdict.Mode `yaml:"mode"`
	// Timezone is where days and months begin ("" or UTC; an IANA name).
	Timezone string        `yaml:"timezone"`
	Tenant   BudgetAmounts `yaml:"tenant"`
	Key      BudgetAmounts `yaml:"key"`
}

// BudgetAmounts are a budget's cost units per day and per month; 0: none.
type BudgetAmounts struct {
	Daily   int64 `yaml:"daily"`
	Monthly int64 `yaml:"monthly"`
}

// Location returns the budgets' time zone; "" is UTC.
func (b Budgets) Location() *time.Location {
	return Quota{Timezone: b.Timezone}.Location()
}

// guards validates the GraphQL, breaker and adaptive sections, and
// compiles the GraphQL cost model.
func (v *validator) guards() {
	g := v.c.GraphQL
	switch g.Mode {
	case verdict.Off, verdict.Shadow, verdict.Enforce:
	default:
		v.fail("graphql.mode", "%q: want off, shadow or enforce", g.Mode)
	}
	for path, n := range map[string]int64{"max_depth": int64(g.MaxDepth), "max_aliases": int64(g.MaxAliases),
		"max_root_fields": int64(g.MaxRootFields), "max_batch": int64(g.MaxBatch), "max_tokens": int64(g.MaxTokens),
		"max_cost": g.MaxCost, "object_field": g.ObjectField, "scalar_field": g.ScalarField,
		"default_list_size": g.DefaultListSize, "max_list_size": g.MaxListSize} {
		if n < 0 {
			v.fail("graphql."+path, "must be at least 0")
		}
	}
	for i, h := range g.PersistedQueries {
		if !sha256Pattern.MatchString(h) {
			v.fail(fmt.Sprintf("graphql.persisted_queries[%d]", i), "%q: want 64 lowercase hex digits (a SHA-256)", h)
		}
	}
	opts := graphqlcost.Options{ObjectField: g.ObjectField, ScalarField: g.ScalarField,
		DefaultListSize: g.DefaultListSize, MaxListSize: g.MaxListSize}
	if g.Schema != "" {
		b, err := os.ReadFile(v.c.relative(g.Schema))
		if err != nil {
			v.fail("graphql.schema", "%v", err)
		}
		opts.Schema = string(b)
	}
	if g.Weights != "" {
		w, err := graphqlcost.LoadWeights(v.c.relative(g.Weights))
		if err != nil {
			v.fail("graphql.weights", "%v", err)
		}
		opts.Weights = w
	}
	m, err := graphqlcost.New(opts)
	if err != nil {
		v.fail("graphql.schema", "%v", err)
	}
	v.c.graphQLCost = m

	b := v.c.Breaker
	if b.Enabled {
		if b.ConsecutiveFailures < 0 {
			v.fail("breaker.consecutive_failures", "must be at least 0")
		}
		if b.FailureRatio < 0 || b.FailureRatio > 1 {
			v.fail("breaker.failure_ratio", "must be between 0 and 1")
		}
		if b.ConsecutiveFailures == 0 && b.FailureRatio == 0 {
			v.fail("breaker", "set consecutive_failures or failure_ratio")
		}
		if b.FailureRatio > 0 && (b.Window <= 0 || b.MinRequests < 1) {
			v.fail("breaker.window", "failure_ratio needs a window above 0 and min_requests of at least 1")
		}
		if b.OpenFor <= 0 {
			v.fail("breaker.open_for", "must be above 0")
		}
		if b.Probes < 1 {
			v.fail("breaker.probes", "must be at least 1")
		}
		if b.SlowCall < 0 {
			v.fail("breaker.slow_call", "must be at least 0")
		}
	}

	a := v.c.Adaptive
	switch a.Mode {
	case verdict.Off, verdict.Shadow, verdict.Enforce:
	default:
		v.fail("adaptive.mode", "%q: want off, shadow or enforce", a.Mode)
	}
	if a.Algorithm != "gradient" && a.Algorithm != "vegas" {
		v.fail("adaptive.algorithm", "%q: want gradient or vegas", a.Algorithm)
	}
	if a.Min < 1 || a.Max < a.Min || a.Initial < a.Min || a.Initial > a.Max {
		v.fail("adaptive", "want 1 <= min <= initial <= max (got %d, %d, %d)", a.Min, a.Initial, a.Max)
	}
	if a.Tolerance < 1 {
		v.fail("adaptive.tolerance", "must be at least 1")
	}

	bu := v.c.Budgets
	switch bu.Mode {
	case verdict.Off, verdict.Shadow, verdict.Enforce:
	default:
		v.fail("budgets.mode", "%q: want off, shadow or enforce", bu.Mode)
	}
	if _, err := time.LoadLocation(bu.Timezone); err != nil {
		v.fail("budgets.timezone", "%q: %v", bu.Timezone, err)
	}
	for path, n := range map[string]int64{"tenant.daily": bu.Tenant.Daily, "tenant.monthly": bu.Tenant.Monthly,
		"key.daily": bu.Key.Daily, "key.monthly": bu.Key.Monthly} {
		if n < 0 {
			v.fail("budgets."+path, "must be at least 0")
		}
	}
}

// GraphQLCost returns the GraphQL cost model the config was validated
// with (the defaults' model for a Config that was not parsed).
func (c *Config) GraphQLCost() *graphqlcost.Model {
	if c.graphQLCost == nil {
		c.graphQLCost, _ = graphqlcost.New(graphqlcost.Options{})
	}
	return c.graphQLCost
}

// relative resolves a path written in the config file against the file's
// directory.
func (c *Config) relative(path string) string {
	if filepath.IsAbs(path) || c.File == "" {
		return path
	}
	return filepath.Join(filepath.Dir(c.File), path)
}

// limitCosts are the values of Limit.Cost.
var limitCosts = regexp.MustCompile(`^(|request|route|graphql)$`)
