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
