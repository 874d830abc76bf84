package request

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"

	"github.com/abuseguard/abuseguard/internal/problem"
)

// KeyInfo is what the configuration says about one known API key.
type KeyInfo struct {
	ID, Plan, Tenant, Owner string
}

// IdentifierOptions configures an Identifier.
type IdentifierOptions struct {
	// KeyHeader is the one header carrying the API key, an operator's
	// explicit choice; "" reads KeyHeaders instead.
	KeyHeader string
	// KeyHeaders are the headers read for an API key when KeyHeader is
	// "", the first present wins; nil means DefaultKeyHeaders, an empty
	// non-nil slice none. "Authorization" among them reads a key by its
	// scheme (AuthorizationKey): "Token KEY", "ApiKey KEY", "Key KEY" or
	// "Basic" with an empty password or user; its Bearer tokens are
	// KeyBearer's. A key's id is the same whichever header carried it.
	KeyHeaders   []string
	KeyQuery     string               // query parameter carrying the API key, "" for none
	Keys         map[[32]byte]KeyInfo // known keys by SHA-256 of the key
	RequireKnown bool                 // refuse keys not in Keys
	Secret       []byte               // HMAC key for the ids of unknown keys
	JWT          *JWTVerifier         // nil: bearer tokens are not read
	// SessionHeader is the header carrying a session id, "" for none; it
	// wins over SessionCookies.
	SessionHeader string
	// SessionCookies are the cookie names whose value is the session id,
	// the first present wins; nil means DefaultSessionCookies and then
	// the first cookie whose name reads as a session's (SessionCookieName),
	// an empty non-nil slice means none.
	SessionCookies []string
	// KeyBearer reads an API key from "Authorization: Bearer KEY" when no
	// header or query key is present: a token that is not JWT-shaped (see
	// IsJWT) is a key, looked up by the SHA-256 of KEY alone. A JWT-shaped
	// token is a signed-in user's token, never a key: verified as a JWT
	// when JWT is set, else left to BearerSession.
	KeyBearer bool
	// BearerSession makes a bearer token nothing else reads (no JWT
	// verifier, not read as a key) the session id when no session header
	// or cookie is sent: an app's opaque session token, unverified, like a
	// cookie.
	BearerSession bool
}

// DefaultKeyHeaders are the headers common APIs carry keys in, read when
// identity.api_key names no header: X-API-Key (most gateways), Api-Key,
// X-Auth-Token, X-Access-Token, and Authorization under a key scheme
// (AuthorizationKey).
var DefaultKeyHeaders = []string{"X-API-Key", "Api-Key", "X-Auth-Token", "X-Access-Token", "Authorization"}

// DefaultSessionCookies are the session cookies of common web frameworks,
// read when identity.session names none.
var DefaultSessionCookies = []string{
	"session", "sessionid", "session_id", "sid", "_session_id", "JSESSIONID", "PHPSESSID",
	"connect.sid", "laravel_session", "ASP.NET_SessionId", "_gorilla_session",
}

// Identifier finds and verifies who a request claims to be. Raw keys and
// tokens never leave it: a known key is named by its configured id, an
// unknown one by "k_" and 16 hex digits of its HMAC.
type Identifier struct {
	opts IdentifierOptions
	macs sync.Pool
	// guessSession: no session cookie is configured, so a cookie whose
	// name reads as a session's is the session.
	guessSession bool
}

