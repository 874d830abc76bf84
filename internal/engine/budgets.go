package engine

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/telemetry"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// BudgetNames are the budgets a config may set, in the order they are
// checked; BudgetAlertCounts reports by them.
var BudgetNames = [...]string{"tenant-daily", "tenant-monthly", "key-daily", "key-monthly"}

// budget is one compiled spending budget.
type budget struct {
	index  int // into BudgetNames
	tenant bool
	amount int64
	cal    limit.Calendar
}

// budgets are the compiled config.Budgets; nil when none applies.
type budgets struct {
	mode verdict.Mode
	list []budget
}

func compileBudgets(c *config.Config) *budgets {
	b := c.Budgets
	if b.Mode == verdict.Off {
		return nil
	}
	out := &budgets{mode: b.Mode}
	loc := b.Location()
	for i, a := range []struct {
		tenant bool
		amount int64
		period limit.Period
	}{{true, b.Tenant.Daily, limit.Day}, {true, b.Tenant.Monthly, limit.Month}, {false, b.Key.Daily, limit.Day}, {false, b.Key.Monthly, limit.Month}} {
		if a.amount > 0 {
			out.list = append(out.list, budget{index: i, tenant: a.tenant, amount: a.amount, cal: limit.Calendar{Period: a.period, Location: loc}})
		}
	}
	if len(out.list) == 0 {
		return nil
	}
	return out
}

// budgetAlerts is what survives reloads: the highest alert level given
// per budget, entity and period (so each crossing alerts once per node),
// and the alert counts for metrics.
type budgetAlerts struct {
	given  *detect.Table[budgetAlert]
	counts [len(BudgetNames)][2]atomic.Uint64 // [budget][0: 80%, 1: 100%]
}

type budgetAlert struct {
	periodEnd int64
	level     uint8 // 0 none, 1: 80% alerted, 2: 100% alerted
}

// BudgetAlertCounts returns the alerts given since the process started,
// by budget (BudgetNames order): at 80% and at 100%.
func (s *Shared) BudgetAlertCounts() [len(BudgetNames)][2]uint64 {
	var out [len(BudgetNames)][2]uint64
	for i := range out {
		out[i] = [2]uint64{s.budgets.counts[i][0].Load(), s.budgets.counts[i][1].Load()}
	}
	return out
}

// budgetOf returns whom bg counts for v: its verified tenant or API key id,
// "" when v has none.
func budgetOf(bg *budget, v *request.View) string {
	if !v.Identity.Verified {
		return ""
	}
	if bg.tenant {
		return v.Identity.Tenant
	}
	return v.Identity.KeyID
}

// chargeBudgets charges cost to every budget v counts against. When
// deciding is set (a request being decided) and a budget in mode enforce
// cannot take the cost, it refuses vd with 429 budget_exhausted and
// reports true. Crossing 80% or 100% alerts, once per budget, entity and
// period.
func (p *Policy) chargeBudgets(vd *Verdict, v *request.View, cost int64, deciding bool) bool {
	b := p.budgets
	if b == nil || cost <= 0 {
		return false
	}
	now := v.Time.UnixNano()
	var buf []byte // the Verdict's key scratch when deciding
	if vd != nil {
		buf = vd.key[:0]
		defer func() { vd.key = buf[:0] }()
	}
	for i := range b.list {
		bg := &b.list[i]
		who := budgetOf(bg, v)
		if who == "" {
			continue
		}
		key := append(append(append(buf[:0], "budget\x00"...), BudgetNames[bg.index]...), 0)
		key = append(key, who...)
		buf = key
		_, end := bg.cal.Bounds(v.Time)
		res := p.store.Quota(key, now, end.UnixNano(), bg.amount, cost)
		if !res.Allowed && !deciding && res.Remaining > 0 {
			// Charged after the fact: what is left is spent.
			res = p.store.Quota(key, now, end.UnixNano(), bg.amount, res.Remaining)
		}
		spent := bg.amount - res.Remaining
		switch {
		case !res.Allowed || spent >= bg.amount:
			p.budgetAlert(v, bg, who, 2, end.UnixNano(), max(spent, bg.amount))
		case spent*5 >= bg.amount*4:
			p.budgetAlert(v, bg, who, 1, end.UnixNano(), spent)
		}
		if !res.Allowed && deciding && b.mode == verdict.Enforce {
			vd.Action, vd.Status, vd.Reason = verdict.Throttle, http.StatusTooManyRequests, "budget_exhausted"
			vd.Rule, vd.Mode, vd.Would, vd.RetryAfter = "budget:"+BudgetNames[bg.index], verdict.Enforce, false, res.RetryAfter
			vd.releaseSlots(now)
			return true
		}
	}
	return false
}

// budgetAlert writes a budget_alert event and counts it when level (1:
// 80%, 2: 100%) is higher than what was given for who in this period.
func (p *Policy) budgetAlert(v *request.View, bg *budget, who string, level uint8, periodEnd, spent int64) {
	name := BudgetNames[bg.index]
	h := p.shared.hasher.String(byte(bg.index)+1, who)
	var fresh bool
	p.shared.budgets.given.Update(h, v.Time.UnixNano(), func(a *budgetAlert) {
		if a.periodEnd != periodEnd {
			*a = budgetAlert{periodEnd: periodEnd}
		}
		if level > a.level {
			a.level, fresh = level, true
		}
	})
	if !fresh {
		return
	}
	p.shared.budgets.counts[bg.index][level-1].Add(1)
	if p.shared.Events == nil {
		return
	}
	scope, pct, sev := "key", 80, "low"
	if bg.tenant {
		scope = "tenant"
	}
	if level == 2 {
		pct, sev = 100, "medium"
	}
	mode := p.budgets.mode.String()
	p.shared.Events.Emit(&telemetry.Event{
		Time: v.Time, Kind: "budget_alert", Reason: fmt.Sprintf("budget_%d", pct), Severity: sev, Rule: "budget:" + name,
		Mode: mode, Scope: scope, Entity: who, ClientIP: v.ClientIP, KeyID: v.Identity.KeyID, User: v.Identity.User,
		Route: routeName(v), Method: v.Method, Path: v.Path, RequestID: v.ID,
		Summary: fmt.Sprintf("%s %s spent %d of its %s budget of %d cost units (%d%%)", scope, who, spent, name, bg.amount, pct),
		Count:   float64(spent), Threshold: float64(bg.amount),
	})
}
