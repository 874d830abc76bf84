// Package detect recognises abuse by behaviour. A Detector watches
// requests (before the decision) and their outcomes (after the response),
// keeps bounded per-entity state, and emits Signals with evidence. The
// engine turns signals into a decaying risk score per entity and the score
// into decisions; detectors never act themselves.
package detect

import (
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Subject returns the entity a request's behaviour is attributed to: its
// API key, else its user, else its session when the session is the subject
// (request.View.BySession), else
// its client IP.
func Subject(v *request.View) verdict.Entity {
	switch {
	case v.Identity.KeyID != "":
		return verdict.Entity{Scope: verdict.ScopeKey, Value: v.Identity.KeyID}
	case v.Identity.User != "":
		return verdict.Entity{Scope: verdict.ScopeUser, Value: v.Identity.User}
	case v.BySession():
		return verdict.Entity{Scope: verdict.ScopeSession, Value: v.Identity.Session}
	}
	return verdict.Entity{Scope: verdict.ScopeIP, Value: v.ClientIP.String()}
}

// Signal is one detector's finding about one entity.
type Signal struct {
	Detector string
	Entity   verdict.Entity
	// Weight is how many risk points (0-100) the finding adds to the
	// entity's score. 100 means act at once (a honeypot touch).
	Weight   float64
	Severity Severity
	Evidence Evidence
}

// Severity grades a signal for events and alerting.
type Severity uint8

// Severities.
const (
	Low Severity = iota
	Medium
	High
)

func (s Severity) String() string {
	switch s {
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return "low"
}

// Evidence says why a detector fired, in terms a person can check.
type Evidence struct {
	Summary   string        // one line: "23 distinct 404 paths in 5m0s"
	Count     float64       // the measured value that crossed the threshold
	Threshold float64       // the threshold it crossed
	Window    time.Duration // the window it was measured over
	RequestID string        // the request that tipped it
}

// Sink receives signals. The engine passes one per request.
type Sink interface {
	Emit(Signal)
}

// Detector is one behavioural detector. Both methods are called on the
// request path concurrently and must be quick, bounded in memory and
// allocation-free when nothing fires.
type Detector interface {
	// Name is the detector's stable name, used in signals, events and config.
	Name() string
	// Request sees a request before the decision.
	Request(v *request.View, s Sink)
	// Response sees a forwarded request's outcome after the response.
	Response(v *request.View, o verdict.Outcome, s Sink)
}
