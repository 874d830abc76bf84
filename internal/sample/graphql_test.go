package sample

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestGraphQL(t *testing.T) {
	a := New(Options{Seed: 1})
	// nested returns a valid query of depth n: product, then reviews and
	// product alternating, then id.
	nested := func(n int) string {
		q := "{ product(id: 1) "
		for d := 2; d < n; d++ {
			q += []string{"{ reviews ", "{ product "}[d%2]
		}
		return q + "{ id }" + strings.Repeat(" }", n-1)
	}
	var expensive strings.Builder
	expensive.WriteString("{")
	for i := range 20 {
		fmt.Fprintf(&expensive, " a%d: products(first: 100) { reviews { author { orders { products { reviews { author { orders { products { id } } } } } } } } }", i)
	}
	expensive.WriteString(" }")
	tests := []struct {
		name, query string
		want        int
		contains    []string
	}{
		{"one field", `{ product(id: 2) { id name } }`, 200, []string{`{"data":{"product":{"id":2,"name":"`}},
		{"query keyword and name", `query Shop { product(id: 2) { id } }`, 200, []string{`"product":{"id":2}`}},
		{"missing product is null", `{ product(id: 99999) { id } }`, 200, []string{`"product":null`}},
		{"aliases", `{ a: product(id: 1) { id } b: product(id: 2) { id } }`, 200, []string{`"a":{"id":1}`, `"b":{"id":2}`}},
		{"alias of a scalar", `{ product(id: 3) { pid: id, label: name } }`, 200, []string{`"pid":3,"label":"`}},
		{"typename", `{ user(id: 1) { __typename id } }`, 200, []string{`"user":{"__typename":"User","id":1}`}},
		{"nested", `{ products(first: 3) { id reviews(first: 2) { rating author { username orders(first: 1) { total products { id } } } } } }`, 200,
			[]string{`"products":[{"id":1,"reviews":[`, `"author":{"username":"user`}},
		{"offset", `{ products(first: 2, offset: 10) { id } }`, 200, []string{`"products":[{"id":11},{"id":12}]`}},
		{"first 0", `{ products(first: 0) { id } }`, 200, []string{`"products":[]`}},
		{"search", `{ search(q: "widget", first: 2) { name } }`, 200, []string{`"search":[{"name":"`}},
		{"comments and commas", "# shop\n{ product(id: 1) { id, name } } # end", 200, []string{`"id":1,"name"`}},
		{"depth 15", nested(15), 200, []string{`{"data":{"product":{"reviews":[`}},
		{"depth 16", nested(16), 400, []string{"query depth 16 exceeds the limit of 15"}},
		{"depth 40", nested(40), 400, []string{"query depth 40 exceeds the limit of 15"}},
		{"unbalanced", `{ product(id: 1) { id }`, 400, []string{"syntax error"}},
		{"empty", ``, 400, []string{"syntax error"}},
		{"empty selection", `{ }`, 400, []string{"syntax error at 1:3"}},
		{"trailing garbage", `{ product(id: 1) { id } } }`, 400, []string{"syntax error at 1:27: Unexpected }"}},
		{"mutation", `mutation { product(id: 1) { id } }`, 400, []string{"mutations"}},
		{"fragment", `{ product(id: 1) { ...F } }`, 400, []string{"fragments"}},
		{"variable", `{ product(id: $id) { id } }`, 400, []string{"variables are not supported"}},
		{"declared variable", `query Q($id: Int!) { product(id: $id) { id } }`, 400, []string{"variables are not supported"}},
		{"inline fragment", `{ product(id: 1) { ... on Product { id } } }`, 400, []string{"fragments"}},
		{"directive", `{ product(id: 1) { id @skip(if: true) } }`, 400, []string{"directives are not supported"}},
		{"introspection", `{ __schema { types { name } } }`, 400, []string{"introspection (__schema) is not supported"}},
		{"two operations", `query A { product(id: 1) { id } } query B { product(id: 2) { id } }`, 400, []string{"one operation per document"}},
		{"id out of 32 bits", `{ product(id: 99999999999999999999) { id } }`, 400, []string{"Int cannot represent"}},
		{"unterminated string", `{ search(q: "x) { id } }`, 400, []string{"syntax error at 1:"}},
		{"unknown field", `{ product(id: 1) { password } }`, 400, []string{`Cannot query field "password" on type "Product".`}},
		{"missing argument", `{ product { id } }`, 400, []string{`argument "id" of type "Int!" is required`}},
		{"wrong argument type", `{ product(id: "1") { id } }`, 400, []string{`Int cannot represent non-integer value: "1"`}},
		{"unknown argument", `{ product(id: 1, x: 2) { id } }`, 400, []string{`Unknown argument "x" on field "Query.product".`}},
		{"object without selection", `{ product(id: 1) }`, 400, []string{`Field "product" of type "Product" must have a selection of subfields.`}},
		{"scalar with selection", `{ product(id: 1) { id { x } } }`, 400, []string{`Field "id" must not have a selection since type "Int" has no subfields.`}},
		{"duplicate key", `{ product(id: 1) { id id } }`, 400, []string{"use an alias"}},
		{"too big", "{ " + strings.Repeat("a: ", 6000) + " }", 400, []string{"over the limit of 16384"}},
		{"too expensive", expensive.String(), 400, []string{"query too expensive: over 50000 fields resolved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"query": tt.query})
			code, resp := do(t, a, "POST", "/graphql", string(body))
			if code != tt.want {
				t.Fatalf("got %d %s, want %d", code, resp, tt.want)
			}
			if !json.Valid([]byte(resp)) {
				t.Fatalf("invalid JSON: %s", resp)
			}
			var errs struct{ Errors []struct{ Message string } }
			if code != 200 {
				if err := json.Unmarshal([]byte(resp), &errs); err != nil || len(errs.Errors) == 0 {
					t.Fatalf("want errors in %s", resp)
				}
				var msgs []string
				for _, e := range errs.Errors {
					msgs = append(msgs, e.Message)
				}
				resp = strings.Join(msgs, "\n")
			}
			for _, c := range tt.contains {
				if !strings.Contains(resp, c) {
					t.Errorf("response %s lacks %s", resp, c)
				}
			}
		})
	}
}

