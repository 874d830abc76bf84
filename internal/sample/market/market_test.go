package market

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStatusSemantics checks the answers the marketplace is shaped by:
// 403 for a wrong password and a bad key, 400 and 422 for vouchers, 404
// and 410 for listings, 422 for an unknown account on recovery, and a
// sid cookie that opens the buyer's purchases.
func TestStatusSemantics(t *testing.T) {
	a := New(Options{Seed: 1})
	do := func(method, path, body string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct {
		method, path, body string
		header             []string
		want               int
	}{
		{"GET", "/v2/listings/" + Slug(1), "", nil, 200},
		{"GET", "/v2/listings/" + Slug(2001), "", nil, 410},
		{"GET", "/v2/listings/" + Slug(2201), "", nil, 404},
		{"GET", "/v2/listings/widget", "", nil, 404},
		{"GET", "/v2/listings?cursor=24&limit=24", "", nil, 200},
		{"GET", "/v2/find?term=desk", "", nil, 200},
		{"GET", "/v2/find", "", nil, 422},
		{"POST", "/auth/session", `{"email":"buyer1@market.example","password":"nope"}`, nil, 403},
		{"POST", "/auth/session", `{"email":"nobody@market.example","password":"x"}`, nil, 403},
		{"POST", "/auth/session", `not json`, nil, 400},
		{"POST", "/redeem", `{"voucher":"SHORT"}`, nil, 400},
		{"POST", "/redeem", `{"voucher":"ABCDEFGHJK"}`, nil, 422},
		{"POST", "/redeem", `{"voucher":"` + DemoVoucher + `"}`, nil, 200},
		{"POST", "/auth/recover", `{"email":"buyer2@market.example"}`, nil, 202},
		{"POST", "/auth/recover", `{"email":"ghost@market.example"}`, nil, 422},
		{"POST", "/auth/register", `{"email":"new@market.example"}`, nil, 201},
		{"POST", "/auth/register", `{"email":"new@market.example"}`, nil, 422},
		{"GET", "/v2/me/purchases", "", nil, 403},
		{"GET", "/v2/sync/stock", "", []string{"Authorization", "Bearer " + DemoPartnerKey}, 200},
		{"GET", "/v2/sync/stock", "", []string{"Authorization", "Bearer mk_live_made_up"}, 403},
		{"GET", "/v2/sync/stock", "", []string{"X-API-Key", DemoPartnerKey}, 403},
		{"GET", "/.env", "", nil, 404},
	} {
		if got := do(tc.method, tc.path, tc.body, tc.header...).Code; got != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.method, tc.path, tc.body, got, tc.want)
		}
	}
	w := do("POST", "/auth/session", `{"email":"`+DemoBuyer+`","password":"`+DemoPassword+`"}`)
	cookies := w.Result().Cookies()
	if w.Code != 201 || len(cookies) != 1 || cookies[0].Name != SessionCookie || cookies[0].Value == "" {
		t.Fatalf("sign-in: %d %v", w.Code, cookies)
	}
	if got := do("GET", "/v2/me/purchases", "", "Cookie", SessionCookie+"="+cookies[0].Value).Code; got != http.StatusOK {
		t.Fatalf("purchases with the session cookie: %d", got)
	}
}
