package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/policy"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Dimensions a limit can be keyed on, besides header:NAME.
var dimensions = map[string]bool{
	"ip": true, "ip_prefix": true, "api_key": true, "user": true, "session": true,
	"tenant": true, "plan": true, "route": true, "method": true,
}

var (
	namePattern   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)
	sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	headerPattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// validator collects every problem in a Config.
type validator struct {
	c    *Config
	errs Errors
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, v.c.ErrorAt(path, fmt.Errorf(format, args...)))
}

// conflict records an error about settings at path that may not be set
// together; it is reported even when a value inside them failed to decode.
func (v *validator) conflict(path, format string, args ...any) {
	e := v.c.ErrorAt(path, fmt.Errorf(format, args...))
	e.conflict = true
	v.errs = append(v.errs, e)
}

// name checks a route, limit or key name, reporting whether it is valid.
func (v *validator) name(path, s string) bool {
	if namePattern.MatchString(s) {
		return true
	}
	v.fail(path, "%q: want 1-64 letters, digits, '.', '_' or '-'", s)
	return false
}

func (c *Config) validate() Errors {
	v := &validator{c: c}
	v.addresses()
	v.fronts()
	v.server()
	v.network()
	v.paths()
	v.identity()
	routes := v.routes()
	for i := range c.Limits {
		v.limit(i, routes)
	}
	if c.State.MaxMemory < 1<<20 {
		v.fail("state.max_memory", "must be at least 1MiB")
	}
	v.stateStore()
	if c.AccessLog == "" {
		v.fail("access_log", "must be stdout, stderr, off, a file path, file+rotate:///PATH, syslog+udp|tcp|tls://HOST:PORT or a webhook URL")
	}
	if !(c.AccessLogBenignSample >= 0 && c.AccessLogBenignSample <= 1) {
		v.fail("access_log_benign_sample", "must be between 0 and 1 (the share of benign lines kept)")
	}
	if c.Events == "" {
		v.fail("events", "must be stdout, stderr, off, a file path, file+rotate:///PATH, syslog+udp|tcp|tls://HOST:PORT or a webhook URL")
	}
	if c.EventsSchema != "ecs" && c.EventsSchema != "ocsf" {
		v.fail("events_schema", "%q: want ecs or ocsf", c.EventsSchema)
	}
	v.risk()
	v.decisions()
	v.guards()
	v.contentGuards()
	v.challenge()
	for _, e := range c.Detectors.Validate() {
		v.fail("detectors."+e.Path, "%s", e.Msg)
	}
	for i, s := range c.Allowlist.CIDRs {
		if _, err := parseProxy(s); err != nil {
			v.fail(fmt.Sprintf("allowlist.cidrs[%d]", i), "%v", err)
		}
	}
	return v.errs
}

func (v *validator) addresses() {
	for path, addr := range map[string]string{"listen": v.c.Listen, "admin_listen": v.c.AdminListen} {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			v.fail(path, "%q is not host:port", addr)
		}
	}
	if v.c.Upstream != "" {
		if _, err := ParseUpstream(v.c.Upstream); err != nil {
			v.fail("upstream", "%v", err)
		}
	}
}

// ParseUpstream parses an upstream URL: http or https, with a host.
func ParseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream %q: want an http:// or https:// URL with a host", s)
	}
	return u, nil
}

