package request

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestIdentifyKeys(t *testing.T) {
	id := NewIdentifier(IdentifierOptions{
		KeyHeader: "x-api-key", KeyQuery: "api_key", Secret: []byte("s"),
		Keys: map[[32]byte]KeyInfo{sha256Of("known"): {ID: "acme", Plan: "gold", Tenant: "acme-inc"}},
	})
	var a, b, c, known Identity
	id.Identify(HTTPHeader{"X-Api-Key": {"secret-1"}}, "", &a)
	id.Identify(HTTPHeader{}, "x=1&api_key=secret-1", &b)
	id.Identify(HTTPHeader{"X-Api-Key": {"secret-2"}}, "", &c)
	id.Identify(HTTPHeader{"X-Api-Key": {"known"}}, "", &known)
	if !strings.HasPrefix(a.KeyID, "k_") || len(a.KeyID) != 18 || strings.Contains(a.KeyID, "secret") {
		t.Fatalf("key id %q", a.KeyID)
	}
	if a.KeyID != b.KeyID || a.KeyID == c.KeyID {
		t.Fatalf("header and query ids differ or two keys share one: %q %q %q", a.KeyID, b.KeyID, c.KeyID)
	}
	if known.KeyID != "acme" || known.Plan != "gold" || known.Tenant != "acme-inc" {
		t.Fatalf("known key: %+v", known)
	}
	h := http.Header{"X-Api-Key": {"secret-1"}}
	if n := testing.AllocsPerRun(100, func() { var i Identity; id.Identify(HTTPHeader(h), "", &i) }); n > 1 {
		t.Fatalf("Identify allocates %v times, want at most the id string", n)
	}
}

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// bearerIdentifier reads keys from X-API-Key and from bearer tokens, and
// verifies bearer JWTs with the standard test verifier.
func bearerIdentifier(t *testing.T, requireKnown bool) *Identifier {
	return NewIdentifier(IdentifierOptions{
		KeyHeader: "X-API-Key", KeyBearer: true, RequireKnown: requireKnown, Secret: []byte("s"),
		Keys: map[[32]byte]KeyInfo{sha256Of("sk_live_known"): {ID: "acme", Plan: "gold"}},
		JWT:  jwtStdVerifier(t, nil),
	})
}

func bearer(token string) HTTPHeader { return HTTPHeader{"Authorization": {"Bearer " + token}} }

