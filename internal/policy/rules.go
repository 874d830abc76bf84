// Package policy turns operator-written rules into decisions. A rule is a
// CEL expression over the request, its identity, its risk score and the
// signals detectors emitted for it, plus what to do when it holds. Rules are
// compiled and type-checked once at load, carry a static and a runtime cost
// limit, and are evaluated per request without building a map of variables.
package policy

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
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

// Prefix sizes for canary cohorts of prefix-scoped rules: the config
// defaults for ip_prefix.
const (
	canaryPrefix4 = 24
	canaryPrefix6 = 64
)

// RuleConfig is one rule as written in the config file.
type RuleConfig struct {
	Name          string        `yaml:"name"`
	When          string        `yaml:"when"`   // CEL boolean expression
	Action        string        `yaml:"action"` // allow, throttle, challenge, block
	Scope         string        `yaml:"scope"`  // ip, prefix, key, user, fingerprint, or "" = the request's subject (key, else user, else ip)
	TTL           time.Duration `yaml:"ttl"`    // how long the decision lasts; 0 = this request only (no decision recorded)
	Reason        string        `yaml:"reason"` // reason code in responses and events (default "rule")
	Mode          string        `yaml:"mode"`   // enforce (default), shadow, canary
	CanaryPercent float64       `yaml:"canary_percent"`
}

// CompileError is a rule that does not compile, with the position inside
// its expression when the fault is in `when`.
type CompileError struct {
	Rule      int    // index in the list
	Field     string // "name", "when", "action", "scope", "ttl", "reason", "mode", "canary_percent"
	Line, Col int    // 1-based position inside the `when` expression (Col counts characters); 0 for other fields
	Msg       string
}

