package gameday

import (
	"net/http"
	"time"
)

// Overloaded returns a wrapper that gives an API the capacity of a small
// server: it serves workers requests at once, each held for at least
// service; the others wait for a worker, so its latency grows with the
// load as an overloaded server's does. A request whose client leaves
// while it waits is dropped unanswered.
func Overloaded(workers int, service time.Duration) func(http.Handler) http.Handler {
	sem := make(chan struct{}, max(1, workers))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case sem <- struct{}{}:
			case <-r.Context().Done():
				return
			}
			defer func() { <-sem }()
			t := time.NewTimer(service)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// OverloadGuardConfig is the adaptive concurrency limit the overload game
// day runs the guard with (appended to examples/shop.yaml).
const OverloadGuardConfig = "adaptive: {mode: enforce, algorithm: gradient, initial: 40, min: 4, max: 200, tolerance: 2}\n"
