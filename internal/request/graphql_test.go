package request

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGraphQLShapeOf(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  GraphQLShape
	}{
		{"empty", "", GraphQLShape{}},
		{"not GraphQL", "{ product(id: ", GraphQLShape{}},
		{"one field", "{ me { id } }", GraphQLShape{Parsed: true, Depth: 2, Selections: 2, RootFields: 1}},
		{"named operation, nesting", "query Q { user(id: 1) { orders { products { reviews { author { username } } } } } }",
			GraphQLShape{Parsed: true, Depth: 6, Selections: 6, RootFields: 1}},
		{"aliases; an alias equal to the name is none", "{ a: product(id: 1) { name } b: product(id: 2) { name } product: product(id: 3) { name } }",
			GraphQLShape{Parsed: true, Depth: 2, Aliases: 2, Selections: 6, RootFields: 3}},
		{"fragments are expanded where spread", "{ a: product(id: 1) { ...P } b: product(id: 2) { ...P } } fragment P on Product { name reviews { body } }",
			GraphQLShape{Parsed: true, Depth: 3, Aliases: 2, Selections: 8, RootFields: 2}},
		{"inline fragments keep the depth", "{ node(id: 1) { ... on Product { name } } }", GraphQLShape{Parsed: true, Depth: 2, Selections: 2, RootFields: 1}},
		{"a fragment cycle is not followed", "{ a { ...F } } fragment F on A { b { ...F } }", GraphQLShape{Parsed: true, Depth: 2, Selections: 2, RootFields: 1}},
		{"several operations", "query A { a } query B { b { c } }", GraphQLShape{Parsed: true, Depth: 2, Selections: 3, RootFields: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := GraphQLShapeOf(tc.query); got != tc.want {
				t.Errorf("shape %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestGraphQLFragmentBomb: fragments spreading the next one ten times
// each ask for 10^k fields from a small body; the walk stops at its bound.
func TestGraphQLFragmentBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range 8 {
		b.WriteString("fragment F" + string(rune('0'+i)) + " on Query { ")
		for j := range 10 {
			b.WriteString("a" + string(rune('0'+j)) + ": x { ...F" + string(rune('1'+i)) + " } ")
		}
		b.WriteString("}\n")
	}
	b.WriteString("fragment F8 on Query { leaf }\n")
	start := time.Now()
	got := GraphQLShapeOf(b.String())
	if !got.Parsed || !got.Truncated || got.Selections != maxGraphQLSelections {
		t.Fatalf("shape %+v, want truncated at %d selections", got, maxGraphQLSelections)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s", elapsed) // a bound, not a benchmark: 10^8 fields would take minutes
	}
}

func TestParseMeasuresGraphQLRoutes(t *testing.T) {
	router, err := NewRouter([]Route{{Name: "graphql", Template: "/graphql", Kind: "graphql"}, {Name: "other", Template: "POST /other"}})
	if err != nil {
		t.Fatal(err)
	}
	p := &Parser{Router: router}
	deep := `{ a { b { c { d } } } }`
	tests := []struct {
		name, method, target, contentType, body string
		depth                                   int
	}{
		{"POST JSON", "POST", "/graphql", "application/json", `{"query":"` + deep + `","variables":{}}`, 4},
		{"POST application/graphql", "POST", "/graphql", "application/graphql", deep, 4},
		{"GET with a query parameter", "GET", "/graphql?query=%7B%20a%20%7B%20b%20%7D%20%7D", "", "", 2},
		{"a body that is not JSON", "POST", "/graphql", "application/json", `{"query":`, 0},
		{"another route is not measured", "POST", "/other", "application/json", `{"query":"` + deep + `"}`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := httptest.NewRequest(tc.method, tc.target, body)
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			var v View
			if prob := p.ParseHTTP(r, time.Unix(0, 0), &v); prob != nil {
				t.Fatal(prob)
			}
			if v.GraphQL.Depth != tc.depth || v.GraphQL.Parsed != (tc.depth > 0) {
				t.Errorf("shape %+v, want depth %d", v.GraphQL, tc.depth)
			}
			if r.Body != nil {
				rest, _ := io.ReadAll(r.Body)
				if !bytes.Equal(rest, []byte(tc.body)) {
					t.Errorf("the upstream would get %q, want the body whole", rest)
				}
			}
		})
	}
}

func FuzzGraphQLShapeOf(f *testing.F) {
	for _, s := range []string{"{ a }", "query Q($x: Int) { a(x: $x) { ...F } } fragment F on A { b @skip(if: true) }", "{ ...F } fragment F on Q { ...F }", "{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		g := GraphQLShapeOf(q)
		if !g.Parsed && g != (GraphQLShape{}) {
			t.Fatalf("unparsed query with counts %+v", g)
		}
		if g.Selections > maxGraphQLSelections || g.Depth > g.Selections || g.Aliases > g.Selections {
			t.Fatalf("inconsistent shape %+v", g)
		}
	})
}

// BenchmarkGraphQLShapeOf measures an app's product-screen query: the
// cost a graphql route adds to a request.
func BenchmarkGraphQLShapeOf(b *testing.B) {
	q := "query ProductScreen { product(id: 77) { id name price stock reviews(first: 5) { rating body author { username } } } }"
	b.ReportAllocs()
	for b.Loop() {
		if g := GraphQLShapeOf(q); g.Depth != 4 {
			b.Fatal(g)
		}
	}
}
