package request

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// jwtTestNow is the fake clock every test verifier reads.
var jwtTestNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func jwtTestClock() time.Time { return jwtTestNow }

// jwtAllAlgorithms lists every supported algorithm.
var jwtAllAlgorithms = []string{
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

// jwtAllReasons lists every reason code Verify may return.
var jwtAllReasons = []string{
	jwtReasonMalformed, jwtReasonAlgNotAllowed, jwtReasonBadSignature, jwtReasonUnknownKey,
	jwtReasonExpired, jwtReasonNotYetValid, jwtReasonBadIssuer, jwtReasonBadAudience, jwtReasonInvalid,
}

// jwtTestKeySet holds the signing keys shared by the tests.
type jwtTestKeySet struct {
	rsa, rsa2        *rsa.PrivateKey
	p256, p384, p521 *ecdsa.PrivateKey
	ed               ed25519.PrivateKey
	hmac             []byte
}

// jwtTestKeysOnce generates the keys once per test binary: RSA is slow.
var jwtTestKeysOnce = sync.OnceValues(func() (*jwtTestKeySet, error) {
	var k jwtTestKeySet
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return nil, err
	}
	if k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader); err != nil {
		return nil, err
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	k.hmac = []byte("0123456789abcdef0123456789abcdef")
	return &k, nil
})

func jwtKeys(tb testing.TB) *jwtTestKeySet {
	tb.Helper()
	k, err := jwtTestKeysOnce()
	if err != nil {
		tb.Fatalf("generate keys: %v", err)
	}
	return k
}

// signer returns the method and private key that sign tokens for alg.
func (k *jwtTestKeySet) signer(alg string) (jwt.SigningMethod, any) {
	method := jwt.GetSigningMethod(alg)
	switch {
	case strings.HasPrefix(alg, "HS"):
		return method, k.hmac
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return method, k.rsa
	case alg == "ES256":
		return method, k.p256
	case alg == "ES384":
		return method, k.p384
	case alg == "ES512":
		return method, k.p521
	}
	return method, k.ed
}

// jwtClaims returns valid claims for the standard verifier with changes
// applied; a nil value in changes deletes the claim.
func jwtClaims(changes map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":    "user-1",
		"tenant": "acme",
		"plan":   "pro",
		"scope":  "read write",
		"iss":    "https://issuer.test",
		"aud":    "api",
		"exp":    jwtTestNow.Add(5 * time.Minute).Unix(),
		"nbf":    jwtTestNow.Add(-time.Minute).Unix(),
		"iat":    jwtTestNow.Add(-time.Minute).Unix(),
	}
	for name, value := range changes {
		if value == nil {
			delete(c, name)
			continue
		}
		c[name] = value
	}
	return c
}

// jwtSign signs claims with method and key, adding header fields.
func jwtSign(tb testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, claims)
	maps.Copy(tok.Header, header)
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// jwtSignAlg signs claims with the shared key for alg.
func jwtSignAlg(tb testing.TB, alg string, header map[string]any, claims jwt.MapClaims) string {
	tb.Helper()
	method, key := jwtKeys(tb).signer(alg)
	return jwtSign(tb, method, key, header, claims)
}

// jwtRaw assembles a token from raw header and claims JSON and a raw
// signature.
func jwtRaw(header, claims, sig string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + "." + enc.EncodeToString([]byte(sig))
}

func jwtPKIXBlock(tb testing.TB, pub any) *pem.Block {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatalf("marshal public key: %v", err)
	}
	return &pem.Block{Type: "PUBLIC KEY", Bytes: der}
}

func jwtCertBlock(tb testing.TB, priv crypto.Signer) *pem.Block {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer.test"},
		NotBefore:    jwtTestNow.Add(-time.Hour),
		NotAfter:     jwtTestNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		tb.Fatalf("create certificate: %v", err)
	}
	return &pem.Block{Type: "CERTIFICATE", Bytes: der}
}

// jwtWriteFile writes data to a new file in a test directory.
func jwtWriteFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func jwtPEMFile(tb testing.TB, blocks ...*pem.Block) string {
	tb.Helper()
	var buf bytes.Buffer
	for _, b := range blocks {
		if err := pem.Encode(&buf, b); err != nil {
			tb.Fatal(err)
		}
	}
	return jwtWriteFile(tb, "keys.pem", buf.Bytes())
}

// jwtStdKeyFile is a PEM file with every kind of block Verify accepts: the
// RSA key as RSA PUBLIC KEY, a second RSA key, P-256, P-521 and Ed25519 as
// PUBLIC KEY, and P-384 in a CERTIFICATE.
func jwtStdKeyFile(tb testing.TB) string {
	k := jwtKeys(tb)
	return jwtPEMFile(tb,
		&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)},
		jwtPKIXBlock(tb, &k.rsa2.PublicKey),
		jwtPKIXBlock(tb, &k.p256.PublicKey),
		jwtCertBlock(tb, k.p384),
		jwtPKIXBlock(tb, &k.p521.PublicKey),
		jwtPKIXBlock(tb, k.ed.Public()),
	)
}

