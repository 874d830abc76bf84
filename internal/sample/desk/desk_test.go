package desk

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestArticleID checks that article ids are 6 base62 digits, distinct for
// the help centre, and not in the order of the articles (the first
// computed independently: 35104397395 in base62).
func TestArticleID(t *testing.T) {
	if got, want := ArticleID(1), "cJiTNz"; got != want {
		t.Errorf("ArticleID(1) = %s, want %s", got, want)
	}
	seen := map[string]bool{}
	ascending := 0
	for n := 1; n <= 1200; n++ {
		id := ArticleID(n)
		if len(id) != 6 || strings.Trim(id, base62) != "" || seen[id] {
			t.Fatalf("ArticleID(%d) = %q: want 6 distinct base62 digits", n, id)
		}
		seen[id] = true
		if n > 1 && id > ArticleID(n-1) {
			ascending++
		}
	}
	if ascending > 800 {
		t.Errorf("%d of 1199 ids follow in order: want them unordered", ascending)
	}
}

// swapCase turns id's upper-case letters lower and its lower-case upper.
func swapCase(id string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z':
			return c - 'a' + 'A'
		case c >= 'A' && c <= 'Z':
			return c - 'A' + 'a'
		}
		return c
	}, id)
}

func do(a *API, method, path, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

const formType = "application/x-www-form-urlencoded"

// TestStatusSemantics checks the answers the help-desk API is shaped by:
// 303 and a session cookie for a right form sign-in, 422 for a wrong one,
// 201 {"jwt"} and 401 for the app's, 401 for a wrong second factor, 422
// for a taken workspace email or subdomain, 200 on reset whatever the
// email, 200 or 404 on the people lookup, 400 for an unknown promotion
// code, 404 for an unknown article, and 401 for a wrong Basic key.
func TestStatusSemantics(t *testing.T) {
	a := New(Options{Seed: 1})
	basic := func(key string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":")) }
	for _, tc := range []struct {
		method, path, body string
		header             []string
		want               int
	}{
		{"GET", "/", "", nil, 200},
		{"GET", "/assets/application-3f9c2b.js", "", nil, 200},
		{"GET", "/assets/app.js", "", nil, 404},
		{"GET", "/api/help/articles/" + ArticleID(1), "", nil, 200},
		{"GET", "/api/help/articles/" + ArticleID(1200), "", nil, 200},
		{"GET", "/api/help/articles/" + ArticleID(1201), "", nil, 404},
		{"GET", "/api/help/articles/" + swapCase(ArticleID(1)), "", nil, 404},
		{"GET", "/api/help/articles/1", "", nil, 404},
		{"GET", "/api/help/articles?page=3", "", nil, 200},
		{"GET", "/api/help/articles?page=0", "", nil, 400},
		{"GET", "/api/help/search?term=macros", "", nil, 200},
		{"GET", "/api/help/search", "", nil, 400},
		{"POST", "/users/sign_in", "user[email]=agent1%40northwind.example&user[password]=nope", []string{"Content-Type", formType}, 422},
		{"POST", "/users/sign_in", "user[email]=ghost%40northwind.example&user[password]=x", []string{"Content-Type", formType}, 422},
		{"POST", "/users/sign_in", "user[email]=agent1%40northwind.example&user[password]=nope", []string{"Content-Type", formType, "Accept", "application/json"}, 401},
		{"POST", "/users/otp", "otp_attempt=123456", []string{"Content-Type", formType}, 401},
		{"POST", "/users/password", "user[email]=agent2%40northwind.example", []string{"Content-Type", formType}, 200},
		{"POST", "/users/password", "user[email]=ghost%40example.org", []string{"Content-Type", formType}, 200},
		{"POST", "/api/workspaces", `{"email":"agent2@northwind.example"}`, nil, 422},
		{"POST", "/api/workspaces", `{"email":"new@example.net"}`, nil, 201},
		{"POST", "/api/workspaces", `{"email":"new@example.net"}`, nil, 422},
		{"POST", "/api/workspaces", `{"email":"other@example.net","subdomain":"northwind"}`, nil, 422},
		{"POST", "/api/workspaces", `{"email":"nope"}`, nil, 422},
		{"GET", "/api/people/lookup?email=agent3%40northwind.example", "", nil, 200},
		{"GET", "/api/people/lookup?email=ghost%40example.org", "", nil, 404},
		{"GET", "/api/people/lookup", "", nil, 400},
		{"POST", "/api/billing/apply", `{"promotionCode":"` + DemoCode + `"}`, nil, 200},
		{"POST", "/api/billing/apply", `{"promotionCode":"ABCDEFGH"}`, nil, 400},
		{"GET", "/api/conversations", "", nil, 401},
		{"GET", "/api/export/conversations", "", []string{"Authorization", basic(DemoPartnerKey)}, 200},
		{"GET", "/api/export/contacts", "", []string{"Authorization", basic("dsk_live_made_up")}, 401},
		{"GET", "/api/export/contacts", "", []string{"Authorization", "Bearer " + DemoPartnerKey}, 401},
		{"GET", "/api/export/invoices", "", []string{"Authorization", basic(DemoPartnerKey)}, 404},
		{"GET", "/api/legacy/export.csv", "", nil, 404},
	} {
		if got := do(a, tc.method, tc.path, tc.body, tc.header...).Code; got != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.method, tc.path, tc.body, got, tc.want)
		}
	}
}

