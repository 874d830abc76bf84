package detect

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "probing", Order: 20, Settings: func() Settings { return &ProbingConfig{} },
		New: func(s Settings, env Env) Detector {
			pc := *s.(*ProbingConfig)
			pc.RoutesConfigured = env.RoutesConfigured
			return NewProbing(pc, env.Hasher)
		}})
}

// ProbingConfig configures the probing detector. Zero fields get the
// defaults named on each field.
type ProbingConfig struct {
	Common `yaml:",inline"`
	// Window is the sliding window distinct misses are counted over, and
	// how long a sensitive path is remembered as already signalled
	// (default 5m).
	Window time.Duration `yaml:"window"`
	// Threshold is the distinct missed paths in Window that make one step
	// (default 10): a signal at 10, another at 20, 30, ...
	Threshold float64 `yaml:"threshold" off:"negative"`
	// SensitivePaths are the path patterns no client of the API has reason
	// to ask for (default: DefaultSensitivePaths). They match the decoded
	// path case-insensitively; a leading or trailing * matches any
	// characters, one * inside a pattern matches any characters but /.
	// A list replaces the defaults; an empty list turns the check off.
	SensitivePaths []string `yaml:"sensitive_paths"`
	// SensitiveWeight is the risk points one sensitive path adds (default
	// 45: two distinct ones reach a block band of 80).
	SensitiveWeight float64 `yaml:"sensitive_weight"`
	// InjectionPatterns are substrings of SQL-injection and cross-site
	// scripting probes, matched against the query string percent-decoded
	// (twice, for double encoding), '+' read as a space, in lower case, with
	// each run of whitespace and SQL comments ("/**/") read as one space
	// (default: DefaultInjectionPatterns). Patterns are written that way:
	// lower case, single spaces. A list replaces the defaults; an empty
	// list turns the check off.
	InjectionPatterns []string `yaml:"injection_patterns"`
	// InjectionWeight is the risk points one query carrying an injection
	// probe adds, once per distinct query per Window (default 30: one
	// probe is noted, two distinct ones reach the challenge band of 60).
	InjectionWeight float64 `yaml:"injection_weight"`
	// ProtocolWeight is the risk points of a request that is not one an
	// API serves: a CONNECT (a client taking the host for a forward proxy)
	// or a request line with no path (a bare word, or bytes of another
	// protocol such as a TLS handshake sent to a plain-HTTP port, as access
	// logs record them), once per kind per Window (default 30; negative
	// turns the check off).
	ProtocolWeight float64 `yaml:"protocol_weight" off:"negative"`
	// RoutesConfigured says the route table lists the API's endpoints
	// (unknown routes are refused, or the routes come from an OpenAPI
	// spec), so a request that matches no route is a miss before the
	// upstream even answers. Set by the policy compiler, not read from
	// YAML.
	RoutesConfigured bool `yaml:"-"`
}

// DefaultSensitivePaths are the paths scanners ask every host for:
// secrets and VCS metadata, admin panels of other software, backups and
// dumps, server internals and path traversal.
var DefaultSensitivePaths = []string{
	"*/.env", "*/.env.*", "*/.git", "*/.git/*", "*/.svn/*", "*/.hg/*",
	"*/.aws/*", "*/.ssh/*", "*/.ds_store", "*/.htaccess", "*/.htpasswd",
	"*wp-login.php", "*/wp-admin*", "*xmlrpc.php", "*wp-config.php*",
	"*/phpmyadmin*", "*/admin.php", "*/vendor/phpunit/*",
	"*shell.php", "*/c99.php", "*/r57.php", "*/wso.php",
	"*/server-status", "*/server-info", "/actuator", "/actuator/*",
	"/backup", "/backup/*", "*.bak", "/*.sql", "/*.tar.gz", "/*.zip",
	"*/etc/passwd", "*/../*", "*/..", "*..%2f*", "*%2e%2e*",
}