// jwtStdVerifier allows every algorithm, with Issuer, Audience, the HMAC
// secret and jwtStdKeyFile; mutate may change the options first.
func jwtStdVerifier(tb testing.TB, mutate func(*JWTOptions)) *JWTVerifier {
	tb.Helper()
	opts := JWTOptions{
		Algorithms: jwtAllAlgorithms,
		Issuer:     "https://issuer.test",
		Audience:   []string{"api", "api2"},
		HMACSecret: jwtKeys(tb).hmac,
		KeyFile:    jwtStdKeyFile(tb),
		Now:        jwtTestClock,
	}
	if mutate != nil {
		mutate(&opts)
	}
	return jwtNewVerifier(tb, opts)
}

func jwtNewVerifier(tb testing.TB, opts JWTOptions) *JWTVerifier {
	tb.Helper()
	v, err := NewJWTVerifier(tb.Context(), opts)
	if err != nil {
		tb.Fatalf("NewJWTVerifier: %v", err)
	}
	tb.Cleanup(v.Close)
	return v
}

// jwtCheckReason fails unless err is a *TokenError with reason want ("" for
// no error).
func jwtCheckReason(tb testing.TB, err error, want string) {
	tb.Helper()
	if msg := jwtReasonMismatch(err, want); msg != "" {
		tb.Fatal(msg)
	}
}

// jwtReasonMismatch describes how err differs from a *TokenError with
// reason want ("" for no error), or returns "" when it matches.
func jwtReasonMismatch(err error, want string) string {
	if want == "" {
		if err != nil {
			return fmt.Sprintf("Verify: unexpected error %v", err)
		}
		return ""
	}
	var te *TokenError
	if !errors.As(err, &te) {
		return fmt.Sprintf("Verify: error %v (%T), want *TokenError %s", err, err, want)
	}
	if te.Reason != want {
		return fmt.Sprintf("Verify: reason %q, want %q (error: %v)", te.Reason, want, err)
	}
	return ""
}

func TestJWTVerifyEachAlgorithm(t *testing.T) {
	v := jwtStdVerifier(t, nil)
	want := Claims{Subject: "user-1", Tenant: "acme", Plan: "pro", Scopes: []string{"read", "write"}}
	for _, alg := range jwtAllAlgorithms {
		t.Run(alg, func(t *testing.T) {
			got, err := v.Verify(jwtSignAlg(t, alg, nil, jwtClaims(nil)))
			jwtCheckReason(t, err, "")
			if !jwtClaimsEqual(got, want) {
				t.Fatalf("claims = %+v, want %+v", got, want)
			}
		})
	}
	t.Run("second RSA key in the PEM file", func(t *testing.T) {
		tok := jwtSign(t, jwt.SigningMethodRS256, jwtKeys(t).rsa2, nil, jwtClaims(nil))
		_, err := v.Verify(tok)
		jwtCheckReason(t, err, "")
	})
	t.Run("kid is ignored for PEM keys", func(t *testing.T) {
		_, err := v.Verify(jwtSignAlg(t, "ES256", map[string]any{"kid": "anything"}, jwtClaims(nil)))
		jwtCheckReason(t, err, "")
	})
}

func jwtClaimsEqual(a, b Claims) bool {
	return a.Subject == b.Subject && a.Tenant == b.Tenant && a.Plan == b.Plan && slices.Equal(a.Scopes, b.Scopes)
}

