package policy

import (
	"errors"
	"sync"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
	"github.com/abuseguard/abuseguard/internal/request"
)

// Eval evaluates the rules in order against in. The first enforced rule
// that matches decides; shadow and out-of-canary matches ahead of it do
// not stop evaluation (a shadow rule never changes what happens) and the
// first of them is returned in Match.Shadow, or as Match.Rule when no
// enforced rule matches. A rule that fails at runtime is skipped and its
// *EvalError returned (joined, if several) alongside the result. Eval
// never panics.
//
// When every input is within the sizes the cost estimate assumed, which is
// the common case, the estimate bounds each rule's cost and Eval runs it
// without cost tracking, which allocates per operation; otherwise it runs
// the rule under CostLimit.
func (r *Rules) Eval(in *Input) (Match, bool, error) {
	if r.Len() == 0 || in == nil {
		return Match{}, false, nil
	}
	a := activations.Get().(*activation)
	a.reset(in)
	defer a.release()
	var (
		first *Rule
		errs  error
	)
	fast := a.withinBounds()
	for _, rule := range r.rules {
		prog := rule.limited
		if fast {
			prog = rule.fast
		}
		out, _, err := prog.Eval(a)
		if err != nil {
			errs = joinErr(errs, &EvalError{Rule: rule.Name, Err: err})
			continue
		}
		if out != types.True {
			continue
		}
		if rule.enforcedFor(a.view) {
			return Match{Rule: rule, Enforced: true, Shadow: first}, true, errs
		}
		if first == nil {
			first = rule
		}
	}
	if first != nil {
		return Match{Rule: first}, true, errs
	}
	return Match{}, false, errs
}

func joinErr(errs, err error) error {
	if errs == nil {
		return err
	}
	return errors.Join(errs, err)
}

// activation resolves the rule variables from an Input. It implements
// interpreter.Activation by switching on the variable name, and caches
// each value it builds for the rest of one Eval, so every rule that reads
// a variable shares one conversion. Activations are pooled.
type activation struct {
	in       *Input
	view     *request.View
	resolved uint32 // bit i: vals[i] holds the value of variable i
	vals     [numVars]ref.Val
	signals  signalMap
}

var activations = sync.Pool{New: func() any { return new(activation) }}

// emptyView stands in for a nil Input.View.
var emptyView = &request.View{}

func (a *activation) reset(in *Input) {
	a.in, a.view = in, in.View
	if a.view == nil {
		a.view = emptyView
	}
	a.signals.sigs = in.Signals
}

func (a *activation) release() {
	a.in, a.view, a.signals.sigs = nil, nil, nil
	if a.resolved != 0 {
		a.vals = [numVars]ref.Val{}
		a.resolved = 0
	}
	activations.Put(a)
}

// withinBounds reports whether every input is within the sizes inputSizes
// gave the cost estimate.
func (a *activation) withinBounds() bool {
	v := a.view
	if len(v.Path) > maxURLString || len(v.Query) > maxURLString || len(v.UserAgent) > maxUserAgent ||
		len(v.Method) > maxShortString || len(v.Host) > maxShortString || len(v.Param) > maxShortString ||
		len(v.Identity.KeyID) > maxShortString || len(v.Identity.User) > maxShortString ||
		len(v.Identity.Tenant) > maxShortString || len(v.Identity.Plan) > maxShortString ||
		len(a.in.Limited) > maxShortString ||
		len(v.Identity.Scopes) > maxScopes || len(a.signals.sigs) > maxSignals {
		return false
	}
	if v.Route != nil && (len(v.Route.Name) > maxShortString || len(v.Route.Kind) > maxShortString) {
		return false
	}
	for _, s := range v.Identity.Scopes {
		if len(s) > maxShortString {
			return false
		}
	}
	for i := range a.signals.sigs {
		if len(a.signals.sigs[i].Detector) > maxShortString {
			return false
		}
	}
	return true
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	i := slotOf(name)
	if i < 0 {
		return nil, false
	}
	if a.resolved&(1<<i) != 0 {
		return a.vals[i], true
	}
	v := a.value(i)
	a.vals[i] = v
	a.resolved |= 1 << i
	return v, true
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// value builds the CEL value of variable i.
func (a *activation) value(i int) ref.Val {
	v := a.view
	switch i {
	case varMethod:
		return types.String(v.Method)
	case varPath:
		return types.String(v.Path)
	case varQuery:
		return types.String(v.Query)
	case varHost:
		return types.String(v.Host)
	case varRoute:
		if v.Route == nil {
			return types.String("")
		}
		return types.String(v.Route.Name)
	case varRouteKind:
		if v.Route == nil {
			return types.String("")
		}
		return types.String(v.Route.Kind)
	case varParam:
		return types.String(v.Param)
	case varUserAgent:
		return types.String(v.UserAgent)
	case varIP:
		if !v.ClientIP.IsValid() {
			return types.String("")
		}
		return types.String(v.ClientIP.String())
	case varFingerprint:
		return types.String(v.Fingerprint.String())
	case varBrowser:
		return types.Bool(v.Hints.Has(request.ClaimsBrowser))
	case varHasAcceptLanguage:
		return types.Bool(v.Hints.Has(request.AcceptLanguage))
	case varHasAcceptEncoding:
		return types.Bool(v.Hints.Has(request.AcceptEncoding))
	case varHasReferer:
		return types.Bool(v.Hints.Has(request.Referer))
	case varHasFetchMetadata:
		return types.Bool(v.Hints.Has(request.FetchMetadata))
	case varKey:
		return types.String(v.Identity.KeyID)
	case varUser:
		return types.String(v.Identity.User)
	case varTenant:
		return types.String(v.Identity.Tenant)
	case varPlan:
		return types.String(v.Identity.Plan)
	case varScopes:
		return types.NewStringList(types.DefaultTypeAdapter, v.Identity.Scopes)
	case varAuthenticated:
		return types.Bool(v.Identity.KeyID != "" || v.Identity.User != "")
	case varSession:
		return types.String(v.Identity.Session)
	case varScore:
		return types.Double(a.in.Score)
	case varSignals:
		return &a.signals
	case varLimited:
		return types.String(a.in.Limited)
	}
	return types.NewErr("no variable %d", i)
}

var _ interpreter.Activation = (*activation)(nil)