// TestSignIns checks both sign-ins and the second factor: the browser's
// 303 and cookie, the app's HS256 JWT, each of which opens the agent's
// conversations, and an admin's OTP step.
func TestSignIns(t *testing.T) {
	a := New(Options{Seed: 1, JWTSecret: []byte("test-secret")})
	creds := "user[email]=" + strings.Replace(DemoAgent, "@", "%40", 1) + "&user[password]=" + DemoPassword
	w := do(a, "POST", "/users/sign_in", creds, "Content-Type", formType, "Accept", "text/html")
	cookies := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" || len(cookies) != 1 || cookies[0].Name != SessionCookie {
		t.Fatalf("web sign-in: %d %v %v", w.Code, w.Header(), cookies)
	}
	if got := do(a, "GET", "/api/conversations", "", "Cookie", SessionCookie+"="+cookies[0].Value).Code; got != 200 {
		t.Errorf("conversations with the session cookie: %d", got)
	}
	if got := do(a, "GET", "/api/conversations", "", "Cookie", SessionCookie+"=made-up").Code; got != 401 {
		t.Errorf("conversations with a made-up cookie: %d, want 401", got)
	}

	w = do(a, "POST", "/users/sign_in", creds, "Content-Type", formType, "Accept", "application/json")
	var body struct{ JWT string }
	if w.Code != 201 || json.Unmarshal(w.Body.Bytes(), &body) != nil {
		t.Fatalf("app sign-in: %d %s", w.Code, w.Body)
	}
	tok, err := jwt.Parse(body.JWT, func(*jwt.Token) (any, error) { return []byte("test-secret"), nil }, jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(JWTIssuer))
	if err != nil {
		t.Fatalf("app token %q: %v", body.JWT, err)
	}
	if sub, _ := tok.Claims.GetSubject(); sub != DemoAgent {
		t.Errorf("app token subject %q, want %s", sub, DemoAgent)
	}
	if got := do(a, "GET", "/api/conversations", "", "Authorization", "Bearer "+body.JWT).Code; got != 200 {
		t.Errorf("conversations with the JWT: %d", got)
	}
	if got := do(a, "GET", "/api/conversations", "", "Authorization", "Bearer "+body.JWT+"x").Code; got != 401 {
		t.Errorf("conversations with a tampered JWT: %d, want 401", got)
	}

	admin := "admin1@northwind.example"
	w = do(a, "POST", "/users/sign_in", "user[email]=admin1%40northwind.example&user[password]=desk-admin-1", "Content-Type", formType)
	cookies = w.Result().Cookies()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/users/otp" || len(cookies) != 1 || cookies[0].Name != OTPCookie {
		t.Fatalf("admin sign-in: %d %v %v", w.Code, w.Header(), cookies)
	}
	pending := OTPCookie + "=" + cookies[0].Value
	wrong := "000000"
	if a.OTP(admin) == wrong {
		wrong = "111111"
	}
	if got := do(a, "POST", "/users/otp", "otp_attempt="+wrong, "Content-Type", formType, "Cookie", pending).Code; got != 401 {
		t.Errorf("wrong OTP: %d, want 401", got)
	}
	w = do(a, "POST", "/users/otp", "otp_attempt="+a.OTP(admin), "Content-Type", formType, "Cookie", pending)
	if w.Code != http.StatusSeeOther || !slices.ContainsFunc(w.Result().Cookies(), func(c *http.Cookie) bool { return c.Name == SessionCookie && c.Value != "" }) {
		t.Errorf("right OTP: %d %v, want 303 and a session", w.Code, w.Header())
	}
	if got := do(a, "POST", "/users/otp", "otp_attempt="+a.OTP(admin), "Content-Type", formType, "Cookie", pending).Code; got != 401 {
		t.Errorf("the pending sign-in used twice: %d, want 401", got)
	}
}
