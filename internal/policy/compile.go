package policy

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// CostLimit is the most one evaluation of a rule may cost, in CEL cost
// units (roughly one per operation and one per ten characters a string
// function scans). Compile estimates a rule's worst case from the input
// sizes in docs/rules.md and rejects it if that is over CostLimit or
// unbounded. Within those sizes the estimate bounds the real cost, so Eval
// runs the rule untracked; beyond them (an oversized header, say) it runs
// the rule under a runtime limit of CostLimit, stops it there and reports
// an error. The runtime limit has no headroom over the static one because
// cel-go's cost tracker is quadratic in comprehension iterations: at
// 10,000 units a runaway rule stops in about half a millisecond, at
// 100,000 in about 200.
const CostLimit = 10000

// MaxExpressionLength is the longest `when` expression Compile accepts, in
// characters.
const MaxExpressionLength = 4096

// The input sizes the static cost estimate assumes, in bytes (a bound on
// characters too). Ordinary requests are well within them; only a
// deliberately oversized one is not, and its rules run under the runtime
// limit (see CostLimit).
const (
	maxURLString   = 8 << 10 // path, query
	maxUserAgent   = 2 << 10 // user agent: real ones are under 1 KiB
	maxShortString = 256     // method, host, route, ids, plan, ip
	maxScopes      = 64      // identity.scopes entries
	maxSignals     = 64      // distinct detectors in signals
)

var reasonPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Compile compiles and type-checks cfgs, returning every error at once. A
// `when` must be a bool expression over the declared variables (see
// docs/rules.md) whose estimated worst-case cost is at most CostLimit.
func Compile(cfgs []RuleConfig) (*Rules, []*CompileError) {
	env, err := ruleEnv()
	if err != nil { // a bug in the declarations, not in the config
		return nil, []*CompileError{{Rule: 0, Field: "when", Line: 1, Col: 1, Msg: "CEL environment: " + err.Error()}}
	}
	var errs []*CompileError
	fail := func(i int, field, format string, args ...any) {
		errs = append(errs, &CompileError{Rule: i, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	names := make(map[string]int, len(cfgs))
	out := &Rules{rules: make([]*Rule, 0, len(cfgs))}
	for i, c := range cfgs {
		r := &Rule{Index: i, Name: c.Name, When: c.When, TTL: c.TTL, Reason: c.Reason, CanaryPercent: c.CanaryPercent}
		switch {
		case strings.TrimSpace(c.Name) == "":
			fail(i, "name", "a rule needs a name")
		default:
			if j, dup := names[c.Name]; dup {
				fail(i, "name", "%q is also the name of rules[%d]", c.Name, j)
			} else {
				names[c.Name] = i
			}
		}
		action, ok := verdict.ParseAction(c.Action)
		switch {
		case ok:
			r.Action = action
		case c.Action == "":
			fail(i, "action", "a rule needs an action: allow, throttle, challenge or block")
		default:
			fail(i, "action", "unknown action %q (want allow, throttle, challenge or block)", c.Action)
		}
		if c.Scope != "" {
			s, ok := verdict.ParseScope(c.Scope)
			if !ok {
				fail(i, "scope", "unknown scope %q (want ip, prefix, key, user, fingerprint, session, or none for the request's subject)", c.Scope)
			}
			r.Scope = s
		}
		if c.TTL < 0 {
			fail(i, "ttl", "must not be negative")
		}
		if r.Reason == "" {
			r.Reason = "rule"
		} else if !reasonPattern.MatchString(r.Reason) {
			fail(i, "reason", "%q: a reason code is lower-case letters, digits and _", r.Reason)
		}
		mode, ok := verdict.ParseMode(c.Mode)
		if ok && mode != verdict.Off && c.Mode != "on" {
			r.Mode = mode
		} else {
			mode = verdict.Off // refused below
		}
		switch mode {
		case verdict.Enforce, verdict.Shadow:
			if c.CanaryPercent != 0 {
				fail(i, "canary_percent", "only applies with mode: canary")
			}
		case verdict.Canary:
			switch {
			case c.CanaryPercent == 0:
				fail(i, "mode", "canary needs canary_percent (above 0, at most 100)")
			case !(c.CanaryPercent > 0 && c.CanaryPercent <= 100): // also NaN
				fail(i, "canary_percent", "must be above 0 and at most 100")
			}
			r.canary = rollout.NewCanary(c.CanaryPercent)
		default:
			fail(i, "mode", "unknown mode %q (want enforce, shadow or canary)", c.Mode)
		}
		cost, werrs := r.compileWhen(env)
		for _, e := range werrs {
			e.Rule = i
			errs = append(errs, e)
		}
		r.Cost = cost
		out.rules = append(out.rules, r)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// maxErrorsPerRule caps the CEL errors reported for one expression: a
// syntax error tends to drag a few more behind it.
const maxErrorsPerRule = 5

// compileWhen parses, checks and plans r.When, setting r's programs and
// returning the estimated worst-case cost. Its errors carry positions
// inside the expression; their Rule is set by the caller.
func (r *Rule) compileWhen(env *cel.Env) (uint64, []*CompileError) {
	src := r.When
	whenErr := func(line, col int, format string, args ...any) []*CompileError {
		return []*CompileError{{Field: "when", Line: max(line, 1), Col: max(col, 1), Msg: fmt.Sprintf(format, args...)}}
	}
	if strings.TrimSpace(src) == "" {
		return 0, whenErr(1, 1, "a rule needs a when expression")
	}
	if n := utf8.RuneCountInString(src); n > MaxExpressionLength {
		return 0, whenErr(1, 1, "expression is %d characters long, over the limit of %d", n, MaxExpressionLength)
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		var errs []*CompileError
		for _, e := range iss.Errors() {
			if len(errs) == maxErrorsPerRule {
				break
			}
			line, col := e.Location.Line(), e.Location.Column()+1
			errs = append(errs, whenErr(line, col, "%s", explain(e.Message))...)
		}
		if len(errs) == 0 {
			errs = whenErr(1, 1, "%v", iss.Err())
		}
		return 0, errs
	}
	line, col := startOf(src)
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) {
		return 0, whenErr(line, col, "expression is a %s, want a bool", t)
	}
	est, err := env.EstimateCost(ast, inputSizes{})
	if err != nil {
		return 0, whenErr(line, col, "estimating cost: %v", err)
	}
	if est.Max == math.MaxUint64 {
		return 0, whenErr(line, col, "cost is unbounded (an unbounded loop or string operation?); its limit is %d", CostLimit)
	}
	if est.Max > CostLimit {
		return 0, whenErr(line, col, "estimated worst-case cost %d is over the limit of %d", est.Max, CostLimit)
	}
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize), cel.CustomDecorator(foldConstantNetworkCalls)}
	if r.fast, err = env.Program(ast, opts...); err == nil {
		r.limited, err = env.Program(ast, append(opts, cel.CostLimit(CostLimit))...)
	}
	if err != nil {
		return 0, whenErr(line, col, "%v", err)
	}
	return est.Max, nil
}

// explain rewrites a checker message about an unknown name so it lists
// what a rule can read instead.
func explain(msg string) string {
	msg = strings.TrimSuffix(msg, " (in container '')")
	name, ok := strings.CutPrefix(msg, "undeclared reference to '")
	if !ok {
		return msg
	}
	name = strings.TrimSuffix(name, "'")
	var known []string
	for _, v := range variables {
		if strings.HasPrefix(v.name, name+".") {
			known = append(known, strings.TrimPrefix(v.name, name+"."))
		}
	}
	if len(known) > 0 {
		return fmt.Sprintf("unknown field of %s (it has %s)", name, strings.Join(known, ", "))
	}
	return fmt.Sprintf("unknown variable or function %q (rules read request.*, identity.*, score, signals and limited)", name)
}

// startOf returns the 1-based line and column of the first character of src
// that is not white space.
func startOf(src string) (line, col int) {
	line, col = 1, 1
	for _, c := range src {
		switch c {
		case '\n':
			line, col = line+1, 1
		case ' ', '\t', '\r':
			col++
		default:
			return line, col
		}
	}
	return 1, 1
}

// inputSizes bounds the sizes of the variables for the checker's cost
// estimate, which is otherwise unbounded for any string or list input.
type inputSizes struct{}

func (inputSizes) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	size := func(max uint64) *checker.SizeEstimate { return &checker.SizeEstimate{Min: 0, Max: max} }
	if len(path) == 2 {
		switch {
		case path[0] == "identity.scopes" && path[1] == "@items",
			path[0] == "signals" && path[1] == "@keys":
			return size(maxShortString)
		}
		return nil
	}
	if len(path) != 1 {
		return nil
	}
	switch slotOf(path[0]) {
	case varPath, varQuery:
		return size(maxURLString)
	case varUserAgent:
		return size(maxUserAgent)
	case varMethod, varHost, varRoute, varRouteKind, varParam, varIP, varFingerprint,
		varKey, varUser, varTenant, varPlan, varSession, varLimited:
		return size(maxShortString)
	case varScopes:
		return size(maxScopes)
	case varSignals:
		return size(maxSignals)
	}
	return nil
}

func (inputSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// foldConstantNetworkCalls evaluates cidr("...") and ip("...") with a
// constant argument once, when the program is planned, so a CIDR written
// in a rule is parsed once rather than per request.
func foldConstantNetworkCalls(i interpreter.Interpretable) (interpreter.Interpretable, error) {
	call, ok := i.(interpreter.InterpretableCall)
	if !ok || len(call.Args()) != 1 {
		return i, nil
	}
	switch call.OverloadID() {
	case "string_to_cidr", "string_to_ip":
	default:
		return i, nil
	}
	if _, ok := call.Args()[0].(interpreter.InterpretableConst); !ok {
		return i, nil
	}
	v := call.Eval(interpreter.EmptyActivation())
	if types.IsError(v) {
		return i, nil // left for runtime, which reports it
	}
	return interpreter.NewConstValue(call.ID(), v), nil
}