func TestJWTVerifyReasons(t *testing.T) {
	v := jwtStdVerifier(t, nil)
	valid := jwtSignAlg(t, "RS256", nil, jwtClaims(nil))
	other := jwtSignAlg(t, "RS256", nil, jwtClaims(map[string]any{"sub": "admin"}))
	otherP256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	otherParts := strings.Split(other, ".")
	claimsJSON := `{"sub":"u","exp":1999999999}`

	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"valid", valid, ""},
		{"aud list with one allowed", jwtSignAlg(t, "HS256", nil, jwtClaims(map[string]any{"aud": []string{"x", "api2"}})), ""},

		{"expired", jwtSignAlg(t, "HS256", nil, jwtClaims(map[string]any{"exp": jwtTestNow.Add(-time.Second).Unix()})), jwtReasonExpired},
		{"expires exactly now", jwtSignAlg(t, "ES256", nil, jwtClaims(map[string]any{"exp": jwtTestNow.Unix()})), jwtReasonExpired},
		{"expired beats bad issuer", jwtSignAlg(t, "HS256", nil, jwtClaims(map[string]any{"exp": jwtTestNow.Add(-time.Hour).Unix(), "iss": "x"})), jwtReasonExpired},
		{"not valid yet", jwtSignAlg(t, "HS256", nil, jwtClaims(map[string]any{"nbf": jwtTestNow.Add(time.Second).Unix()})), jwtReasonNotYetValid},
		{"issued in the future", jwtSignAlg(t, "EdDSA", nil, jwtClaims(map[string]any{"iat": jwtTestNow.Add(time.Minute).Unix()})), jwtReasonNotYetValid},
		{"no exp", jwtSignAlg(t, "HS256", nil, jwtClaims(map[string]any{"exp": nil})), jwtReasonInvalid},
		{"exp not a number", jwtSignAlg(t, "HS256", nil, jwtClaims(map[string]any{"exp": "tomorrow"})), jwtReasonInvalid},

		{"wrong issuer", jwtSignAlg(t, "RS256", nil, jwtClaims(map[string]any{"iss": "https://evil.test"})), jwtReasonBadIssuer},
		{"no issuer", jwtSignAlg(t, "RS256", nil, jwtClaims(map[string]any{"iss": nil})), jwtReasonInvalid},
		{"wrong audience", jwtSignAlg(t, "PS256", nil, jwtClaims(map[string]any{"aud": "other"})), jwtReasonBadAudience},
		{"wrong audience list", jwtSignAlg(t, "HS256", nil, jwtClaims(map[string]any{"aud": []string{"a", "b"}})), jwtReasonBadAudience},
		{"no audience", jwtSignAlg(t, "HS256", nil, jwtClaims(map[string]any{"aud": nil})), jwtReasonInvalid},

		{"HMAC wrong secret", jwtSign(t, jwt.SigningMethodHS256, []byte("not the secret"), nil, jwtClaims(nil)), jwtReasonBadSignature},
		{"ES256 unknown key", jwtSign(t, jwt.SigningMethodES256, otherP256, nil, jwtClaims(nil)), jwtReasonBadSignature},
		{"EdDSA unknown key", jwtSign(t, jwt.SigningMethodEdDSA, otherEd, nil, jwtClaims(nil)), jwtReasonBadSignature},
		{"RS256 payload swapped", parts[0] + "." + otherParts[1] + "." + parts[2], jwtReasonBadSignature},
		{"RS256 signature dropped", parts[0] + "." + parts[1] + ".", jwtReasonBadSignature},

		{"alg none", jwtSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, jwtClaims(nil)), jwtReasonAlgNotAllowed},
		{"alg NONE", jwtRaw(`{"alg":"NONE"}`, claimsJSON, ""), jwtReasonAlgNotAllowed},
		{"alg unknown", jwtRaw(`{"alg":"XX512"}`, claimsJSON, "sig"), jwtReasonAlgNotAllowed},

		{"empty", "", jwtReasonMalformed},
		{"one segment", "abc", jwtReasonMalformed},
		{"two segments", "a.b", jwtReasonMalformed},
		{"four segments", valid + ".x", jwtReasonMalformed},
		{"not base64", "!!!.@@@.###", jwtReasonMalformed},
		{"header not JSON", jwtRaw(`nope`, claimsJSON, "sig"), jwtReasonMalformed},
		{"claims not JSON", jwtRaw(`{"alg":"HS256"}`, `nope`, "sig"), jwtReasonMalformed},
		{"claims an array", jwtRaw(`{"alg":"HS256"}`, `[1]`, "sig"), jwtReasonMalformed},
		{"no alg", jwtRaw(`{"typ":"JWT"}`, claimsJSON, "sig"), jwtReasonMalformed},
		{"alg not a string", jwtRaw(`{"alg":256}`, claimsJSON, "sig"), jwtReasonMalformed},
		{"kid not a string", jwtSignAlg(t, "RS256", map[string]any{"kid": 7}, jwtClaims(nil)), jwtReasonMalformed},
		{"signature not base64", valid + "*", jwtReasonMalformed},
		{"Bearer prefix left on", "Bearer " + valid, jwtReasonMalformed},
		{"too long", valid + strings.Repeat("A", jwtMaxTokenBytes), jwtReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.token)
			jwtCheckReason(t, err, tc.want)
		})
	}
}

func TestJWTVerifyAllowList(t *testing.T) {
	v := jwtStdVerifier(t, func(o *JWTOptions) { o.Algorithms = []string{"RS256"} })
	tests := []struct {
		name string
		alg  string
		want string
	}{
		{"allowed", "RS256", ""},
		{"same key, other RSA alg", "RS512", jwtReasonAlgNotAllowed},
		{"PSS with the same key", "PS256", jwtReasonAlgNotAllowed},
		{"HMAC", "HS256", jwtReasonAlgNotAllowed},
		{"ECDSA", "ES256", jwtReasonAlgNotAllowed},
		{"EdDSA", "EdDSA", jwtReasonAlgNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(jwtSignAlg(t, tc.alg, nil, jwtClaims(nil)))
			jwtCheckReason(t, err, tc.want)
		})
	}
}

func TestJWTVerifyLeeway(t *testing.T) {
	v := jwtStdVerifier(t, func(o *JWTOptions) { o.Leeway = time.Minute })
	tests := []struct {
		name   string
		change map[string]any
		want   string
	}{
		{"nbf within leeway", map[string]any{"nbf": jwtTestNow.Add(30 * time.Second).Unix()}, ""},
		{"nbf beyond leeway", map[string]any{"nbf": jwtTestNow.Add(2 * time.Minute).Unix()}, jwtReasonNotYetValid},
		{"iat within leeway", map[string]any{"iat": jwtTestNow.Add(30 * time.Second).Unix()}, ""},
		{"iat beyond leeway", map[string]any{"iat": jwtTestNow.Add(2 * time.Minute).Unix()}, jwtReasonNotYetValid},
		{"exp within leeway", map[string]any{"exp": jwtTestNow.Add(-30 * time.Second).Unix()}, ""},
		{"exp beyond leeway", map[string]any{"exp": jwtTestNow.Add(-2 * time.Minute).Unix()}, jwtReasonExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(jwtSignAlg(t, "HS256", nil, jwtClaims(tc.change)))
			jwtCheckReason(t, err, tc.want)
		})
	}
}

