package engine

import (
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// RouteObserver sees each answered request after its response, for route
// learning (routelearn.Learner is one). ObserveRoute must not wait and
// must not retain v: the engine calls it on the request's goroutine, after
// the decision, with a View its front reuses.
type RouteObserver interface {
	ObserveRoute(v *request.View, o verdict.Outcome)
}
