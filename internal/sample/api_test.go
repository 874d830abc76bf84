package sample

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// do sends one request to a and returns the status and body.
func do(t testing.TB, a *API, method, target, body string, header ...string) (int, string) {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func login(t *testing.T, a *API, user, password string) string {
	t.Helper()
	code, body := do(t, a, "POST", "/api/login", fmt.Sprintf(`{"username":%q,"password":%q}`, user, password))
	if code != 200 {
		t.Fatalf("login %s: %d %s", user, code, body)
	}
	var resp struct{ Token string }
	if err := json.Unmarshal([]byte(body), &resp); err != nil || resp.Token == "" {
		t.Fatalf("login body %s: %v", body, err)
	}
	return resp.Token
}

func TestStatuses(t *testing.T) {
	a := New(Options{Seed: 1})
	token := login(t, a, "user7", "correct-horse-7")
	tests := []struct {
		name, method, target, body string
		header                     []string
		want                       int
		contains                   string
	}{
		{"home", "GET", "/", "", nil, 200, `href="/static/site.css"`},
		{"static js", "GET", "/static/app.js", "", nil, 200, "fetch("},
		{"static css", "GET", "/static/site.css", "", nil, 200, "font-family"},
		{"static missing", "GET", "/static/nope.js", "", nil, 404, "not found"},
		{"healthz", "GET", "/healthz", "", nil, 200, "ok"},
		{"unknown path", "GET", "/admin/.env", "", nil, 404, `"error":"not found"`},
		{"unknown api path", "POST", "/api/nothing", "{}", nil, 404, `"error"`},
		{"products default", "GET", "/api/products", "", nil, 200, `"per_page":20`},
		{"products page", "GET", "/api/products?page=2&per_page=5", "", nil, 200, `"id":6,`},
		{"products last page", "GET", "/api/products?page=10&per_page=100", "", nil, 200, `"id":1000,`},
		{"products past the end", "GET", "/api/products?page=11&per_page=100", "", nil, 200, `"items":[]`},
		{"products page 0", "GET", "/api/products?page=0", "", nil, 400, "page"},
		{"products page negative", "GET", "/api/products?page=-1", "", nil, 400, "page"},
		{"products page not a number", "GET", "/api/products?page=x", "", nil, 400, "page"},
		{"products per_page 0", "GET", "/api/products?per_page=0", "", nil, 400, "per_page"},
		{"products per_page 101", "GET", "/api/products?per_page=101", "", nil, 400, "per_page"},
		{"product", "GET", "/api/products/42", "", nil, 200, `"id":42,`},
		{"product first", "GET", "/api/products/1", "", nil, 200, `"reviews"`},
		{"product 0", "GET", "/api/products/0", "", nil, 404, "product not found"},
		{"product past the catalog", "GET", "/api/products/1001", "", nil, 404, "product not found"},
		{"product not a number", "GET", "/api/products/abc", "", nil, 404, "product not found"},
		{"search", "GET", "/api/search?q=widget", "", nil, 200, "Widget"},
		{"search no match", "GET", "/api/search?q=zzzz", "", nil, 200, `"items":[]`},
		{"search empty", "GET", "/api/search?q=", "", nil, 400, "q is required"},
		{"search missing", "GET", "/api/search", "", nil, 400, "q is required"},
		{"login ok", "POST", "/api/login", `{"username":"user3","password":"correct-horse-3"}`, nil, 200, `"token":"`},
		{"login wrong password", "POST", "/api/login", `{"username":"user3","password":"correct-horse-4"}`, nil, 401, "invalid credentials"},
		{"login unknown user", "POST", "/api/login", `{"username":"user501","password":"correct-horse-501"}`, nil, 401, "invalid credentials"},
		{"login user0", "POST", "/api/login", `{"username":"user0","password":"correct-horse-0"}`, nil, 401, "invalid credentials"},
		{"login leading zero", "POST", "/api/login", `{"username":"user03","password":"correct-horse-3"}`, nil, 401, "invalid credentials"},
		{"login bad json", "POST", "/api/login", `{"username":`, nil, 400, "invalid JSON"},
		{"login GET", "GET", "/api/login", "", nil, 404, "not found"},
		{"signup new", "POST", "/api/signup", `{"email":"new@example.org"}`, nil, 201, "created"},
		{"signup taken", "POST", "/api/signup", `{"email":"user9@example.com"}`, nil, 409, "already exists"},
		{"signup taken any case", "POST", "/api/signup", `{"email":"User9@Example.com"}`, nil, 409, "already exists"},
		{"signup bad email", "POST", "/api/signup", `{"email":"nope"}`, nil, 400, "valid email"},
		{"signup no email", "POST", "/api/signup", `{}`, nil, 400, "valid email"},
		{"reset known", "POST", "/api/password-reset", `{"email":"user9@example.com"}`, nil, 202, "reset email sent"},
		{"reset unknown", "POST", "/api/password-reset", `{"email":"ghost@example.com"}`, nil, 404, "no account"},
		{"reset bad email", "POST", "/api/password-reset", `{"email":"@"}`, nil, 400, "valid email"},
		{"promo valid", "POST", "/api/promo/redeem", `{"code":"WELCOME10"}`, nil, 200, `"discount_percent":10`},
		{"promo other valid", "POST", "/api/promo/redeem", `{"code":"FREESHIP"}`, nil, 200, `"discount_percent"`},
		{"promo wrong", "POST", "/api/promo/redeem", `{"code":"WELCOME11"}`, nil, 400, "invalid promo code"},
		{"promo lower case", "POST", "/api/promo/redeem", `{"code":"welcome10"}`, nil, 400, "invalid promo code"},
		{"promo empty", "POST", "/api/promo/redeem", `{}`, nil, 400, "invalid promo code"},
		{"orders no token", "GET", "/api/orders", "", nil, 401, "login required"},
		{"orders bad token", "GET", "/api/orders", "", []string{"Authorization", "Bearer nope"}, 401, "login required"},
		{"orders no bearer", "GET", "/api/orders", "", []string{"Authorization", token}, 401, "login required"},
		{"orders", "GET", "/api/orders", "", []string{"Authorization", "Bearer " + token}, 200, `"orders":[`},
		{"order create no token", "POST", "/api/orders", `{"product_id":1,"quantity":1}`, nil, 401, "login required"},
		{"order create", "POST", "/api/orders", `{"product_id":5,"quantity":2}`, []string{"Authorization", "Bearer " + token}, 201, `"user_id":7`},
		{"order unknown product", "POST", "/api/orders", `{"product_id":5000,"quantity":2}`, []string{"Authorization", "Bearer " + token}, 400, "product_id"},
		{"order zero quantity", "POST", "/api/orders", `{"product_id":5,"quantity":0}`, []string{"Authorization", "Bearer " + token}, 400, "quantity"},
		{"partner orders", "GET", "/api/partner/orders", "", []string{"X-API-Key", DemoPartnerKey}, 200, `"partner":"acme"`},
		{"partner inventory", "GET", "/api/partner/inventory", "", []string{"X-API-Key", DemoPartnerKey}, 200, `"inventory":[{"id":1,`},
		{"partner no key", "GET", "/api/partner/orders", "", nil, 401, "API key"},
		{"partner unknown key", "GET", "/api/partner/inventory", "", []string{"X-API-Key", "stolen"}, 401, "API key"},
		{"partner bearer is not a key", "GET", "/api/partner/orders", "", []string{"Authorization", "Bearer " + token}, 401, "API key"},
		{"graphql", "POST", "/graphql", `{"query":"{ product(id: 1) { id } }"}`, nil, 200, `{"data":{"product":{"id":1}}}`},
		{"graphql bad json", "POST", "/graphql", `{"query":`, nil, 400, `"errors"`},
		{"graphql syntax", "POST", "/graphql", `{"query":"{ product(id: 1) { id }"}`, nil, 400, "syntax error"},
		{"graphql GET", "GET", "/graphql", "", nil, 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, a, tt.method, tt.target, tt.body, tt.header...)
			if code != tt.want || !strings.Contains(body, tt.contains) {
				t.Errorf("%s %s: got %d %s; want %d containing %q", tt.method, tt.target, code, body, tt.want, tt.contains)
			}
		})
	}
}

