package verdict

import (
	"net/http"
	"strconv"
	"time"

	pages "github.com/abuseguard/abuseguard/internal/challenge"
	"github.com/abuseguard/abuseguard/internal/problem"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// Verdict is the engine's answer for one request, in terms every front can
// render: what to do, the status and stable reason code of a refusal, the
// rule and mode that decided, and the limits that applied, for the
// RateLimit headers.
type Verdict struct {
	Action     Action
	Status     int    // HTTP status when Action is not Allow
	Reason     string // stable reason code: rate_limited, quota_exceeded, ...
	Rule       string // the rule that acted, or would have acted in shadow
	Mode       Mode   // the mode of Rule
	RetryAfter time.Duration

	// Would is true when Rule is a shadow (or out-of-canary) rule that would
	// have refused the request; Action is then Allow.
	Would bool
	// Detail explains a refusal to the client; DecisionID names the
	// decision that refused it, if one did.
	Detail     string
	DecisionID string
	// Allowlisted is true when the client is on the allowlist: decisions,
	// detectors and rules were skipped (limits still applied).
	Allowlisted bool

	// Limits are the limits that applied to the request, in the order
	// they were checked, for the RateLimit and RateLimit-Policy headers;
	// the one that refused it, if one did, is marked Violated.
	Limits []RateLimit

	// Challenge is the proof-of-work a challenge verdict poses; its Token
	// is "" when there is none (other verdicts, or challenges off).
	Challenge challenge.Challenge
	// Page: answer the challenge with the interstitial page, the client
	// being a browser navigating.
	Page bool
	// Pass is the pass the request's solution earned, for PassTTL,
	// handed back in the Abuseguard-Pass header, and as the HttpOnly pass
	// cookie too when PassCookie (the solution came from the page).
	Pass       string
	PassTTL    time.Duration
	PassCookie bool
	// PassUsed: a valid pass let the request through a challenge.
	PassUsed bool
	// Secure is set by the front when the client's connection is TLS, so
	// that cookies are marked Secure.
	Secure bool
	// OneCookie is set by fronts whose gateway passes at most one
	// Set-Cookie to the client (nginx's auth_request_set sees the first
	// only, newer nginx and Caddy join repeats into one line): the pass
	// cookie is then the only one, and the page's spent solution cookie
	// is left to expire by itself (Max-Age 300; a valid pass is checked
	// before any solution).
	OneCookie bool
}

// RateLimit is the state of one limit for the RateLimit headers
// (draft-ietf-httpapi-ratelimit-headers-09).
type RateLimit struct {
	Name      string
	Remaining int64
	// Reset is how long until the limit's quota is whole again; for a
	// violated limit, how long until the next request may pass (the
	// Retry-After). Zero for a concurrency limit that was not violated:
	// its slots come back when requests in flight finish.
	Reset time.Duration
	// Policy is the precomputed RateLimit-Policy item of the limit.
	Policy string
	// Violated is true for the limit that refused the request.
	Violated bool
	// Concurrent is true for an in-flight limit (quota unit
	// "concurrent-requests").
	Concurrent bool
}

// Refused reports whether the request must not reach the upstream.
func (v *Verdict) Refused() bool { return v.Action != Allow }

// AppendRateLimit appends the RateLimit header value to dst, one list
// member per limit that applied: "name";r=REMAINING;t=SECONDS, t rounded
// up as Retry-After is, so that on a refusal the violated limit's t equals
// Retry-After. A concurrency limit that was not violated has no t. It
// reports false when no limit applied.
func (v *Verdict) AppendRateLimit(dst []byte) ([]byte, bool) {
	for i := range v.Limits {
		rl := &v.Limits[i]
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = strconv.AppendQuote(dst, rl.Name)
		dst = append(dst, ";r="...)
		dst = strconv.AppendInt(dst, rl.Remaining, 10)
		switch {
		case rl.Violated && v.RetryAfter > 0: // what Retry-After says, whatever set it
			dst = append(dst, ";t="...)
			dst = strconv.AppendInt(dst, problem.Seconds(v.RetryAfter), 10)
		case !rl.Concurrent || rl.Violated:
			dst = append(dst, ";t="...)
			dst = strconv.AppendInt(dst, problem.Seconds(rl.Reset), 10)
		}
	}
	return dst, len(v.Limits) > 0
}

// RateLimitPolicy returns the RateLimit-Policy header value: the policy
// of every limit that applied.
func (v *Verdict) RateLimitPolicy() string {
	switch len(v.Limits) {
	case 0:
		return ""
	case 1:
		return v.Limits[0].Policy
	}
	n := 0
	for i := range v.Limits {
		n += len(v.Limits[i].Policy) + 2
	}
	b := make([]byte, 0, n)
	for i := range v.Limits {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v.Limits[i].Policy...)
	}
	return string(b)
}

