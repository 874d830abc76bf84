package admin

import (
	"net/http"
	"strings"

	"github.com/abuseguard/abuseguard/internal/problem"
	"github.com/abuseguard/abuseguard/internal/routelearn"
)

// RouteSuggester suggests a routes section from the traffic seen so far
// (GET /v1/routes/suggest), beside the routes the running config declares.
type RouteSuggester interface {
	SuggestRoutes() routelearn.Suggestion
}

// routeSuggestion is the body of GET /v1/routes/suggest: the suggestion
// and, in YAML, the routes section it makes.
type routeSuggestion struct {
	routelearn.Suggestion
	YAML string `json:"yaml"`
}

func (a *api) suggestRoutes(w http.ResponseWriter, r *http.Request) {
	if a.opts.Routes == nil {
		problem.Write(w, &problem.Problem{Status: http.StatusNotFound, Reason: "route_learning_off",
			Detail: "this guard does not learn routes"})
		return
	}
	s := a.opts.Routes.SuggestRoutes()
	var b strings.Builder
	if err := s.WriteYAML(&b); err != nil {
		problem.Write(w, &problem.Problem{Status: http.StatusInternalServerError, Reason: "internal", Detail: err.Error()})
		return
	}
	if r.URL.Query().Get("format") == "yaml" {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write([]byte(b.String()))
		return
	}
	writeJSON(w, http.StatusOK, routeSuggestion{Suggestion: s, YAML: b.String()})
}