// DefaultInjectionPatterns are the marks of SQL-injection and XSS probes
// that scanners (sqlmap, the OWASP ZAP and Burp active scans, nuclei
// templates) put in query strings and that ordinary API parameters do not
// hold: UNION-based and time-based SQL injection, tautologies, database
// metadata, and script tags, event handlers and script URLs.
var DefaultInjectionPatterns = []string{
	// SQL injection.
	"union select", "union all select", "union distinct select", "information_schema",
	"sleep(", "pg_sleep(", "benchmark(", "waitfor delay", "or 1=1", "and 1=1", "' or '1'='1", "\" or \"1\"=\"1",
	"@@version", "load_file(", "into outfile", "xp_cmdshell", "extractvalue(", "updatexml(",
	// Cross-site scripting.
	"<script", "</script", "javascript:", "vbscript:", "onerror=", "onload=", "onmouseover=", "onfocus=",
	"<svg", "<iframe", "<img src", "document.cookie", "alert(", "prompt(", "confirm(", "string.fromcharcode",
}

const (
	probingWeight          = 40
	probingSensitiveWeight = 45
	probingInjectionWeight = 30
	probingProtocolWeight  = 30
	// probingQueryMax is how many bytes of a decoded query the injection
	// check reads; a probe padded past it goes unseen.
	probingQueryMax = 2048
)

// Probing detects clients exploring the API for what it has rather than
// using what they know it has: many distinct paths that match no route
// or are answered 404, 403 or 400 in a short window (endpoint discovery,
// forced browsing), any request for a well-known sensitive path
// (/.env, /.git/, admin panels, backups, web shells, path traversal), any
// query string carrying an SQL-injection or XSS probe, and any request an
// API never serves: a CONNECT (open-proxy probing), or a request line
// with no path (protocol probes; serve's HTTP server refuses these itself,
// so this part works on replayed logs, which record them).
//
// Misses are counted per subject (key, else user, else IP) as distinct
// paths, so a client polling one missing resource counts once. A matched
// route counts as one path whatever its parameters, and other paths
// (unmatched, or under a catch-all {name...} route) have their numeric and
// hex-id segments folded together, so walking ids on one endpoint is left
// to the enumeration detectors. A sensitive path is signalled once per
// window per subject, and not at all when it matches a configured route
// (the API really serves it), except for path traversal, which no route
// serves, and a catch-all {name...} route, which vouches for no path in
// particular. An injection probe is signalled once per distinct query per
// window per subject, on any route: no route vouches for a query.
//
// False-positive traps: an integration test suite exercising error cases
// across many endpoints (400s), a user without permissions clicking
// through an admin UI (403s), an API that serves a path on the
// sensitive list without a route for it, and a search or code-snippet
// API whose users type SQL or HTML into a query parameter (one such
// query weighs 30, below the throttle band; empty injection_patterns
// turns the check off). A client talking TLS to a plain-HTTP port, or
// with its proxy setting pointed at the API, trips the protocol check;
// every such request fails anyway, so acting on it costs that client
// nothing it had.
type Probing struct {
	cfg       ProbingConfig
	h         Hasher
	sensitive []pathPattern
	injection [][]byte
	// byFirst lists the injection patterns by their first byte, and pairs
	// has a bit for every first two bytes one starts with, so a query is
	// scanned once rather than once per pattern, and most of its bytes
	// are passed over with one bit test.
	byFirst [256][]int
	pairs   [65536 / 64]uint64
	state   *Table[probingState]
	// protoKeys are the keys the protocol check remembers its kinds by
	// in probingState's ring.
	protoKeys [3]uint64
}

type probingState struct {
	misses Distinct // paths unmatched or answered 404, 403 or 400
	steps  Steps
	// The latest sensitive paths and injection queries signalled, by
	// hash, and when: exact, so a second path is never mistaken for the
	// first. Past four an entity has at least 120 points and a repeat
	// signal changes nothing.
	sensitive   [4]uint64
	sensitiveAt [4]int64
}

// sensitiveSeen records the sensitive path with hash h at now and returns
// whether it was already signalled in the window, and how many distinct
// sensitive paths were signalled in the window including it.
func (st *probingState) sensitiveSeen(now int64, w time.Duration, h uint64) (seen bool, n int) {
	slot := 0 // an empty slot, else the oldest
	for i := range st.sensitiveAt {
		switch {
		case now-st.sensitiveAt[i] >= int64(w): // empty or expired
			st.sensitiveAt[i] = 0
		case st.sensitive[i] == h:
			return true, 0
		default:
			n++
		}
		if st.sensitiveAt[i] < st.sensitiveAt[slot] {
			slot = i
		}
	}
	st.sensitive[slot], st.sensitiveAt[slot] = h, now
	return false, n + 1
}