// RateLimitHeaders calls set with the RateLimit and RateLimit-Policy
// headers of v, when a limit applied. Fronts send them on allowed and
// refused responses alike.
func (v *Verdict) RateLimitHeaders(set func(name, value string)) {
	var buf [256]byte
	if b, ok := v.AppendRateLimit(buf[:0]); ok {
		set("Ratelimit", string(b))
		set("Ratelimit-Policy", v.RateLimitPolicy())
	}
}

// Problem returns the refusal as an RFC 9457 problem for the request
// requestID, or nil when v allows the request.
func (v *Verdict) Problem(requestID string) *problem.Problem {
	if v.Action == Allow {
		return nil
	}
	p := &problem.Problem{Status: v.Status, Reason: v.Reason, Rule: v.Rule, RetryAfter: v.RetryAfter,
		Detail: v.Detail, RequestID: requestID}
	for i := range v.Limits {
		if v.Limits[i].Violated {
			p.ViolatedPolicies = append(p.ViolatedPolicies, v.Limits[i].Name)
		}
	}
	if v.Challenge.Token != "" {
		c := v.Challenge
		p.Challenge = &c
	}
	if p.Detail == "" {
		p.Detail = Detail(v.Reason)
	}
	return p
}

// Detail is the default explanation a client gets for a reason code.
func Detail(reason string) string {
	switch reason {
	case "rate_limited":
		return "too many requests; retry after the time in Retry-After"
	case "quota_exceeded":
		return "the quota for this period is used up"
	case "concurrency_limited":
		return "too many requests in flight at once"
	case "unknown_route":
		return "no such endpoint"
	case "graphql_too_complex":
		return "the GraphQL document is too deep, too wide or too costly to run"
	case "upstream_circuit_open":
		return "the upstream is failing; retry after the time in Retry-After"
	case "concurrency_shed":
		return "the upstream is overloaded; retry after the time in Retry-After"
	case "budget_exhausted":
		return "the spending budget for this period is used up; it renews at the time in Retry-After"
	}
	return ""
}

// WriteHTTP renders v on w: the RateLimit headers always, and for a
// refusal the whole problem+json response. It reports whether it refused;
// an allowed request's response is the front's to write.
func (v *Verdict) WriteHTTP(w http.ResponseWriter, requestID string) bool {
	h := w.Header()
	v.RateLimitHeaders(func(name, value string) { h[name] = []string{value} })
	v.PassHeaders(func(name, value string) { h[name] = append(h[name], value) })
	p := v.Problem(requestID)
	if p == nil {
		return false
	}
	if v.Challenge.Token != "" && v.Page {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		if v.RetryAfter > 0 {
			h.Set("Retry-After", strconv.FormatInt(problem.Seconds(v.RetryAfter), 10))
		}
		w.WriteHeader(p.Status)
		_, _ = w.Write(pages.Page(v.Challenge, requestID))
		return true
	}
	problem.Write(w, p)
	return true
}

// PassHeaders calls set with the challenge protocol's headers of v: the
// WWW-Authenticate challenge of a challenge verdict; the Abuseguard-Pass
// header of an earned pass, and with PassCookie the HttpOnly, SameSite=Lax
// pass cookie (Secure when v.Secure) and, unless v.OneCookie, the clearing
// of the page's solution cookie.
func (v *Verdict) PassHeaders(set func(name, value string)) {
	if v.Challenge.Token != "" {
		set("Www-Authenticate", v.Challenge.WWWAuthenticate())
	}
	if v.Pass == "" {
		return
	}
	set(challenge.PassHeader, v.Pass)
	if !v.PassCookie {
		return
	}
	pass := &http.Cookie{Name: challenge.PassCookie, Value: v.Pass, Path: "/", HttpOnly: true, Secure: v.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(problem.Seconds(v.PassTTL))}
	set("Set-Cookie", pass.String())
	if v.OneCookie {
		return
	}
	spent := &http.Cookie{Name: challenge.SolutionCookie, Value: "", Path: "/", MaxAge: -1, Secure: v.Secure,
		SameSite: http.SameSiteLaxMode}
	set("Set-Cookie", spent.String())
}