// NewIdentifier returns an Identifier.
func NewIdentifier(opts IdentifierOptions) *Identifier {
	opts.KeyHeader = textproto.CanonicalMIMEHeaderKey(opts.KeyHeader) // looked up without re-canonicalising
	opts.SessionHeader = textproto.CanonicalMIMEHeaderKey(opts.SessionHeader)
	if opts.KeyHeaders == nil {
		opts.KeyHeaders = DefaultKeyHeaders
	}
	headers := make([]string, 0, len(opts.KeyHeaders))
	for _, h := range opts.KeyHeaders {
		headers = append(headers, textproto.CanonicalMIMEHeaderKey(h))
	}
	if opts.KeyHeader != "" {
		headers = nil // the operator named the one header
	}
	opts.KeyHeaders = headers
	guess := opts.SessionCookies == nil
	if guess {
		opts.SessionCookies = DefaultSessionCookies
	}
	id := &Identifier{opts: opts, guessSession: guess}
	id.macs.New = func() any { return &macState{mac: hmac.New(sha256.New, opts.Secret)} }
	return id
}

// macState is a pooled HMAC with scratch space, so hashing allocates nothing.
type macState struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// Identify fills out from the request's API key and bearer token. It returns
// a 401 problem for an unknown key (when known keys are required) or a
// bearer token that does not verify.
func (id *Identifier) Identify(h Header, rawQuery string, out *Identity) *problem.Problem {
	if sess := id.session(h); sess != "" {
		out.Session = id.SessionID(sess)
	}
	key, schemeKey := id.apiKey(h, rawQuery)
	auth := h.Get("Authorization")
	token, hasToken := bearerToken(auth)
	if hasToken && id.opts.KeyBearer && !IsJWT(token) {
		if key == "" {
			key = token
		}
		hasToken = false // an opaque key, not a token to verify
	}
	if key != "" {
		if prob := id.IdentifyKey(key, out); prob != nil {
			return prob
		}
	}
	if id.opts.BearerSession && out.Session == "" {
		switch {
		case hasToken && id.opts.JWT == nil:
			out.Session = id.SessionID(token)
		case !hasToken && !schemeKey:
			// A token under a key scheme that was not read as the key
			// (JWT-shaped, or Authorization is not a key header here)
			// is a signed-in client's, like a bearer token nothing
			// else reads.
			if t := schemeToken(auth); t != "" {
				out.Session = id.SessionID(t)
			}
		}
	}
	if id.opts.JWT == nil || !hasToken {
		return nil
	}
	claims, err := id.opts.JWT.Verify(token)
	if err != nil {
		reason := "token_invalid"
		if te := (*TokenError)(nil); errors.As(err, &te) {
			reason = te.Reason
		}
		return &problem.Problem{Status: http.StatusUnauthorized, Reason: reason, Detail: "the bearer token was refused"}
	}
	out.User, out.Scopes = claims.Subject, claims.Scopes
	out.Verified = out.User != "" || out.Verified
	if out.Tenant == "" {
		out.Tenant = claims.Tenant
	}
	if out.Plan == "" {
		out.Plan = claims.Plan
	}
	return nil
}

// IdentifyKey fills out's key id, plan, tenant and owner from a raw API
// key: a known key's configured id and metadata, else its HMAC id. It
// returns a 401 problem for an unknown key when known keys are required.
func (id *Identifier) IdentifyKey(key string, out *Identity) *problem.Problem {
	info, known := id.opts.Keys[sha256.Sum256([]byte(key))]
	switch {
	case known:
		out.KeyID, out.Plan, out.Tenant, out.Owner = info.ID, info.Plan, info.Tenant, info.Owner
		out.Verified = true
	case id.opts.RequireKnown:
		return &problem.Problem{Status: http.StatusUnauthorized, Reason: "unknown_api_key", Detail: "the API key is not known"}
	default:
		out.KeyID = id.Pseudonym("k_", key)
	}
	return nil
}

// bearerToken returns the token of an Authorization header's value
// "Bearer TOKEN", and whether it is one.
func bearerToken(auth string) (string, bool) {
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(auth[7:]), true
}