// NewProbing returns a Probing detector for cfg with defaults applied.
func NewProbing(cfg ProbingConfig, h Hasher) *Probing {
	cfg.Common = cfg.Common.Defaults(probingWeight)
	cfg.Window = orDefault(cfg.Window, 5*time.Minute)
	cfg.Threshold = orDefault(cfg.Threshold, 10)
	cfg.SensitiveWeight = orDefault(cfg.SensitiveWeight, probingSensitiveWeight)
	cfg.InjectionWeight = orDefault(cfg.InjectionWeight, probingInjectionWeight)
	cfg.ProtocolWeight = orDefault(cfg.ProtocolWeight, probingProtocolWeight)
	if cfg.SensitivePaths == nil {
		cfg.SensitivePaths = DefaultSensitivePaths
	}
	if cfg.InjectionPatterns == nil {
		cfg.InjectionPatterns = DefaultInjectionPatterns
	}
	d := &Probing{cfg: cfg, h: h, state: NewTable[probingState](cfg.MaxEntities, 3*cfg.Window)}
	d.protoKeys = [3]uint64{protoNone: 0, protoProxy: h.String('x', "proxy"), protoNoPath: h.String('x', "no path")}
	for _, p := range cfg.SensitivePaths {
		d.sensitive = append(d.sensitive, compilePathPattern(p))
	}
	for _, p := range cfg.InjectionPatterns {
		if p != "" {
			p = asciiLower(p)
			d.byFirst[p[0]] = append(d.byFirst[p[0]], len(d.injection))
			d.injection = append(d.injection, []byte(p))
			for c := range 256 {
				if len(p) == 1 || c == int(p[1]) {
					pair := int(p[0])<<8 | c
					d.pairs[pair/64] |= 1 << (pair % 64)
				}
			}
		}
	}
	return d
}

// Name returns "probing".
func (d *Probing) Name() string { return "probing" }

// probingFinding is what one update found, computed under the table lock
// and emitted after it.
type probingFinding struct {
	count, sensitiveCount, injectionCount float64
	newSteps, steps                       int
	sensitive, injection, protocol        bool
}

// Kinds of requests an API never serves, for the protocol check.
const (
	protoNone = iota
	protoProxy
	protoNoPath
)

// protocolKind returns what kind of request v is for the protocol check.
// serve's views always have a path, except a CONNECT's (or an
// absolute-form target's without one); replay's have none when the
// logged request line was not HTTP. A CONNECT or an absolute-form target
// ("GET http://other-host/ HTTP/1.1") is a client using the API as a
// forward proxy.
func (d *Probing) protocolKind(v *request.View) int {
	switch {
	case d.cfg.ProtocolWeight <= 0 || v.Method == "":
		return protoNone
	case v.Method == "CONNECT" || v.Hints.Has(request.AbsoluteTarget):
		return protoProxy
	case v.Path != "":
		return protoNone
	}
	return protoNoPath
}

// Request counts a path that matches no route (when routes are
// configured) and a request the OpenAPI spec does not allow (an unknown
// path or method, a bad parameter or body: a finding of the openapi
// guard, detection-only or enforced) as a miss, and signals a sensitive path and an injection
// probe in the query.
func (d *Probing) Request(v *request.View, s Sink) {
	unmatched := d.cfg.RoutesConfigured && v.Route == nil || v.Finding("openapi") != nil
	pat := d.matchSensitive(v)
	inj := d.matchInjection(v.Query)
	proto := d.protocolKind(v)
	if !unmatched && pat < 0 && inj < 0 && proto == protoNone {
		return
	}
	now, w := v.Time.UnixNano(), d.cfg.Window
	var pk, sk, qk uint64
	if unmatched {
		pk = d.pathKey(v)
	}
	if pat >= 0 {
		sk = d.h.String('s', v.Path)
	}
	if inj >= 0 {
		qk = d.h.String('q', v.Query)
	}
	var f probingFinding
	d.state.Update(subjectTableKey(d.h, v), now, func(st *probingState) {
		if unmatched {
			f = st.miss(now, w, d.cfg.Threshold, pk)
		}
		if pat >= 0 {
			seen, n := st.sensitiveSeen(now, w, sk)
			f.sensitive, f.sensitiveCount = !seen, float64(n)
		}
		if inj >= 0 {
			seen, n := st.sensitiveSeen(now, w, qk)
			f.injection, f.injectionCount = !seen, float64(n)
		}
		if proto != protoNone {
			seen, _ := st.sensitiveSeen(now, w, d.protoKeys[proto])
			f.protocol = !seen
		}
	})
	d.emit(v, f, pat, inj, s)
}