func TestSignupThenTaken(t *testing.T) {
	a := New(Options{Seed: 1})
	steps := []struct {
		name, target, email string
		want                int
	}{
		{"reset before signup", "/api/password-reset", "fresh@example.net", 404},
		{"signup", "/api/signup", "fresh@example.net", 201},
		{"signup again", "/api/signup", "fresh@example.net", 409},
		{"reset after signup", "/api/password-reset", "Fresh@example.net", 202},
	}
	for _, s := range steps {
		if code, body := do(t, a, "POST", s.target, fmt.Sprintf(`{"email":%q}`, s.email)); code != s.want {
			t.Errorf("%s: got %d %s, want %d", s.name, code, body, s.want)
		}
	}
}

func TestSessionOrders(t *testing.T) {
	a := New(Options{Seed: 3})
	t1, t2 := login(t, a, "user2", "correct-horse-2"), login(t, a, "user2", "correct-horse-2")
	if t1 == t2 {
		t.Fatalf("two logins got one token %s", t1)
	}
	count := func(token string) int {
		code, body := do(t, a, "GET", "/api/orders", "", "Authorization", "Bearer "+token)
		var resp struct{ Orders []order }
		if code != 200 || json.Unmarshal([]byte(body), &resp) != nil {
			t.Fatalf("orders: %d %s", code, body)
		}
		for _, o := range resp.Orders {
			if o.User != 2 {
				t.Fatalf("order %d of user %d listed for user2", o.ID, o.User)
			}
		}
		return len(resp.Orders)
	}
	before := count(t1)
	code, body := do(t, a, "POST", "/api/orders", `{"product_id":3,"quantity":2}`, "Authorization", "Bearer "+t2)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var o order
	if err := json.Unmarshal([]byte(body), &o); err != nil || o.Total != 2*a.products[2].Price || o.Status != "processing" {
		t.Fatalf("created order %s: %+v %v", body, o, err)
	}
	if after := count(t1); after != before+1 {
		t.Errorf("orders after create: %d, want %d", after, before+1)
	}
}