// schemeToken returns the credential of an Authorization header's value
// under a key scheme, "Token", "ApiKey", "Api-Key" or "Key" (in any case),
// or "" for another scheme or none.
func schemeToken(auth string) string {
	scheme, cred, ok := strings.Cut(auth, " ")
	if !ok {
		return ""
	}
	switch {
	case strings.EqualFold(scheme, "token"), strings.EqualFold(scheme, "apikey"),
		strings.EqualFold(scheme, "api-key"), strings.EqualFold(scheme, "key"):
		return strings.TrimSpace(cred)
	}
	return ""
}

// maxBasicCredentials bounds the base64 of "Basic" credentials
// AuthorizationKey decodes: a key and a colon.
const maxBasicCredentials = 512

// AuthorizationKey returns the API key an Authorization header's value
// carries under a key scheme, "" when it carries none:
//
//   - "Token KEY", "ApiKey KEY", "Api-Key KEY", "Key KEY" (Django REST
//     framework, Elasticsearch and others): KEY, unless it is shaped
//     like a JWT (IsJWT), which is a signed-in user's token;
//   - "Basic base64(KEY:)" or "Basic base64(:KEY)", a key sent as the
//     user name (or password) with the other part empty (Stripe and
//     others): KEY. A user name with a password is a person's sign-in,
//     not a key.
//
// "Bearer" is not a key scheme here: IdentifierOptions.KeyBearer decides
// for bearer tokens.
func AuthorizationKey(auth string) string {
	if t := schemeToken(auth); t != "" {
		if IsJWT(t) {
			return ""
		}
		return t
	}
	if len(auth) < 6 || !strings.EqualFold(auth[:6], "basic ") {
		return ""
	}
	enc := strings.TrimSpace(auth[6:])
	if enc == "" || len(enc) > maxBasicCredentials {
		return ""
	}
	var buf [maxBasicCredentials]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(enc))
	if err != nil {
		return ""
	}
	user, pass, ok := strings.Cut(string(buf[:n]), ":")
	switch {
	case !ok:
		return ""
	case pass == "" && user != "":
		return user
	case user == "" && pass != "":
		return pass
	}
	return ""
}

