package tickets

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEventID checks that event ids are RFC 9562 version 5 UUIDs of
// EventURL in the URL namespace (the value Python's
// uuid.uuid5(uuid.NAMESPACE_URL, "https://tix.example/events/1") gives).
func TestEventID(t *testing.T) {
	if got, want := EventID(1), "56e91faa-6f9c-5bf7-8d7b-8ed4168d84e9"; got != want {
		t.Fatalf("EventID(1) = %s, want %s", got, want)
	}
	if EventID(2) == EventID(1) {
		t.Fatal("EventID(2) == EventID(1)")
	}
}

// TestStatusSemantics checks the answers the ticketing API is shaped by:
// 400 invalid_grant for a wrong password, 409 for a taken email, 204 on
// recovery whatever the email, 404 for an unknown discount code or event,
// 401 for a bad X-Auth-Token, and an access token that opens the fan's
// tickets as "Authorization: Token" and as the tix_sess cookie.
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
		{"GET", "/", "", nil, 200},
		{"GET", "/static/app.js", "", nil, 200},
		{"GET", "/api/v3/events/" + EventID(1), "", nil, 200},
		{"GET", "/api/v3/events/" + EventID(1500), "", nil, 200},
		{"GET", "/api/v3/events/" + EventID(1501), "", nil, 404},
		{"GET", "/api/v3/events/42", "", nil, 404},
		{"GET", "/api/v3/events?offset=40&count=20", "", nil, 200},
		{"GET", "/api/v3/events?offset=-1", "", nil, 400},
		{"GET", "/api/v3/search?query=jazz", "", nil, 200},
		{"GET", "/api/v3/search", "", nil, 400},
		{"POST", "/oauth/token", `{"grant_type":"password","username":"fan1@tix.example","password":"nope"}`, nil, 400},
		{"POST", "/oauth/token", `{"grant_type":"password","username":"ghost@tix.example","password":"x"}`, nil, 400},
		{"POST", "/oauth/token", `{"grant_type":"client_credentials"}`, nil, 400},
		{"POST", "/oauth/token", `not json`, nil, 400},
		{"POST", "/api/v3/accounts", `{"email":"fan2@tix.example"}`, nil, 409},
		{"POST", "/api/v3/accounts", `{"email":"new@tix.example"}`, nil, 201},
		{"POST", "/api/v3/accounts", `{"email":"new@tix.example"}`, nil, 409},
		{"POST", "/api/v3/accounts/recovery", `{"email":"fan2@tix.example"}`, nil, 204},
		{"POST", "/api/v3/accounts/recovery", `{"email":"ghost@tix.example"}`, nil, 204},
		{"POST", "/api/v3/carts/current/discount", `{"discount_code":"` + DemoCode + `"}`, nil, 200},
		{"POST", "/api/v3/carts/current/discount", `{"discount_code":"ABCDEFGH"}`, nil, 404},
		{"GET", "/api/v3/me/tickets", "", nil, 401},
		{"GET", "/api/v3/partners/events", "", []string{KeyHeader, DemoPartnerKey}, 200},
		{"GET", "/api/v3/partners/availability", "", []string{KeyHeader, "tix_pk_made_up"}, 401},
		{"GET", "/api/v3/partners/events", "", []string{"X-API-Key", DemoPartnerKey}, 401},
		{"GET", "/api/v3/ops/replay-queue", "", nil, 404},
	} {
		if got := do(tc.method, tc.path, tc.body, tc.header...).Code; got != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.method, tc.path, tc.body, got, tc.want)
		}
	}
	if got := do("POST", "/oauth/token", `{"grant_type":"password","username":"fan1@tix.example","password":"nope"}`).Body.String(); !strings.Contains(got, `"invalid_grant"`) {
		t.Errorf("wrong password: %s, want invalid_grant", got)
	}
	w := do("POST", "/oauth/token", `{"grant_type":"password","username":"`+DemoFan+`","password":"`+DemoPassword+`"}`)
	var body struct {
		AccessToken string `json:"access_token"`
	}
	cookies := w.Result().Cookies()
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.AccessToken == "" || len(cookies) != 1 || cookies[0].Name != SessionCookie {
		t.Fatalf("sign-in: %d %s %v", w.Code, w.Body, cookies)
	}
	if got := do("GET", "/api/v3/me/tickets", "", "Authorization", "Token "+body.AccessToken).Code; got != 200 {
		t.Errorf("tickets with Authorization: Token: %d", got)
	}
	if got := do("GET", "/api/v3/me/tickets", "", "Cookie", SessionCookie+"="+cookies[0].Value).Code; got != 200 {
		t.Errorf("tickets with the session cookie: %d", got)
	}
	if got := do("GET", "/api/v3/me/tickets", "", "Authorization", "Bearer "+body.AccessToken).Code; got != 401 {
		t.Errorf("tickets with Authorization: Bearer: %d, want 401", got)
	}
}