// TestJWTAlgConfusion forges HS256 tokens keyed with the RSA public key,
// the classic attack on verifiers that hand any configured key to any
// algorithm.
func TestJWTAlgConfusion(t *testing.T) {
	k := jwtKeys(t)
	pub := &k.rsa.PublicKey
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pkixPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
	keyFile := jwtWriteFile(t, "rsa.pem", pkixPEM)

	both := []string{"RS256", "HS256"}
	tests := []struct {
		name       string
		algorithms []string
		secret     []byte
		forgedWith []byte
		want       string
	}{
		{"HS256 allowed, keyed with PKIX PEM", both, k.hmac, pkixPEM, jwtReasonBadSignature},
		{"HS256 allowed, keyed with PKCS1 PEM", both, k.hmac, pkcs1PEM, jwtReasonBadSignature},
		{"HS256 allowed, keyed with DER", both, k.hmac, der, jwtReasonBadSignature},
		{"HS256 not allowed, keyed with PKIX PEM", []string{"RS256"}, nil, pkixPEM, jwtReasonAlgNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := jwtNewVerifier(t, JWTOptions{Algorithms: tc.algorithms, HMACSecret: tc.secret, KeyFile: keyFile, Now: jwtTestClock})
			forged := jwtSign(t, jwt.SigningMethodHS256, tc.forgedWith, nil, jwtClaims(nil))
			_, err := v.Verify(forged)
			jwtCheckReason(t, err, tc.want)
			_, err = v.Verify(jwtSign(t, jwt.SigningMethodRS256, k.rsa, nil, jwtClaims(nil)))
			jwtCheckReason(t, err, "")
		})
	}

	t.Run("keyFor gives HS256 the secret only", func(t *testing.T) {
		v := jwtNewVerifier(t, JWTOptions{Algorithms: both, HMACSecret: k.hmac, KeyFile: keyFile, Now: jwtTestClock})
		got, err := v.keyFor(&jwt.Token{Method: jwt.SigningMethodHS256, Header: map[string]any{"alg": "HS256"}})
		if err != nil {
			t.Fatal(err)
		}
		if secret, ok := got.([]byte); !ok || !bytes.Equal(secret, k.hmac) {
			t.Fatalf("keyFor(HS256) = %T, want the HMAC secret", got)
		}
		got, err = v.keyFor(&jwt.Token{Method: jwt.SigningMethodRS256, Header: map[string]any{"alg": "RS256"}})
		if err != nil {
			t.Fatal(err)
		}
		set, ok := got.(jwt.VerificationKeySet)
		if !ok || len(set.Keys) != 1 {
			t.Fatalf("keyFor(RS256) = %#v, want one key", got)
		}
		if _, ok := set.Keys[0].(*rsa.PublicKey); !ok {
			t.Fatalf("keyFor(RS256) key is %T, want *rsa.PublicKey", set.Keys[0])
		}
	})
}