func TestGraphQLTokenCap(t *testing.T) {
	// 16 KiB cannot hold 10001 tokens, so the cap is a second line of
	// defence; test it on parseQuery, under the size cap.
	_, errs := parseQuery("{" + strings.Repeat(" a", maxTokens) + " }")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "exceeded token limit of 10000") {
		t.Errorf("got %v, want the token cap", errs)
	}
}

// TestGraphQLResolvers checks that schema.graphql and the resolvers
// describe the same fields.
func TestGraphQLResolvers(t *testing.T) {
	for _, typ := range []string{"Query", "Product", "Review", "User", "Order"} {
		def := gqlSchema.Types[typ]
		if def == nil {
			t.Fatalf("schema.graphql has no type %s", typ)
		}
		for _, f := range def.Fields {
			if !strings.HasPrefix(f.Name, "__") && resolvers[typ][f.Name] == nil {
				t.Errorf("%s.%s has no resolver", typ, f.Name)
			}
		}
		for name := range resolvers[typ] {
			if def.Fields.ForName(name) == nil {
				t.Errorf("resolver %s.%s is not in schema.graphql", typ, name)
			}
		}
	}
	if len(resolvers) != 5 {
		t.Errorf("resolvers for %d types, want 5", len(resolvers))
	}
}

func TestGraphQLShape(t *testing.T) {
	a := New(Options{Seed: 9})
	code, body := a.graphql(`{ first: products(first: 5) { id reviews { rating author { id } } } }`)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var resp struct {
		Data struct {
			First []struct {
				ID      int
				Reviews []struct {
					Rating int
					Author struct{ ID int }
				}
			}
		}
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Data.First) != 5 {
		t.Fatalf("got %d products, want 5", len(resp.Data.First))
	}
	for i, p := range resp.Data.First {
		want := a.products[i]
		if p.ID != want.ID || len(p.Reviews) != len(want.reviews) {
			t.Fatalf("product %d: %+v, want id %d with %d reviews", i, p, want.ID, len(want.reviews))
		}
		for j, r := range p.Reviews {
			if r.Rating != want.reviews[j].Rating || r.Author.ID != want.reviews[j].Author {
				t.Errorf("product %d review %d: %+v, want %+v", p.ID, j, r, want.reviews[j])
			}
		}
	}
}

func FuzzGraphQL(f *testing.F) {
	for _, s := range []string{
		`{ product(id: 1) { id name } }`,
		`query Q { a: products(first: 3, offset: 2) { id reviews { author { orders { products { name } } } } } }`,
		`{ search(q: "lamp\n") { __typename name } }`,
		"# c\n{ user(id: 2) { username, orders { total status user { id } } } }",
		`{ product(id: -1) { id } } }`,
		`mutation { x }`,
		`{ a: b: c }`,
		`{ product(id: 99999999999999999999) { id } }`,
		`query Q($id: Int!) { product(id: $id) { ...F @include(if: true) } } fragment F on Product { id }`,
		`{ search(q: """block "string" """) { name ... on Product { id } } }`,
		`{ __schema { types { name } } __type(name: "Product") { name } }`,
		`subscription { products { id } }`,
	} {
		f.Add(s)
	}
	a := New(Options{Seed: 1, Products: 50, Users: 20})
	f.Fuzz(func(t *testing.T, q string) {
		code, body := a.graphql(q)
		if (code != 200 && code != 400) || !json.Valid(body) {
			t.Fatalf("query %q: %d %s", q, code, body)
		}
	})
}