// Response counts a path answered 404, 403 or 400 as a miss.
func (d *Probing) Response(v *request.View, o verdict.Outcome, s Sink) {
	if o.Status != 404 && o.Status != 403 && o.Status != 400 {
		return
	}
	now, pk := v.Time.UnixNano(), d.pathKey(v)
	var f probingFinding
	d.state.Update(subjectTableKey(d.h, v), now, func(st *probingState) {
		f = st.miss(now, d.cfg.Window, d.cfg.Threshold, pk)
	})
	d.emit(v, f, -1, -1, s)
}

func (st *probingState) miss(now int64, w time.Duration, threshold float64, pk uint64) probingFinding {
	st.misses.Add(now, w, pk)
	c := st.misses.Count(now, w)
	n := st.steps.Cross(c, threshold)
	return probingFinding{count: c, newSteps: n, steps: int(st.steps)}
}

func (d *Probing) emit(v *request.View, f probingFinding, pat, inj int, s Sink) {
	if f.newSteps == 0 && !f.sensitive && !f.injection && !f.protocol {
		return
	}
	e := Subject(v)
	for step := f.steps - f.newSteps + 1; step <= f.steps; step++ {
		sev := Medium
		if step >= 3 {
			sev = High
		}
		thr := float64(step) * d.cfg.Threshold
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: d.cfg.Weight, Severity: sev, Evidence: Evidence{
			Summary:   fmt.Sprintf("%.0f distinct paths unmatched, invalid per the OpenAPI spec or answered 404/403/400 in %s (threshold %.0f)", f.count, d.cfg.Window, thr),
			Count:     f.count,
			Threshold: thr,
			Window:    d.cfg.Window,
			RequestID: v.ID,
		}})
	}
	if f.sensitive {
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: d.cfg.SensitiveWeight, Severity: High, Evidence: Evidence{
			Summary:   fmt.Sprintf("sensitive path %q matches %q", evidenceClip(sentOr(v), 200), d.sensitive[pat].src),
			Count:     f.sensitiveCount,
			Threshold: 1,
			Window:    d.cfg.Window,
			RequestID: v.ID,
		}})
	}
	if f.injection {
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: d.cfg.InjectionWeight, Severity: Medium, Evidence: Evidence{
			Summary:   fmt.Sprintf("injection probe in query %q matches %q", evidenceClip(v.Query, 200), d.injection[inj]),
			Count:     f.injectionCount,
			Threshold: 1,
			Window:    d.cfg.Window,
			RequestID: v.ID,
		}})
	}
	if f.protocol {
		summary := fmt.Sprintf("proxy request: CONNECT %q", evidenceClip(v.Host, 200))
		switch {
		case v.Hints.Has(request.AbsoluteTarget) && v.Method != "CONNECT":
			summary = fmt.Sprintf("proxy request: %s for host %q (absolute-form target)", evidenceClip(v.Method, 32), evidenceClip(v.Host, 200))
		case v.Method != "CONNECT":
			summary = fmt.Sprintf("request line with no path, beginning %q: not an HTTP request an API serves", evidenceClip(v.Method, 32))
		}
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: d.cfg.ProtocolWeight, Severity: Medium, Evidence: Evidence{
			Summary:   summary,
			Count:     1,
			Threshold: 1,
			Window:    d.cfg.Window,
			RequestID: v.ID,
		}})
	}
}

// matchInjection returns the index of the injection pattern found first
// in the query once normalised (see ProbingConfig.InjectionPatterns), or
// -1. It allocates nothing.
func (d *Probing) matchInjection(query string) int {
	if query == "" || len(d.injection) == 0 {
		return -1
	}
	var buf [probingQueryMax]byte
	q := normaliseQuery(buf[:0], query)
	for i := range q {
		pair := int(q[i]) << 8
		if i+1 < len(q) {
			pair |= int(q[i+1])
		}
		if d.pairs[pair/64]&(1<<(pair%64)) == 0 {
			continue
		}
		for _, k := range d.byFirst[q[i]] {
			if bytes.HasPrefix(q[i:], d.injection[k]) {
				return k
			}
		}
	}
	return -1
}

