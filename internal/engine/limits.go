package engine

import (
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Limits: compiling config.Limit into limitRule, and checking a request
// against them in order (rates, quotas, concurrency) over the limit.Store.

type ruleKind uint8

const (
	rateRule ruleKind = iota
	quotaRule
	concurrencyRule
)

type dimension uint8

const (
	dimIP dimension = iota
	dimIPPrefix
	dimAPIKey
	dimUser
	dimSession
	dimTenant
	dimPlan
	dimRoute
	dimMethod
	dimHeader
)

var dimensionNames = map[string]dimension{
	"ip": dimIP, "ip_prefix": dimIPPrefix, "api_key": dimAPIKey, "user": dimUser, "session": dimSession,
	"tenant": dimTenant, "plan": dimPlan, "route": dimRoute, "method": dimMethod,
}

type dim struct {
	kind   dimension
	header int // index into View.Headers for dimHeader
}

// limitRule is one compiled limit.
type limitRule struct {
	name   string
	kind   ruleKind
	dims   []dim
	routes []bool // by route index; nil applies to every request
	// who is 0 for every request, anonymousOnly or identifiedOnly.
	who     audience
	mode    verdict.Mode
	cost    chargeKind
	canary  rollout.Canary // the keys a canary-mode limit enforces for
	base    *amount
	perPlan map[string]*amount
}

// audience is which requests a limit applies to.
type audience uint8

const (
	everyone audience = iota
	anonymousOnly
	identifiedOnly
)

// chargeKind is what a request charges a limit: config.Limit.Cost.
type chargeKind uint8

const (
	chargeRequest chargeKind = iota // 1
	chargeRoute                     // the route's cost
	chargeGraphQL                   // View.Cost: the GraphQL price, else the route's cost
)

// charge returns what v costs limit r.
func (r *limitRule) charge(v *request.View) int64 {
	switch r.cost {
	case chargeRoute:
		if v.Route != nil {
			return max(1, v.Route.Cost)
		}
	case chargeGraphQL:
		return max(1, v.Cost)
	}
	return 1
}

// amount is a compiled config.Amount.
type amount struct {
	rate   limit.Rate
	quota  int64
	cal    limit.Calendar
	slots  int64
	policy string // RateLimit-Policy header value
}

// lease bounds how long an in-flight slot may be held by a request whose
// Finish never came (a crash in a front): it is then reclaimed.
const lease = 10 * time.Minute

func compileLimit(l config.Limit, routeIndex map[string]int, headers map[string]int, headerNames *[]string) limitRule {
	r := limitRule{name: l.Name, mode: l.Mode, canary: rollout.NewCanary(l.CanaryPercent)}
	switch l.Cost {
	case "route":
		r.cost = chargeRoute
	case "graphql":
		r.cost = chargeGraphQL
	}
	switch l.AppliesTo {
	case "anonymous":
		r.who = anonymousOnly
	case "identified":
		r.who = identifiedOnly
	}
	for _, d := range l.Key {
		if name, ok := strings.CutPrefix(d, "header:"); ok {
			name = textproto.CanonicalMIMEHeaderKey(name)
			i, seen := headers[name]
			if !seen {
				i = len(*headerNames)
				headers[name] = i
				*headerNames = append(*headerNames, name)
			}
			r.dims = append(r.dims, dim{kind: dimHeader, header: i})
			continue
		}
		r.dims = append(r.dims, dim{kind: dimensionNames[d]})
	}
	if len(l.Routes) > 0 {
		r.routes = make([]bool, len(routeIndex))
		for _, name := range l.Routes {
			r.routes[routeIndex[name]] = true
		}
	}
	if a := l.Amount; a.Rate != nil || a.Quota != nil || a.Concurrency != 0 {
		r.base = compileAmount(l.Name, a)
	}
	for plan, a := range l.PerPlan {
		if r.perPlan == nil {
			r.perPlan = map[string]*amount{}
		}
		r.perPlan[plan] = compileAmount(l.Name, a)
	}
	for _, a := range append([]*amount{r.base}, slices.Collect(maps.Values(r.perPlan))...) {
		if a == nil {
			continue
		}
		switch {
		case a.quota > 0:
			r.kind = quotaRule
		case a.slots > 0:
			r.kind = concurrencyRule
		}
	}
	return r
}

func compileAmount(name string, a config.Amount) *amount {
	q := strconv.Quote(name)
	switch {
	case a.Rate != nil:
		burst := a.BurstOrDefault()
		r := limit.PerPeriod(a.Rate.Count, a.Rate.Period, burst)
		window := time.Duration(burst) * r.Interval
		return &amount{rate: r, policy: fmt.Sprintf("%s;q=%d;w=%d", q, burst, max(1, int64(window/time.Second)))}
	case a.Quota != nil:
		period := a.Quota.Period
		return &amount{quota: a.Quota.Limit, cal: limit.Calendar{Period: period, Location: a.Quota.Location()},
			policy: fmt.Sprintf("%s;q=%d;w=%d", q, a.Quota.Limit, period.Seconds())}
	default:
		return &amount{slots: a.Concurrency, policy: fmt.Sprintf(`%s;q=%d;qu="concurrent-requests"`, q, a.Concurrency)}
	}
}

// checkLimits runs the limits; the first enforced refusal sets vd. The
// checks of one request go to the store as one batch (one round trip to a
// remote store that implements limit.Batcher); the results are read in
// limit order, as if each check had been made alone.
func (p *Policy) checkLimits(vd *Verdict, v *request.View) {
	now := v.Time.UnixNano()
	b := &vd.batch
	b.reset()
	for i := range p.limits {
		r := &p.limits[i]
		a := r.amountFor(v)
		if a == nil {
			continue
		}
		start := len(b.keys)
		key, ok := p.appendKey(b.keys, r, v)
		b.keys = key
		if !ok {
			b.keys = b.keys[:start]
			continue
		}
		op := limit.Op{Cost: r.charge(v), Stop: r.effectiveMode(key[start:]) != verdict.Shadow}
		switch r.kind {
		case rateRule:
			op.Kind, op.Rate = limit.OpRate, a.rate
		case quotaRule:
			_, end := a.cal.Bounds(v.Time)
			op.Kind, op.PeriodEnd, op.Quota = limit.OpQuota, end.UnixNano(), a.quota
		case concurrencyRule:
			op.Kind, op.Slots, op.Lease = limit.OpAcquire, a.slots, lease
		}
		b.ops = append(b.ops, op)
		b.ends = append(b.ends, len(b.keys))
		b.rules = append(b.rules, limitRef{rule: r, amount: a})
	}
	if len(b.ops) == 0 {
		return
	}
	start := 0
	for i := range b.ops {
		b.ops[i].Key = b.keys[start:b.ends[i]]
		start = b.ends[i]
	}
	if cap(b.res) < len(b.ops) {
		b.res = make([]limit.Result, len(b.ops))
	}
	b.res = b.res[:len(b.ops)]
	var n int
	if bt, ok := p.store.(limit.Batcher); ok {
		n = bt.Batch(now, b.ops, b.res)
	} else {
		n = limit.Sequential(p.store, now, b.ops, b.res)
	}
	for i := range n {
		r, a, res, key := b.rules[i].rule, b.rules[i].amount, b.res[i], b.ops[i].Key
		if r.kind == concurrencyRule && res.Allowed {
			vd.holdSlot(key)
		}
		if res.Allowed {
			vd.note(r, a, res)
			continue
		}
		if res.Unavailable {
			vd.Action, vd.Status, vd.Reason = verdict.Block, http.StatusServiceUnavailable, "store_unavailable"
			vd.Rule, vd.Mode, vd.Would, vd.RetryAfter = r.name, verdict.Enforce, false, res.RetryAfter
			vd.Detail = "the shared limit state is unavailable; retry later"
			vd.releaseSlots(now)
			return
		}
		if !b.ops[i].Stop {
			if vd.Rule == "" {
				vd.Rule, vd.Mode, vd.Reason, vd.Would = r.name, r.mode, reasons[r.kind], true
			}
			p.limitEvent(v, r, res)
			continue
		}
		vd.Action, vd.Status, vd.Reason = verdict.Throttle, http.StatusTooManyRequests, reasons[r.kind]
		vd.Rule, vd.Mode, vd.Would, vd.RetryAfter = r.name, r.mode, false, res.RetryAfter
		vd.note(r, a, res)
		vd.releaseSlots(now)
		if r.kind == rateRule {
			p.ignoredRetryAfter(v, r.name)
		}
		return
	}
}

// amountFor returns what limit r allows v, nil when r does not apply to v
// (another route, another audience, a plan without an amount).
func (r *limitRule) amountFor(v *request.View) *amount {
	if r.routes != nil && (v.Route == nil || !r.routes[v.Route.Index]) {
		return nil
	}
	if r.who != everyone && (r.who == anonymousOnly) == identified(v) {
		return nil
	}
	if pa, ok := r.perPlan[v.Identity.Plan]; ok {
		return pa
	}
	return r.base
}

// chargeReported charges the limits that count cost with what the
// upstream reported a request cost (its route's cost header) beyond what
// the request was charged when it was decided. A rate or quota already
// too low to take the whole excess is emptied instead: the next request
// waits, and the debt beyond the limit's capacity is forgiven.
func (p *Policy) chargeReported(v *request.View, reported int64) {
	if reported <= 0 || v.Route == nil || v.Route.CostHeader == "" {
		return
	}
	now := v.Time.UnixNano()
	var buf [128]byte
	for i := range p.limits {
		r := &p.limits[i]
		if r.cost == chargeRequest || r.kind == concurrencyRule {
			continue
		}
		extra := reported - r.charge(v)
		a := r.amountFor(v)
		if extra <= 0 || a == nil {
			continue
		}
		key, ok := p.appendKey(buf[:0], r, v)
		if !ok {
			continue
		}
		switch r.kind {
		case rateRule:
			if res := p.store.Rate(key, now, a.rate, extra); !res.Allowed && res.Remaining > 0 {
				p.store.Rate(key, now, a.rate, res.Remaining)
			}
		case quotaRule:
			_, end := a.cal.Bounds(v.Time)
			if res := p.store.Quota(key, now, end.UnixNano(), a.quota, extra); !res.Allowed && res.Remaining > 0 {
				p.store.Quota(key, now, end.UnixNano(), a.quota, res.Remaining)
			}
		}
	}
}

// limitBatch is a Verdict's scratch for one request's limit checks.
type limitBatch struct {
	keys  []byte // the checks' keys, back to back
	ends  []int  // key i ends at ends[i]
	ops   []limit.Op
	res   []limit.Result
	rules []limitRef
}

type limitRef struct {
	rule   *limitRule
	amount *amount
}

func (b *limitBatch) reset() {
	b.keys, b.ends, b.ops, b.res, b.rules = b.keys[:0], b.ends[:0], b.ops[:0], b.res[:0], b.rules[:0]
}

var reasons = [...]string{rateRule: "rate_limited", quotaRule: "quota_exceeded", concurrencyRule: "concurrency_limited"}

// effectiveMode returns how r acts for key: a canary limit enforces for
// the keys its rollout.Canary includes and shadows the rest.
func (r *limitRule) effectiveMode(key []byte) verdict.Mode {
	if r.mode != verdict.Canary {
		return r.mode
	}
	if r.canary.Includes(rollout.NewHash().Bytes(key).Sum()) {
		return verdict.Canary
	}
	return verdict.Shadow
}

// appendKey appends the state key of limit r for v to dst: the limit name,
// then each dimension's value, NUL-separated. It reports false when v lacks
// a dimension (no API key, say), in which case r does not apply.
func (p *Policy) appendKey(dst []byte, r *limitRule, v *request.View) ([]byte, bool) {
	dst = append(dst, r.name...)
	for _, d := range r.dims {
		dst = append(dst, 0)
		switch d.kind {
		case dimIP:
			if !v.ClientIP.IsValid() {
				return dst, false
			}
			dst = v.ClientIP.AppendTo(dst)
		case dimIPPrefix:
			if !v.ClientIP.IsValid() {
				return dst, false
			}
			dst = request.Prefix(v.ClientIP, p.v4, p.v6).AppendTo(dst)
		case dimRoute:
			if v.Route == nil {
				return dst, false
			}
			dst = append(dst, v.Route.Name...)
		case dimMethod:
			dst = append(dst, v.Method...)
		default:
			s := dimString(d, v)
			if s == "" {
				return dst, false
			}
			dst = append(dst, s...)
		}
	}
	return dst, true
}

func dimString(d dim, v *request.View) string {
	switch d.kind {
	case dimAPIKey:
		return v.Identity.KeyID
	case dimUser:
		return v.Identity.User
	case dimSession:
		return v.Identity.Session
	case dimTenant:
		return v.Identity.Tenant
	case dimPlan:
		return v.Identity.Plan
	case dimHeader:
		return v.Headers.Get(d.header)
	}
	return ""
}
