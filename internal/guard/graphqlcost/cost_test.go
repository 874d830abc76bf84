package graphqlcost

import (
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func price(t testing.TB, m *Model, query string, vars map[string]any) int64 {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, op := range doc.Operations {
		c, whole := m.Cost(doc, op, vars, 100_000)
		if !whole {
			t.Fatalf("walk of %q truncated", query)
		}
		total += c
	}
	return total
}

func must(t testing.TB, o Options) *Model {
	t.Helper()
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCostWithoutSchema: without a schema an object field costs 1 and a
// scalar 0, and first/last/limit multiply what is selected below them.
func TestCostWithoutSchema(t *testing.T) {
	m := must(t, Options{})
	tests := []struct {
		name, query string
		vars        map[string]any
		want        int64
	}{
		{"scalars are free", "{ a b c }", nil, 0},
		{"one object", "{ me { id name } }", nil, 1},
		{"a list multiplies its children", "{ users(first: 50) { name friends { name } } }", nil, 1 + 50},
		{"nested lists multiply", "{ users(first: 10) { friends(first: 10) { posts(first: 10) { id } } } }", nil, 1 + 10 + 100},
		{"the cap bounds a list", "{ users(first: 1000000) { friends { id } } }", nil, 1 + 100},
		{"a variable sizes a list", "query Q($n: Int) { users(first: $n) { friends { id } } }", map[string]any{"n": 20.0}, 1 + 20},
		{"a variable's default", "query Q($n: Int = 30) { users(first: $n) { friends { id } } }", nil, 1 + 30},
		{"an unknown variable is the default size", "query Q($n: Int) { users(first: $n) { friends { id } } }", nil, 1 + 10},
		{"the largest slicing argument", "{ users(first: 5, last: 7) { friends { id } } }", nil, 1 + 7},
		{"introspection is free", "{ __typename __schema { types { name } } }", nil, 0},
		{"aliases each cost", "{ a: product(id: 1) { reviews(first: 100) { author { name } } } b: product(id: 2) { reviews(first: 100) { author { name } } } }", nil, 2 * (1 + 1 + 100)},
		{"fragments cost where spread", "{ a: me { ...F } b: me { ...F } } fragment F on User { friends(first: 3) { id } }", nil, 2 * (1 + 1)},
		{"a fragment cycle is not followed", "{ a { ...F } } fragment F on A { b { ...F } }", nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := price(t, m, tc.query, tc.vars); got != tc.want {
				t.Errorf("cost %d, want %d", got, tc.want)
			}
		})
	}
}

// TestCostWithSchema: the sample shop's schema types every field, so a
// list type without a size argument is assumed default_list_size long,
// and @cost and @listSize directives set weights and sizes.
func TestCostWithSchema(t *testing.T) {
	sdl, err := os.ReadFile("../../sample/schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	directives := `
type Query { search(q: String!, top: Int): [Product!]! @cost(weight: 5) @listSize(slicingArguments: ["top"]) 
  recent: [Product!]! @listSize(assumedSize: 3) }
type Product { name: String! reviews(first: Int): [Review!]! }
type Review { body: String! @cost(weight: "2.5") }`
	tests := []struct {
		name, sdl, query string
		weights          map[string]int64
		want             int64
	}{
		{"the app's product screen", string(sdl), "{ product(id: 77) { id name reviews(first: 5) { rating body author { username } } } }", nil, 1 + 1 + 5},
		{"an unsized list is assumed 10 long", string(sdl), "{ user(id: 1) { orders { products { name } } } }", nil, 1 + 1 + 10},
		{"the simulator's alias-heavy query, per alias", string(sdl), "{ p0: product(id: 1) { name reviews(first: 100) { body author { username } } } }", nil, 1 + 1 + 100},
		{"@cost and @listSize", directives, "{ search(q: \"x\", top: 4) { reviews { body } } }", nil, 5 + 4*(1+3*0) + 4*10*3},
		{"@listSize(assumedSize:)", directives, "{ recent { reviews(first: 2) { body } } }", nil, 1 + 3*1 + 3*2*3},
		{"a weights file overrides the schema", directives, "{ search(q: \"x\", top: 1) { name } }", map[string]int64{"Query.search": 50}, 50},
		{"a bare field name weighs on every type", string(sdl), "{ product(id: 1) { reviews(first: 2) { author { username } } } }", map[string]int64{"author": 7}, 1 + 1 + 2*7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := must(t, Options{Schema: tc.sdl, Weights: tc.weights})
			if got := price(t, m, tc.query, nil); got != tc.want {
				t.Errorf("cost %d, want %d", got, tc.want)
			}
		})
	}
	if _, err := New(Options{Schema: "type Query {"}); err == nil {
		t.Error("a schema that does not parse was accepted")
	}
}

func TestParseWeights(t *testing.T) {
	w, err := ParseWeights("w.yaml", []byte("weights:\n  Query.search: 10\n  reviews: 2\n"))
	if err != nil || w["Query.search"] != 10 || w["reviews"] != 2 {
		t.Fatalf("ParseWeights = %v, %v", w, err)
	}
	for _, bad := range []string{"weights: {a: -1}", "weights: {a.b.c: 1}", "wieghts: {a: 1}", "weights: [1]"} {
		if _, err := ParseWeights("w.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "w.yaml") {
			t.Errorf("%q: err %v, want one naming the file", bad, err)
		}
	}
}

// TestCostSaturates: a query whose price overflows saturates instead.
func TestCostSaturates(t *testing.T) {
	m := must(t, Options{MaxListSize: 1 << 40})
	q := "{ " + strings.Repeat("a(first: 1099511627776) { ", 8) + "b" + strings.Repeat(" }", 8) + " }"
	if got := price(t, m, q, nil); got != maxCost {
		t.Errorf("cost %d, want the saturation point %d", got, int64(maxCost))
	}
}

// TestCostBudget: a fragment bomb stops at the walk's budget.
func TestCostBudget(t *testing.T) {
	m := must(t, Options{})
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range 6 {
		b.WriteString("fragment F" + string(rune('0'+i)) + " on Query { ")
		for j := range 10 {
			b.WriteString("a" + string(rune('0'+j)) + ": x { ...F" + string(rune('1'+i)) + " } ")
		}
		b.WriteString("}\n")
	}
	b.WriteString("fragment F6 on Query { leaf }\n")
	doc, err := parser.ParseQuery(&ast.Source{Input: b.String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, whole := m.Cost(doc, doc.Operations[0], nil, 1000); whole {
		t.Error("a fragment bomb was priced whole within a budget of 1000 selections")
	}
}

func FuzzCost(f *testing.F) {
	for _, s := range []string{"{ a }", "query Q($n: Int = 3) { a(first: $n) { ...F } } fragment F on A { b(limit: 99999999999999999999) { c } }", "{ ...F } fragment F on Q { ...F }"} {
		f.Add(s)
	}
	m := must(f, Options{})
	f.Fuzz(func(t *testing.T, q string) {
		if len(q) > 4096 {
			return
		}
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			return
		}
		for _, op := range doc.Operations {
			if c, _ := m.Cost(doc, op, map[string]any{"n": -1.0}, 10_000); c < 0 || c > maxCost {
				t.Fatalf("cost %d out of [0, %d]", c, int64(maxCost))
			}
		}
	})
}

// BenchmarkCost prices the app's product-screen query under the shop's
// schema: what pricing adds to a graphql request.
func BenchmarkCost(b *testing.B) {
	sdl, err := os.ReadFile("../../sample/schema.graphql")
	if err != nil {
		b.Fatal(err)
	}
	m := must(b, Options{Schema: string(sdl)})
	doc, err := parser.ParseQuery(&ast.Source{Input: "query ProductScreen { product(id: 77) { id name price stock reviews(first: 5) { rating body author { username } } } }"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if c, _ := m.Cost(doc, doc.Operations[0], nil, 100_000); c != 7 {
			b.Fatal(c)
		}
	}
}
