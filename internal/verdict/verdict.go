package verdict

import (
	"net/http"
	"strconv"
	"time"

	"github.com/abuseguard/abuseguard/internal/problem"
)

// Verdict is the engine's answer for one request, in terms every front can
// render: what to do, the status and stable reason code of a refusal, the
// rule and mode that decided, and the tightest limit for the RateLimit
// headers.
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

	// RateLimit is the tightest limit that applied; its Name is "" when no
	// limit did.
	RateLimit RateLimit
}

// RateLimit is the state of one limit for the RateLimit headers.
type RateLimit struct {
	Name      string
	Remaining int64
	Reset     time.Duration
	// Policy is the precomputed RateLimit-Policy value of the limit.
	Policy string
}

// Refused reports whether the request must not reach the upstream.
func (v *Verdict) Refused() bool { return v.Action != Allow }

// AppendRateLimit appends the RateLimit header value of the tightest limit
// to dst, and reports false when no limit applied. The format is the IETF
// draft's: "name";r=REMAINING;t=SECONDS.
func (v *Verdict) AppendRateLimit(dst []byte) ([]byte, bool) {
	rl := &v.RateLimit
	if rl.Name == "" {
		return dst, false
	}
	dst = strconv.AppendQuote(dst, rl.Name)
	dst = append(dst, ";r="...)
	dst = strconv.AppendInt(dst, rl.Remaining, 10)
	dst = append(dst, ";t="...)
	return strconv.AppendInt(dst, problem.Seconds(rl.Reset), 10), true
}

// RateLimitHeaders calls set with the RateLimit and RateLimit-Policy
// headers of v, when a limit applied. Fronts send them on allowed and
// refused responses alike.
func (v *Verdict) RateLimitHeaders(set func(name, value string)) {
	var buf [96]byte
	if b, ok := v.AppendRateLimit(buf[:0]); ok {
		set("Ratelimit", string(b))
		set("Ratelimit-Policy", v.RateLimit.Policy)
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
	}
	return ""
}

// WriteHTTP renders v on w: the RateLimit headers always, and for a
// refusal the whole problem+json response. It reports whether it refused;
// an allowed request's response is the front's to write.
func (v *Verdict) WriteHTTP(w http.ResponseWriter, requestID string) bool {
	h := w.Header()
	v.RateLimitHeaders(func(name, value string) { h[name] = []string{value} })
	p := v.Problem(requestID)
	if p == nil {
		return false
	}
	problem.Write(w, p)
	return true
}