func TestPaginationCoversCatalog(t *testing.T) {
	a := New(Options{Seed: 1, Products: 95})
	seen := map[int]bool{}
	for page := 1; ; page++ {
		code, body := do(t, a, "GET", fmt.Sprintf("/api/products?page=%d&per_page=10", page), "")
		var resp struct {
			Items      []product
			TotalPages int `json:"total_pages"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &resp) != nil {
			t.Fatalf("page %d: %d %s", page, code, body)
		}
		if resp.TotalPages != 10 {
			t.Fatalf("total_pages %d, want 10", resp.TotalPages)
		}
		if len(resp.Items) == 0 {
			break
		}
		for _, p := range resp.Items {
			seen[p.ID] = true
		}
	}
	if len(seen) != 95 || !seen[1] || !seen[95] {
		t.Errorf("pages covered %d products, want ids 1..95", len(seen))
	}
}

func TestOptions(t *testing.T) {
	a := New(Options{Users: 3, PartnerKeys: map[string]string{"k1": "globex"}, PromoCodes: []string{"ONLY"}})
	tests := []struct {
		name, method, target, body string
		header                     []string
		want                       int
	}{
		{"custom key", "GET", "/api/partner/orders", "", []string{"X-API-Key", "k1"}, 200},
		{"default key gone", "GET", "/api/partner/orders", "", []string{"X-API-Key", DemoPartnerKey}, 401},
		{"custom promo", "POST", "/api/promo/redeem", `{"code":"ONLY"}`, nil, 200},
		{"default promo gone", "POST", "/api/promo/redeem", `{"code":"WELCOME10"}`, nil, 400},
		{"last user", "POST", "/api/login", `{"username":"user3","password":"correct-horse-3"}`, nil, 200},
		{"past the users", "POST", "/api/login", `{"username":"user4","password":"correct-horse-4"}`, nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := do(t, a, tt.method, tt.target, tt.body, tt.header...); code != tt.want {
				t.Errorf("got %d %s, want %d", code, body, tt.want)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	script := func(a *API) string {
		var out strings.Builder
		for _, r := range []struct{ method, target, body string }{
			{"GET", "/api/products?page=3&per_page=50", ""},
			{"GET", "/api/products/77", ""},
			{"GET", "/api/search?q=lamp", ""},
			{"POST", "/api/login", `{"username":"user1","password":"correct-horse-1"}`},
			{"GET", "/api/partner/orders", ""},
			{"POST", "/graphql", `{"query":"{ products(first: 20) { name reviews { rating author { username orders { total } } } } }"}`},
		} {
			code, body := do(t, a, r.method, r.target, r.body, "X-API-Key", DemoPartnerKey)
			fmt.Fprintf(&out, "%d %s\n", code, body)
		}
		return out.String()
	}
	at := func() time.Time { return time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC) }
	one, two := script(New(Options{Seed: 42, Now: at})), script(New(Options{Seed: 42, Now: at}))
	if one != two {
		t.Errorf("seed 42 answered differently twice")
	}
	if other := script(New(Options{Seed: 43, Now: at})); other == one {
		t.Errorf("seeds 42 and 43 answered alike")
	}
}

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

func TestConcurrent(t *testing.T) {
	a := New(Options{Seed: 5})
	srv := httptest.NewServer(a) // loopback
	defer srv.Close()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				user := fmt.Sprintf("user%d", 1+(g*20+i)%500)
				token := login(t, a, user, "correct-horse-"+strings.TrimPrefix(user, "user"))
				reqs := []struct{ method, path, body, auth string }{
					{"POST", "/api/orders", `{"product_id":1,"quantity":1}`, "Bearer " + token},
					{"GET", "/api/orders", "", "Bearer " + token},
					{"POST", "/api/signup", fmt.Sprintf(`{"email":"c%d-%d@example.org"}`, g, i), ""},
					{"POST", "/api/password-reset", `{"email":"user1@example.com"}`, ""},
					{"POST", "/graphql", `{"query":"{ user(id: 1) { orders(first: 100) { total } } }"}`, ""},
					{"GET", "/api/partner/orders", "", ""},
				}
				for _, r := range reqs {
					req, _ := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader(r.body))
					req.Header.Set("Authorization", r.auth)
					req.Header.Set("X-API-Key", DemoPartnerKey)
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode >= 300 {
						t.Errorf("%s %s: %d", r.method, r.path, resp.StatusCode)
					}
				}
			}
		})
	}
	wg.Wait()
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

func TestSessionTokens(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	a := New(Options{Seed: 1, Now: func() time.Time { return now }})
	token := login(t, a, "user7", "correct-horse-7")
	if code, _ := do(t, a, "GET", "/api/orders", "", "Authorization", "Bearer "+token); code != 200 {
		t.Fatalf("fresh token: %d", code)
	}
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "user7", Issuer: TokenIssuer,
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString([]byte("another secret"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := do(t, a, "GET", "/api/orders", "", "Authorization", "Bearer "+forged); code != 401 {
		t.Errorf("token signed with another secret: %d, want 401", code)
	}
	now = now.Add(25 * time.Hour)
	if code, _ := do(t, a, "GET", "/api/orders", "", "Authorization", "Bearer "+token); code != 401 {
		t.Errorf("token after a day: %d, want 401", code)
	}
}
