// Package admin serves the admin REST API under /v1: list, add, show and
// remove decisions, explain what is known about an entity, record analyst
// feedback on decisions, roll limits and rules out, suggest a routes
// section learned from live traffic, and list, show and dismiss campaigns.
// Every route
// needs the admin bearer token; without a configured token the API is off.
// Errors are application/problem+json with a stable reason.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/problem"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Explainer tells what is known about an entity (GET /v1/explain/{entity}): its risk score, the
// signals that fed it, and its decisions.
type Explainer interface {
	Explain(e verdict.Entity, now time.Time) decision.Explanation
}

// Options configures Handler.
type Options struct {
	// Decisions is the decision store the API reads and changes. Required
	// when Token is set.
	Decisions decision.Store
	// Explainer, when set, answers explain requests; when nil they return
	// the entity's decisions only. When its Explanation has nil Decisions,
	// the store's are filled in.
	Explainer Explainer
	// Token is the bearer token every request must carry. "" turns the API
	// off: every route answers 404 admin_disabled.
	Token string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Campaigns, when set, answers /v1/campaigns; when nil it returns
	// 404 campaigns_off.
	Campaigns Campaigns
	// Routes, when set, answers GET /v1/routes/suggest; when nil it
	// returns 404 route_learning_off.
	Routes RouteSuggester
	// OnChange, when set, is called after a manual add ("add") or removal
	// ("remove") took effect, with the decision added or removed.
	OnChange func(kind string, d decision.Decision)
	// OnFeedback, when set, is called after an analyst's verdict
	// (confirmed, false_positive) on decision d was recorded.
	OnFeedback func(verdict string, d decision.Decision)
	// Rollout, when set, serves the rollout routes under /v1/rules.
	Rollout Rollout
	// Incidents, when set, serves the incident routes under /v1/incidents.
	Incidents Incidents
}

// Limits and defaults of the API.
const (
	MaxBodyBytes     = 64 << 10 // request bodies larger than this get 413
	DefaultTTL       = time.Hour
	MaxTTL           = decision.DefaultMaxManualTTL
	DefaultListLimit = 1000
	MaxListLimit     = decision.DefaultMaxDecisions
)