// normaliseQuery writes into dst the query (its first cap(dst) bytes)
// percent-decoded twice, with a raw '+' read as a space, ASCII in lower
// case, and each run of whitespace and SQL comment markers ("/*", "*/")
// read as one space, and returns the result. It never writes more than it
// reads, so it never outgrows dst.
func normaliseQuery(dst []byte, query string) []byte {
	n := min(len(query), cap(dst))
	b := dst[:0]
	space := false
	for i := 0; i < n; i++ {
		c := query[i]
		class := queryClass[c]
		if class == queryPercent {
			// Decode %XX, and %25XX (double encoding) to the byte XX is.
			for k := 0; k < 2 && i+2 < n && isHex(query[i+1]) && isHex(query[i+2]); k++ {
				c = unhex(query[i+1])<<4 | unhex(query[i+2])
				i += 2
				if c != '%' {
					break
				}
			}
			if class = queryClass[c]; c == '+' || c == '%' {
				class = queryPlain // a decoded '+' is a plus sign
			}
		}
		switch class {
		case querySpace:
			space = true
			continue
		case queryUpper:
			c += 'a' - 'A'
		case queryComment:
			if l := len(b) - 1; l >= 0 && (c == '*' && b[l] == '/' || c == '/' && b[l] == '*') {
				b, space = b[:l], true
				if l > 0 && b[l-1] == ' ' { // "/**/": the space before the second '*'
					b = b[:l-1]
				}
				continue
			}
		}
		if space && len(b) > 0 {
			b = append(b, ' ')
		}
		space = false
		b = append(b, c)
	}
	return b
}

// Byte classes of normaliseQuery.
const (
	queryPlain = iota
	queryUpper
	queryPercent
	querySpace
	queryComment
)

var queryClass = func() (t [256]uint8) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = queryUpper
	}
	t['%'] = queryPercent
	for _, c := range "+ \t\n\r\v\f" {
		t[c] = querySpace
	}
	t['/'], t['*'] = queryComment, queryComment
	return t
}()

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// matchSensitive returns the index of the first sensitive pattern v's path
// matches, or -1. On a matched route (other than a catch-all) only
// traversal patterns apply.
func (d *Probing) matchSensitive(v *request.View) int {
	// Most patterns look for a segment ("*/.git/*"): find the slashes once.
	var buf [32]int
	slashes := buf[:0]
	for i := 0; i < len(v.Path); i++ {
		if v.Path[i] == '/' {
			if len(slashes) == len(buf) {
				slashes = nil // a long path: patterns search it whole
				break
			}
			slashes = append(slashes, i)
		}
	}
	vouched := v.Route != nil && !probingCatchAll(v.Route)
	for i := range d.sensitive {
		p := &d.sensitive[i]
		if (!vouched || p.traversal) && p.match(v.Path, slashes) {
			return i
		}
		// The canonical path has no dot segments left: traversal shows in
		// the spelling the client sent.
		if p.traversal && v.SentPath != "" && v.SentPath != v.Path && p.match(v.SentPath, nil) {
			return i
		}
	}
	return -1
}

// pathKey hashes what counts as one path for misses: a matched route's
// name, else (no route, or a catch-all {name...} route) the path with its
// id-like segments folded together.
func (d *Probing) pathKey(v *request.View) uint64 {
	if v.Route != nil && !probingCatchAll(v.Route) {
		return d.h.String('r', v.Route.Name)
	}
	m := d.h.Stream('p')
	for p := v.Path; p != ""; {
		i := 0
		for i < len(p) && p[i] != '/' {
			i++
		}
		if seg := p[:i]; idLikeSegment(seg) {
			m.AddByte(0)
		} else {
			m.AddString(seg)
		}
		if i < len(p) {
			m.AddByte('/')
			i++
		}
		p = p[i:]
	}
	return m.Sum64()
}

// sentOr returns the path as the client spelled it when it had one, else
// the canonical path: the evidence shows what was sent.
func sentOr(v *request.View) string {
	if v.SentPath != "" {
		return v.SentPath
	}
	return v.Path
}

// probingCatchAll reports whether a route ends in a {name...} parameter: it
// matches paths without vouching that any of them exist.
func probingCatchAll(rt *request.Route) bool { return strings.HasSuffix(rt.Template, "...}") }

