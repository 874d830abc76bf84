package engine

import (
	"sync/atomic"

	"github.com/abuseguard/abuseguard/internal/limit"
)

// Engine holds the current Policy and the state every Policy shares.
// Swapping the Policy is atomic: a request uses one Policy from start to
// finish.
type Engine struct {
	shared  *Shared
	current atomic.Pointer[Policy]
}

// New returns an Engine that decides with p.
func New(p *Policy) *Engine {
	e := &Engine{shared: p.shared}
	e.current.Store(p)
	return e
}

// Shared returns the state every Policy of e shares.
func (e *Engine) Shared() *Shared { return e.shared }

// Policy returns the current Policy.
func (e *Engine) Policy() *Policy { return e.current.Load() }

// Swap installs p and returns the Policy it replaces, which the caller
// closes once requests using it may have finished.
func (e *Engine) Swap(p *Policy) *Policy { return e.current.Swap(p) }

// Store returns the limiter state shared by every Policy.
func (e *Engine) Store() limit.Store { return e.shared.Limits }
