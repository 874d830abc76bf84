// Package problem renders refusals as RFC 9457 application/problem+json
// bodies with a stable reason code, the same for every front.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// Problem is a refused request: its status, a stable reason code that
// clients and dashboards can key on, and what a person needs to act.
type Problem struct {
	Status     int           `json:"status"`
	Reason     string        `json:"reason"`
	Detail     string        `json:"detail,omitempty"`
	Rule       string        `json:"rule,omitempty"`
	RequestID  string        `json:"request_id,omitempty"`
	RetryAfter time.Duration `json:"-"`
	// ViolatedPolicies names the limits that refused the request: the
	// "violated-policies" member of the RateLimit draft's quota-exceeded
	// problem type, next to the guard's own reason code.
	ViolatedPolicies []string `json:"violated-policies,omitempty"`
	// Challenge is the proof-of-work a challenged client may solve
	// (docs/challenges.md); nil for other refusals.
	Challenge *challenge.Challenge `json:"challenge,omitempty"`
}

// Error returns the reason and detail.
func (p *Problem) Error() string {
	if p.Detail == "" {
		return p.Reason
	}
	return p.Reason + ": " + p.Detail
}

// TypeURI returns the problem type URI for reason.
func TypeURI(reason string) string { return "urn:abuseguard:problem:" + reason }

type body struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	*Problem
}

// Write sends p as application/problem+json, with Retry-After in whole
// seconds (rounded up) when p.RetryAfter is set.
func Write(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(Seconds(p.RetryAfter), 10))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(Marshal(p))
}

// Marshal returns p's application/problem+json body, ending in a newline.
func Marshal(p *Problem) []byte {
	b, err := json.Marshal(body{Type: TypeURI(p.Reason), Title: http.StatusText(p.Status), Problem: p})
	if err != nil { // plain fields only: cannot fail
		return []byte(`{"status":500,"reason":"internal"}` + "\n")
	}
	return append(b, '\n')
}

// Seconds rounds d up to whole seconds, at least 1 for any positive d.
func Seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
