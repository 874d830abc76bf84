// Package policy turns operator-written rules into decisions. A rule is a
// CEL expression over the request, its identity, its risk score and the
// signals detectors emitted for it, plus what to do when it holds. Rules are
// compiled and type-checked once at load, carry a static and a runtime cost
// limit, and are evaluated per request without building a map of variables.
//
// The API is in rules.go; env.go declares the variables a rule reads and
// the CEL environment; compile.go compiles rules and bounds their cost;
// eval.go evaluates them over a pooled activation, and signals.go is the
// signals map it hands CEL; rollout.go says which entities a canary rule
// enforces for.
package policy

import (
	"fmt"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/verdict"
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
	When          string // the expression as written
	Action        verdict.Action
	Scope         verdict.Scope // the entity a decision is about; 0 is the request's subject
	TTL           time.Duration // 0: this request only
	Reason        string
	Mode          verdict.Mode // enforce, shadow or canary
	CanaryPercent float64      // share of entities a canary rule enforces for, 0-100
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
