// Package request turns an HTTP request into a View: the few facts the engine
// decides on. Secrets stop at this boundary: API keys and tokens become keyed
// HMAC ids here and never travel further.
package request

import (
	"net/netip"
	"time"
)

// View is what the engine knows about one request. Fronts fill it; the engine
// only reads it. A View is reused across requests by its front, so nothing may
// retain it after the decision.
type View struct {
	ID       string     // request id, unique per request
	TraceID  string     // the W3C trace id of the request's span, "" when not traced
	Time     time.Time  // when the request arrived (event time in replay)
	ClientIP netip.Addr // the client, resolved through trusted proxies only
	Method   string
	Host     string
	// Path is the canonical path, decoded (see CanonicalPath): what
	// routes, limits, detectors, decisions and logs see.
	Path string
	// EscapedPath is the canonical path as the upstream is sent it,
	// percent-encoded; "" when the request had no path to make canonical
	// (a CONNECT, a replayed line).
	EscapedPath string
	// SentPath is the path as the client wrote it, still encoded, for
	// evidence of the spelling (traversal attempts).
	SentPath string
	Query    string // the raw query string
	Route    *Route // matched route, nil when no route matched
	Param    string // the value of the route's last path parameter: the {id} in /items/{id}
	Identity Identity
	Headers  HeaderValues // values of the headers some limit is keyed on

	UserAgent   string
	Fingerprint Fingerprint // hash of the user agent, header names and Accept-* values
	Hints       Hints       // what the request's headers say about its client
	// GraphQL is the shape of the GraphQL document a route of kind
	// graphql carries; zero elsewhere.
	GraphQL GraphQLShape
	// Findings are what content guards (Parser.Checks) found wrong with
	// the request; nil when they found nothing or none is configured.
	Findings []Finding
	// Cost is the work the request asks of the upstream, in cost units:
	// its GraphQL documents' price on a graphql route with a cost model,
	// else its route's cost (default 1); 1 without a route.
	Cost int64
	// BodyFields are the names of the body's top-level fields, read when
	// the Parser's BodyFields is set (for route learning and kind
	// inference); empty otherwise.
	BodyFields BodyFields
	// Subject is the HMAC id of the body field a login, verify, signup or
	// reset route names (a username, an email, a promo code), "" otherwise.
	Subject string
	// Solution is the request's proof-of-work solution in the
	// Abuseguard-Solution header's form (from that header, or from the
	// browser's solution cookie when Hints has SolutionCookie); Pass is
	// its pass (the Abuseguard-Pass header or the pass cookie). "" when
	// absent.
	Solution, Pass string
}

// Hints are header facts about a client, for telling browsers from tools.
type Hints uint16

// Hints.
const (
	ClaimsBrowser  Hints = 1 << iota // the user agent says Mozilla/...
	AcceptLanguage                   // sends Accept-Language
	AcceptEncoding                   // sends Accept-Encoding
	Referer                          // sends Referer
	FetchMetadata                    // sends Sec-Fetch-* or Sec-CH-UA headers
	// AbsoluteTarget: the request line named a host ("GET http://host/
	// HTTP/1.1"), the form clients use with a forward proxy: a client
	// taking the API for an open proxy.
	AbsoluteTarget
	// AcceptsHTML: the Accept header names text/html (a browser
	// navigating), so a challenge is answered with the interstitial page.
	AcceptsHTML
	// SolutionCookie: the solution came in the browser's cookie, so the
	// pass goes back as a cookie.
	SolutionCookie
	// SharedAddress: the client's address is shared by many established
	// sessions (an office or carrier NAT) and this request's session is one
	// of them. The engine sets it; detectors then judge the session, and
	// decisions on the address do not apply.
	SharedAddress
	// ClientHintsContradict: the request's User-Agent client hints
	// (Sec-CH-UA and its kin) disagree with its User-Agent (see
	// ParseAgent): a client that forges one and not the other.
	ClientHintsContradict
	// HTTP10: the request came over HTTP/1.0 straight from its client (no
	// Via or forwarding header), which no browser of this century speaks.
	HTTP10
	// KnownClient: the request's API key is not declared, but the
	// upstream has accepted it often, rarely refused it, and it came from
	// few networks: a client with a track record, judged by its key and
	// not by its address. The engine sets it (only on keys without a
	// verified identity).
	KnownClient
)

// Has reports whether all of flags are set.
func (h Hints) Has(flags Hints) bool { return h&flags == flags }

// IdentifiedKey reports whether v's API key is one the guard can hold to
// account: declared (a verified key) or a known client's (KnownClient).
// A made-up key is neither.
func (v *View) IdentifiedKey() bool {
	return v.Identity.KeyID != "" && (v.Identity.Verified || v.Hints.Has(KnownClient))
}

// BySession reports whether v's behaviour is its session's rather than
// its address's: v carries a session and its address is shared by many
// established sessions (SharedAddress, an office NAT) or absent (a
// replayed log that names clients by session). On an address of its own
// a session is not the subject, so a client rotating session cookies is
// still judged as one address.
func (v *View) BySession() bool {
	return v.Identity.Session != "" && (v.Hints.Has(SharedAddress) || !v.ClientIP.IsValid())
}

// Identity is who the request claims to be, after verification.
type Identity struct {
	KeyID  string // stable id of the API key: its configured id, or an HMAC id for unknown keys
	User   string
	Tenant string
	Plan   string
	Owner  string
	Scopes []string
	// Session is the client's session id (an HMAC id of a session cookie
	// or header, or a log's session field), "" when there is none. Like
	// an unknown key it is client-chosen: never Verified on its own.
	Session string
	// Verified is true when the identity is one a client cannot make up:
	// a configured API key, or a user from a token that verified. An
	// unknown key (an HMAC id) is not verified: anyone can send one.
	Verified bool
}

// HeaderValues holds the values of configured headers, by the index the
// policy assigned to each header name.
type HeaderValues []string

// Get returns the value at index i, or "" when absent.
func (h HeaderValues) Get(i int) string {
	if i < 0 || i >= len(h) {
		return ""
	}
	return h[i]
}

// Reset clears v for reuse, keeping its buffers.
func (v *View) Reset() {
	headers, findings := v.Headers[:0], v.Findings[:0]
	*v = View{Headers: headers, Findings: findings}
}