// Handler returns the admin API. It serves paths starting with /v1/ (mount
// it at "/v1/" without stripping the prefix). Requests without
// "Authorization: Bearer TOKEN" matching opts.Token get 401 unauthorized;
// the token is compared in constant time.
func Handler(opts Options) http.Handler {
	if opts.Token == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "admin_disabled",
				Detail: "the admin API is off because no admin token is configured; configure one to turn it on"})
		})
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &api{opts: opts}
	mux := http.NewServeMux()
	handle(mux, "/v1/decisions", on{"GET", a.list}, on{"POST", a.add})
	handle(mux, "/v1/decisions/{id}", on{"GET", a.get}, on{"DELETE", a.remove})
	handle(mux, "/v1/explain/{entity...}", on{"GET", a.explain})
	a.opsRoutes(mux)
	a.incidentRoutes(mux)
	handle(mux, "/v1/campaigns", on{"GET", a.listCampaigns})
	handle(mux, "/v1/campaigns/{id}", on{"GET", a.getCampaign})
	handle(mux, "/v1/campaigns/{id}/dismiss", on{"POST", a.dismissCampaign})
	handle(mux, "/v1/routes/suggest", on{"GET", a.suggestRoutes})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "not_found", Detail: "no admin API route " + r.URL.Path})
	})
	want := sha256.Sum256([]byte(opts.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hashing both sides first makes the comparison constant-time in
		// the token's length too.
		got := sha256.Sum256([]byte(bearer(r.Header.Get("Authorization"))))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="abuseguard admin"`)
			problem.Write(w, &problem.Problem{Status: http.StatusUnauthorized, Reason: "unauthorized",
				Detail: "send the admin token as Authorization: Bearer TOKEN"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// bearer returns the token of an "Authorization: Bearer TOKEN" value, or "".
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// on is one method's handler of an admin API path.
type on struct {
	method  string
	handler http.HandlerFunc
}

// handle routes each method of path to its handler and answers every other
// method on path with a problem+json 405 whose Allow lists those methods.
func handle(mux *http.ServeMux, path string, handlers ...on) {
	allow := make([]string, len(handlers))
	for i, h := range handlers {
		mux.HandleFunc(h.method+" "+path, h.handler)
		allow[i] = h.method
	}
	mux.Handle(path, methods(strings.Join(allow, ", ")))
}

func methods(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		problem.Write(w, &problem.Problem{Status: http.StatusMethodNotAllowed, Reason: "method_not_allowed",
			Detail: r.Method + " " + r.URL.Path + " is not supported; use " + allow})
	})
}

type api struct{ opts Options }

// decisionList is the body of GET /v1/decisions.
type decisionList struct {
	Decisions []decision.Decision `json:"decisions"`
	Total     int                 `json:"total"` // matching decisions before the limit
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := a.opts.Now()
	limit := DefaultListLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			invalid(w, fmt.Sprintf("limit: %q is not a number from 1 to %d", s, MaxListLimit))
			return
		}
		limit = n
	}
	scopeName, value := q.Get("scope"), q.Get("value")
	var ds []decision.Decision
	switch {
	case value != "":
		if scopeName == "" {
			invalid(w, "scope: needed with value")
			return
		}
		e, err := verdict.ParseEntity(scopeName + ":" + value)
		if err != nil {
			invalid(w, err.Error())
			return
		}
		ds = a.opts.Decisions.ForEntity(e.Scope, e.Value, now)
	case scopeName != "":
		sc, ok := verdict.ParseScope(scopeName)
		if !ok {
			invalid(w, fmt.Sprintf("scope: %q is not one of %s", scopeName, verdict.ScopeNames))
			return
		}
		for _, d := range a.opts.Decisions.List(now) {
			if d.Scope == sc {
				ds = append(ds, d)
			}
		}
	default:
		ds = a.opts.Decisions.List(now)
	}
	total := len(ds)
	if total > limit {
		ds = ds[total-limit:] // the most recent ones
	}
	if ds == nil {
		ds = []decision.Decision{}
	}
	writeJSON(w, http.StatusOK, decisionList{Decisions: ds, Total: total})
}

// AddRequest is the body of POST /v1/decisions.
type AddRequest struct {
	Scope  string `json:"scope"`
	Value  string `json:"value"`
	Action string `json:"action"`
	TTL    string `json:"ttl,omitempty"`    // Go duration; default 1h, at most 8760h
	Reason string `json:"reason,omitempty"` // default "manual"
	Mode   string `json:"mode,omitempty"`   // enforce (default) or shadow
}

func (a *api) add(w http.ResponseWriter, r *http.Request) {
	var req AddRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			problem.Write(w, &problem.Problem{Status: http.StatusRequestEntityTooLarge, Reason: "body_too_large",
				Detail: fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)})
			return
		}
		invalid(w, "body: "+err.Error())
		return
	}
	if dec.More() {
		invalid(w, "body: more than one JSON value")
		return
	}
	ttl := DefaultTTL
	if req.TTL != "" {
		var err error
		ttl, err = time.ParseDuration(req.TTL)
		switch {
		case err != nil:
			invalid(w, fmt.Sprintf("ttl: %q is not a duration such as 30m or 12h", req.TTL))
			return
		case ttl <= 0:
			invalid(w, fmt.Sprintf("ttl: %q is not positive", req.TTL))
			return
		case ttl > MaxTTL:
			invalid(w, fmt.Sprintf("ttl: %q is longer than %s", req.TTL, MaxTTL))
			return
		}
	}
	if req.Reason == "" {
		req.Reason = "manual"
	}
	if req.Action == "" {
		invalid(w, "action: missing; one of throttle, challenge, block")
		return
	}
	var d decision.Decision
	for _, err := range []error{d.Scope.UnmarshalText([]byte(req.Scope)), d.Action.UnmarshalText([]byte(req.Action)),
		d.Mode.UnmarshalText([]byte(req.Mode))} {
		if err != nil {
			invalid(w, err.Error())
			return
		}
	}
	now := a.opts.Now()
	from, _, _ := net.SplitHostPort(r.RemoteAddr)
	d, added, err := a.opts.Decisions.Add(decision.Decision{
		Scope: d.Scope, Value: req.Value, Action: d.Action, Reason: req.Reason, Mode: d.Mode,
		Source: decision.SourceManual, Expires: now.Add(ttl),
		Evidence: []verdict.Evidence{{Time: now, Detector: "manual", Summary: "added through the admin API from " + from}},
	})
	switch {
	case errors.Is(err, verdict.ErrInvalid):
		invalid(w, err.Error())
		return
	case err != nil && !errors.Is(err, decision.ErrPersist):
		problem.Write(w, &problem.Problem{Status: http.StatusInternalServerError, Reason: "internal", Detail: err.Error()})
		return
	}
	if added && a.opts.OnChange != nil {
		a.opts.OnChange("add", d)
	}
	if err != nil {
		problem.Write(w, &problem.Problem{Status: http.StatusInternalServerError, Reason: "persist_failed",
			Detail: fmt.Sprintf("decision %s is in force but was not saved to disk, so a restart loses it: %v", d.ID, err)})
		return
	}
	status := http.StatusOK // an active decision at least as strong was kept
	if added {
		w.Header().Set("Location", "/v1/decisions/"+d.ID)
		status = http.StatusCreated
	}
	writeJSON(w, status, d)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok := a.opts.Decisions.Get(id)
	if !ok {
		notFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *api) remove(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, _ := a.opts.Decisions.Get(id)
	removed, err := a.opts.Decisions.Remove(id)
	if !removed {
		notFound(w, id)
		return
	}
	if a.opts.OnChange != nil {
		a.opts.OnChange("remove", d)
	}
	if err != nil {
		problem.Write(w, &problem.Problem{Status: http.StatusInternalServerError, Reason: "persist_failed",
			Detail: fmt.Sprintf("decision %s is removed but is still on disk, so a restart brings it back until it expires: %v", id, err)})
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *api) explain(w http.ResponseWriter, r *http.Request) {
	e, err := verdict.ParseEntity(r.PathValue("entity"))
	if err != nil {
		invalid(w, err.Error())
		return
	}
	now := a.opts.Now()
	var x decision.Explanation
	if a.opts.Explainer != nil {
		x = a.opts.Explainer.Explain(e, now)
	}
	x.Entity = e.String()
	if x.Decisions == nil {
		x.Decisions = a.opts.Decisions.ForEntity(e.Scope, e.Value, now)
	}
	if x.Decisions == nil {
		x.Decisions = []decision.Decision{}
	}
	if x.Signals == nil {
		x.Signals = []verdict.Evidence{}
	}
	writeJSON(w, http.StatusOK, x)
}

func invalid(w http.ResponseWriter, detail string) {
	problem.Write(w, &problem.Problem{Status: http.StatusBadRequest, Reason: "invalid_request", Detail: detail})
}

func notFound(w http.ResponseWriter, id string) {
	problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "not_found", Detail: "no active decision " + strconv.Quote(id)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