// Error returns "rules[i].field:line:col: msg", without the position when
// there is none.
func (e *CompileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("rules[%d].%s:%d:%d: %s", e.Rule, e.Field, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("rules[%d].%s: %s", e.Rule, e.Field, e.Msg)
}

// Rule is one compiled rule. It is immutable.
type Rule struct {
	Index         int // position in the list
	Name          string
	When          string        // the expression as written
	Action        string        // allow, throttle, challenge or block
	Scope         verdict.Scope // the entity a decision is about; 0 is the request's subject
	TTL           time.Duration // 0: this request only
	Reason        string
	Mode          string  // enforce, shadow or canary
	CanaryPercent float64 // share of entities a canary rule enforces for, 0-100
	// Cost is the checker's worst-case estimate of one evaluation, in CEL
	// cost units; at most CostLimit.
	Cost uint64

	canary rollout.Canary // the entities a canary-mode rule enforces for
	// fast runs without cost tracking, for inputs within the sizes the
	// estimate assumed (where Cost bounds it); limited tracks cost and
	// stops at CostLimit, for everything else.
	fast, limited cel.Program
}

// Rules is a compiled, immutable rule list, safe for concurrent use. The
// nil *Rules is an empty list.
type Rules struct {
	rules []*Rule
}

// Len returns the number of rules.
func (r *Rules) Len() int {
	if r == nil {
		return 0
	}
	return len(r.rules)
}

// Rule returns the i-th rule.
func (r *Rules) Rule(i int) *Rule { return r.rules[i] }

// Input is what a rule can read.
type Input struct {
	View    *request.View
	Score   float64         // the request subject's risk score, 0-100
	Signals []detect.Signal // signals emitted for this request so far
	Limited string          // name of a limit that refused or would have refused the request ("" none)
}

// Match is the rule that decides a request.
type Match struct {
	// Rule is the first enforced rule that matched or, when none did, the
	// first rule that matched.
	Rule *Rule
	// Enforced is false for a shadow match and for a canary match outside
	// the canary's share of entities: the rule only records what it would
	// have done.
	Enforced bool
	// Shadow is, when Rule is enforced, the first non-enforced rule that
	// matched ahead of it (nil if none), so its would-be match can be
	// recorded too.
	Shadow *Rule
}

// EvalError is a rule that failed at runtime (cost limit, missing map key,
// bad conversion). The rule is skipped.
type EvalError struct {
	Rule string
	Err  error
}

func (e *EvalError) Error() string { return "rule " + e.Rule + ": " + e.Err.Error() }

// Unwrap returns the CEL error.
func (e *EvalError) Unwrap() error { return e.Err }

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
		r := &Rule{Index: i, Name: c.Name, When: c.When, Action: c.Action, TTL: c.TTL, Reason: c.Reason, Mode: c.Mode, CanaryPercent: c.CanaryPercent}
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
		switch c.Action {
		case "allow", "throttle", "challenge", "block":
		case "":
			fail(i, "action", "a rule needs an action: allow, throttle, challenge or block")
		default:
			fail(i, "action", "unknown action %q (want allow, throttle, challenge or block)", c.Action)
		}
		if c.Scope != "" {
			s, ok := verdict.ParseScope(c.Scope)
			if !ok {
				fail(i, "scope", "unknown scope %q (want ip, prefix, key, user, fingerprint, or none for the request's subject)", c.Scope)
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
		switch c.Mode {
		case "", "enforce", "shadow":
			if r.Mode == "" {
				r.Mode = "enforce"
			}
			if c.CanaryPercent != 0 {
				fail(i, "canary_percent", "only applies with mode: canary")
			}
		case "canary":
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

// The variables a rule can read. Each has a slot in activation.vals.
const (
	varMethod = iota
	varPath
	varQuery
	varHost
	varRoute
	varRouteKind
	varParam
	varUserAgent
	varIP
	varFingerprint
	varBrowser
	varHasAcceptLanguage
	varHasAcceptEncoding
	varHasReferer
	varHasFetchMetadata
	varKey
	varUser
	varTenant
	varPlan
	varScopes
	varAuthenticated
	varScore
	varSignals
	varLimited
	numVars
)

// variables declares every variable with its CEL type, in slot order.
var variables = [numVars]struct {
	name string
	t    *cel.Type
}{
	varMethod:            {"request.method", cel.StringType},
	varPath:              {"request.path", cel.StringType},
	varQuery:             {"request.query", cel.StringType},
	varHost:              {"request.host", cel.StringType},
	varRoute:             {"request.route", cel.StringType},
	varRouteKind:         {"request.route_kind", cel.StringType},
	varParam:             {"request.param", cel.StringType},
	varUserAgent:         {"request.user_agent", cel.StringType},
	varIP:                {"request.ip", cel.StringType},
	varFingerprint:       {"request.fingerprint", cel.StringType},
	varBrowser:           {"request.browser", cel.BoolType},
	varHasAcceptLanguage: {"request.has_accept_language", cel.BoolType},
	varHasAcceptEncoding: {"request.has_accept_encoding", cel.BoolType},
	varHasReferer:        {"request.has_referer", cel.BoolType},
	varHasFetchMetadata:  {"request.has_fetch_metadata", cel.BoolType},
	varKey:               {"identity.key", cel.StringType},
	varUser:              {"identity.user", cel.StringType},
	varTenant:            {"identity.tenant", cel.StringType},
	varPlan:              {"identity.plan", cel.StringType},
	varScopes:            {"identity.scopes", cel.ListType(cel.StringType)},
	varAuthenticated:     {"identity.authenticated", cel.BoolType},
	varScore:             {"score", cel.DoubleType},
	varSignals:           {"signals", cel.MapType(cel.StringType, cel.DoubleType)},
	varLimited:           {"limited", cel.StringType},
}

// slotOf returns the slot of a variable name, or -1. A switch compiles to
// a length-then-content search with no hashing or allocation.
func slotOf(name string) int {
	switch name {
	case "request.method":
		return varMethod
	case "request.path":
		return varPath
	case "request.query":
		return varQuery
	case "request.host":
		return varHost
	case "request.route":
		return varRoute
	case "request.route_kind":
		return varRouteKind
	case "request.param":
		return varParam
	case "request.user_agent":
		return varUserAgent
	case "request.ip":
		return varIP
	case "request.fingerprint":
		return varFingerprint
	case "request.browser":
		return varBrowser
	case "request.has_accept_language":
		return varHasAcceptLanguage
	case "request.has_accept_encoding":
		return varHasAcceptEncoding
	case "request.has_referer":
		return varHasReferer
	case "request.has_fetch_metadata":
		return varHasFetchMetadata
	case "identity.key":
		return varKey
	case "identity.user":
		return varUser
	case "identity.tenant":
		return varTenant
	case "identity.plan":
		return varPlan
	case "identity.scopes":
		return varScopes
	case "identity.authenticated":
		return varAuthenticated
	case "score":
		return varScore
	case "signals":
		return varSignals
	case "limited":
		return varLimited
	}
	return -1
}

// ruleEnv returns the shared CEL environment: the standard library,
// optional values, string and network extensions, and the variables.
var ruleEnv = sync.OnceValues(func() (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Network(),
		cel.CrossTypeNumericComparisons(true),
		cel.ASTValidators(
			cel.ValidateRegexLiterals(),
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
		),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
	}
	for _, v := range variables {
		opts = append(opts, cel.Variable(v.name, v.t))
	}
	return cel.NewEnv(opts...)
})

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
		varKey, varUser, varTenant, varPlan, varLimited:
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

// enforcedFor reports whether r acts on v: always in enforce mode, never in
// shadow mode, and in canary mode for the entities whose rollout.Hash of
// rule name and entity value the canary includes. The same entities are in the canary every time, in every
// process, and raising the percentage only adds entities.
func (r *Rule) enforcedFor(v *request.View) bool {
	switch r.Mode {
	case "enforce":
		return true
	case "canary":
		return r.canary.Includes(hashEntity(rollout.NewHash().String(r.Name).Sep(), r.Scope, v).Sum())
	}
	return false
}

// hashEntity folds the value of v's entity in scope into h without
// allocating. The text hashed is detect.Entity.Value's (an unknown IP
// hashes as ""); a prefix is the client's /24 or /64.
func hashEntity(h rollout.Hash, scope verdict.Scope, v *request.View) rollout.Hash {
	var buf [64]byte
	switch scope {
	case 0:
		switch {
		case v.Identity.KeyID != "":
			return h.String(v.Identity.KeyID)
		case v.Identity.User != "":
			return h.String(v.Identity.User)
		}
		return h.Bytes(appendAddr(buf[:0], v.ClientIP))
	case verdict.ScopeKey:
		return h.String(v.Identity.KeyID)
	case verdict.ScopeUser:
		return h.String(v.Identity.User)
	case verdict.ScopeFingerprint:
		return h.Bytes(appendFingerprint(buf[:0], v.Fingerprint))
	case verdict.ScopePrefix:
		bits := canaryPrefix6
		if v.ClientIP.Is4() {
			bits = canaryPrefix4
		}
		p, err := v.ClientIP.Prefix(bits)
		if err != nil {
			return h
		}
		return h.Bytes(p.AppendTo(buf[:0]))
	}
	return h.Bytes(appendAddr(buf[:0], v.ClientIP))
}

// appendAddr appends a's text, or nothing for the zero Addr.
func appendAddr(dst []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return dst
	}
	return a.AppendTo(dst)
}

// appendFingerprint appends f's text, "f_" and 16 hex digits, as
// request.Fingerprint.String does.
func appendFingerprint(dst []byte, f request.Fingerprint) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, 'f', '_')
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, hexDigits[(f>>uint(i))&0xf])
	}
	return dst
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
	case varScore:
		return types.Double(a.in.Score)
	case varSignals:
		return &a.signals
	case varLimited:
		return types.String(a.in.Limited)
	}
	return types.NewErr("no variable %d", i)
}

