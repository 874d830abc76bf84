package request

import (
	"strings"
	"testing"
)

func TestIdentifySession(t *testing.T) {
	def := NewIdentifier(IdentifierOptions{Secret: []byte("s")})
	session := func(id *Identifier, h HTTPHeader) string {
		var i Identity
		id.Identify(h, "", &i)
		return i.Session
	}
	a := session(def, HTTPHeader{"Cookie": {"theme=dark; sessionid=abc123; lang=de"}})
	b := session(def, HTTPHeader{"Cookie": {`sessionid="abc123"`}})
	c := session(def, HTTPHeader{"Cookie": {"JSESSIONID=zzz"}})
	if !strings.HasPrefix(a, "s_") || len(a) != 18 || strings.Contains(a, "abc123") {
		t.Fatalf("session id %q", a)
	}
	if a != b || a == c || c == "" {
		t.Fatalf("quoted and bare cookie differ, or two sessions share one id: %q %q %q", a, b, c)
	}
	if s := session(def, HTTPHeader{"Cookie": {"theme=dark; mysessionid=abc123"}}); s != "" {
		t.Fatalf("a cookie that is no session cookie gave session %q", s)
	}
	custom := NewIdentifier(IdentifierOptions{Secret: []byte("s"), SessionHeader: "x-session", SessionCookies: []string{"shop_sess"}})
	if s := session(custom, HTTPHeader{"Cookie": {"sessionid=abc123"}}); s != "" {
		t.Fatalf("configured cookies replace the defaults; got %q", s)
	}
	if s := session(custom, HTTPHeader{"Cookie": {"shop_sess=abc123"}}); s != a {
		t.Fatalf("same raw session, different id: %q vs %q", s, a)
	}
	if s := session(custom, HTTPHeader{"X-Session": {"h1"}, "Cookie": {"shop_sess=abc123"}}); s == a || s == "" {
		t.Fatalf("the header wins over the cookie; got %q", s)
	}
	off := NewIdentifier(IdentifierOptions{Secret: []byte("s"), SessionCookies: []string{}})
	if s := session(off, HTTPHeader{"Cookie": {"sessionid=abc123"}}); s != "" {
		t.Fatalf("sessions off, got %q", s)
	}
}

// TestIdentifyBearerKey: an opaque API key in "Authorization: Bearer KEY"
// is known by the SHA-256 of KEY, as the docs tell an operator to declare it.
func TestIdentifyBearerKey(t *testing.T) {
	id := NewIdentifier(IdentifierOptions{
		KeyHeader: "authorization", Secret: []byte("s"),
		Keys: map[[32]byte]KeyInfo{sha256Of("partner-opaque-key"): {ID: "acme", Plan: "partner"}},
	})
	var a, b Identity
	id.Identify(HTTPHeader{"Authorization": {"Bearer partner-opaque-key"}}, "", &a)
	id.Identify(HTTPHeader{"Authorization": {"bearer  partner-opaque-key"}}, "", &b)
	if a.KeyID != "acme" || !a.Verified || b.KeyID != "acme" {
		t.Fatalf("bearer key not recognised: %+v %+v", a, b)
	}
}

