package request

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
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
}

// Parse fills v from r, which arrived at now. It returns a problem when the
// request must be refused before any decision: a malformed forwarding
// header from a trusted proxy (400), or an identity that does not verify
// (401). For a route with a Field it reads up to 64 KiB of the body to find
// the field, and leaves r.Body whole for the upstream.
func (p *Parser) Parse(r *http.Request, now time.Time, v *View) *problem.Problem {
	ip, err := ClientIP(r.RemoteAddr, r.Header, p.Proxies)
	if err != nil {
		return &problem.Problem{Status: http.StatusBadRequest, Reason: "bad_forwarding_header",
			Detail: "the X-Forwarded-For or Forwarded header from a trusted proxy does not parse"}
	}
	v.Time, v.ClientIP = now, ip
	v.Method, v.Host, v.Path, v.Query = r.Method, r.Host, r.URL.Path, r.URL.RawQuery
	if p.Router != nil {
		v.Route, v.Param = p.Router.Match(r.Method, r.URL.Path)
	}
	for _, name := range p.HeaderNames {
		v.Headers = append(v.Headers, header(r.Header, name))
	}
	v.UserAgent = header(r.Header, "User-Agent")
	v.Hints = hints(r.Header, v.UserAgent)
	if u := r.RequestURI; u != "" && u[0] != '/' && u != "*" && r.Method != http.MethodConnect {
		v.Hints |= AbsoluteTarget
	}
	v.Fingerprint = FingerprintOf(r.Header, v.UserAgent)
	if v.Route != nil && v.Route.Kind == "graphql" {
		v.GraphQL = GraphQLShapeOf(graphQLQuery(r))
	}
	if p.Identifier == nil {
		return nil
	}
	if v.Route != nil && v.Route.Field != "" {
		if s := bodyField(r, v.Route.Field); s != "" {
			v.Subject = p.Identifier.Pseudonym("s_", s)
		}
	}
	return p.Identifier.Identify(r.Header, r.URL.RawQuery, &v.Identity)
}

func hints(h http.Header, ua string) Hints {
	var hs Hints
	if strings.HasPrefix(ua, "Mozilla/") {
		hs |= ClaimsBrowser
	}
	if header(h, "Accept-Language") != "" {
		hs |= AcceptLanguage
	}
	if header(h, "Accept-Encoding") != "" {
		hs |= AcceptEncoding
	}
	if header(h, "Referer") != "" {
		hs |= Referer
	}
	if header(h, "Sec-Fetch-Mode") != "" || header(h, "Sec-Ch-Ua") != "" {
		hs |= FetchMetadata
	}
	return hs
}

// header returns the first value of the header whose canonical name is
// name. http.Header.Get would canonicalise name again on every call.
func header(h http.Header, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// FingerprintOf hashes what a client's software says about itself: its
// user agent, the set of header names it sends (net/http does not keep
// their order), and its Accept, Accept-Language and Accept-Encoding values.
// With nil headers (an access log) it is the user agent's alone.
func FingerprintOf(h http.Header, ua string) Fingerprint {
	var names uint64
	for k := range h {
		names ^= fnv1a(fnvOffset, k) // order-independent
	}
	sum := uint64(fnvOffset)
	for _, s := range [...]string{ua, header(h, "Accept"), header(h, "Accept-Language"), header(h, "Accept-Encoding")} {
		sum = fnv1a(sum, s)
		sum *= fnvPrime // hashes a zero byte: a separator, so "ab"+"c" differs from "a"+"bc"
	}
	return Fingerprint(sum ^ names*0x9E3779B97F4A7C15)
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

// bodyField returns the string value of field in r's JSON object or form
// body, reading at most maxFieldBody bytes and putting them back.
func bodyField(r *http.Request, field string) string {
	buf, ct := peekBody(r)
	return fieldOf(buf, ct, field)
}

// graphQLQuery returns the GraphQL document of r: the query parameter of
// a GET, else the body's "query" field (JSON or form), or the whole body
// sent as application/graphql.
func graphQLQuery(r *http.Request) string {
	if r.Method == http.MethodGet {
		return queryValue(r.URL.RawQuery, "query")
	}
	buf, ct := peekBody(r)
	if ct == "application/graphql" {
		return string(buf)
	}
	return fieldOf(buf, ct, "query")
}

// peekBody reads up to maxFieldBody bytes of r's body and its media type,
// leaving r.Body whole for the upstream. A larger body returns nil.
func peekBody(r *http.Request) ([]byte, string) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, ""
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxFieldBody+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil || len(buf) > maxFieldBody {
		return nil, ""
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
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

type readCloser struct {
	io.Reader
	io.Closer
}