func (v *validator) server() {
	s := v.c.Server
	for path, d := range map[string]time.Duration{
		"server.read_header_timeout": s.ReadHeaderTimeout, "server.idle_timeout": s.IdleTimeout,
		"server.upstream_timeout": s.UpstreamTimeout, "server.shutdown_timeout": s.ShutdownTimeout,
	} {
		if d <= 0 {
			v.fail(path, "must be a positive duration")
		}
	}
	if s.MaxBodyBytes < 1 {
		v.fail("server.max_body_bytes", "must be at least 1B")
	}
	if s.MaxHeaderBytes < 1<<10 {
		v.fail("server.max_header_bytes", "must be at least 1KiB")
	}
	for path, d := range map[string]time.Duration{"server.read_body_timeout": s.ReadBodyTimeout, "server.body_rate_grace": s.BodyRateGrace} {
		if d < 0 {
			v.fail(path, "must not be negative (0 turns it off)")
		}
	}
	if s.MinBodyRate < 0 {
		v.fail("server.min_body_rate", "must not be negative (0 turns it off)")
	}
	if s.MaxConns < 0 {
		v.fail("server.max_conns", "must not be negative (0: half the open file limit)")
	}
	if s.MaxConnsPerClient < 0 {
		v.fail("server.max_conns_per_client", "must not be negative (0: no cap)")
	}
	h := s.HTTP2
	if h.MaxConcurrentStreams < 1 {
		v.fail("server.http2.max_concurrent_streams", "must be at least 1")
	}
	if h.MaxReadFrameSize < 16<<10 || h.MaxReadFrameSize > 16<<20-1 {
		v.fail("server.http2.max_read_frame_size", "must be between 16KiB and 16MiB-1 (RFC 9113)")
	}
	for path, b := range map[string]ByteSize{"server.http2.max_receive_buffer_per_connection": h.MaxReceiveBufferPerConnection,
		"server.http2.max_receive_buffer_per_stream": h.MaxReceiveBufferPerStream} {
		if b < 64<<10 || b > 1<<31-1 {
			v.fail(path, "must be between 64KiB and 2GiB-1")
		}
	}
}

func (v *validator) network() {
	for i, s := range v.c.Network.TrustedProxies {
		if _, err := parseProxy(s); err != nil {
			v.fail(fmt.Sprintf("network.trusted_proxies[%d]", i), "%v", err)
		}
	}
	if p := v.c.Network.IPv4Prefix; p < 1 || p > 32 {
		v.fail("network.ipv4_prefix", "must be between 1 and 32")
	}
	if p := v.c.Network.IPv6Prefix; p < 1 || p > 128 {
		v.fail("network.ipv6_prefix", "must be between 1 and 128")
	}
}

func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP or CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP or CIDR", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (v *validator) risk() {
	r := v.c.Risk
	if r.HalfLife <= 0 {
		v.fail("risk.half_life", "must be a positive duration")
	}
	if !(0 < r.ThrottleAt && r.ThrottleAt <= r.ChallengeAt && r.ChallengeAt <= r.BlockAt && r.BlockAt <= 100) {
		v.fail("risk", "want 0 < throttle_at <= challenge_at <= block_at <= 100")
	}
	if r.ThrottleRate.Count < 1 {
		v.fail("risk.throttle_rate", "set a rate such as 30/m")
	}
	if r.PersistenceWeight < 0 || r.PersistenceWeight > 100 {
		v.fail("risk.persistence_weight", "must be between 0 and 100")
	}
	if r.ThrottleBurst < 1 {
		v.fail("risk.throttle_burst", "must be at least 1")
	}
	if m := verdict.ModesOf(verdict.Enforce, verdict.Shadow); !m.Has(r.Mode) {
		v.fail("risk.mode", "%q: want %s", r.Mode, m)
	}
	if r.MaxEntities < 0 {
		v.fail("risk.max_entities", "must not be negative (0: a share of state.max_memory)")
	}
}

func (v *validator) decisions() {
	d := v.c.Decisions
	if len(d.Ladder) == 0 {
		v.fail("decisions.ladder", "list at least one TTL, e.g. [5m, 1h, 24h]")
	}
	for i, ttl := range d.Ladder {
		if ttl <= 0 {
			v.fail(fmt.Sprintf("decisions.ladder[%d]", i), "must be a positive duration")
		}
	}
	if d.MaxTTL <= 0 {
		v.fail("decisions.max_ttl", "must be a positive duration")
	}
	if d.OffenseMemory < 0 {
		v.fail("decisions.offense_memory", "must not be negative")
	}
	if d.MaxDecisions < 1 {
		v.fail("decisions.max_decisions", "must be at least 1")
	}
}

// maxChallengeDifficulty caps the ladder: 2^30 hashes is minutes in a
// browser already.
const maxChallengeDifficulty = 30