func TestJWTVerifyClaims(t *testing.T) {
	k := jwtKeys(t)
	tests := []struct {
		name   string
		opts   func(*JWTOptions)
		change map[string]any
		want   Claims
	}{
		{"defaults", nil, nil, Claims{"user-1", "acme", "pro", []string{"read", "write"}}},
		{"scope with extra spaces", nil, map[string]any{"scope": "  a   b "}, Claims{"user-1", "acme", "pro", []string{"a", "b"}}},
		{"empty scope", nil, map[string]any{"scope": ""}, Claims{"user-1", "acme", "pro", nil}},
		{"scp array", nil, map[string]any{"scope": nil, "scp": []string{"a", "b"}}, Claims{"user-1", "acme", "pro", []string{"a", "b"}}},
		{"scp string", nil, map[string]any{"scope": nil, "scp": "a b"}, Claims{"user-1", "acme", "pro", []string{"a", "b"}}},
		{"scopes array, odd entries skipped", nil, map[string]any{"scope": nil, "scopes": []any{"a", 1, "", nil, "b"}}, Claims{"user-1", "acme", "pro", []string{"a", "b"}}},
		{"scope wins over scp", nil, map[string]any{"scope": "a", "scp": []string{"b"}}, Claims{"user-1", "acme", "pro", []string{"a"}}},
		{"scope of the wrong type", nil, map[string]any{"scope": 12}, Claims{"user-1", "acme", "pro", nil}},
		{"missing optional claims", nil, map[string]any{"sub": nil, "tenant": nil, "plan": nil, "scope": nil}, Claims{}},
		{"non-string claims", nil, map[string]any{"sub": 7, "tenant": 42, "plan": true, "scope": nil}, Claims{}},
		{
			"custom claim names",
			func(o *JWTOptions) {
				o.UserClaim, o.TenantClaim, o.PlanClaim, o.ScopesClaim = "email", "org", "tier", "permissions"
			},
			map[string]any{"email": "a@b.test", "org": "globex", "tier": "free", "permissions": []string{"p:1", "p:2"}},
			Claims{"a@b.test", "globex", "free", []string{"p:1", "p:2"}},
		},
		{
			"custom scope claim ignores scope and scp",
			func(o *JWTOptions) { o.ScopesClaim = "permissions" },
			map[string]any{"scp": []string{"b"}},
			Claims{"user-1", "acme", "pro", nil},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := JWTOptions{Algorithms: []string{"HS256"}, HMACSecret: k.hmac, Now: jwtTestClock}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			v := jwtNewVerifier(t, opts)
			got, err := v.Verify(jwtSignAlg(t, "HS256", nil, jwtClaims(tc.change)))
			jwtCheckReason(t, err, "")
			if !jwtClaimsEqual(got, tc.want) {
				t.Fatalf("claims = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// jwtTestJWK is one key of a test JWKS.
type jwtTestJWK struct {
	kid, alg string
	use      jwkset.USE
	key      any // public key
}

// jwtJWKS encodes keys as a JWKS document.
func jwtJWKS(tb testing.TB, keys ...jwtTestJWK) []byte {
	tb.Helper()
	var set jwkset.JWKSMarshal
	set.Keys = []jwkset.JWKMarshal{}
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: k.use},
		})
		if err != nil {
			tb.Fatalf("JWK %s: %v", k.kid, err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	data, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestJWTKeyFileJWKS(t *testing.T) {
	k := jwtKeys(t)
	file := jwtWriteFile(t, "jwks.json", jwtJWKS(t,
		jwtTestJWK{kid: "r1", alg: "RS256", key: &k.rsa.PublicKey},
		jwtTestJWK{kid: "e1", key: &k.p256.PublicKey},
		jwtTestJWK{kid: "d1", key: k.ed.Public()},
		jwtTestJWK{kid: "r2", alg: "RS384", key: &k.rsa2.PublicKey},
		jwtTestJWK{kid: "enc", use: jwkset.UseEnc, key: &k.rsa2.PublicKey},
	))
	v := jwtNewVerifier(t, JWTOptions{Algorithms: []string{"RS256", "RS384", "ES256", "EdDSA"}, KeyFile: file, Now: jwtTestClock})
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    any
		want   string
	}{
		{"RS256 by kid", jwt.SigningMethodRS256, k.rsa, "r1", ""},
		{"ES256 by kid", jwt.SigningMethodES256, k.p256, "e1", ""},
		{"EdDSA by kid", jwt.SigningMethodEdDSA, k.ed, "d1", ""},
		{"RS384 by kid", jwt.SigningMethodRS384, k.rsa2, "r2", ""},
		{"no kid tries every fitting key", jwt.SigningMethodRS256, k.rsa, nil, ""},
		{"no kid, key restricted to another alg", jwt.SigningMethodRS256, k.rsa2, nil, jwtReasonBadSignature},
		{"kid restricted to another alg", jwt.SigningMethodRS256, k.rsa2, "r2", jwtReasonUnknownKey},
		{"kid of an EC key on an RSA token", jwt.SigningMethodRS256, k.rsa, "e1", jwtReasonUnknownKey},
		{"kid of an encryption key", jwt.SigningMethodRS256, k.rsa2, "enc", jwtReasonUnknownKey},
		{"unknown kid", jwt.SigningMethodRS256, k.rsa, "zzz", jwtReasonUnknownKey},
		{"known kid, wrong signer", jwt.SigningMethodRS256, k.rsa2, "r1", jwtReasonBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]any{}
			if tc.kid != nil {
				header["kid"] = tc.kid
			}
			_, err := v.Verify(jwtSign(t, tc.method, tc.key, header, jwtClaims(nil)))
			jwtCheckReason(t, err, tc.want)
		})
	}
}

func TestNewJWTVerifierErrors(t *testing.T) {
	k := jwtKeys(t)
	rsaOnly := jwtPEMFile(t, jwtPKIXBlock(t, &k.rsa.PublicKey))
	privDER, err := x509.MarshalPKCS8PrivateKey(k.p256)
	if err != nil {
		t.Fatal(err)
	}
	private := jwtPEMFile(t, &pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	garbage := jwtWriteFile(t, "garbage.pem", []byte("not a key\n"))
	badJWKS := jwtWriteFile(t, "bad.json", []byte(`{"keys":[{"kty":"RSA","kid":"x"}]}`))
	octJWKS := jwtWriteFile(t, "oct.json", []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
	tests := []struct {
		name   string
		opts   JWTOptions
		option string // the option the error must name
	}{
		{"no algorithms", JWTOptions{HMACSecret: k.hmac}, "Algorithms"},
		{"none", JWTOptions{Algorithms: []string{"HS256", "none"}, HMACSecret: k.hmac}, "Algorithms"},
		{"None", JWTOptions{Algorithms: []string{"None"}}, "Algorithms"},
		{"unsupported", JWTOptions{Algorithms: []string{"HS1"}, HMACSecret: k.hmac}, "Algorithms"},
		{"HS256 without secret", JWTOptions{Algorithms: []string{"HS256"}}, "HMACSecret"},
		{"RS256 without key source", JWTOptions{Algorithms: []string{"RS256"}, HMACSecret: k.hmac}, "KeyFile or JWKSURL"},
		{"EdDSA without key source", JWTOptions{Algorithms: []string{"HS256", "EdDSA"}, HMACSecret: k.hmac}, "KeyFile or JWKSURL"},
		{"missing key file", JWTOptions{Algorithms: []string{"RS256"}, KeyFile: filepath.Join(t.TempDir(), "absent.pem")}, "KeyFile"},
		{"key file without keys", JWTOptions{Algorithms: []string{"RS256"}, KeyFile: garbage}, "KeyFile"},
		{"private key in key file", JWTOptions{Algorithms: []string{"ES256"}, KeyFile: private}, "KeyFile"},
		{"broken JWKS key file", JWTOptions{Algorithms: []string{"RS256"}, KeyFile: badJWKS}, "KeyFile"},
		{"symmetric JWKS key file", JWTOptions{Algorithms: []string{"RS256"}, KeyFile: octJWKS}, "KeyFile"},
		{"no key for an allowed alg", JWTOptions{Algorithms: []string{"RS256", "ES256"}, KeyFile: rsaOnly}, "KeyFile"},
		{"negative leeway", JWTOptions{Algorithms: []string{"HS256"}, HMACSecret: k.hmac, Leeway: -time.Second}, "Leeway"},
		{"negative refresh", JWTOptions{Algorithms: []string{"RS256"}, JWKSURL: "https://idp.test/jwks", JWKSRefresh: -1}, "JWKSRefresh"},
		{"negative min refetch", JWTOptions{Algorithms: []string{"RS256"}, JWKSURL: "https://idp.test/jwks", JWKSMinRefetch: -1}, "JWKSMinRefetch"},
		{"JWKSURL not http", JWTOptions{Algorithms: []string{"RS256"}, JWKSURL: "ftp://idp.test/jwks"}, "JWKSURL"},
		{"JWKSURL relative", JWTOptions{Algorithms: []string{"RS256"}, JWKSURL: "/jwks"}, "JWKSURL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewJWTVerifier(t.Context(), tc.opts)
			if err == nil {
				v.Close()
				t.Fatal("NewJWTVerifier succeeded, want an error")
			}
			if !strings.Contains(err.Error(), "jwt: "+tc.option+":") {
				t.Fatalf("error %q does not name option %s", err, tc.option)
			}
		})
	}
}

// jwtJWKSServer serves a replaceable JWKS over loopback and counts fetches.
type jwtJWKSServer struct {
	*httptest.Server
	body    atomic.Pointer[[]byte]
	fetches atomic.Int64
	failing atomic.Bool
}

// jwtNewBubbleJWKSServer is jwtNewJWKSServer for a synctest bubble: the
// same net/http server and client, talking over net.Pipe instead of a
// loopback socket, whose blocked reads would keep the bubble's clock from
// advancing. Verifiers reach it through s.Client(), which jwtRemoteOptions
// sets. Call it inside the bubble.
func jwtNewBubbleJWKSServer(tb testing.TB, body []byte) *jwtJWKSServer {
	s := &jwtJWKSServer{}
	s.serve(body)
	l := &jwtPipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	s.Server = &httptest.Server{Listener: l, Config: &http.Server{Handler: s.handler()}}
	s.Start()
	s.Client().Transport.(*http.Transport).DialContext = l.dial
	tb.Cleanup(s.Close)
	return s
}

func jwtNewJWKSServer(tb testing.TB, body []byte) *jwtJWKSServer {
	s := &jwtJWKSServer{}
	s.serve(body)
	s.Server = httptest.NewServer(s.handler())
	tb.Cleanup(s.Close)
	return s
}

// handler serves the current body, or 503 while failing, counting fetches.
func (s *jwtJWKSServer) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.body.Load())
	})
}

