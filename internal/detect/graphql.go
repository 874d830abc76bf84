package detect

import (
	"fmt"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "graphql", Order: 90, Settings: func() Settings { return &GraphQLConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewGraphQL(*s.(*GraphQLConfig))
		}})
}

// GraphQLConfig configures the graphql detector. Zero fields get the
// defaults named on each field; a negative limit turns its check off.
type GraphQLConfig struct {
	Common `yaml:",inline"`
	// MaxDepth is the deepest nesting of fields a document may ask for
	// (default 10).
	MaxDepth int `yaml:"max_depth" off:"negative"`
	// MaxAliases is the fields a document may select under another name
	// (default 15): aliases let one request run one resolver hundreds of
	// times (batching guesses, or multiplying cost).
	MaxAliases int `yaml:"max_aliases" off:"negative"`
	// MaxSelections is the fields a document may select in all, fragments
	// expanded (default 1000).
	MaxSelections int `yaml:"max_selections" off:"negative"`
}

// GraphQL detects GraphQL documents built to exhaust the server: nested
// deeper than MaxDepth, with more than MaxAliases aliases, or selecting
// more than MaxSelections fields, on routes of kind graphql (the request
// parser measures the document: request.GraphQLShape). Each such request
// signals once, on its subject, naming the worst excess: one is noted at
// the throttle band, a client that keeps sending them climbs to a block.
// Stateless.
//
// False-positive traps: a first-party client whose real queries are deep
// or wide (raise the limits to its largest query, measured with the
// guard's evidence), and introspection queries (about 8 levels deep with
// the common fragments: under the default depth).
type GraphQL struct {
	cfg GraphQLConfig
}

// NewGraphQL returns a GraphQL detector for cfg with defaults applied.
func NewGraphQL(cfg GraphQLConfig) *GraphQL {
	cfg.Common = cfg.Common.Defaults(40)
	cfg.MaxDepth = orDefault(cfg.MaxDepth, 10)
	cfg.MaxAliases = orDefault(cfg.MaxAliases, 15)
	cfg.MaxSelections = orDefault(cfg.MaxSelections, 1000)
	return &GraphQL{cfg: cfg}
}

// Name returns "graphql".
func (d *GraphQL) Name() string { return "graphql" }

// Request signals a document over a limit.
func (d *GraphQL) Request(v *request.View, s Sink) {
	g := &v.GraphQL
	if !g.Parsed {
		return
	}
	// The excess reported is the one furthest over its limit.
	var summary string
	var count, threshold, worst float64
	over := func(what string, got, limit int) {
		if limit <= 0 || got <= limit {
			return
		}
		if r := float64(got) / float64(limit); r > worst {
			worst, count, threshold = r, float64(got), float64(limit)
			summary = fmt.Sprintf("GraphQL document with %d %s (limit %d)", got, what, limit)
		}
	}
	over("levels of nesting", g.Depth, d.cfg.MaxDepth)
	over("aliased fields", g.Aliases, d.cfg.MaxAliases)
	selections := "selected fields"
	if g.Truncated {
		selections = "or more selected fields (fragments expanded)"
	}
	over(selections, g.Selections, d.cfg.MaxSelections)
	if summary == "" {
		return
	}
	s.Emit(Signal{Detector: d.Name(), Entity: Subject(v), Weight: d.cfg.Weight, Severity: Medium, Evidence: Evidence{
		Summary: summary, Count: count, Threshold: threshold, RequestID: v.ID,
	}})
}

// Response does nothing: the document is judged before it runs.
func (d *GraphQL) Response(*request.View, verdict.Outcome, Sink) {}

var _ Detector = (*GraphQL)(nil)
