package request

import (
	"encoding/base64"
	"strings"
	"testing"
)

func basic(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

// TestIdentifyDefaultKeyHeaders: with no key header named, a key is read
// from the headers common APIs use, and its id does not depend on which
// one carried it. Before DefaultKeyHeaders only X-API-Key was read, so a
// key in X-Auth-Token was never seen.
func TestIdentifyDefaultKeyHeaders(t *testing.T) {
	id := NewIdentifier(IdentifierOptions{Secret: []byte("s"), KeyBearer: true, BearerSession: true,
		Keys: map[[32]byte]KeyInfo{sha256Of("tix_pk_known"): {ID: "partner", Plan: "gold"}}})
	var want Identity
	id.Identify(HTTPHeader{"X-Api-Key": {"sk_live_1"}}, "", &want)
	if !strings.HasPrefix(want.KeyID, "k_") {
		t.Fatalf("X-API-Key not read: %+v", want)
	}
	jwtShaped := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"
	tests := []struct {
		name    string
		h       HTTPHeader
		key     string // "want": want.KeyID
		session bool
	}{
		{"X-API-Key", HTTPHeader{"X-Api-Key": {"sk_live_1"}}, "want", false},
		{"Api-Key", HTTPHeader{"Api-Key": {"sk_live_1"}}, "want", false},
		{"X-Auth-Token", HTTPHeader{"X-Auth-Token": {"sk_live_1"}}, "want", false},
		{"X-Access-Token", HTTPHeader{"X-Access-Token": {"sk_live_1"}}, "want", false},
		{"a key header's Bearer scheme", HTTPHeader{"X-Auth-Token": {"Bearer sk_live_1"}}, "want", false},
		{"Authorization: Token (DRF)", HTTPHeader{"Authorization": {"Token sk_live_1"}}, "want", false},
		{"Authorization: ApiKey (Elastic)", HTTPHeader{"Authorization": {"ApiKey sk_live_1"}}, "want", false},
		{"Authorization: Key, any case", HTTPHeader{"Authorization": {"key  sk_live_1 "}}, "want", false},
		{"Authorization: Bearer opaque", bearer("sk_live_1"), "want", false},
		{"Basic, the key as user name (Stripe)", HTTPHeader{"Authorization": {basic("sk_live_1:")}}, "want", false},
		{"Basic, the key as password", HTTPHeader{"Authorization": {basic(":sk_live_1")}}, "want", false},
		{"Basic with a user and a password is a sign-in", HTTPHeader{"Authorization": {basic("ann:hunter2")}}, "", false},
		{"Basic, not base64", HTTPHeader{"Authorization": {"Basic !!!"}}, "", false},
		{"a JWT under Token is a signed-in user's: the session", HTTPHeader{"Authorization": {"Token " + jwtShaped}}, "", true},
		{"a declared key in X-Auth-Token", HTTPHeader{"X-Auth-Token": {"tix_pk_known"}}, "partner", false},
		{"a declared key under Token", HTTPHeader{"Authorization": {"Token tix_pk_known"}}, "partner", false},
		{"the first header in the list wins", HTTPHeader{"X-Api-Key": {"sk_live_1"}, "X-Auth-Token": {"other"}}, "want", false},
		{"a header key beside a Token: the token is the session", HTTPHeader{"X-Auth-Token": {"sk_live_1"}, "Authorization": {"Token user-token"}}, "want", true},
		{"an unknown scheme is nothing", HTTPHeader{"Authorization": {"Digest username=x"}}, "", false},
		{"none", HTTPHeader{}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Identity
			if p := id.Identify(tc.h, "", &got); p != nil {
				t.Fatalf("refused: %+v", p)
			}
			want := tc.key
			if want == "want" {
				want = keyIDOf(id, "sk_live_1")
			}
			if got.KeyID != want {
				t.Errorf("key id %q, want %q", got.KeyID, want)
			}
			if (got.Session != "") != tc.session {
				t.Errorf("session %q, want one: %v", got.Session, tc.session)
			}
		})
	}
}

func keyIDOf(id *Identifier, key string) string {
	var i Identity
	id.IdentifyKey(key, &i)
	return i.KeyID
}

// TestIdentifyNamedKeyHeader: an operator's header is the only one read,
// a token under a key scheme nothing reads is the session, and an empty
// list reads no header.
func TestIdentifyNamedKeyHeader(t *testing.T) {
	named := NewIdentifier(IdentifierOptions{KeyHeader: "x-auth-token", Secret: []byte("s"), BearerSession: true})
	var a, b, c Identity
	named.Identify(HTTPHeader{"X-Auth-Token": {"k1"}}, "", &a)
	named.Identify(HTTPHeader{"X-Api-Key": {"k1"}}, "", &b)
	named.Identify(HTTPHeader{"Authorization": {"Token app-user-token"}}, "", &c)
	if a.KeyID == "" || b.KeyID != "" {
		t.Errorf("named header: %q, other header %q, want only the named one read", a.KeyID, b.KeyID)
	}
	if c.KeyID != "" || c.Session == "" {
		t.Errorf("a Token nothing reads: %+v, want the session", c)
	}
	none := NewIdentifier(IdentifierOptions{KeyHeaders: []string{}, Secret: []byte("s")})
	var d Identity
	none.Identify(HTTPHeader{"X-Api-Key": {"k1"}, "Authorization": {"Token k1"}}, "", &d)
	if d.KeyID != "" {
		t.Errorf("headers [] read a key: %+v", d)
	}
	list := NewIdentifier(IdentifierOptions{KeyHeaders: []string{"x-partner-key"}, Secret: []byte("s")})
	var e, f Identity
	list.Identify(HTTPHeader{"X-Partner-Key": {"k1"}}, "", &e)
	list.Identify(HTTPHeader{"X-Api-Key": {"k1"}}, "", &f)
	if e.KeyID != a.KeyID || f.KeyID != "" {
		t.Errorf("headers list: %q (want %q) and %q (want none)", e.KeyID, a.KeyID, f.KeyID)
	}
}

// FuzzAuthorizationKey feeds arbitrary Authorization values to
// AuthorizationKey: it must not panic, never return a key longer than the
// value, and return a key only under a key scheme.
func FuzzAuthorizationKey(f *testing.F) {
	for _, s := range []string{"Token abc", "ApiKey abc", "Key abc", "Api-Key abc", "Bearer abc", basic("sk:"), basic(":sk"),
		basic("a:b"), basic("nocolon"), "Basic", "Basic ", "Basic ====", "Token eyJhbGciOiJub25lIn0.e30.", "", " ", "Token", "\xff \xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		if len(auth) > 4<<10 {
			t.Skip()
		}
		k := AuthorizationKey(auth)
		if k == "" {
			return
		}
		if len(k) > len(auth) {
			t.Fatalf("AuthorizationKey(%q) = %q, longer than the value", auth, k)
		}
		scheme, _, _ := strings.Cut(auth, " ")
		switch strings.ToLower(scheme) {
		case "token", "apikey", "api-key", "key", "basic":
		default:
			t.Fatalf("AuthorizationKey(%q) = %q under scheme %q", auth, k, scheme)
		}
		if IsJWT(k) && !strings.EqualFold(scheme, "basic") {
			t.Fatalf("AuthorizationKey(%q) = %q, a JWT-shaped token", auth, k)
		}
	})
}
