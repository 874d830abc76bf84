package proxy

import (
	"net/netip"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// observeVerdict records the operations metrics of a decided request:
// what acted (or would have) and why, whether it carried a verified
// identity, and how much of its tightest limit was used.
func (p *Proxy) observeVerdict(x *exchange, vd *engine.Verdict, action, mode string) {
	ops := p.opts.Metrics.Ops
	identity := "anonymous"
	if x.view.Identity.Verified {
		identity = "verified"
		ops.Verified.Inc()
	}
	if vd.Refused() || vd.Would {
		if mode == "" {
			mode = "enforce" // a refusal with no rule: a decision or an unknown route
		}
		reason := vd.Reason
		if cause, ok := strings.CutPrefix(vd.Rule, "detector:"); ok {
			reason = cause // a detector's decision: its cause, not "blocked" or "throttled"
		}
		ops.Acted.WithLabelValues(action, reason, mode, identity).Inc()
		if p.opts.Tally != nil && vd.Rule != "" {
			p.opts.Tally.Record(vd.Rule, vd.Would, subject(&x.view.Identity, x.view.ClientIP))
		}
	}
	if rl := &vd.RateLimit; rl.Name != "" {
		if used, ok := telemetry.Usage(rl.Policy, rl.Remaining); ok {
			ops.LimitUsage.WithLabelValues(rl.Name).Observe(used)
		}
	}
}

// observeUpstream records a forwarded request's upstream status and cost.
func (p *Proxy) observeUpstream(x *exchange, rec *recorder, took time.Duration) {
	route := "unmatched"
	if x.view.Route != nil {
		route = x.view.Route.Name
	}
	code := telemetry.StatusCode(rec.status())
	if x.refused != nil {
		code = "error"
	}
	ops := p.opts.Metrics.Ops
	ops.Responses.WithLabelValues(route, code).Inc()
	ops.CostSeconds.WithLabelValues(route).Add(took.Seconds())
}

// subject returns the rollout.EntityHash of the entity a request is
// about: its API key, else its user, else its client IP.
func subject(id *request.Identity, ip netip.Addr) uint64 {
	switch {
	case id.KeyID != "":
		return rollout.EntityHash("key", id.KeyID)
	case id.User != "":
		return rollout.EntityHash("user", id.User)
	}
	var buf [64]byte
	return rollout.NewHash().String("ip").Sep().Bytes(ip.AppendTo(buf[:0])).Sum()
}