func (s *jwtJWKSServer) serve(body []byte) { s.body.Store(&body) }

// jwtPipeListener is a net.Listener whose connections are net.Pipe ends
// handed over by dial; everything it blocks on is a channel, so a
// synctest bubble sees a server waiting on it as durably blocked.
type jwtPipeListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *jwtPipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *jwtPipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *jwtPipeListener) Addr() net.Addr { return jwtPipeAddr{} }

// dial is an http.Transport DialContext that connects to l whatever the
// address.
func (l *jwtPipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// jwtPipeAddr is a jwtPipeListener's address; it becomes the server's URL host.
type jwtPipeAddr struct{}

func (jwtPipeAddr) Network() string { return "pipe" }
func (jwtPipeAddr) String() string  { return "jwks.test" }

func (s *jwtJWKSServer) wantFetches(tb testing.TB, want int64) {
	tb.Helper()
	if got := s.fetches.Load(); got != want {
		tb.Fatalf("JWKS fetched %d times, want %d", got, want)
	}
}

// jwtSleepIdle lets a synctest bubble's clock run for d, then waits until
// every goroutine in the bubble is idle again, so the fetches due by then
// have completed.
func jwtSleepIdle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func jwtRemoteOptions(url string) JWTOptions {
	return JWTOptions{Algorithms: []string{"RS256", "ES256"}, JWKSURL: url, Now: jwtTestClock}
}

func TestJWTJWKSRotation(t *testing.T) {
	k := jwtKeys(t)
	srv := jwtNewJWKSServer(t, jwtJWKS(t, jwtTestJWK{kid: "a", key: &k.rsa.PublicKey}))
	v := jwtNewVerifier(t, jwtRemoteOptions(srv.URL))
	srv.wantFetches(t, 1)

	signed := func(key any, kid string) string {
		return jwtSign(t, jwt.SigningMethodRS256, key, map[string]any{"kid": kid}, jwtClaims(nil))
	}
	_, err := v.Verify(signed(k.rsa, "a"))
	jwtCheckReason(t, err, "")
	srv.wantFetches(t, 1)

	srv.serve(jwtJWKS(t, jwtTestJWK{kid: "b", key: &k.rsa2.PublicKey}))
	_, err = v.Verify(signed(k.rsa2, "b"))
	jwtCheckReason(t, err, "")
	srv.wantFetches(t, 2)

	_, err = v.Verify(signed(k.rsa2, "b"))
	jwtCheckReason(t, err, "")
	_, err = v.Verify(signed(k.rsa, "a"))
	jwtCheckReason(t, err, jwtReasonUnknownKey) // rotated out, and no re-fetch allowed yet
	srv.wantFetches(t, 2)
}

func TestJWTJWKSUnknownKIDRateLimited(t *testing.T) {
	k := jwtKeys(t)
	srv := jwtNewJWKSServer(t, jwtJWKS(t, jwtTestJWK{kid: "a", key: &k.rsa.PublicKey}))
	v := jwtNewVerifier(t, jwtRemoteOptions(srv.URL))
	srv.wantFetches(t, 1)

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		tok := jwtSign(t, jwt.SigningMethodES256, k.p256, map[string]any{"kid": fmt.Sprintf("x-%d", i)}, jwtClaims(nil))
		wg.Go(func() {
			_, err := v.Verify(tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		jwtCheckReason(t, err, jwtReasonUnknownKey)
	}
	srv.wantFetches(t, 2)

	_, err := v.Verify(jwtSign(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "a"}, jwtClaims(nil)))
	jwtCheckReason(t, err, "")
	srv.wantFetches(t, 2)
}

func TestJWTJWKSRefetchAllowedAgainAfterInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := jwtKeys(t)
		srv := jwtNewBubbleJWKSServer(t, jwtJWKS(t, jwtTestJWK{kid: "a", key: &k.rsa.PublicKey}))
		opts := jwtRemoteOptions(srv.URL)
		opts.HTTPClient = srv.Client()
		opts.JWKSMinRefetch = time.Minute
		v := jwtNewVerifier(t, opts)
		tok := jwtSignAlg(t, "ES256", map[string]any{"kid": "e"}, jwtClaims(nil))

		_, err := v.Verify(tok)
		jwtCheckReason(t, err, jwtReasonUnknownKey)
		srv.wantFetches(t, 2)

		srv.serve(jwtJWKS(t, jwtTestJWK{kid: "e", key: &k.p256.PublicKey}))
		time.Sleep(59 * time.Second)
		_, err = v.Verify(tok)
		jwtCheckReason(t, err, jwtReasonUnknownKey) // not yet: one re-fetch per minute
		srv.wantFetches(t, 2)

		time.Sleep(time.Second)
		_, err = v.Verify(tok)
		jwtCheckReason(t, err, "")
		srv.wantFetches(t, 3)
	})
}