// TestBearerSession checks that a bearer token nothing else reads is the
// session under BearerSession: the same id as that value in a cookie, not
// a key, and not when a cookie names the session or the option is off.
func TestBearerSession(t *testing.T) {
	on := NewIdentifier(IdentifierOptions{Secret: []byte("s"), BearerSession: true})
	var i Identity
	on.Identify(HTTPHeader{"Authorization": {"Bearer opaque-token-1"}}, "", &i)
	if i.Session != on.SessionID("opaque-token-1") || i.KeyID != "" || i.Verified {
		t.Fatalf("bearer session: %+v", i)
	}
	i = Identity{}
	on.Identify(HTTPHeader{"Authorization": {"Bearer opaque-token-1"}, "Cookie": {"sid=c1"}}, "", &i)
	if i.Session != on.SessionID("c1") {
		t.Fatalf("the cookie should win: %+v", i)
	}
	i = Identity{}
	NewIdentifier(IdentifierOptions{Secret: []byte("s")}).Identify(HTTPHeader{"Authorization": {"Bearer opaque-token-1"}}, "", &i)
	if i.Session != "" {
		t.Fatalf("BearerSession off: %+v", i)
	}
	i = Identity{}
	keys := NewIdentifier(IdentifierOptions{Secret: []byte("s"), BearerSession: true, KeyBearer: true})
	keys.Identify(HTTPHeader{"Authorization": {"Bearer opaque-token-1"}}, "", &i)
	if i.Session != "" || i.KeyID == "" {
		t.Fatalf("a bearer key is a key, not a session: %+v", i)
	}
	// A signed-in user's JWT, with no verifier to read it, is no key: it
	// stays the session, as without KeyBearer.
	i = Identity{}
	jwtShaped := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2ln"
	keys.Identify(HTTPHeader{"Authorization": {"Bearer " + jwtShaped}}, "", &i)
	if i.KeyID != "" || i.Session != keys.SessionID(jwtShaped) {
		t.Fatalf("an unverified JWT with bearer keys on: %+v, want the session and no key", i)
	}
}

// TestSessionCookieNames checks which cookie names read as a session's
// when no session cookie is configured: the frameworks' conventions
// beyond the default list, by their words.
func TestSessionCookieNames(t *testing.T) {
	for name, want := range map[string]bool{
		"_myapp_session": true, "tix_sess": true, "connect.sid": true, "PHPSESSID": true,
		"ASP.NET_SessionId": true, "appSession": true, "sess-id": true,
		"csrftoken": false, "_ga": false, "sessions_seen": false, "mysessionid": false, "theme": false, "": false,
	} {
		if got := SessionCookieName(name); got != want {
			t.Errorf("SessionCookieName(%q) = %v, want %v", name, got, want)
		}
	}
	def := NewIdentifier(IdentifierOptions{Secret: []byte("s")})
	session := func(id *Identifier, cookie string) string {
		var i Identity
		id.Identify(HTTPHeader{"Cookie": {cookie}}, "", &i)
		return i.Session
	}
	rails := session(def, "_ga=GA1.2.3; _desk_session=Zx81kQ0pL2mNv7Rt4Yw9")
	if rails == "" || rails != session(def, "_desk_session=Zx81kQ0pL2mNv7Rt4Yw9") {
		t.Fatalf("a Rails session cookie is not the session: %q", rails)
	}
	if s := session(def, "tix_sess=1"); s != "" {
		t.Fatalf("a short flag value is no session id; got %q", s)
	}
	if s := session(def, "sessionid=abc123; _desk_session=Zx81kQ0pL2mNv7Rt4Yw9"); s != session(def, "sessionid=abc123") {
		t.Fatalf("a default session cookie wins over a guessed one; got %q", s)
	}
	custom := NewIdentifier(IdentifierOptions{Secret: []byte("s"), SessionCookies: []string{"shop_sess"}})
	if s := session(custom, "_desk_session=Zx81kQ0pL2mNv7Rt4Yw9"); s != "" {
		t.Fatalf("configured cookies are all that is read; got %q", s)
	}
}

// TestKeyHeaderAuthorizationJWT: with the key header set to
// Authorization, an opaque bearer key is a key and a JWT-shaped bearer
// token is not (a signed-in user's token, as the docs say).
func TestKeyHeaderAuthorizationJWT(t *testing.T) {
	id := NewIdentifier(IdentifierOptions{KeyHeader: "Authorization", Secret: []byte("s")})
	var key, jwt Identity
	id.Identify(HTTPHeader{"Authorization": {"Bearer opaque-partner-key"}}, "", &key)
	id.Identify(HTTPHeader{"Authorization": {"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"}}, "", &jwt)
	if key.KeyID == "" {
		t.Errorf("an opaque bearer key in the key header is no key: %+v", key)
	}
	if jwt.KeyID != "" {
		t.Errorf("a JWT-shaped bearer token was read as key %q", jwt.KeyID)
	}
}
