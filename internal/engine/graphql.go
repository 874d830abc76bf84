package engine

import (
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// graphQLLimits are the GraphQL guard's hard limits, compiled; 0 is off.
type graphQLLimits struct {
	mode                                                     verdict.Mode
	maxDepth, maxAliases, maxRootFields, maxBatch, maxTokens int
	maxCost                                                  int64
	persisted                                                map[[32]byte]bool
}

// graphQLRule is the rule name a GraphQL refusal carries.
const graphQLRule = "graphql"

// compileGraphQL returns the hard limits of c, nil when they are off, and
// sets how the parser measures GraphQL documents: it prices them only
// when a limit charges the price or max_cost bounds it, counts tokens
// only under max_tokens, and hashes documents only for persisted queries.
func compileGraphQL(c *config.Config, parser *request.Parser) *graphQLLimits {
	g := c.GraphQL
	priced := false
	for _, l := range c.Limits {
		priced = priced || l.Cost == "graphql"
	}
	var lim *graphQLLimits
	if g.Mode != verdict.Off {
		lim = &graphQLLimits{mode: g.Mode, maxDepth: g.MaxDepth, maxAliases: g.MaxAliases, maxRootFields: g.MaxRootFields,
			maxBatch: g.MaxBatch, maxTokens: g.MaxTokens, maxCost: g.MaxCost, persisted: map[[32]byte]bool{}}
		for _, h := range g.PersistedQueries {
			var sum [32]byte
			hex.Decode(sum[:], []byte(h))
			lim.persisted[sum] = true
		}
		priced = priced || g.MaxCost > 0
		parser.GraphQL.MaxTokens = g.MaxTokens
		parser.GraphQL.Hash = len(g.PersistedQueries) > 0
	}
	if priced {
		parser.GraphQL.Cost = c.GraphQLCost()
	}
	return lim
}

// checkGraphQL refuses a request to a graphql route whose documents break
// a hard limit, unless they are persisted queries the config allows; in
// shadow mode it records the would-be refusal. It reports whether it
// refused.
func (p *Policy) checkGraphQL(vd *Verdict, v *request.View) bool {
	g := p.graphql
	if g == nil || v.Route == nil || v.Route.Kind != "graphql" {
		return false
	}
	s := &v.GraphQL
	if s.HasHash && g.persisted[s.Hash] {
		return false
	}
	detail := g.excess(s)
	if detail == "" {
		return false
	}
	if g.mode == verdict.Shadow {
		if vd.Rule == "" {
			vd.Rule, vd.Mode, vd.Reason, vd.Would = graphQLRule, verdict.Shadow, "graphql_too_complex", true
		}
		return false
	}
	vd.Action, vd.Status, vd.Reason, vd.Detail = verdict.Block, http.StatusBadRequest, "graphql_too_complex", detail
	vd.Rule, vd.Mode, vd.Would = graphQLRule, verdict.Enforce, false
	return true
}

// excess names the first hard limit s breaks, "" when it breaks none.
func (g *graphQLLimits) excess(s *request.GraphQLShape) string {
	over := func(got, limit int) bool { return limit > 0 && got > limit }
	switch {
	case over(s.Batch, g.maxBatch):
		return fmt.Sprintf("the request batches %d operations (limit %d)", s.Batch, g.maxBatch)
	case over(s.Tokens, g.maxTokens):
		return fmt.Sprintf("the document is longer than %d tokens", g.maxTokens)
	case !s.Parsed:
		return "" // the upstream refuses what does not parse
	case s.Truncated:
		return "the document expands to too many fields (fragments spread inside fragments)"
	case over(s.Depth, g.maxDepth):
		return fmt.Sprintf("the document nests %d levels deep (limit %d)", s.Depth, g.maxDepth)
	case over(s.Aliases, g.maxAliases):
		return fmt.Sprintf("the document has %d aliased fields (limit %d)", s.Aliases, g.maxAliases)
	case over(s.RootFields, g.maxRootFields):
		return fmt.Sprintf("the document selects %d top-level fields (limit %d)", s.RootFields, g.maxRootFields)
	case g.maxCost > 0 && s.Cost > g.maxCost:
		return fmt.Sprintf("the query costs %d (limit %d)", s.Cost, g.maxCost)
	}
	return ""
}
