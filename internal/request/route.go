package request

import (
	"fmt"
	"strings"
)

// Route is a named endpoint of the protected API: a method and a path
// template such as "GET /v1/users/{id}".
type Route struct {
	Name     string
	Method   string // "" matches any method
	Template string // the path template as written
	Index    int    // position in the route table, for per-route state
	// Kind says what the endpoint is for detectors: login, verify (a
	// password, promo code or OTP check), signup, reset, static, decoy (a
	// honeypot), graphql (the parser measures its document), or "".
	Kind string
	// Field is the body field (JSON or form) holding the identifier that
	// login, verify, signup and reset routes are about.
	Field string
	// Cost is what one request to the route costs in cost units (0: 1);
	// CostHeader names the upstream response header that reports the
	// real cost after the fact ("" when none does).
	Cost       int64
	CostHeader string
}

// ParseTemplate splits "METHOD /path/{param}" (method optional) into its
// method and path segments, and reports the first syntax error it finds.
// A parameter segment is "{name}"; the last segment may be "{name...}",
// which matches the rest of the path.
func ParseTemplate(s string) (method string, segments []string, err error) {
	s = strings.TrimSpace(s)
	path := s
	if i := strings.IndexByte(s, ' '); i >= 0 {
		method, path = s[:i], strings.TrimSpace(s[i+1:])
		if method == "*" {
			method = ""
		} else if !isToken(method) {
			return "", nil, fmt.Errorf("invalid method %q", method)
		}
	}
	if path == "" || path[0] != '/' {
		return "", nil, fmt.Errorf("path %q must start with /", path)
	}
	if path == "/" {
		return method, nil, nil
	}
	segments = strings.Split(path[1:], "/")
	seen := map[string]bool{}
	for i, seg := range segments {
		if seg == "" && i != len(segments)-1 {
			return "", nil, fmt.Errorf("path %q has an empty segment", path)
		}
		if !strings.ContainsAny(seg, "{}") {
			continue
		}
		name, rest := paramName(seg)
		if name == "" {
			return "", nil, fmt.Errorf("segment %q: a parameter is a whole segment {name} or {name...}", seg)
		}
		if rest && i != len(segments)-1 {
			return "", nil, fmt.Errorf("segment %q: {name...} must be the last segment", seg)
		}
		if seen[name] {
			return "", nil, fmt.Errorf("parameter %q appears twice", name)
		}
		seen[name] = true
	}
	return method, segments, nil
}

// paramName returns the name of a "{name}" or "{name...}" segment, and
// whether it matches the rest of the path; name is "" when seg is not one.
func paramName(seg string) (name string, rest bool) {
	if len(seg) < 3 || seg[0] != '{' || seg[len(seg)-1] != '}' {
		return "", false
	}
	name = seg[1 : len(seg)-1]
	if n, ok := strings.CutSuffix(name, "..."); ok {
		name, rest = n, true
	}
	for i, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return "", false
		}
	}
	return name, rest
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// Router matches a request's method and path to a Route. It is immutable
// after NewRouter and safe for concurrent use.
type Router struct {
	root node
}

type node struct {
	static map[string]*node
	param  *node
	rest   *node    // a {name...} child: matches one or more remaining segments
	routes []*Route // candidates ending here; a method match wins over any-method
}

// NewRouter builds a router from routes in priority order. It reports an
// error for a template that does not parse or for two routes with the same
// method and template.
func NewRouter(routes []Route) (*Router, error) {
	r := &Router{}
	for i := range routes {
		rt := &routes[i]
		method, segs, err := ParseTemplate(rt.Template)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", rt.Name, err)
		}
		rt.Method, rt.Index = method, i
		n := &r.root
		for _, seg := range segs {
			n = n.child(seg)
		}
		for _, other := range n.routes {
			if other.Method == method {
				return nil, fmt.Errorf("route %q: same method and path as route %q", rt.Name, other.Name)
			}
		}
		n.routes = append(n.routes, rt)
	}
	return r, nil
}

func (n *node) child(seg string) *node {
	name, rest := paramName(seg)
	switch {
	case name != "" && rest:
		if n.rest == nil {
			n.rest = &node{}
		}
		return n.rest
	case name != "":
		if n.param == nil {
			n.param = &node{}
		}
		return n.param
	}
	if n.static == nil {
		n.static = map[string]*node{}
	}
	c := n.static[seg]
	if c == nil {
		c = &node{}
		n.static[seg] = c
	}
	return c
}

// Match returns the route for method and path, or nil when none matches,
// and the value of the route's last parameter ("" when it has none).
// Literal segments win over parameters, and parameters over {name...}.
// Match does not allocate.
func (r *Router) Match(method, path string) (*Route, string) {
	if path == "" || path[0] != '/' {
		return nil, ""
	}
	return r.root.match(method, path[1:], path == "/")
}

// MatchRequest is Match for a request's method: with headAsGet, a HEAD
// request no route names HEAD for (a route for HEAD, or one for the same
// path a more specific route for GET outranks) takes the GET route, as
// servers answer HEAD with their GET handler.
func (r *Router) MatchRequest(method, path string, headAsGet bool) (*Route, string) {
	rt, param := r.Match(method, path)
	if headAsGet && method == "HEAD" && (rt == nil || rt.Method == "") {
		if g, gp := r.Match("GET", path); g != nil && g.Method == "GET" {
			return g, gp
		}
	}
	return rt, param
}

// match matches the remaining path (without its leading slash); atRoot is
// true only for the path "/".
func (n *node) match(method, rest string, atRoot bool) (*Route, string) {
	if atRoot {
		return n.pick(method), ""
	}
	seg, tail, more := strings.Cut(rest, "/")
	if c := n.static[seg]; c != nil {
		if rt, param := c.next(method, tail, more); rt != nil {
			return rt, param
		}
	}
	if n.param != nil && seg != "" {
		if rt, param := n.param.next(method, tail, more); rt != nil {
			if param == "" {
				param = seg
			}
			return rt, param
		}
	}
	if n.rest != nil && rest != "" {
		if rt := n.rest.pick(method); rt != nil {
			return rt, rest
		}
	}
	return nil, ""
}

// next continues matching below n; the parameter it returns is the last
// one matched below n, "" when none was.
func (n *node) next(method, tail string, more bool) (*Route, string) {
	if !more {
		return n.pick(method), ""
	}
	return n.match(method, tail, false)
}

func (n *node) pick(method string) *Route {
	var any *Route
	for _, rt := range n.routes {
		if rt.Method == method {
			return rt
		}
		if rt.Method == "" && any == nil {
			any = rt
		}
	}
	return any
}
