package policy

import (
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
)

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
	varSession
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
	varSession:           {"identity.session", cel.StringType},
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
	case "identity.session":
		return varSession
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