func TestIdentifyBearerKeys(t *testing.T) {
	valid := jwtSignAlg(t, "HS256", nil, jwtClaims(nil))
	expired := jwtSignAlg(t, "HS256", nil, jwtClaims(map[string]any{"exp": jwtTestNow.Add(-time.Hour).Unix()}))
	forged := valid[:len(valid)-4] + "AAAA"
	id := bearerIdentifier(t, false)
	var fromHeader Identity
	id.Identify(HTTPHeader{"X-Api-Key": {"sk_live_other"}}, "", &fromHeader)
	tests := []struct {
		name     string
		id       *Identifier
		h        HTTPHeader
		keyID    string // "pseudonym": the HMAC id of sk_live_other
		user     string
		verified bool
		reason   string
	}{
		{"known opaque key", id, bearer("sk_live_known"), "acme", "", true, ""},
		{"scheme in any case", id, HTTPHeader{"Authorization": {"bearer  sk_live_known "}}, "acme", "", true, ""},
		{"unknown opaque key: the id of the key alone", id, bearer("sk_live_other"), "pseudonym", "", false, ""},
		{"unknown opaque key, known keys required", bearerIdentifier(t, true), bearer("sk_live_other"), "", "", false, "unknown_api_key"},
		{"known opaque key, known keys required", bearerIdentifier(t, true), bearer("sk_live_known"), "acme", "", true, ""},
		{"a dotted opaque key is still a key", id, bearer("sk.live.known"), "k_", "", false, ""},
		{"JWT verified", id, bearer(valid), "", "user-1", true, ""},
		{"JWT verified, known keys required", bearerIdentifier(t, true), bearer(valid), "", "user-1", true, ""},
		{"expired JWT refused", id, bearer(expired), "", "", false, "token_expired"},
		{"forged JWT refused", id, bearer(forged), "", "", false, "token_bad_signature"},
		{"JWT with garbage after the header refused", id, bearer(valid[:strings.IndexByte(valid, '.')] + ".!!"), "", "", false, "token_malformed"},
		{"the header key wins over a bearer key", id, HTTPHeader{"X-Api-Key": {"sk_live_known"}, "Authorization": {"Bearer sk_live_other"}}, "acme", "", true, ""},
		{"header key and bearer JWT both count", id, HTTPHeader{"X-Api-Key": {"sk_live_known"}, "Authorization": {"Bearer " + valid}}, "acme", "user-1", true, ""},
		{"bearer keys off: an opaque token is a bad JWT", NewIdentifier(IdentifierOptions{JWT: jwtStdVerifier(t, nil)}), bearer("sk_live_known"), "", "", false, "token_malformed"},
		{"no JWT configured: an opaque token is a key", NewIdentifier(IdentifierOptions{KeyBearer: true, Secret: []byte("s")}), bearer("sk_live_other"), "pseudonym", "", false, ""},
		{"no JWT configured: a JWT-shaped token is no key", NewIdentifier(IdentifierOptions{KeyBearer: true, Secret: []byte("s")}), bearer(valid), "", "", false, ""},
		{"empty bearer token", id, bearer(""), "", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Identity
			prob := tt.id.Identify(tt.h, "", &got)
			switch {
			case tt.reason != "":
				if prob == nil || prob.Reason != tt.reason || prob.Status != http.StatusUnauthorized {
					t.Fatalf("problem %+v, want 401 %s", prob, tt.reason)
				}
				return
			case prob != nil:
				t.Fatalf("refused: %+v", prob)
			}
			switch tt.keyID {
			case "pseudonym":
				if got.KeyID != fromHeader.KeyID {
					t.Errorf("key id %q, want %q, the id of the same key sent in X-API-Key", got.KeyID, fromHeader.KeyID)
				}
			case "k_":
				if !strings.HasPrefix(got.KeyID, "k_") || len(got.KeyID) != 18 {
					t.Errorf("key id %q, want an HMAC id", got.KeyID)
				}
			default:
				if got.KeyID != tt.keyID {
					t.Errorf("key id %q, want %q", got.KeyID, tt.keyID)
				}
			}
			if got.User != tt.user || got.Verified != tt.verified {
				t.Errorf("user %q verified %v, want %q %v", got.User, got.Verified, tt.user, tt.verified)
			}
		})
	}
	h := bearer("sk_live_other")
	if n := testing.AllocsPerRun(100, func() { var i Identity; id.Identify(h, "", &i) }); n > 1 {
		t.Errorf("Identify of a bearer key allocates %v times, want at most the id string", n)
	}
}

func TestIsJWT(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, tt := range []struct {
		token string
		want  bool
	}{
		{jwtSignAlg(t, "HS256", nil, jwtClaims(nil)), true},
		{enc([]byte(`{}`)) + "..", true},
		{enc([]byte(`{"alg":"dir","enc":"A256GCM"}`)) + "....", true}, // JWE: refused by the verifier, not a key
		{enc([]byte(strings.Repeat(" ", 40)+`{"alg":"HS256"}`)) + ".e30.x", true},
		{"sk_live_4eC39HqLyjWDarjtT1zdp7dc", false},
		{"abc.def.ghi", false},
		{enc([]byte(`null`)) + ".e30.x", false},
		{enc([]byte(`{}`)), false}, // no dot
		{".e30.x", false},
		{"eyJ=.e30.x", false},
		{"eyJhbGci+iJIUzI1NiJ9.e30.x", false}, // not base64url
		{"eyJhbGciOiJIUzI1NiJ9x.e30.x", true}, // starts as a JOSE header: the verifier refuses it
		{"", false},
	} {
		if got := IsJWT(tt.token); got != tt.want {
			t.Errorf("IsJWT(%.40q) = %v, want %v", tt.token, got, tt.want)
		}
	}
}
