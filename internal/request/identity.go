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
	KeyHeader    string               // header carrying the API key, "" for none
	KeyQuery     string               // query parameter carrying the API key, "" for none
	Keys         map[[32]byte]KeyInfo // known keys by SHA-256 of the key
	RequireKnown bool                 // refuse keys not in Keys
	Secret       []byte               // HMAC key for the ids of unknown keys
	JWT          *JWTVerifier         // nil: bearer tokens are not read
	// SessionHeader is the header carrying a session id, "" for none; it
	// wins over SessionCookies.
	SessionHeader string
	// SessionCookies are the cookie names whose value is the session id,
	// the first present wins; nil means DefaultSessionCookies, an empty
	// non-nil slice means none.
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
}

// NewIdentifier returns an Identifier.
func NewIdentifier(opts IdentifierOptions) *Identifier {
	opts.KeyHeader = textproto.CanonicalMIMEHeaderKey(opts.KeyHeader) // looked up without re-canonicalising
	opts.SessionHeader = textproto.CanonicalMIMEHeaderKey(opts.SessionHeader)
	if opts.SessionCookies == nil {
		opts.SessionCookies = DefaultSessionCookies
	}
	id := &Identifier{opts: opts}
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
	key := id.apiKey(h, rawQuery)
	token, hasToken := bearerToken(h)
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
	if hasToken && id.opts.JWT == nil && id.opts.BearerSession && out.Session == "" {
		out.Session = id.SessionID(token)
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

// bearerToken returns the token of an "Authorization: Bearer TOKEN"
// header, and whether there is one.
func bearerToken(h Header) (string, bool) {
	auth := h.Get("Authorization")
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(auth[7:]), true
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

func (id *Identifier) apiKey(h Header, rawQuery string) string {
	if id.opts.KeyHeader != "" {
		if k := h.Get(id.opts.KeyHeader); k != "" {
			// An opaque key sent as "Authorization: Bearer KEY" (or any
			// key header with that scheme) is the key without the scheme.
			if len(k) > 7 && strings.EqualFold(k[:7], "bearer ") {
				k = strings.TrimSpace(k[7:])
			}
			return k
		}
	}
	if id.opts.KeyQuery != "" && rawQuery != "" {
		return queryValue(rawQuery, id.opts.KeyQuery)
	}
	return ""
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
	return ""
}

// cookieValue returns the value of the cookie name in a Cookie header
// ("a=1; b=2"), without quotes, or "" when it is absent.
func cookieValue(header, name string) string {
	for header != "" {
		var pair string
		pair, header, _ = strings.Cut(header, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || k != name {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v
	}
	return ""
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