func (v *validator) challenge() {
	c := v.c.Challenge
	if len(c.Difficulty) == 0 {
		v.fail("challenge.difficulty", "list at least one difficulty in leading zero bits, e.g. [16, 18, 20]")
	}
	for i, d := range c.Difficulty {
		switch {
		case d < 1 || d > maxChallengeDifficulty:
			v.fail(fmt.Sprintf("challenge.difficulty[%d]", i), "%d: want 1 to %d leading zero bits", d, maxChallengeDifficulty)
		case i > 0 && d < c.Difficulty[i-1]:
			v.fail(fmt.Sprintf("challenge.difficulty[%d]", i), "%d is easier than the step before it (%d): the ladder only climbs", d, c.Difficulty[i-1])
		}
	}
	if c.StepScore <= 0 || c.StepScore > 100 {
		v.fail("challenge.step_score", "must be above 0 and at most 100")
	}
	for path, d := range map[string]time.Duration{"challenge.ttl": c.TTL, "challenge.pass_ttl": c.PassTTL, "challenge.rotation": c.Rotation} {
		if d < time.Second {
			v.fail(path, "must be at least 1s")
		}
	}
	if c.PassTTL > 0 && c.Rotation > 0 && c.Rotation < c.PassTTL {
		v.fail("challenge.rotation", "%v is shorter than challenge.pass_ttl (%v): a pass must outlive the key that signed it", c.Rotation, c.PassTTL)
	}
	if c.Relief < 0 || c.Relief > 100 {
		v.fail("challenge.relief", "must be between 0 and 100")
	}
	if c.ReplayEntries < 64 {
		v.fail("challenge.replay_entries", "must be at least 64")
	}
}

// Proxies returns the trusted proxies as prefixes.
func (n Network) Proxies() request.Proxies { return prefixes(n.TrustedProxies) }

// Networks returns the allowlisted networks as prefixes.
func (a Allowlist) Networks() request.Proxies { return prefixes(a.CIDRs) }