func TestJWTJWKSRefreshKeepsLastGoodKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := jwtKeys(t)
		srv := jwtNewBubbleJWKSServer(t, jwtJWKS(t, jwtTestJWK{kid: "a", key: &k.rsa.PublicKey}))
		opts := jwtRemoteOptions(srv.URL)
		opts.HTTPClient = srv.Client()
		const refresh = time.Minute
		opts.JWKSRefresh = refresh
		v := jwtNewVerifier(t, opts)
		tok := jwtSign(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "a"}, jwtClaims(nil))

		// Sleeping to the middle of an interval keeps each check clear of a tick.
		jwtSleepIdle(3*refresh + refresh/2)
		srv.wantFetches(t, 1+3) // the start, then a periodic refresh per interval

		srv.failing.Store(true)
		jwtSleepIdle(3 * refresh)
		srv.wantFetches(t, 4+3) // refresh keeps running through failures
		_, err := v.Verify(tok)
		jwtCheckReason(t, err, "")

		srv.serve([]byte(`{"keys":[{"kty":"RSA","kid":"broken"}]}`))
		srv.failing.Store(false)
		jwtSleepIdle(3 * refresh)
		srv.wantFetches(t, 7+3) // an unparsable set is a failure too
		_, err = v.Verify(tok)
		jwtCheckReason(t, err, "")
	})
}

