package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/telemetry"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

const budgetKeys = `
identity:
  api_key:
    keys:
      - {id: gold-co, sha256: f47cad35f6f99d49f4a2e8ad6da5b64cf93b99bc9b02abed86bcf8095c575352, plan: gold, tenant: acme}
      - {id: other-co, sha256: 580843d03d2216ff1a275d0991bad66e4d1af871171d929e9de604b7959f9bca, tenant: acme}
routes:
  - {name: report, match: "POST /report", cost: 40}
  - {name: export, match: "POST /export", cost_header: X-Cost}
`

const (
	goldKey  = "X-API-Key: demo-gold-key"
	otherKey = "X-API-Key: other-key"
)

// TestBudgetEnforced: a tenant's daily budget of 100 cost units, spent by
// two keys of the tenant on a route that costs 40: the second call alerts
// at 80%, the third is refused with 429 budget_exhausted until midnight
// (and alerts at 100%, once); the next day the budget is whole again. A
// request without a verified identity counts against no budget.
func TestBudgetEnforced(t *testing.T) {
	p := compile(t, budgetKeys+`
budgets: {mode: enforce, tenant: {daily: 100}}
`)
	var out bytes.Buffer
	p.shared.Events = telemetry.NewEvents(&out)
	for i, h := range []string{goldKey, otherKey} {
		if vd := decide(t, p, req(t, p, t0, "203.0.113.1", "POST", "/report", h)); vd.Action != verdict.Allow {
			t.Fatalf("call %d: %+v", i+1, vd)
		}
	}
	if got := budgetEvents(&out); len(got) != 1 || !strings.Contains(got[0], `"budget_80"`) {
		t.Errorf("after 80 of 100 units: budget events %q, want one budget_80", got)
	}
	for i := range 2 {
		vd := decide(t, p, req(t, p, t0.Add(time.Hour), "203.0.113.1", "POST", "/report", goldKey))
		if vd.Action != verdict.Throttle || vd.Status != 429 || vd.Reason != "budget_exhausted" || vd.Rule != "budget:tenant-daily" ||
			vd.RetryAfter != 11*time.Hour {
			t.Fatalf("call %d over the budget: %+v, want 429 budget_exhausted until midnight (11h)", 3+i, vd)
		}
	}
	if n := strings.Count(out.String(), `"budget_100"`); n != 1 {
		t.Errorf("%d budget_100 events, want 1: %s", n, out.String())
	}
	if got := p.shared.BudgetAlertCounts()[0]; got != [2]uint64{1, 1} {
		t.Errorf("tenant-daily alert counts %v, want one at 80%% and one at 100%%", got)
	}
	if vd := decide(t, p, req(t, p, t0, "203.0.113.1", "POST", "/report")); vd.Action != verdict.Allow {
		t.Errorf("an anonymous call: %+v, want no budget applied", vd)
	}
	if vd := decide(t, p, req(t, p, t0.Add(12*time.Hour), "203.0.113.1", "POST", "/report", goldKey)); vd.Action != verdict.Allow {
		t.Errorf("the next day: %+v, want a whole budget", vd)
	}
}

// TestBudgetShadowAndReported: in shadow mode a spent budget alerts but
// refuses nothing; a key's monthly budget counts the cost the upstream
// reports after the fact.
func TestBudgetShadowAndReported(t *testing.T) {
	p := compile(t, budgetKeys+`
budgets: {mode: shadow, key: {monthly: 1000}}
`)
	var out bytes.Buffer
	p.shared.Events = telemetry.NewEvents(&out)
	v := req(t, p, t0, "203.0.113.1", "POST", "/export", goldKey)
	if vd := decide(t, p, v); vd.Action != verdict.Allow {
		t.Fatalf("first export: %+v", vd)
	}
	if got := budgetEvents(&out); len(got) != 0 {
		t.Fatalf("an alert at 1 of 1000 units: %q", got)
	}
	p.Observe(v, verdict.Outcome{Status: 200, Cost: 850})
	if !strings.Contains(out.String(), `"budget_80"`) || !strings.Contains(out.String(), `key gold-co spent 850 of its key-monthly budget of 1000`) {
		t.Fatalf("after a reported 850: %s, want budget_80 naming the spend", out.String())
	}
	for i := range 3 { // 850 + 200 > 1000: over, but shadow
		v := req(t, p, t0.Add(time.Minute), "203.0.113.1", "POST", "/export", goldKey)
		if vd := decide(t, p, v); vd.Action != verdict.Allow {
			t.Fatalf("export %d in shadow mode: %+v", i+2, vd)
		}
		p.Observe(v, verdict.Outcome{Status: 200, Cost: 200})
	}
	if n := strings.Count(out.String(), `"budget_100"`); n != 1 {
		t.Errorf("%d budget_100 events, want 1: %s", n, out.String())
	}
	if got := p.shared.BudgetAlertCounts()[3]; got != [2]uint64{1, 1} {
		t.Errorf("key-monthly alert counts %v, want [1 1]", got)
	}
	// The other key of the tenant has its own.
	if vd := decide(t, p, req(t, p, t0, "203.0.113.1", "POST", "/export", otherKey)); vd.Action != verdict.Allow {
		t.Errorf("another key: %+v", vd)
	}
}

// budgetEvents returns the budget_alert events written to out.
func budgetEvents(out *bytes.Buffer) []string {
	var got []string
	for line := range strings.Lines(out.String()) {
		if strings.Contains(line, `"action":"budget_alert"`) {
			got = append(got, line)
		}
	}
	return got
}