func prefixes(ss []string) request.Proxies {
	var ps request.Proxies
	for _, s := range ss {
		if p, err := parseProxy(s); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

func (v *validator) identity() {
	id := v.c.Identity
	if h := id.APIKey.Header; h != "" && !headerPattern.MatchString(h) {
		v.fail("identity.api_key.header", "%q is not a header name", h)
	}
	for i, h := range id.APIKey.Headers {
		if !headerPattern.MatchString(h) {
			v.fail(fmt.Sprintf("identity.api_key.headers[%d]", i), "%q is not a header name", h)
		}
	}
	if id.APIKey.Header != "" && len(id.APIKey.Headers) > 0 {
		v.fail("identity.api_key.headers", "set header (one header) or headers (a list), not both")
	}
	if id.APIKey.KnownAfter < 0 {
		v.fail("identity.api_key.known_after", "must be 0 (off) or more, not %d", id.APIKey.KnownAfter)
	}
	if id.APIKey.RequireKnown && len(id.APIKey.Keys) == 0 {
		v.fail("identity.api_key.require_known", "requires at least one entry in keys")
	}
	ids, hashes := map[string]bool{}, map[string]bool{}
	for i, k := range id.APIKey.Keys {
		path := fmt.Sprintf("identity.api_key.keys[%d]", i)
		if v.name(path+".id", k.ID) && ids[k.ID] {
			v.fail(path+".id", "duplicate key id %q", k.ID)
		}
		if !sha256Pattern.MatchString(k.SHA256) {
			v.fail(path+".sha256", "want 64 lowercase hex digits (printf %%s KEY | sha256sum)")
		} else if hashes[k.SHA256] {
			v.fail(path+".sha256", "duplicate key hash")
		}
		ids[k.ID], hashes[k.SHA256] = true, true
	}
	if j := id.JWT; j != nil {
		if len(j.Algorithms) == 0 {
			v.fail("identity.jwt.algorithms", "list at least one algorithm, e.g. [RS256]")
		}
		for i, a := range j.Algorithms {
			if strings.EqualFold(a, "none") {
				v.fail(fmt.Sprintf("identity.jwt.algorithms[%d]", i), `"none" is never allowed`)
			}
		}
		if j.KeyFile == "" && j.JWKSURL == "" && j.SecretEnv == "" {
			v.fail("identity.jwt", "needs a key source: key_file, jwks_url or secret_env")
		}
	}
}

// routes checks the route table and returns the route names.
func (v *validator) routes() map[string]bool {
	names := map[string]bool{}
	var table []request.Route
	for i, r := range v.c.Routes {
		path := fmt.Sprintf("routes[%d]", i)
		if v.name(path+".name", r.Name) && names[r.Name] {
			v.fail(path+".name", "duplicate route name %q", r.Name)
		}
		names[r.Name] = true
		if r.Kind != "" && !slices.Contains(RouteKinds, r.Kind) {
			v.fail(path+".kind", "%q: want one of %s", r.Kind, strings.Join(RouteKinds, ", "))
		}
		if r.Cost < 0 {
			v.fail(path+".cost", "must be at least 0")
		}
		if r.CostHeader != "" && !headerPattern.MatchString(r.CostHeader) {
			v.fail(path+".cost_header", "%q is not a header name", r.CostHeader)
		}
		if r.Field != "" && !slices.Contains([]string{"login", "verify", "signup", "reset"}, r.Kind) {
			v.fail(path+".field", "only login, verify, signup and reset routes read a body field")
		}
		if _, _, err := request.ParseTemplate(r.Match); err != nil {
			v.fail(path+".match", "%v", err)
			continue
		}
		table = append(table, request.Route{Name: r.Name, Template: r.Match})
		if _, err := request.NewRouter(table); err != nil {
			v.fail(path+".match", "%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("route %q: ", r.Name)))
			table = table[:len(table)-1]
		}
	}
	if u := v.c.UnknownRoutes; u != "allow" && u != "block" {
		v.fail("unknown_routes", "%q: want allow or block", u)
	}
	return names
}

func (v *validator) limit(i int, routes map[string]bool) {
	l := v.c.Limits[i]
	path := fmt.Sprintf("limits[%d]", i)
	v.name(path+".name", l.Name)
	for j := range i {
		if v.c.Limits[j].Name == l.Name {
			v.fail(path+".name", "duplicate limit name %q", l.Name)
		}
	}
	if len(l.Key) == 0 {
		v.fail(path+".key", "list the dimensions the limit is per, e.g. [ip] or [api_key, route]")
	}
	for j, d := range l.Key {
		if name, ok := strings.CutPrefix(d, "header:"); ok {
			if !headerPattern.MatchString(name) {
				v.fail(fmt.Sprintf("%s.key[%d]", path, j), "%q is not a header name", name)
			}
		} else if !dimensions[d] {
			v.fail(fmt.Sprintf("%s.key[%d]", path, j), "unknown dimension %q (want ip, ip_prefix, api_key, user, session, tenant, plan, route, method or header:NAME)", d)
		}
	}
	for j, r := range l.Routes {
		if !routes[r] {
			v.fail(fmt.Sprintf("%s.routes[%d]", path, j), "no route is named %q", r)
		}
	}
	if !limitCosts.MatchString(l.Cost) {
		v.fail(path+".cost", "%q: want request, route or graphql", l.Cost)
	}
	switch l.AppliesTo {
	case "", "all", "anonymous", "identified":
	default:
		v.fail(path+".applies_to", "%q: want all, anonymous or identified", l.AppliesTo)
	}
	switch l.Mode {
	case verdict.Enforce, verdict.Shadow:
		if l.CanaryPercent != 0 {
			v.fail(path+".canary_percent", "only applies with mode: canary")
		}
	case verdict.Canary:
		if l.CanaryPercent == 0 {
			v.fail(path+".mode", "canary needs canary_percent (above 0, at most 100)")
		} else if l.CanaryPercent < 0 || l.CanaryPercent > 100 {
			v.fail(path+".canary_percent", "must be above 0 and at most 100")
		}
	default:
		v.fail(path+".mode", "%q: want enforce, shadow or canary", l.Mode)
	}
	kind := v.amount(path, l.Amount, "")
	for plan, a := range l.PerPlan {
		k := v.amount(path+".per_plan."+plan, a, plan)
		if k != "" && kind != "" && k != kind {
			v.fail(path+".per_plan."+plan, "plan %q sets a %s but the limit is a %s", plan, k, kind)
		}
		if kind == "" {
			kind = k
		}
	}
	if kind == "" {
		v.fail(path, "set one of rate, quota or concurrency (or per_plan)")
	}
	if kind == "concurrency" && l.Cost != "" && l.Cost != "request" {
		v.fail(path+".cost", "a concurrency limit counts requests in flight, not cost")
	}
}

// amount checks one Amount and returns its kind: "rate", "quota",
// "concurrency", or "" when it sets none.
func (v *validator) amount(path string, a Amount, plan string) string {
	var kinds []string
	if a.Rate != nil {
		kinds = append(kinds, "rate")
	}
	if a.Quota != nil {
		kinds = append(kinds, "quota")
		q := a.Quota
		if q.Limit < 1 {
			v.fail(path+".quota.limit", "must be at least 1")
		}
		if q.Period == 0 {
			v.fail(path+".quota.period", "missing: day or month")
		}
		if _, err := time.LoadLocation(q.Timezone); err != nil {
			v.fail(path+".quota.timezone", "unknown time zone %q", q.Timezone)
		}
	}
	if a.Concurrency != 0 {
		kinds = append(kinds, "concurrency")
		if a.Concurrency < 1 {
			v.fail(path+".concurrency", "must be at least 1")
		}
	}
	if a.Burst != 0 && a.Rate == nil {
		v.fail(path+".burst", "burst only applies to a rate")
	}
	if a.Burst < 0 {
		v.fail(path+".burst", "must be at least 1")
	}
	if len(kinds) > 1 {
		v.conflict(path, "set only one of rate, quota or concurrency, not %s", strings.Join(kinds, " and "))
	}
	if len(kinds) == 0 {
		if plan != "" {
			v.fail(path, "plan %q sets no rate, quota or concurrency", plan)
		}
		return ""
	}
	return kinds[0]
}

// BurstOrDefault returns the burst of a rate amount: the configured one, or
// the rate's count when unset.
func (a Amount) BurstOrDefault() int64 {
	if a.Burst > 0 {
		return a.Burst
	}
	if a.Rate != nil {
		return a.Rate.Count
	}
	return 1
}

// Location returns the quota's time zone; "" is UTC.
func (q Quota) Location() *time.Location {
	loc, err := time.LoadLocation(q.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// validateRules compiles the CEL rules and places each error: an error
// inside a rule's `when` expression at its line and column in the file.
func (c *Config) validateRules(data []byte) Errors {
	rules, cerrs := policy.Compile(c.Rules)
	if len(cerrs) == 0 {
		c.rules = rules
	}
	var errs Errors
	lines := strings.Split(string(data), "\n")
	for _, ce := range cerrs {
		path := fmt.Sprintf("rules[%d].%s", ce.Rule, ce.Field)
		e := c.ErrorAt(path, errors.New(ce.Msg))
		if ce.Line > 0 && e.Pos.Line > 0 && e.Pos.Line <= len(lines) {
			e.Pos = exprPosition(e.Pos, lines, ce.Line, ce.Col)
		}
		errs = append(errs, e)
	}
	return errs
}

// exprPosition returns the file position of line:col inside a YAML scalar
// that starts at start: plain and quoted scalars start on their own line
// (one column later when quoted); block scalars (| or >) on the next line,
// at the block's indentation.
func exprPosition(start Position, lines []string, line, col int) Position {
	text := lines[start.Line-1]
	at := min(max(start.Col-1, 0), len(text))
	p := start
	switch {
	case strings.HasPrefix(text[at:], "|") || strings.HasPrefix(text[at:], ">"):
		p.Line = start.Line + line
		if start.Line < len(lines) { // the block's indentation is its first line's
			first := lines[start.Line]
			p.Col = len(first) - len(strings.TrimLeft(first, " ")) + col
		}
	case line == 1:
		p.Col = start.Col + col - 1
		if strings.HasPrefix(text[at:], `"`) || strings.HasPrefix(text[at:], "'") {
			p.Col++
		}
	default:
		p.Line, p.Col = start.Line+line-1, col
	}
	return p
}
