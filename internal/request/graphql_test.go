package request

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
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
	router, err := NewRouter([]Route{{Name: "graphql", Template: "/graphql", Kind: "graphql"}, {Name: "other", Template: "POST /other", Kind: "login"}, {Name: "plain", Template: "POST /plain"}})
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
		{"a route of another kind is not measured", "POST", "/other", "application/json", `{"query":"` + deep + `"}`, 0},
		{"a route of no kind is, by its shape", "POST", "/plain", "application/json", `{"query":"` + deep + `"}`, 4},
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

// TestMeasureGraphQLRequests: batches, forms, persisted queries, hashes,
// tokens and the operation a request names.
func TestMeasureGraphQLRequests(t *testing.T) {
	router, err := NewRouter([]Route{{Name: "graphql", Template: "/graphql", Kind: "graphql", Cost: 3}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, target, ct, body string
		opts                           GraphQLOptions
		check                          func(GraphQLShape, int64) bool
	}{
		{"a batch adds up", "POST", "/graphql", "application/json", `[{"query":"{ a { b } }"},{"query":"{ c d }"}]`, GraphQLOptions{},
			func(s GraphQLShape, _ int64) bool {
				return s.Batch == 2 && s.RootFields == 3 && s.Selections == 4 && s.Depth == 2
			}},
		{"a batch past MaxBatch is counted, not measured", "POST", "/graphql", "application/json", `[{"query":"{ a }"},{"query":"{ b }"},{"query":"{ c }"}]`, GraphQLOptions{MaxBatch: 2},
			func(s GraphQLShape, _ int64) bool { return s.Batch == 3 && s.Selections == 2 && s.Truncated }},
		{"a form body", "POST", "/graphql", "application/x-www-form-urlencoded", "query=%7B+a+%7B+b+%7D+%7D", GraphQLOptions{},
			func(s GraphQLShape, _ int64) bool { return s.Parsed && s.Depth == 2 }},
		{"the named operation only", "POST", "/graphql", "application/json", `{"query":"query A { a } query B { b { c { d } } }","operationName":"A"}`, GraphQLOptions{},
			func(s GraphQLShape, _ int64) bool { return s.Depth == 1 && s.Selections == 1 }},
		{"tokens are counted, and a long document is not parsed", "POST", "/graphql", "application/graphql", "{ a b c d e f }", GraphQLOptions{MaxTokens: 5},
			func(s GraphQLShape, _ int64) bool { return !s.Parsed && s.Tokens == 6 }},
		{"tokens within the cap", "POST", "/graphql", "application/graphql", "{ a b }", GraphQLOptions{MaxTokens: 5},
			func(s GraphQLShape, _ int64) bool { return s.Parsed && s.Tokens == 4 }},
		{"a hash of the document", "POST", "/graphql", "application/graphql", "{ a }", GraphQLOptions{Hash: true},
			func(s GraphQLShape, _ int64) bool { return s.HasHash && s.Hash == sha256.Sum256([]byte("{ a }")) }},
		{"a persisted query by hash", "GET", `/graphql?extensions=%7B%22persistedQuery%22%3A%7B%22sha256Hash%22%3A%22` + strings.Repeat("ab", 32) + `%22%7D%7D`, "", "", GraphQLOptions{Hash: true},
			func(s GraphQLShape, _ int64) bool {
				return s.Persisted && s.HasHash && s.Hash[0] == 0xab && !s.Parsed && s.Batch == 1
			}},
		{"no hash for a batch", "POST", "/graphql", "application/json", `[{"query":"{ a }"},{"query":"{ b }"}]`, GraphQLOptions{Hash: true},
			func(s GraphQLShape, _ int64) bool { return !s.HasHash }},
		{"the price is the view's cost", "POST", "/graphql", "application/json", `{"query":"query($n: Int) { a(first: $n) { b { c } } }","variables":{"n":7}}`, GraphQLOptions{Cost: countFields{}},
			func(s GraphQLShape, cost int64) bool { return s.Cost == 42 && cost == 42 }},
		{"without a price the route's cost", "POST", "/graphql", "application/json", `{"query":"{ a }"}`, GraphQLOptions{},
			func(s GraphQLShape, cost int64) bool { return cost == 3 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Parser{Router: router, GraphQL: tc.opts}
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			var v View
			if prob := p.ParseHTTP(r, time.Unix(0, 0), &v); prob != nil {
				t.Fatal(prob)
			}
			if !tc.check(v.GraphQL, v.Cost) {
				t.Errorf("shape %+v, cost %d", v.GraphQL, v.Cost)
			}
		})
	}
}

// countFields prices an operation at 42 when it sees the variable n = 7.
type countFields struct{}

func (countFields) Cost(_ *ast.QueryDocument, _ *ast.OperationDefinition, vars map[string]any, _ int) (int64, bool) {
	if vars["n"] == 7.0 {
		return 42, true
	}
	return 1, true
}

// FuzzMeasureGraphQL feeds request bodies (JSON, batches) to the measure.
func FuzzMeasureGraphQL(f *testing.F) {
	for _, s := range []string{`{"query":"{ a }"}`, `[{"query":"{ a }"},{"query":"query($n:Int){ b(first:$n) { c } }","variables":{"n":3}}]`,
		`{"extensions":{"persistedQuery":{"sha256Hash":"00"}}}`, `[`, `{"query":1}`} {
		f.Add(s)
	}
	o := &GraphQLOptions{MaxTokens: 1000, Hash: true, MaxBatch: 10, Cost: countFields{}}
	f.Fuzz(func(t *testing.T, body string) {
		if len(body) > maxFieldBody {
			return
		}
		in := &Input{Method: "POST", Header: HTTPHeader{"Content-Type": {"application/json"}}, Body: staticBody(body)}
		s := measureGraphQL(in, in.Header, o)
		if s.Tokens > 1001*max(1, s.Batch) || s.Depth > s.Selections || s.RootFields > s.Selections || s.Cost < 0 {
			t.Fatalf("inconsistent shape %+v", s)
		}
		if !s.Parsed && (s.Depth != 0 || s.Selections != 0) {
			t.Fatalf("unparsed with counts %+v", s)
		}
	})
}

type staticBody string

func (b staticBody) Peek(max int) []byte {
	if len(b) > max {
		return nil
	}
	return []byte(b)
}