// idLikeSegment reports whether a path segment looks like a resource id: all
// digits, or at least 8 hex digits and dashes with a digit among them
// (UUIDs, object ids, hashes).
func idLikeSegment(seg string) bool {
	if seg == "" {
		return false
	}
	digits, hex := 0, true
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == '-':
		default:
			hex = false
		}
	}
	return digits == len(seg) || hex && digits > 0 && len(seg) >= 8
}

// pathPattern is a compiled sensitive_paths entry: an optional leading *,
// a literal a, an optional inner * (not matching /) and literal b, and an
// optional trailing *. Literals are lower case.
type pathPattern struct {
	src         string
	lead, trail bool
	inner       bool
	a, b        string
	traversal   bool // the pattern looks for .. and applies even on matched routes
}

func compilePathPattern(s string) pathPattern {
	p := pathPattern{src: s}
	body := asciiLower(s)
	if len(body) > 0 && body[0] == '*' {
		p.lead, body = true, body[1:]
	}
	if len(body) > 0 && body[len(body)-1] == '*' {
		p.trail, body = true, body[:len(body)-1]
	}
	p.a = body
	for i := 0; i < len(body); i++ {
		if body[i] == '*' {
			p.inner, p.a, p.b = true, body[:i], body[i+1:]
			break
		}
	}
	p.traversal = foldIndex(body, "..") >= 0 || foldIndex(body, "%2e") >= 0
	return p
}

// match reports whether path matches p, ignoring ASCII case. slashes,
// when not nil, holds the offsets of every / in path.
func (p *pathPattern) match(path string, slashes []int) bool {
	if !p.inner {
		switch {
		case p.lead && p.trail && slashes != nil && p.a != "" && p.a[0] == '/':
			for _, i := range slashes {
				if foldHasPrefix(path[i:], p.a) {
					return true
				}
			}
			return false
		case p.lead && p.trail:
			return foldIndex(path, p.a) >= 0
		case p.lead:
			return foldHasSuffix(path, p.a)
		case p.trail:
			return foldHasPrefix(path, p.a)
		}
		return len(path) == len(p.a) && foldHasPrefix(path, p.a)
	}
	for i := 0; i+len(p.a) <= len(path); i++ {
		if i > 0 && !p.lead {
			break
		}
		if !foldHasPrefix(path[i:], p.a) {
			continue
		}
		rest := path[i+len(p.a):]
		for j := 0; j+len(p.b) <= len(rest); j++ {
			if j > 0 && rest[j-1] == '/' {
				break
			}
			if foldHasPrefix(rest[j:], p.b) && (p.trail || j+len(p.b) == len(rest)) {
				return true
			}
		}
	}
	return false
}

// asciiLower returns s with ASCII letters in lower case.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// foldHasPrefix reports whether s begins with lower, ignoring ASCII case;
// lower must be in lower case.
func foldHasPrefix(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// foldHasSuffix is foldHasPrefix for the end of s.
func foldHasSuffix(s, lower string) bool {
	return len(s) >= len(lower) && foldHasPrefix(s[len(s)-len(lower):], lower)
}

// foldIndex returns the index of the first lower in s ignoring ASCII case,
// or -1; lower must be in lower case.
func foldIndex(s, lower string) int {
	if lower == "" {
		return 0
	}
	c0 := lower[0]
	if c0 < 'a' || c0 > 'z' { // no case to fold: let IndexByte skip ahead
		for i := 0; i+len(lower) <= len(s); i++ {
			j := strings.IndexByte(s[i:len(s)-len(lower)+1], c0)
			if j < 0 {
				return -1
			}
			if i += j; foldHasPrefix(s[i:], lower) {
				return i
			}
		}
		return -1
	}
	for i := 0; i+len(lower) <= len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == c0 && foldHasPrefix(s[i:], lower) {
			return i
		}
	}
	return -1
}

// evidenceClip shortens s to at most n bytes for evidence.
func evidenceClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Sweep drops state idle at now.
func (d *Probing) Sweep(now int64) { d.state.Sweep(now) }

// Stats returns the size and churn of the detector's state.
func (d *Probing) Stats() TableStats { return d.state.Stats() }

var (
	_ Detector = (*Probing)(nil)
	_ Stateful = (*Probing)(nil)
)
