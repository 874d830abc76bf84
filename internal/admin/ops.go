package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/problem"
	"github.com/abuseguard/abuseguard/internal/rollout"
)

// Rollout is what the rollout routes (/v1/rules) need: the limits and
// rules with their modes, promoting one, rolling one back, and a rule's
// report. Promote and Rollback take effect at once (the policy is
// recompiled) and survive reloads and restarts.
type Rollout interface {
	Rules() []RuleState
	Promote(name string, to rollout.Target, by string) (RuleState, error)
	Rollback(name, by string) (RuleState, error)
	Report(name string) (rollout.Report, error)
}

// ErrUnknownRule is wrapped by a Rollout's errors about a name that is
// no limit or rule; the API answers 404.
var ErrUnknownRule = errors.New("unknown rule")

// RuleState is one limit or rule as GET /v1/rules lists it.
type RuleState struct {
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`      // limit or rule
	Mode     string            `json:"mode"`      // in force: shadow, canary:N or enforce
	FileMode string            `json:"file_mode"` // what the config file says
	Override *rollout.Override `json:"override,omitempty"`
}

// FeedbackRequest is the body of POST /v1/decisions/{id}/feedback.
type FeedbackRequest struct {
	Verdict string `json:"verdict"` // confirmed or false_positive
	Note    string `json:"note,omitempty"`
}

// FeedbackResult is its answer: the decision, and whether it was lifted
// (a false positive is).
type FeedbackResult struct {
	Decision decision.Decision `json:"decision"`
	Verdict  string            `json:"verdict"`
	Lifted   bool              `json:"lifted"`
}

// PromoteRequest is the body of POST /v1/rules/{name}/promote.
type PromoteRequest struct {
	To string `json:"to"` // shadow, canary:N or enforce
}

// Feedback verdicts.
const (
	VerdictConfirmed     = "confirmed"
	VerdictFalsePositive = "false_positive"
)

func (a *api) opsRoutes(mux *http.ServeMux) {
	handle(mux, "/v1/decisions/{id}/feedback", on{"POST", a.feedback})
	handle(mux, "/v1/rules", on{"GET", a.rules})
	handle(mux, "/v1/rules/{name}/promote", on{"POST", a.promote})
	handle(mux, "/v1/rules/{name}/rollback", on{"POST", a.rollback})
	handle(mux, "/v1/rules/{name}/report", on{"GET", a.report})
}

// decodeBody decodes r's JSON body into v strictly; on an error it has
// answered.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			problem.Write(w, &problem.Problem{Status: http.StatusRequestEntityTooLarge, Reason: "body_too_large",
				Detail: fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)})
			return false
		}
		invalid(w, "body: "+err.Error())
		return false
	}
	if dec.More() {
		invalid(w, "body: more than one JSON value")
		return false
	}
	return true
}

// feedback records an analyst's verdict on an active decision: confirmed
// keeps it, false_positive lifts it. Both feed the precision metrics.
func (a *api) feedback(w http.ResponseWriter, r *http.Request) {
	var req FeedbackRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Verdict != VerdictConfirmed && req.Verdict != VerdictFalsePositive {
		invalid(w, fmt.Sprintf("verdict: %q is not %s or %s", req.Verdict, VerdictConfirmed, VerdictFalsePositive))
		return
	}
	id := r.PathValue("id")
	d, ok := a.opts.Decisions.Get(id)
	if !ok {
		notFound(w, id)
		return
	}
	res := FeedbackResult{Decision: d, Verdict: req.Verdict}
	var persistErr error
	if req.Verdict == VerdictFalsePositive {
		removed, err := a.opts.Decisions.Remove(id)
		if !removed { // expired or removed meanwhile
			notFound(w, id)
			return
		}
		res.Lifted, persistErr = true, err
		if a.opts.OnChange != nil {
			a.opts.OnChange("remove", d)
		}
	}
	if a.opts.OnFeedback != nil {
		a.opts.OnFeedback(req.Verdict, d)
	}
	if persistErr != nil {
		problem.Write(w, &problem.Problem{Status: http.StatusInternalServerError, Reason: "persist_failed",
			Detail: fmt.Sprintf("decision %s is lifted but is still on disk, so a restart brings it back until it expires: %v", id, persistErr)})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) rollout(w http.ResponseWriter) (Rollout, bool) {
	if a.opts.Rollout == nil {
		problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "rollout_unavailable",
			Detail: "this server does not manage rule rollouts"})
		return nil, false
	}
	return a.opts.Rollout, true
}

func (a *api) rules(w http.ResponseWriter, _ *http.Request) {
	ro, ok := a.rollout(w)
	if !ok {
		return
	}
	rules := ro.Rules()
	if rules == nil {
		rules = []RuleState{}
	}
	writeJSON(w, http.StatusOK, map[string][]RuleState{"rules": rules})
}

func (a *api) promote(w http.ResponseWriter, r *http.Request) {
	ro, ok := a.rollout(w)
	if !ok {
		return
	}
	var req PromoteRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.To == "" {
		req.To = "enforce"
	}
	to, err := rollout.ParseTarget(req.To)
	if err != nil {
		invalid(w, "to: "+err.Error())
		return
	}
	st, err := ro.Promote(r.PathValue("name"), to, client(r))
	a.ruleAnswer(w, st, err)
}

func (a *api) rollback(w http.ResponseWriter, r *http.Request) {
	ro, ok := a.rollout(w)
	if !ok {
		return
	}
	st, err := ro.Rollback(r.PathValue("name"), client(r))
	a.ruleAnswer(w, st, err)
}

func (a *api) report(w http.ResponseWriter, r *http.Request) {
	ro, ok := a.rollout(w)
	if !ok {
		return
	}
	rep, err := ro.Report(r.PathValue("name"))
	if err != nil {
		a.ruleAnswer(w, RuleState{}, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *api) ruleAnswer(w http.ResponseWriter, st RuleState, err error) {
	switch {
	case errors.Is(err, ErrUnknownRule):
		problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "not_found", Detail: err.Error()})
	case err != nil:
		problem.Write(w, &problem.Problem{Status: http.StatusConflict, Reason: "rollout_failed", Detail: err.Error()})
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

// client names the admin API caller for the audit trail.
func client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