// signalMap is the CEL map(string, double) `signals` over a request's
// signal list, without building a Go map: detector name to the summed
// weight of its signals. Lookups scan the list, which holds a handful of
// entries.
type signalMap struct {
	sigs []detect.Signal
}

var (
	_ traits.Mapper          = (*signalMap)(nil)
	_ interpreter.Activation = (*activation)(nil)
)

// sum returns the summed weight of detector's signals, and whether any.
func (m *signalMap) sum(detector string) (float64, bool) {
	var w float64
	found := false
	for i := range m.sigs {
		if m.sigs[i].Detector == detector {
			w += m.sigs[i].Weight
			found = true
		}
	}
	return w, found
}

// firstOf reports whether index i is the first signal of its detector.
func (m *signalMap) firstOf(i int) bool {
	for j := 0; j < i; j++ {
		if m.sigs[j].Detector == m.sigs[i].Detector {
			return false
		}
	}
	return true
}

func (m *signalMap) native() map[string]float64 {
	out := make(map[string]float64, len(m.sigs))
	for _, s := range m.sigs {
		out[s.Detector] += s.Weight
	}
	return out
}

// Find implements traits.Mapper.
func (m *signalMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		if types.IsUnknownOrError(key) {
			return key, false
		}
		return types.ValOrErr(key, "no such key: %v", key), false
	}
	if w, ok := m.sum(string(k)); ok {
		return types.Double(w), true
	}
	return nil, false
}

