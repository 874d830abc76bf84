package request

import (
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/problem"
)

// maxFieldBody is how much of a body Parse reads to find a route's Field.
const maxFieldBody = 64 << 10

// Parser turns HTTP requests into Views under one configuration. It is
// immutable and safe for concurrent use.
type Parser struct {
	Proxies     Proxies
	Router      *Router
	Identifier  *Identifier
	HeaderNames []string // canonical names of the headers limits are keyed on; values land in View.Headers by index
	// GraphQL says how the documents of graphql routes are measured.
	GraphQL GraphQLOptions
	// Paths is how request paths are made canonical (nil:
	// DefaultPathPolicy).
	Paths *PathPolicy
	// Checks are the content guards run on every routed request (the
	// OpenAPI validator, the WAF), in order; none by default.
	Checks []Check
	// BodyFields, when set, has Parse read the top-level field names of
	// the JSON or form body (at most 16 KiB) of a POST, PUT or PATCH that
	// no route with a kind matched into View.BodyFields, for route
	// learning and kind inference; off, View.BodyFields stays empty.
	BodyFields bool
}

// Parse fills v from in, which arrived at now. It returns a problem when
// the request must be refused before any decision: a malformed forwarding
// header from a trusted proxy (400), or an identity that does not verify
// (401), or a path spelled in a way the path policy refuses (400
// ambiguous_path). The View's Path is the canonical path (see
// CanonicalPath), and routes match on it. For a route with a Field, or of
// kind graphql, it peeks at up to 64 KiB of the body; so it does for a
// POST, PUT or PATCH that no route with a kind matched, to infer the
// subject from the body's shape (inferredSubject).
func (p *Parser) Parse(in *Input, now time.Time, v *View) *problem.Problem {
	h := in.Header
	if h == nil {
		h = noHeader{}
	}
	var ip netip.Addr
	var err error
	switch {
	case in.PeerAddr.IsValid():
		ip, err = clientIP(in.PeerAddr.Unmap(), h, p.Proxies)
	case in.Peer != "":
		ip, err = ClientIP(in.Peer, h, p.Proxies)
	}
	if err != nil {
		return &problem.Problem{Status: http.StatusBadRequest, Reason: "bad_forwarding_header",
			Detail: "the X-Forwarded-For or Forwarded header from a trusted proxy does not parse"}
	}
	v.Time, v.ClientIP = now, ip
	v.Method, v.Host, v.Path, v.Query = in.Method, in.Host, in.Path, in.RawQuery
	pol := &DefaultPathPolicy
	if p.Paths != nil {
		pol = p.Paths
	}
	if v.SentPath = targetPath(in); v.SentPath != "" && v.SentPath[0] == '/' {
		escaped, path, err := CanonicalPath(v.SentPath, *pol)
		if err != nil {
			return &problem.Problem{Status: http.StatusBadRequest, Reason: "ambiguous_path", Detail: err.Error() +
				"; upstreams disagree on what it names"}
		}
		v.Path, v.EscapedPath = path, escaped
	}
	if p.Router != nil {
		v.Route, v.Param = p.Router.MatchRequest(in.Method, v.Path, pol.HeadAsGet)
	}
	for _, name := range p.HeaderNames {
		v.Headers = append(v.Headers, h.Get(name))
	}
	v.UserAgent = h.Get("User-Agent")
	v.Hints = hints(h, v.UserAgent)
	if u := in.Target; u != "" && u[0] != '/' && u != "*" && in.Method != http.MethodConnect {
		v.Hints |= AbsoluteTarget
	}
	if in.HTTP10 && h.Get("Via") == "" && h.Get("X-Forwarded-For") == "" && h.Get("Forwarded") == "" {
		v.Hints |= HTTP10
	}
	v.Fingerprint = FingerprintOf(in.Header, v.UserAgent)
	challengeFields(h, v)
	if v.Route != nil {
		v.Cost = max(1, v.Route.Cost)
		if v.Route.Kind == "graphql" {
			v.GraphQL = measureGraphQL(in, h, &p.GraphQL)
			if v.GraphQL.Cost > 0 {
				v.Cost = v.GraphQL.Cost
			}
		}
	} else {
		v.Cost = 1
	}
	if v.Route == nil || v.Route.Kind == "" {
		// No route says what it is: GraphQL by its shape, measured for
		// the graphql detector (the hard limits stay with declared routes).
		if g := inferGraphQL(in, h, &p.GraphQL); g.Parsed {
			v.GraphQL = g
		}
	}
	if len(p.Checks) > 0 {
		p.check(in, v)
	}
	v.BodyFields.Reset()
	if p.BodyFields && (v.Route == nil || v.Route.Kind == "") && (in.Method == http.MethodPost || in.Method == http.MethodPut || in.Method == http.MethodPatch) {
		if buf, ct := peekBodyUpTo(in, h, maxFieldsBody); buf != nil {
			ReadBodyFields(buf, ct, &v.BodyFields)
		}
	}
	if p.Identifier == nil {
		return nil
	}
	if v.Route != nil && v.Route.Field != "" {
		if s := bodyField(in, h, v.Route.Field); s != "" {
			v.Subject = p.Identifier.Pseudonym("s_", s)
		}
	} else if (v.Route == nil || subjectKinds[v.Route.Kind]) && !v.GraphQL.Parsed && hasBody(in.Method) {
		// No route names the field: infer it from the body's shape.
		if buf, ct := peekBody(in, h); buf != nil {
			if s := inferredSubject(buf, ct); s != "" {
				v.Subject = p.Identifier.Pseudonym("s_", s)
			}
		}
	}
	return p.Identifier.Identify(h, in.RawQuery, &v.Identity)
}

