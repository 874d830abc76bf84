package verdict

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestNamesRoundTrip(t *testing.T) {
	for s := ScopeIP; s <= ScopeSession; s++ {
		if got, ok := ParseScope(s.String()); !ok || got != s {
			t.Errorf("ParseScope(%q) = %v, %v", s, got, ok)
		}
	}
	for a := Allow; a <= Block; a++ {
		if got, ok := ParseAction(a.String()); !ok || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a, got, ok)
		}
	}
	for m := Enforce; m <= Off; m++ {
		if got, ok := ParseMode(m.String()); !ok || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, ok)
		}
	}
	if m, ok := ParseMode("on"); !ok || m != Enforce {
		t.Errorf(`ParseMode("on") = %v, %v; want enforce`, m, ok)
	}
	for _, bad := range []string{"planet", "Block", " block"} {
		if _, ok := ParseAction(bad); ok {
			t.Errorf("ParseAction(%q) accepted", bad)
		}
	}
	if !(Block > Challenge && Challenge > Throttle && Throttle > Allow) {
		t.Error("actions are not ordered by strength")
	}
}

func TestJSON(t *testing.T) {
	type doc struct {
		Scope  Scope  `json:"scope"`
		Action Action `json:"action"`
		Mode   Mode   `json:"mode"`
	}
	b, err := json.Marshal(doc{ScopePrefix, Challenge, Shadow})
	if err != nil || string(b) != `{"scope":"prefix","action":"challenge","mode":"shadow"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil || d != (doc{ScopePrefix, Challenge, Shadow}) {
		t.Fatalf("Unmarshal = %+v, %v", d, err)
	}
	err = json.Unmarshal([]byte(`{"action":"ban"}`), &d)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("bad action: %v, want ErrInvalid", err)
	}
}

func TestModes(t *testing.T) {
	m := ModesOf(Enforce, Shadow, Canary)
	if !m.Has(Canary) || m.Has(Off) || m.String() != "enforce, shadow or canary" {
		t.Errorf("Modes = %s", m)
	}
}

func TestParseEntity(t *testing.T) {
	for in, want := range map[string]string{
		"ip:::ffff:203.0.113.7":  "ip:203.0.113.7",
		"prefix:203.0.113.77/24": "prefix:203.0.113.0/24",
		"session:s_0123":         "session:s_0123",
	} {
		if e, err := ParseEntity(in); err != nil || e.String() != want {
			t.Errorf("ParseEntity(%q) = %s, %v; want %s", in, e, err, want)
		}
	}
	var fe *FieldError
	if _, err := ParseEntity("planet:x"); !errors.As(err, &fe) || fe.Field != "scope" {
		t.Errorf("planet:x: %v", err)
	}
}

func TestWriteHTTP(t *testing.T) {
	v := Verdict{Action: Throttle, Status: 429, Reason: "rate_limited", Rule: "per-ip", RetryAfter: 1500 * time.Millisecond,
		Limits: []RateLimit{{Name: "per-ip", Remaining: 0, Reset: 1500 * time.Millisecond, Policy: `"per-ip";q=5;w=60`, Violated: true}}}
	w := httptest.NewRecorder()
	if !v.WriteHTTP(w, "req-1") {
		t.Fatal("a throttle was not written as a refusal")
	}
	h := w.Header()
	if w.Code != 429 || h.Get("Retry-After") != "2" || h.Get("Ratelimit") != `"per-ip";r=0;t=2` ||
		h.Get("Ratelimit-Policy") != `"per-ip";q=5;w=60` || h.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("response %d %v", w.Code, h)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["reason"] != "rate_limited" ||
		body["request_id"] != "req-1" || body["detail"] != Detail("rate_limited") ||
		fmt.Sprint(body["violated-policies"]) != "[per-ip]" {
		t.Fatalf("body %s (%v)", w.Body, err)
	}
	allow := Verdict{Limits: []RateLimit{{Name: "per-ip", Remaining: 3, Reset: 24 * time.Second, Policy: `"per-ip";q=5;w=60`}}}
	w = httptest.NewRecorder()
	if allow.WriteHTTP(w, "req-2") || w.Header().Get("Ratelimit") == "" || w.Body.Len() != 0 {
		t.Fatalf("allowed: refused or no RateLimit header: %v %q", w.Header(), w.Body)
	}
}

// TestRateLimitHeadersListEveryPolicy: every limit that applied is listed
// in both headers, each in its own unit; a concurrency limit carries
// qu="concurrent-requests" and no t unless it refused; on a refusal the
// violated limit's t is Retry-After.
func TestRateLimitHeadersListEveryPolicy(t *testing.T) {
	limits := []RateLimit{
		{Name: "per-ip", Remaining: 150, Reset: 4 * time.Second, Policy: `"per-ip";q=200;w=10`},
		{Name: "daily", Remaining: 9000, Reset: 5 * time.Hour, Policy: `"daily";q=10000;w=86400`},
		{Name: "in-flight", Remaining: 7, Policy: `"in-flight";q=8;qu="concurrent-requests"`, Concurrent: true},
	}
	v := Verdict{Limits: limits}
	got := map[string]string{}
	v.RateLimitHeaders(func(name, value string) { got[name] = value })
	if got["Ratelimit"] != `"per-ip";r=150;t=4, "daily";r=9000;t=18000, "in-flight";r=7` ||
		got["Ratelimit-Policy"] != `"per-ip";q=200;w=10, "daily";q=10000;w=86400, "in-flight";q=8;qu="concurrent-requests"` {
		t.Fatalf("headers %q", got)
	}
	refused := Verdict{Action: Throttle, Status: 429, Reason: "concurrency_limited", RetryAfter: 1200 * time.Millisecond,
		Limits: []RateLimit{limits[0], {Name: "in-flight", Remaining: 0, Reset: time.Second, Policy: limits[2].Policy, Concurrent: true, Violated: true}}}
	w := httptest.NewRecorder()
	refused.WriteHTTP(w, "r")
	if h := w.Header(); h.Get("Retry-After") != "2" || h.Get("Ratelimit") != `"per-ip";r=150;t=4, "in-flight";r=0;t=2` {
		t.Fatalf("refusal headers %v", h)
	}
}