func TestJWTJWKSStartFailure(t *testing.T) {
	k := jwtKeys(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	t.Run("sole key source", func(t *testing.T) {
		v, err := NewJWTVerifier(t.Context(), jwtRemoteOptions(deadURL))
		if err == nil {
			v.Close()
			t.Fatal("NewJWTVerifier succeeded with an unreachable JWKSURL as the only key source")
		}
		if !strings.Contains(err.Error(), "jwt: JWKSURL:") {
			t.Fatalf("error %q does not name JWKSURL", err)
		}
	})

	t.Run("HTTP error status, sole key source", func(t *testing.T) {
		srv := jwtNewJWKSServer(t, nil)
		srv.failing.Store(true)
		_, err := NewJWTVerifier(t.Context(), jwtRemoteOptions(srv.URL))
		if err == nil || !strings.Contains(err.Error(), "jwt: JWKSURL:") {
			t.Fatalf("NewJWTVerifier error = %v, want one naming JWKSURL", err)
		}
	})

	t.Run("with another key source", func(t *testing.T) {
		opts := jwtRemoteOptions(deadURL)
		opts.Algorithms = append(opts.Algorithms, "HS256")
		opts.HMACSecret = k.hmac
		v := jwtNewVerifier(t, opts)
		_, err := v.Verify(jwtSignAlg(t, "HS256", nil, jwtClaims(nil)))
		jwtCheckReason(t, err, "")
		_, err = v.Verify(jwtSign(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "a"}, jwtClaims(nil)))
		jwtCheckReason(t, err, jwtReasonUnknownKey)
	})

	t.Run("recovers on an unknown kid", func(t *testing.T) {
		srv := jwtNewJWKSServer(t, jwtJWKS(t, jwtTestJWK{kid: "a", key: &k.rsa.PublicKey}))
		srv.failing.Store(true)
		opts := jwtRemoteOptions(srv.URL)
		opts.KeyFile = jwtPEMFile(t, jwtPKIXBlock(t, &k.p256.PublicKey))
		v := jwtNewVerifier(t, opts)
		srv.wantFetches(t, 1)
		srv.failing.Store(false)
		_, err := v.Verify(jwtSign(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "a"}, jwtClaims(nil)))
		jwtCheckReason(t, err, "")
		srv.wantFetches(t, 2)
	})
}

func TestJWTJWKSSymmetricKeyIgnored(t *testing.T) {
	k := jwtKeys(t)
	secret := []byte("published-in-the-jwks-0123456789")
	body := fmt.Appendf(nil, `{"keys":[{"kty":"oct","kid":"h","k":%q}]}`, base64.RawURLEncoding.EncodeToString(secret))
	srv := jwtNewJWKSServer(t, body)
	opts := jwtRemoteOptions(srv.URL)
	opts.Algorithms = []string{"RS256", "HS256"}
	opts.HMACSecret = k.hmac
	v := jwtNewVerifier(t, opts)
	_, err := v.Verify(jwtSign(t, jwt.SigningMethodHS256, secret, map[string]any{"kid": "h"}, jwtClaims(nil)))
	jwtCheckReason(t, err, jwtReasonBadSignature)
}

func TestJWTJWKSStopsRefreshing(t *testing.T) {
	k := jwtKeys(t)
	body := jwtJWKS(t, jwtTestJWK{kid: "a", key: &k.rsa.PublicKey})
	stops := map[string]func(v *JWTVerifier, cancel func()){
		"Close":          func(v *JWTVerifier, _ func()) { v.Close() },
		"context cancel": func(_ *JWTVerifier, cancel func()) { cancel() },
	}
	for name, stop := range stops {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := jwtNewBubbleJWKSServer(t, body)
				opts := jwtRemoteOptions(srv.URL)
				opts.HTTPClient = srv.Client()
				const refresh = time.Minute
				opts.JWKSRefresh = refresh
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				v, err := NewJWTVerifier(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer v.Close()
				jwtSleepIdle(2*refresh + refresh/2)
				srv.wantFetches(t, 1+2)

				stop(v, cancel)
				jwtSleepIdle(10 * refresh)
				srv.wantFetches(t, 3)

				_, err = v.Verify(jwtSign(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "a"}, jwtClaims(nil)))
				jwtCheckReason(t, err, "") // keys already loaded still verify
				_, err = v.Verify(jwtSign(t, jwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "new"}, jwtClaims(nil)))
				jwtCheckReason(t, err, jwtReasonUnknownKey)
				srv.wantFetches(t, 3)
			})
		})
	}
}

func TestJWTVerifyConcurrent(t *testing.T) {
	k := jwtKeys(t)
	srv := jwtNewJWKSServer(t, jwtJWKS(t, jwtTestJWK{kid: "a", key: &k.rsa.PublicKey}))
	v := jwtStdVerifier(t, func(o *JWTOptions) { o.JWKSURL = srv.URL })
	tokens := map[string]string{
		jwtSignAlg(t, "HS256", nil, jwtClaims(nil)):                                              "",
		jwtSignAlg(t, "ES256", nil, jwtClaims(nil)):                                              "",
		jwtSignAlg(t, "RS256", map[string]any{"kid": "a"}, jwtClaims(nil)):                       "",
		jwtSignAlg(t, "RS256", map[string]any{"kid": "b"}, jwtClaims(nil)):                       "", // falls back to the PEM keys
		jwtSignAlg(t, "EdDSA", nil, jwtClaims(map[string]any{"exp": jwtTestNow.Unix()})):         jwtReasonExpired,
		jwtSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, jwtClaims(nil)): jwtReasonAlgNotAllowed,
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				for tok, want := range tokens {
					_, err := v.Verify(tok)
					if msg := jwtReasonMismatch(err, want); msg != "" {
						t.Error(msg)
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestJWTTokenError(t *testing.T) {
	err := &TokenError{Reason: jwtReasonExpired, Err: jwt.ErrTokenExpired}
	if got, want := err.Error(), "jwt: token_expired: token is expired"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatal("errors.Is does not see the wrapped error")
	}
	if got := (&TokenError{Reason: jwtReasonInvalid}).Error(); got != "jwt: token_invalid" {
		t.Fatalf("Error() without Err = %q", got)
	}
}
