package bank

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func do(t *testing.T, a *API, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

func TestMerchants(t *testing.T) {
	a := New(Options{Seed: 1})
	if got := MerchantID(7); got != "mch_100000000007" {
		t.Fatalf("MerchantID(7) = %q", got)
	}
	if w := do(t, a, "GET", "/v1/merchants/"+MerchantID(1000), ""); w.Code != 200 || !strings.Contains(w.Body.String(), MerchantID(1000)) {
		t.Errorf("last merchant: %d %s", w.Code, w.Body)
	}
	for _, id := range []string{MerchantID(1001), "mch_1", "100000000001", "mch_x"} {
		if w := do(t, a, "GET", "/v1/merchants/"+id, ""); w.Code != 404 {
			t.Errorf("GET %s: %d, want 404", id, w.Code)
		}
	}
	if w := do(t, a, "GET", "/v1/merchants?cursor=-1", ""); w.Code != 400 {
		t.Errorf("negative cursor: %d, want 400", w.Code)
	}
	if w := do(t, a, "GET", "/v1/merchants/search?q=london", ""); w.Code != 200 {
		t.Errorf("search: %d", w.Code)
	}
}

func TestLoginSessionAndToken(t *testing.T) {
	a := New(Options{Seed: 1})
	if w := do(t, a, "POST", "/v1/auth/login", `{"phone":"`+PhoneOf(3)+`","pin":"000000"}`); w.Code != 403 {
		t.Errorf("wrong PIN: %d, want 403", w.Code)
	}
	if w := do(t, a, "POST", "/v1/auth/login", `{"phone":"+447700999999","pin":"`+PINOf(3)+`"}`); w.Code != 403 {
		t.Errorf("unknown phone: %d, want 403", w.Code)
	}
	w := do(t, a, "POST", "/v1/auth/login", `{"phone":"`+PhoneOf(3)+`","pin":"`+PINOf(3)+`"}`)
	if w.Code != 200 {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	var cookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	if w := do(t, a, "GET", "/v1/me/transactions", "", "Cookie", SessionCookie+"="+cookie.Value); w.Code != 200 {
		t.Errorf("by cookie: %d", w.Code)
	}
	if w := do(t, a, "GET", "/v1/me/transactions", "", "Authorization", "Bearer "+cookie.Value); w.Code != 200 {
		t.Errorf("by bearer token: %d", w.Code)
	}
	if w := do(t, a, "GET", "/v1/me/transactions", "", "Authorization", "Bearer nope"); w.Code != 401 {
		t.Errorf("unknown token: %d, want 401", w.Code)
	}
}

func TestAccountsCodesAndKeys(t *testing.T) {
	a := New(Options{Seed: 1})
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/v1/customers", `{"email":"new@mail.example"}`, 201},
		{"POST", "/v1/customers", `{"email":"customer5@mail.example"}`, 409},
		{"POST", "/v1/customers", `{"email":"nope"}`, 422},
		{"POST", "/v1/auth/pin-reset", `{"email":"customer5@mail.example"}`, 202},
		{"POST", "/v1/auth/pin-reset", `{"email":"nobody@mail.example"}`, 202},
		{"POST", "/v1/recipients/resolve", `{"email":"customer5@mail.example"}`, 200},
		{"POST", "/v1/recipients/resolve", `{"email":"nobody@mail.example"}`, 404},
		{"POST", "/v1/referrals/redeem", `{"referral_code":"friend"}`, 200},
		{"POST", "/v1/referrals/redeem", `{"referral_code":"ABC123"}`, 422},
		{"POST", "/v1/referrals/redeem", `{`, 400},
		{"GET", "/v1/internal/ledger/export", "", 404},
	} {
		if w := do(t, a, tc.method, tc.path, tc.body); w.Code != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.method, tc.path, tc.body, w.Code, tc.want)
		}
	}
	if w := do(t, a, "GET", "/v1/aggregator/accounts", "", "Ocp-Apim-Subscription-Key", DemoPartnerKey); w.Code != 200 || !strings.Contains(w.Body.String(), "ledgerly") {
		t.Errorf("partner key: %d %s", w.Code, w.Body)
	}
	if w := do(t, a, "GET", "/v1/aggregator/accounts", "", "Authorization", "Bearer "+DemoPartnerKey); w.Code != 401 {
		t.Errorf("key in the wrong header: %d, want 401", w.Code)
	}
	if w := do(t, a, "GET", "/v1/aggregator/balances", "", "Ocp-Apim-Subscription-Key", DemoPartnerKey); w.Code != 404 {
		t.Errorf("unknown feed: %d, want 404", w.Code)
	}
}
