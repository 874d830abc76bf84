package request

import (
	"errors"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary strings to Verify: it must not panic, and
// every refusal must be a *TokenError with a known reason.
func FuzzVerify(f *testing.F) {
	v := jwtStdVerifier(f, nil)
	f.Add(jwtSignAlg(f, "HS256", nil, jwtClaims(nil)))
	f.Add(jwtSignAlg(f, "RS256", map[string]any{"kid": "k1"}, jwtClaims(nil)))
	f.Add(jwtSignAlg(f, "ES256", nil, jwtClaims(map[string]any{"scp": []string{"a", "b"}})))
	f.Add(jwtSignAlg(f, "EdDSA", nil, jwtClaims(map[string]any{"exp": nil})))
	f.Add(jwtSign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, jwtClaims(nil)))
	f.Add(jwtRaw(`{"alg":"HS256","kid":{}}`, `{"exp":"soon","aud":[1,2]}`, "x"))
	f.Add(jwtRaw(`null`, `null`, ""))
	f.Add("")
	f.Add("..")
	f.Add("not.a.token")
	f.Add("\x00\xff.\xfe.")

	f.Fuzz(func(t *testing.T, token string) {
		if len(token) > 8<<10 {
			t.Skip()
		}
		_, err := v.Verify(token)
		if err == nil {
			return
		}
		var te *TokenError
		if !errors.As(err, &te) {
			t.Fatalf("Verify(%q) error %v is %T, want *TokenError", token, err, err)
		}
		if te.Reason == "" || !slices.Contains(jwtAllReasons, te.Reason) {
			t.Fatalf("Verify(%q) reason %q is not a known code", token, te.Reason)
		}
	})
}

// FuzzIsJWT checks that IsJWT never sends a token the verifier could
// accept to the API key lookup: whatever it calls not a JWT, Verify
// refuses as malformed.
func FuzzIsJWT(f *testing.F) {
	v := jwtStdVerifier(f, nil)
	f.Add(jwtSignAlg(f, "HS256", nil, jwtClaims(nil)))
	f.Add(jwtRaw(" \t{}", `{}`, ""))
	f.Add(jwtRaw(`null`, `null`, ""))
	f.Add("sk_live_4eC39HqLyjWDarjtT1zdp7dc")
	f.Add("abc.def.ghi")
	f.Add("eyJ=.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		if len(token) > 8<<10 || IsJWT(token) {
			t.Skip()
		}
		_, err := v.Verify(token)
		var te *TokenError
		if !errors.As(err, &te) || te.Reason != jwtReasonMalformed {
			t.Fatalf("IsJWT(%q) = false, but Verify says %v, not %s", token, err, jwtReasonMalformed)
		}
	})
}