// Get implements traits.Indexer.
func (m *signalMap) Get(key ref.Val) ref.Val {
	v, found := m.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Contains implements traits.Container.
func (m *signalMap) Contains(key ref.Val) ref.Val {
	v, found := m.Find(key)
	if !found && v != nil && types.IsUnknownOrError(v) {
		return v
	}
	return types.Bool(found)
}

// Size implements traits.Sizer.
func (m *signalMap) Size() ref.Val {
	n := 0
	for i := range m.sigs {
		if m.firstOf(i) {
			n++
		}
	}
	return types.Int(n)
}

// Iterator implements traits.Iterable: each detector name once.
func (m *signalMap) Iterator() traits.Iterator { return &signalKeys{m: m} }

// ConvertToNative implements ref.Val.
func (m *signalMap) ConvertToNative(t reflect.Type) (any, error) {
	native := m.native()
	if reflect.TypeOf(native).AssignableTo(t) {
		return native, nil
	}
	return types.NewStringInterfaceMap(types.DefaultTypeAdapter, toAny(native)).ConvertToNative(t)
}

func toAny(m map[string]float64) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ConvertToType implements ref.Val.
func (m *signalMap) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return m
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to %s", t)
}

// Equal implements ref.Val: maps are equal when they hold the same keys
// with equal values.
func (m *signalMap) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	if m.Size() != o.Size() {
		return types.False
	}
	for i := range m.sigs {
		if !m.firstOf(i) {
			continue
		}
		name := m.sigs[i].Detector
		ov, found := o.Find(types.String(name))
		if !found {
			return types.False
		}
		w, _ := m.sum(name)
		if types.Double(w).Equal(ov) != types.True {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (m *signalMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m *signalMap) Value() any { return m.native() }

// signalKeys iterates the distinct detector names of a signalMap.
type signalKeys struct {
	m *signalMap
	i int
}

func (it *signalKeys) skip() {
	for it.i < len(it.m.sigs) && !it.m.firstOf(it.i) {
		it.i++
	}
}

// HasNext implements traits.Iterator.
func (it *signalKeys) HasNext() ref.Val {
	it.skip()
	return types.Bool(it.i < len(it.m.sigs))
}

// Next implements traits.Iterator.
func (it *signalKeys) Next() ref.Val {
	it.skip()
	if it.i >= len(it.m.sigs) {
		return nil
	}
	k := types.String(it.m.sigs[it.i].Detector)
	it.i++
	return k
}

func (it *signalKeys) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("type conversion on iterators not supported")
}
func (it *signalKeys) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }
func (it *signalKeys) Equal(ref.Val) ref.Val          { return types.NewErr("no such overload") }
func (it *signalKeys) Type() ref.Type                 { return types.IteratorType }
func (it *signalKeys) Value() any                     { return nil }
