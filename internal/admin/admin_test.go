package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"
	"github.com/abuseguard/abuseguard/internal/verdict"

	"github.com/abuseguard/abuseguard/internal/decision"
)

const token = "s3cret-admin-token"

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

type fixture struct {
	srv     *httptest.Server
	store   decision.Store
	clock   *clock.Fake
	mu      sync.Mutex
	changes []string
}

func newFixture(t *testing.T, ex Explainer) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(t0)}
	var err error
	f.store, err = decision.Open(decision.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	f.srv = httptest.NewServer(Handler(Options{
		Decisions: f.store, Explainer: ex, Token: token, Now: f.clock.Now,
		OnChange: func(kind string, d decision.Decision) {
			f.mu.Lock()
			f.changes = append(f.changes, kind+" "+d.ID)
			f.mu.Unlock()
		},
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request with the admin token and decodes a JSON answer into
// out (when not nil). It returns the status and the raw body.
func (f *fixture) do(t *testing.T, method, path, body string, out any) (int, string) {
	t.Helper()
	return send(t, f.srv.URL, "Bearer "+token, method, path, body, out)
}

func send(t *testing.T, base, auth, method, path, body string, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}

type problemBody struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

func TestAuth(t *testing.T) {
	f := newFixture(t, nil)
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic " + token, "Bearer " + token + "x", "Bearer " + token[:5]} {
		var p problemBody
		status, _ := send(t, f.srv.URL, auth, "GET", "/v1/decisions", "", &p)
		if status != http.StatusUnauthorized || p.Reason != "unauthorized" {
			t.Errorf("Authorization %q: %d %+v; want 401 unauthorized", auth, status, p)
		}
	}
	// Unauthenticated requests learn nothing about routes.
	if status, _ := send(t, f.srv.URL, "", "DELETE", "/v1/nothing-here", "", nil); status != http.StatusUnauthorized {
		t.Errorf("unknown route without a token: %d, want 401", status)
	}
	if status, _ := send(t, f.srv.URL, "bearer "+token, "GET", "/v1/decisions", "", nil); status != http.StatusOK {
		t.Errorf("lower-case scheme: %d, want 200", status)
	}
}

func TestDisabledWithoutToken(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{}))
	defer srv.Close()
	var p problemBody
	status, _ := send(t, srv.URL, "Bearer ", "GET", "/v1/decisions", "", &p)
	if status != http.StatusNotFound || p.Reason != "admin_disabled" || !strings.Contains(p.Detail, "token") {
		t.Fatalf("%d %+v; want 404 admin_disabled", status, p)
	}
}

func TestDecisionRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	var added decision.Decision
	status, raw := f.do(t, "POST", "/v1/decisions", `{"scope":"ip","value":"203.0.113.7","action":"block","ttl":"30m","reason":"credential stuffing"}`, &added)
	if status != http.StatusCreated {
		t.Fatalf("POST: %d %s", status, raw)
	}
	if added.ID == "" || added.Source != decision.SourceManual || added.Reason != "credential stuffing" || added.Mode != verdict.Enforce ||
		!added.Expires.Equal(t0.Add(30*time.Minute)) || len(added.Evidence) != 1 || !strings.Contains(added.Evidence[0].Summary, "127.0.0.1") {
		t.Fatalf("added %+v", added)
	}
	if d := f.store.Active(verdict.ScopeIP, []byte("203.0.113.7"), t0.UnixNano()); d == nil || d.ID != added.ID {
		t.Fatalf("not in force: %v", d)
	}

	// A weaker one is not added; the block is returned with 200.
	var kept decision.Decision
	if status, _ := f.do(t, "POST", "/v1/decisions", `{"scope":"ip","value":"203.0.113.7","action":"throttle"}`, &kept); status != http.StatusOK || kept.ID != added.ID {
		t.Fatalf("weaker POST: %d, kept %s; want 200 and %s", status, kept.ID, added.ID)
	}
	f.clock.Advance(time.Second)
	var other decision.Decision
	f.do(t, "POST", "/v1/decisions", `{"scope":"prefix","value":"198.51.100.9/24","action":"throttle","mode":"shadow"}`, &other)
	if other.Value != "198.51.100.0/24" || other.Mode != verdict.Shadow || !other.Expires.Equal(f.clock.Now().Add(DefaultTTL)) {
		t.Fatalf("prefix decision %+v", other)
	}

	var list decisionList
	if status, raw := f.do(t, "GET", "/v1/decisions", "", &list); status != http.StatusOK || list.Total != 2 || len(list.Decisions) != 2 || list.Decisions[0].ID != added.ID {
		t.Fatalf("list: %d %s", status, raw)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?scope=ip", []string{added.ID}},
		{"?scope=prefix&value=" + url.QueryEscape("198.51.100.0/24"), []string{other.ID}},
		{"?scope=ip&value=203.0.113.8", nil},
		{"?limit=1", []string{other.ID}},
	} {
		var l decisionList
		f.do(t, "GET", "/v1/decisions"+tc.query, "", &l)
		var ids []string
		for _, d := range l.Decisions {
			ids = append(ids, d.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.want, ",") || l.Decisions == nil {
			t.Errorf("list%s = %v, want %v", tc.query, ids, tc.want)
		}
	}

	var got decision.Decision
	if status, _ := f.do(t, "GET", "/v1/decisions/"+added.ID, "", &got); status != http.StatusOK || got.ID != added.ID || got.Reason != added.Reason {
		t.Fatalf("get: %d %+v", status, got)
	}
	var removed decision.Decision
	if status, _ := f.do(t, "DELETE", "/v1/decisions/"+added.ID, "", &removed); status != http.StatusOK || removed.ID != added.ID {
		t.Fatalf("delete: %d %+v", status, removed)
	}
	if d := f.store.Active(verdict.ScopeIP, []byte("203.0.113.7"), f.clock.Now().UnixNano()); d != nil {
		t.Fatal("still in force after DELETE")
	}
	for _, method := range []string{"GET", "DELETE"} {
		var p problemBody
		if status, _ := f.do(t, method, "/v1/decisions/"+added.ID, "", &p); status != http.StatusNotFound || p.Reason != "not_found" {
			t.Errorf("%s after delete: %d %+v", method, status, p)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if want := "add " + added.ID + "|add " + other.ID + "|remove " + added.ID; strings.Join(f.changes, "|") != want {
		t.Errorf("OnChange calls %q, want %q", f.changes, want)
	}
}

func TestValidation(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, method, path, body, field string
	}{
		{"bad scope", "POST", "/v1/decisions", `{"scope":"planet","value":"x","action":"block"}`, "scope:"},
		{"missing scope", "POST", "/v1/decisions", `{"value":"x","action":"block"}`, "scope:"},
		{"bad ip", "POST", "/v1/decisions", `{"scope":"ip","value":"203.0.113.300","action":"block"}`, "value:"},
		{"bad prefix", "POST", "/v1/decisions", `{"scope":"prefix","value":"203.0.113.0","action":"block"}`, "value:"},
		{"missing value", "POST", "/v1/decisions", `{"scope":"key","action":"block"}`, "value:"},
		{"missing action", "POST", "/v1/decisions", `{"scope":"key","value":"k"}`, "action:"},
		{"bad action", "POST", "/v1/decisions", `{"scope":"key","value":"k","action":"ban"}`, "action:"},
		{"bad mode", "POST", "/v1/decisions", `{"scope":"key","value":"k","action":"block","mode":"loud"}`, "mode:"},
		{"bad ttl", "POST", "/v1/decisions", `{"scope":"key","value":"k","action":"block","ttl":"7d"}`, "ttl:"},
		{"negative ttl", "POST", "/v1/decisions", `{"scope":"key","value":"k","action":"block","ttl":"-1h"}`, "ttl:"},
		{"long ttl", "POST", "/v1/decisions", `{"scope":"key","value":"k","action":"block","ttl":"9000h"}`, "ttl:"},
		{"unknown field", "POST", "/v1/decisions", `{"scope":"key","value":"k","action":"block","tll":"1h"}`, "body:"},
		{"not json", "POST", "/v1/decisions", `scope=key`, "body:"},
		{"two values", "POST", "/v1/decisions", `{"scope":"key","value":"k","action":"block"} {}`, "body:"},
		{"list bad scope", "GET", "/v1/decisions?scope=planet", "", "scope:"},
		{"list value without scope", "GET", "/v1/decisions?value=x", "", "scope:"},
		{"list bad ip", "GET", "/v1/decisions?scope=ip&value=x", "", "value:"},
		{"list bad limit", "GET", "/v1/decisions?limit=0", "", "limit:"},
		{"explain no scope", "GET", "/v1/explain/203.0.113.7", "", "entity:"},
		{"explain bad ip", "GET", "/v1/explain/ip:nope", "", "value:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p problemBody
			status, raw := f.do(t, tc.method, tc.path, tc.body, &p)
			if status != http.StatusBadRequest || p.Reason != "invalid_request" || !strings.HasPrefix(p.Detail, tc.field) {
				t.Fatalf("%d %s; want 400 invalid_request naming %s", status, raw, tc.field)
			}
			if p.Type != "urn:abuseguard:problem:invalid_request" {
				t.Errorf("type %q", p.Type)
			}
		})
	}
	if f.store.Len() != 0 {
		t.Errorf("%d decisions added by invalid requests", f.store.Len())
	}

	var p problemBody
	big := `{"scope":"key","value":"k","action":"block","reason":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	if status, _ := f.do(t, "POST", "/v1/decisions", big, &p); status != http.StatusRequestEntityTooLarge || p.Reason != "body_too_large" {
		t.Errorf("oversized body: %d %+v", status, p)
	}
	if status, _ := f.do(t, "PUT", "/v1/decisions", "", &p); status != http.StatusMethodNotAllowed || p.Reason != "method_not_allowed" ||
		!strings.HasSuffix(p.Detail, "use GET, POST") {
		t.Errorf("PUT: %d %+v", status, p)
	}
	if status, _ := f.do(t, "GET", "/v1/nothing", "", &p); status != http.StatusNotFound || p.Reason != "not_found" {
		t.Errorf("unknown route: %d %+v", status, p)
	}
}

type fakeExplainer struct{ got []verdict.Entity }

func (x *fakeExplainer) Explain(e verdict.Entity, now time.Time) decision.Explanation {
	x.got = append(x.got, e)
	return decision.Explanation{Score: 42.5, Signals: []verdict.Evidence{{
		Time: now, Detector: "probing", Summary: "23 distinct 404 paths in 5m0s", Count: 23, Threshold: 20, Window: "5m0s", Weight: 40, RequestID: "req-9",
	}}}
}

func TestExplain(t *testing.T) {
	ex := &fakeExplainer{}
	f := newFixture(t, ex)
	var d decision.Decision
	f.do(t, "POST", "/v1/decisions", `{"scope":"prefix","value":"203.0.113.0/24","action":"block"}`, &d)

	var x decision.Explanation
	status, raw := f.do(t, "GET", "/v1/explain/"+url.PathEscape("prefix:203.0.113.0/24"), "", &x)
	if status != http.StatusOK || x.Entity != "prefix:203.0.113.0/24" || x.Score != 42.5 || len(x.Signals) != 1 || x.Signals[0].RequestID != "req-9" ||
		len(x.Decisions) != 1 || x.Decisions[0].ID != d.ID {
		t.Fatalf("explain: %d %s", status, raw)
	}
	// Unescaped slashes and IPv6 colons work too.
	for _, path := range []string{"/v1/explain/prefix:203.0.113.0/24", "/v1/explain/ip:2001:db8::1", "/v1/explain/key:k_0123"} {
		if status, raw := f.do(t, "GET", path, "", &x); status != http.StatusOK {
			t.Errorf("%s: %d %s", path, status, raw)
		}
	}
	want := []string{"prefix:203.0.113.0/24", "prefix:203.0.113.0/24", "ip:2001:db8::1", "key:k_0123"}
	for i, e := range ex.got {
		if e.String() != want[i] {
			t.Errorf("explainer asked about %s, want %s", e, want[i])
		}
	}
}

func TestExplainWithoutExplainer(t *testing.T) {
	f := newFixture(t, nil)
	var x decision.Explanation
	status, raw := f.do(t, "GET", "/v1/explain/ip:203.0.113.7", "", &x)
	if status != http.StatusOK || x.Entity != "ip:203.0.113.7" || x.Score != 0 {
		t.Fatalf("%d %s", status, raw)
	}
	if !strings.Contains(raw, `"decisions": []`) || !strings.Contains(raw, `"recent_signals": []`) {
		t.Errorf("empty lists not rendered as []: %s", raw)
	}
}
