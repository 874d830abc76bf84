// Package opsmetrics records the operations metrics (M1–M12 of
// docs/metrics.md) that every front feeds the same way: what acted on a
// decided request and why, how much of each limit it used, and what the
// upstream answered and cost. The inline proxy, forward-auth and
// ext_authz (through the gateway Checker) and the outcome receivers call
// it, so a decision counts the same whichever front made it.
package opsmetrics

import (
	"net/netip"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// Recorder records a front's operations metrics into Metrics (required).
// A nil Tally counts nothing for rules report. Recorder is safe for
// concurrent use.
type Recorder struct {
	Metrics *telemetry.Metrics
	Tally   *rollout.Tally // nil: no per-rule tally
}

// Labels name a request's outcome alike in abuseguard_requests_total, the
// access log and the request's span.
type Labels struct {
	Action string // allow, throttle, challenge, block
	Rule   string // what acted: a rule, "detector:NAME", "decision"...; "" for none
	Mode   string // the acting rule's mode; shadow when it only would have acted; "" for none
	Reason string // the refusal's reason code, "allowlisted", or ""
	Route  string // the route's name, "" when the request matched none
}

// Decided records a decided request (abuseguard_requests_total and what
// Verdict records) and returns its labels. A shadow rule that would have
// acted shows as action allow, mode shadow, with its rule and reason; an
// allowlisted request's reason is "allowlisted".
func (r Recorder) Decided(v *request.View, vd *engine.Verdict) Labels {
	l := Labels{Action: vd.Action.String(), Rule: vd.Rule, Reason: vd.Reason}
	if v.Route != nil {
		l.Route = v.Route.Name
	}
	switch {
	case vd.Would:
		l.Mode = "shadow"
	case l.Rule != "":
		l.Mode = vd.Mode.String()
	}
	if l.Reason == "" && vd.Allowlisted {
		l.Reason = "allowlisted"
	}
	route := l.Route
	if route == "" {
		route = "unmatched"
	}
	r.Metrics.Requests.WithLabelValues(route, l.Action, l.Rule, l.Mode).Inc()
	r.Verdict(v, vd, l.Action, l.Mode)
	return l
}

// Unparsed returns the labels of a request refused before any decision,
// for reason (a bad forwarding header, an ambiguous path, a body over
// the cap).
func Unparsed(v *request.View, reason string) Labels {
	l := Labels{Action: "block", Reason: reason}
	if v.Route != nil {
		l.Route = v.Route.Name
	}
	return l
}

// Annotate puts l and the request's id on span, when it records.
func (l Labels) Annotate(span trace.Span, requestID string) {
	if span == nil || !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("abuseguard.action", l.Action), attribute.String("abuseguard.rule", l.Rule),
		attribute.String("abuseguard.mode", l.Mode), attribute.String("abuseguard.reason", l.Reason),
		attribute.String("abuseguard.route", l.Route), attribute.String("abuseguard.request_id", requestID))
}

// Access returns the access log line of v, labelled l, answered with
// status and size bytes after latency.
func (l Labels) Access(v *request.View, start time.Time, status int, latency time.Duration, bytes int64) telemetry.Access {
	return telemetry.Access{
		Time: start, RequestID: v.ID, TraceID: v.TraceID, ClientIP: v.ClientIP, Method: v.Method, Path: v.Path,
		Route: l.Route, KeyID: v.Identity.KeyID, User: v.Identity.User,
		Status: status, Latency: latency, Bytes: bytes,
		Action: l.Action, Rule: l.Rule, Mode: l.Mode, Reason: l.Reason,
	}
}

// Verdict records a decided request: its verified identity, what acted
// (or would have, in shadow) and why, with action and mode as the access
// log names them, and each applied limit's usage.
func (r Recorder) Verdict(v *request.View, vd *engine.Verdict, action, mode string) {
	identity := "anonymous"
	if v.Identity.Verified {
		identity = "verified"
		r.Metrics.Ops.Verified.Inc()
	}
	if vd.Refused() || vd.Would {
		if mode == "" {
			mode = "enforce" // a refusal with no rule: a decision or an unknown route
		}
		reason := vd.Reason
		if cause, ok := strings.CutPrefix(vd.Rule, "detector:"); ok {
			reason = cause // a detector's decision: its cause, not "blocked" or "throttled"
		}
		r.Metrics.Ops.Acted.WithLabelValues(action, reason, mode, identity).Inc()
		if r.Tally != nil && vd.Rule != "" {
			r.Tally.Record(vd.Rule, vd.Would, Subject(&v.Identity, v.ClientIP))
		}
	}
	for i := range vd.Limits {
		rl := &vd.Limits[i]
		if used, ok := telemetry.Usage(rl.Policy, rl.Remaining); ok {
			r.Metrics.Ops.LimitUsage.WithLabelValues(rl.Name).Observe(used)
		}
	}
}

// Upstream records what the upstream answered a forwarded request of
// route ("" when it matched none) and how long it took; status 0 means
// it gave no answer.
func (r Recorder) Upstream(route string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	r.Metrics.Ops.Responses.WithLabelValues(route, telemetry.StatusCode(status)).Inc()
	r.Metrics.Ops.CostSeconds.WithLabelValues(route).Add(took.Seconds())
}

// RateLimitService records a request the rate limit service answered for
// domain ("" for one its config does not name): refused when a
// descriptor was over its limit, else shadow when one was over in shadow
// mode. It counts the request in abuseguard_requests_total (route "rls:"
// + domain, or "rls:other"; rule "rls" when it was over) and a
// refusal, or a shadow would-refuse, in abuseguard_acted_total (reason
// rate_limited; the service knows no identity: anonymous).
func (r Recorder) RateLimitService(domain string, refused, shadow bool) {
	action, mode, rule := "allow", "", ""
	switch {
	case refused:
		action, mode, rule = "throttle", "enforce", "rls"
	case shadow:
		mode, rule = "shadow", "rls"
	}
	if domain == "" {
		domain = "other"
	}
	r.Metrics.Requests.WithLabelValues("rls:"+domain, action, rule, mode).Inc()
	if rule != "" {
		r.Metrics.Ops.Acted.WithLabelValues(action, "rate_limited", mode, "anonymous").Inc()
	}
}

// Subject returns the rollout.EntityHash of the entity a request is
// about: its API key, else its user, else its client IP.
func Subject(id *request.Identity, ip netip.Addr) uint64 {
	switch {
	case id.KeyID != "":
		return rollout.EntityHash("key", id.KeyID)
	case id.User != "":
		return rollout.EntityHash("user", id.User)
	}
	var buf [64]byte
	return rollout.NewHash().String("ip").Sep().Bytes(ip.AppendTo(buf[:0])).Sum()
}