// IsJWT reports whether token is shaped like a JWT in compact form: a
// JOSE header (the base64url of a JSON object) and a dot after it. It
// does not verify anything; an opaque API key is not JWT-shaped (it would
// need to start with "eyJ" or the like and have a dot).
func IsJWT(token string) bool {
	head, _, ok := strings.Cut(token, ".")
	if !ok || head == "" {
		return false
	}
	for i := 0; i < len(head); i++ {
		if c := head[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	// The first byte of the decoded header other than JSON whitespace
	// must open an object. Decode 16 characters (12 bytes) at a time.
	var buf [12]byte
	for len(head) > 0 {
		n := min(len(head), 16)
		if n%4 == 1 {
			return false // a lone trailing character is not base64
		}
		m, err := base64.RawURLEncoding.Decode(buf[:], []byte(head[:n]))
		if err != nil {
			return false
		}
		for _, c := range buf[:m] {
			switch c {
			case ' ', '\t', '\n', '\r':
				continue
			case '{':
				return true
			}
			return false
		}
		head = head[n:]
	}
	return false
}

// apiKey returns the raw key of a request: the key header's value (or
// the first of the key headers present), else the key query parameter's;
// fromScheme is set when the key came from Authorization under a key
// scheme (AuthorizationKey).
func (id *Identifier) apiKey(h Header, rawQuery string) (key string, fromScheme bool) {
	if id.opts.KeyHeader != "" {
		// A JWT-shaped bearer token is a signed-in user's, never a key,
		// even in the key header (header: Authorization).
		if k := h.Get(id.opts.KeyHeader); k != "" {
			if t := withoutBearer(k); t == k || !IsJWT(t) {
				return t, false
			}
		}
	}
	for _, name := range id.opts.KeyHeaders {
		k := h.Get(name)
		switch {
		case k == "":
		case name == "Authorization":
			if k = AuthorizationKey(k); k != "" {
				return k, true
			}
		default:
			return withoutBearer(k), false
		}
	}
	if id.opts.KeyQuery != "" && rawQuery != "" {
		return queryValue(rawQuery, id.opts.KeyQuery), false
	}
	return "", false
}

// withoutBearer returns a key header's value without a "Bearer " scheme:
// an opaque key sent as "Authorization: Bearer KEY" (or any key header
// with that scheme) is the key without the scheme.
func withoutBearer(k string) string {
	if len(k) > 7 && strings.EqualFold(k[:7], "bearer ") {
		return strings.TrimSpace(k[7:])
	}
	return k
}

// session returns the raw session id of a request: the session header's
// value, else the value of the first configured session cookie present.
func (id *Identifier) session(h Header) string {
	if id.opts.SessionHeader != "" {
		if s := h.Get(id.opts.SessionHeader); s != "" {
			return s
		}
	}
	if len(id.opts.SessionCookies) == 0 {
		return ""
	}
	cookies := h.Get("Cookie")
	if cookies == "" {
		return ""
	}
	for _, name := range id.opts.SessionCookies {
		if v := cookieValue(cookies, name); v != "" {
			return v
		}
	}
	if id.guessSession {
		_, v := firstCookie(cookies, func(name, value string) bool {
			return len(value) >= minSessionValue && SessionCookieName(name)
		})
		return v
	}
	return ""
}

// minSessionValue is the shortest value a guessed session cookie may
// have: session ids are long random strings, flags ("sess_seen=1") are not.
const minSessionValue = 16

// SessionCookieName reports whether a cookie's name reads as a session
// cookie's: one of its words (NameWords) is "session", "sess", "sid",
// "sessid", "sessionid", "phpsessid" or "jsessionid", ignoring case, as
// in _myapp_session (Rails), tix_sess, connect.sid, PHPSESSID and
// ASP.NET_SessionId; not csrftoken, _ga or sessions_seen.
func SessionCookieName(name string) bool {
	var buf [MaxNameWords]string
	for _, w := range buf[:NameWords(name, &buf)] {
		for _, s := range [...]string{"session", "sess", "sid", "sessid", "sessionid", "phpsessid", "jsessionid"} {
			if strings.EqualFold(w, s) {
				return true
			}
		}
	}
	return false
}

// cookieValue returns the value of the cookie name in a Cookie header
// ("a=1; b=2"), without quotes, or "" when it is absent.
func cookieValue(header, name string) string {
	_, v := firstCookie(header, func(k, _ string) bool { return k == name })
	return v
}

// firstCookie returns the first cookie of a Cookie header ("a=1; b=2")
// that match accepts, its value without quotes, or "" and "".
func firstCookie(header string, match func(name, value string) bool) (name, value string) {
	for header != "" {
		var pair string
		pair, header, _ = strings.Cut(header, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if ok && match(k, v) {
			return k, v
		}
	}
	return "", ""
}

// queryValue returns the first value of name in rawQuery, unescaped.
func queryValue(rawQuery, name string) string {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			continue
		}
		if u, err := url.QueryUnescape(v); err == nil {
			return u
		}
		return v
	}
	return ""
}

// SessionID returns the id of a raw session value (a cookie's, a header's
// or a log field's): "s_" and 16 hex digits of its HMAC. Live requests and
// replayed lines name one session the same way.
func (id *Identifier) SessionID(raw string) string { return id.Pseudonym("s_", raw) }

// Pseudonym returns prefix and 16 hex digits of the HMAC of s: a stable id
// for a secret or personal value that cannot be turned back into it.
func (id *Identifier) Pseudonym(prefix, s string) string {
	m := id.macs.Get().(*macState)
	m.mac.Reset()
	m.in = append(m.in[:0], s...)
	m.mac.Write(m.in)
	m.mac.Sum(m.sum[:0])
	var out [32]byte
	n := copy(out[:], prefix)
	hex.Encode(out[n:], m.sum[:8])
	id.macs.Put(m)
	return string(out[:n+16])
}
