package detect

import (
	"net/netip"
	"testing"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func TestGraphQLDetector(t *testing.T) {
	view := func(g request.GraphQLShape) *request.View {
		v := &request.View{ID: "r1", ClientIP: netip.MustParseAddr("203.0.113.40"), GraphQL: g}
		return v
	}
	tests := []struct {
		name    string
		cfg     GraphQLConfig
		shape   request.GraphQLShape
		summary string
	}{
		{"an app's product query", GraphQLConfig{}, request.GraphQLShape{Parsed: true, Depth: 4, Aliases: 2, Selections: 12}, ""},
		{"at the limits", GraphQLConfig{}, request.GraphQLShape{Parsed: true, Depth: 10, Aliases: 15, Selections: 1000}, ""},
		{"not parsed", GraphQLConfig{}, request.GraphQLShape{}, ""},
		{"too deep", GraphQLConfig{}, request.GraphQLShape{Parsed: true, Depth: 12, Selections: 12}, "GraphQL document with 12 levels of nesting (limit 10)"},
		{"alias-heavy: the worst excess is named", GraphQLConfig{}, request.GraphQLShape{Parsed: true, Depth: 11, Aliases: 60, Selections: 300},
			"GraphQL document with 60 aliased fields (limit 15)"},
		{"a fragment bomb", GraphQLConfig{}, request.GraphQLShape{Parsed: true, Depth: 3, Selections: 100_000, Truncated: true},
			"GraphQL document with 100000 or more selected fields (fragments expanded) (limit 1000)"},
		{"depth check off", GraphQLConfig{MaxDepth: -1}, request.GraphQLShape{Parsed: true, Depth: 40, Selections: 40}, ""},
		{"configured limit", GraphQLConfig{MaxDepth: 20}, request.GraphQLShape{Parsed: true, Depth: 21, Selections: 21}, "GraphQL document with 21 levels of nesting (limit 20)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &signals{}
			NewGraphQL(tc.cfg).Request(view(tc.shape), s)
			if tc.summary == "" {
				if len(s.got) != 0 {
					t.Fatalf("signals %+v, want none", s.got)
				}
				return
			}
			if len(s.got) != 1 {
				t.Fatalf("%d signals, want 1: %+v", len(s.got), s.got)
			}
			sig := s.got[0]
			if sig.Detector != "graphql" || sig.Weight != 40 || sig.Severity != Medium || sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.40"}) ||
				sig.Evidence.Summary != tc.summary || sig.Evidence.RequestID != "r1" || sig.Evidence.Count <= sig.Evidence.Threshold {
				t.Errorf("signal %+v, want %q on ip:203.0.113.40 at 40 points", sig, tc.summary)
			}
		})
	}
}
