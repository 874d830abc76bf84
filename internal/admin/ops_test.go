package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func TestFeedback(t *testing.T) {
	f := newFixture(t, nil)
	add := func(value string) decision.Decision {
		d, _, err := f.store.Add(decision.Decision{Scope: verdict.ScopeIP, Value: value, Action: verdict.Block,
			Reason: "probing", Source: "detector:probing", Expires: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	fp, ok := add("203.0.113.1"), add("203.0.113.2")

	tests := []struct {
		name, id, body string
		status         int
		reason         string
	}{
		{"unknown verdict", ok.ID, `{"verdict":"maybe"}`, 400, "invalid_request"},
		{"unknown field", ok.ID, `{"verdict":"confirmed","x":1}`, 400, "invalid_request"},
		{"no such decision", "d_nope", `{"verdict":"confirmed"}`, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p struct{ Reason string }
			status, body := f.do(t, "POST", "/v1/decisions/"+tt.id+"/feedback", tt.body, &p)
			if status != tt.status || p.Reason != tt.reason {
				t.Errorf("status %d reason %q, want %d %q: %s", status, p.Reason, tt.status, tt.reason, body)
			}
		})
	}

	var res FeedbackResult
	if status, body := f.do(t, "POST", "/v1/decisions/"+fp.ID+"/feedback", `{"verdict":"false_positive","note":"office NAT"}`, &res); status != 200 || !res.Lifted || res.Decision.ID != fp.ID {
		t.Fatalf("false positive: %d %s", status, body)
	}
	if _, active := f.store.Get(fp.ID); active {
		t.Error("the false positive is still in force")
	}
	if status, body := f.do(t, "POST", "/v1/decisions/"+ok.ID+"/feedback", `{"verdict":"confirmed"}`, &res); status != 200 || res.Lifted {
		t.Fatalf("confirmed: %d %s", status, body)
	}
	if _, active := f.store.Get(ok.ID); !active {
		t.Error("the confirmed decision was lifted")
	}
	f.mu.Lock()
	changes := strings.Join(f.changes, ",")
	f.mu.Unlock()
	if changes != "remove "+fp.ID {
		t.Errorf("OnChange saw %q, want the false positive's removal only", changes)
	}
	if status, _ := f.do(t, "GET", "/v1/decisions/"+ok.ID+"/feedback", "", nil); status != 405 {
		t.Errorf("GET feedback: %d, want 405", status)
	}
}

func TestRulesWithoutRollout(t *testing.T) {
	f := newFixture(t, nil)
	var p struct{ Reason string }
	if status, _ := f.do(t, "GET", "/v1/rules", "", &p); status != 404 || p.Reason != "rollout_unavailable" {
		t.Errorf("GET /v1/rules without a Rollout: %d %q", status, p.Reason)
	}
	if status, _ := send(t, f.srv.URL, "", "GET", "/v1/rules", "", nil); status != 401 {
		t.Errorf("GET /v1/rules without the token: %d, want 401", status)
	}
}
