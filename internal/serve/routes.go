package serve

import (
	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/routelearn"
)

// routeSuggester answers the admin API's route suggestions from the
// learner the engine feeds, beside the routes the current config declares
// (after a reload, the reloaded ones).
type routeSuggester struct {
	learner *routelearn.Learner
	engine  *engine.Engine
}

func (r routeSuggester) SuggestRoutes() routelearn.Suggestion {
	return r.learner.Suggest(r.engine.Policy().Config.Routes)
}

var (
	_ admin.RouteSuggester = routeSuggester{}
	_ engine.RouteObserver = (*routelearn.Learner)(nil)
)