// subjectKinds are the route kinds whose requests name a subject, and no
// kind (the credentials detector may infer one): when such a route
// declares no Field, the subject is inferred.
var subjectKinds = map[string]bool{"": true, "login": true, "verify": true, "signup": true, "reset": true}

// hasBody reports whether requests of method carry a body a sign-in,
// lookup or code check would send.
func hasBody(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// check runs the content guards on a copy of in: handing in itself to
// them (interfaces) would move every caller's Input to the heap, guards
// or not.
func (p *Parser) check(in *Input, v *View) {
	cin := *in
	for _, c := range p.Checks {
		c.Check(&cin, v)
	}
}

// noHeader is the Header of a request whose front has none.
type noHeader struct{}

func (noHeader) Get(string) string      { return "" }
func (noHeader) Values(string) []string { return nil }
func (noHeader) Names(func(string))     {}

// targetPath returns the path of in's request target as sent, still
// percent-encoded: from the request line in origin form, else from the
// absolute form, else (a front without a request line, such as a log)
// the decoded Path escaped again. It returns "" for a CONNECT, or a
// request with no path.
func targetPath(in *Input) string {
	if in.Method == http.MethodConnect {
		return ""
	}
	u := in.Target
	if u != "" && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	if u != "" && u != "*" {
		if pu, err := url.ParseRequestURI(u); err == nil && pu.Path != "" {
			return pu.EscapedPath()
		}
	}
	if in.Path == "" || in.Path[0] != '/' {
		return in.Path
	}
	return (&url.URL{Path: in.Path}).EscapedPath()
}

func hints(h Header, ua string) Hints {
	var hs Hints
	if strings.HasPrefix(ua, "Mozilla/") {
		hs |= ClaimsBrowser
	}
	if h.Get("Accept-Language") != "" {
		hs |= AcceptLanguage
	}
	if h.Get("Accept-Encoding") != "" {
		hs |= AcceptEncoding
	}
	if h.Get("Referer") != "" {
		hs |= Referer
	}
	if h.Get("Sec-Fetch-Mode") != "" || h.Get("Sec-Ch-Ua") != "" {
		hs |= FetchMetadata
	}
	if h.Get("Sec-Ch-Ua") != "" && clientHintsContradict(h, ParseAgent(ua)) {
		hs |= ClientHintsContradict
	}
	return hs
}

// FingerprintOf hashes what a client's software says about itself: its
// user agent, the set of header names it sends (net/http does not keep
// their order), and its Accept, Accept-Language and Accept-Encoding values.
// With nil headers (an access log) it is the user agent's alone.
func FingerprintOf(h Header, ua string) Fingerprint {
	var names uint64 // order-independent
	var accept [3]string
	switch hh := h.(type) {
	case nil:
	case HTTPHeader: // the common case, without a closure to allocate
		for k := range hh {
			if !protocolHeader(k) {
				names ^= fnv1a(fnvOffset, k)
			}
		}
	default:
		names = nameHash(h)
	}
	if h != nil {
		accept = [3]string{h.Get("Accept"), h.Get("Accept-Language"), h.Get("Accept-Encoding")}
	}
	sum := uint64(fnvOffset)
	for _, s := range [...]string{ua, accept[0], accept[1], accept[2]} {
		sum = fnv1a(sum, s)
		sum *= fnvPrime // hashes a zero byte: a separator, so "ab"+"c" differs from "a"+"bc"
	}
	return Fingerprint(sum ^ names*0x9E3779B97F4A7C15)
}

// nameHash folds the header names of h into an order-independent hash.
func nameHash(h Header) uint64 {
	var n uint64
	h.Names(func(k string) {
		if !protocolHeader(k) {
			n ^= fnv1a(fnvOffset, k)
		}
	})
	return n
}

// Fingerprint identifies a client's software; see View.Fingerprint.
type Fingerprint uint64

// String returns "f_" and 16 hex digits.
func (f Fingerprint) String() string {
	var out [18]byte
	return string(f.AppendTo(out[:0]))
}

// AppendTo appends the String form to dst without allocating.
func (f Fingerprint) AppendTo(dst []byte) []byte {
	var b [8]byte
	for i := range b {
		b[i] = byte(f >> (56 - 8*i))
	}
	dst = append(dst, 'f', '_')
	return hex.AppendEncode(dst, b[:])
}

// bodyField returns the string value of field in the JSON object or form
// body of in, reading at most maxFieldBody bytes.
func bodyField(in *Input, h Header, field string) string {
	buf, ct := peekBody(in, h)
	return fieldOf(buf, ct, field)
}

// peekBody returns up to maxFieldBody bytes of in's body and its media
// type; nil for a larger body or none.
func peekBody(in *Input, h Header) ([]byte, string) { return peekBodyUpTo(in, h, maxFieldBody) }

// peekBodyUpTo is peekBody for bodies of at most max bytes.
func peekBodyUpTo(in *Input, h Header, max int) ([]byte, string) {
	if in.Body == nil {
		return nil, ""
	}
	buf := in.Body.Peek(max)
	if buf == nil {
		return nil, ""
	}
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return buf, ct
}

// fieldOf returns the string field of a form or JSON body.
func fieldOf(buf []byte, ct, field string) string {
	if buf == nil {
		return ""
	}
	switch {
	case ct == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(buf))
		if err != nil {
			return ""
		}
		return q.Get(field)
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		var obj map[string]json.RawMessage
		if json.Unmarshal(buf, &obj) != nil {
			return ""
		}
		var s string
		if json.Unmarshal(obj[field], &s) != nil {
			return ""
		}
		return s
	}
	return ""
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv1a folds s into the FNV-1a hash h.
func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}
