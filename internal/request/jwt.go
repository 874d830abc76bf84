package request

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Reason codes a TokenError carries.
const (
	jwtReasonMalformed     = "token_malformed"
	jwtReasonAlgNotAllowed = "token_alg_not_allowed"
	jwtReasonBadSignature  = "token_bad_signature"
	jwtReasonUnknownKey    = "token_unknown_key"
	jwtReasonExpired       = "token_expired"
	jwtReasonNotYetValid   = "token_not_yet_valid"
	jwtReasonBadIssuer     = "token_bad_issuer"
	jwtReasonBadAudience   = "token_bad_audience"
	jwtReasonInvalid       = "token_invalid"
)

const (
	// jwtMaxTokenBytes bounds the token Verify will decode; longer tokens
	// are refused as token_malformed before any base64 or JSON work.
	jwtMaxTokenBytes = 16 << 10

	jwtDefaultRefresh     = time.Hour
	jwtDefaultMinRefetch  = time.Minute
	jwtDefaultHTTPTimeout = 10 * time.Second
)

var (
	errJWTTooLong    = fmt.Errorf("token longer than %d bytes", jwtMaxTokenBytes)
	errJWTUnknownKey = errors.New("no key to verify the token")
	errJWTBadKID     = errors.New(`header "kid" is not a string`)
)

// jwtFamily is the kind of key an algorithm verifies with.
type jwtFamily int

const (
	jwtFamilyHMAC jwtFamily = iota + 1
	jwtFamilyRSA
	jwtFamilyEC
	jwtFamilyEd25519
)

// jwtFamilies lists the supported algorithms and their key families.
var jwtFamilies = map[string]jwtFamily{
	"HS256": jwtFamilyHMAC, "HS384": jwtFamilyHMAC, "HS512": jwtFamilyHMAC,
	"RS256": jwtFamilyRSA, "RS384": jwtFamilyRSA, "RS512": jwtFamilyRSA,
	"PS256": jwtFamilyRSA, "PS384": jwtFamilyRSA, "PS512": jwtFamilyRSA,
	"ES256": jwtFamilyEC, "ES384": jwtFamilyEC, "ES512": jwtFamilyEC,
	"EdDSA": jwtFamilyEd25519,
}

// jwtCurves names the curve each ECDSA algorithm requires.
var jwtCurves = map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

// JWTOptions configures a JWTVerifier. Zero durations get safe defaults.
//
// HS* tokens verify only with HMACSecret; symmetric keys found in KeyFile or
// at JWKSURL are never used. Tokens must carry exp: one without it is
// refused as token_invalid, as is one missing iss or aud when Issuer or
// Audience is set.
type JWTOptions struct {
	Algorithms     []string      // allow-list, required, e.g. ["RS256","ES256"]; "none" is always refused (NewJWTVerifier errors)
	Issuer         string        // when set, iss must equal it
	Audience       []string      // when set, aud must contain one of them
	Leeway         time.Duration // clock skew allowed for exp/nbf/iat
	HMACSecret     []byte        // key for HS256/HS384/HS512
	KeyFile        string        // a PEM file with one or more public keys (RSA, EC, Ed25519) or a JWKS JSON file
	JWKSURL        string        // JWKS endpoint, fetched at start and refreshed
	JWKSRefresh    time.Duration // refresh interval for JWKSURL (default 1h)
	JWKSMinRefetch time.Duration // at most one extra fetch per this interval when a token names an unknown kid (default 1m)
	HTTPClient     *http.Client  // for JWKSURL (default: 10s timeout)

	UserClaim, TenantClaim, PlanClaim, ScopesClaim string // defaults "sub", "tenant", "plan", "scope"

	Now func() time.Time // injected clock (default time.Now)
}

// Claims is the identity a verified token carries. Claims that are absent
// or not of the expected type are left empty.
type Claims struct {
	Subject, Tenant, Plan string
	Scopes                []string // from a space-separated string ("scope") or a JSON array ("scp"/"scopes")
}

// TokenError says why a token was refused, with a stable reason code for
// problem+json responses. Reason is one of token_malformed,
// token_alg_not_allowed, token_bad_signature, token_unknown_key,
// token_expired, token_not_yet_valid, token_bad_issuer, token_bad_audience
// or token_invalid; Err holds the detail, which is not meant for clients.
type TokenError struct {
	Reason string
	Err    error
}

// Error returns the reason code followed by the underlying error.
func (e *TokenError) Error() string {
	if e.Err == nil {
		return "jwt: " + e.Reason
	}
	return "jwt: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the underlying error, so errors.Is sees golang-jwt's
// sentinel errors.
func (e *TokenError) Unwrap() error { return e.Err }

// JWTVerifier checks JWT bearer tokens against an algorithm allow-list and
// configured keys, and extracts identity claims. It is safe for concurrent
// use.
type JWTVerifier struct {
	parser  *jwt.Parser
	allowed []string
	hmac    []byte   // nil unless an HS* algorithm is allowed
	static  []jwtKey // keys from KeyFile
	remote  *jwtRemote
	names   jwtClaimNames
	ctx     context.Context // bounds JWKS fetches; cancelled by Close
	cancel  context.CancelFunc
}

// jwtKey is a public key read from KeyFile, with the kid and alg its JWK
// named (both empty for PEM keys).
type jwtKey struct {
	kid, alg string
	key      crypto.PublicKey
}

// jwtRemote is the JWKSURL key source.
type jwtRemote struct {
	keys    keyfunc.Keyfunc // looks keys up, re-fetching the set on an unknown kid
	cache   jwkset.Storage  // the last fetched set, read without fetching
	limiter *rate.Limiter   // allows one unknown-kid re-fetch per JWKSMinRefetch
}

// jwtClaimNames are the claims identity is read from.
type jwtClaimNames struct {
	user, tenant, plan string
	scopes             []string // tried in order; the first present wins
}

// NewJWTVerifier validates opts, loads KeyFile and, when JWKSURL is set,
// fetches the JWKS and starts refreshing it until ctx ends or Close is
// called. Errors name the offending option.
//
// When the first JWKS fetch fails, NewJWTVerifier returns an error only if
// JWKSURL is the sole key source; with KeyFile keys or an HMACSecret it logs
// the failure and starts anyway, and the JWKS keys appear on the next
// periodic refresh or unknown-kid re-fetch. Later refresh failures are
// logged and keep the last good keys.
func NewJWTVerifier(ctx context.Context, opts JWTOptions) (*JWTVerifier, error) {
	if err := jwtCheckOptions(opts); err != nil {
		return nil, err
	}
	static, err := jwtLoadKeyFile(opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("jwt: KeyFile: %w", err)
	}
	if err := jwtCheckStaticKeys(opts, static); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	v := &JWTVerifier{
		parser:  jwtParser(opts),
		allowed: slices.Clone(opts.Algorithms),
		static:  static,
		names:   jwtNames(opts),
		ctx:     ctx,
		cancel:  cancel,
	}
	if jwtAllows(opts.Algorithms, jwtFamilyHMAC) {
		v.hmac = bytes.Clone(opts.HMACSecret)
	}
	if opts.JWKSURL != "" {
		v.remote, err = jwtNewRemote(ctx, opts, len(v.static) > 0 || v.hmac != nil)
		if err != nil {
			cancel()
			return nil, err
		}
	}
	return v, nil
}

// Close stops the background JWKS refresh. Verify keeps working afterwards
// with the keys already loaded, but no longer fetches.
func (v *JWTVerifier) Close() { v.cancel() }

// Verify checks token (without the "Bearer " prefix) and returns its
// claims. Every error is a *TokenError.
func (v *JWTVerifier) Verify(token string) (Claims, error) {
	if len(token) > jwtMaxTokenBytes {
		return Claims{}, &TokenError{Reason: jwtReasonMalformed, Err: errJWTTooLong}
	}
	claims := jwt.MapClaims{}
	parsed, err := v.parser.ParseWithClaims(token, claims, v.keyFor)
	if err != nil {
		return Claims{}, &TokenError{Reason: v.reason(parsed, err), Err: err}
	}
	return v.names.extract(claims), nil
}

// reason maps a golang-jwt error to a reason code. When several claims
// fail at once the first match in this order wins.
func (v *JWTVerifier) reason(token *jwt.Token, err error) string {
	switch {
	case errors.Is(err, errJWTUnknownKey):
		return jwtReasonUnknownKey
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, errJWTBadKID):
		return jwtReasonMalformed
	}
	if token == nil {
		return jwtReasonMalformed
	}
	alg, ok := token.Header["alg"].(string)
	switch {
	case !ok:
		return jwtReasonMalformed
	case !slices.Contains(v.allowed, alg):
		return jwtReasonAlgNotAllowed
	}
	return jwtClaimReason(err)
}

// jwtClaimReason maps the errors left after parsing and the alg check.
func jwtClaimReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return jwtReasonBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return jwtReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return jwtReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return jwtReasonBadIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return jwtReasonBadAudience
	}
	return jwtReasonInvalid
}

// keyFor is the jwt.Keyfunc. golang-jwt has already checked the token's
// alg against the allow-list. HS* tokens get the HMAC secret and nothing
// else; other tokens get only keys of their algorithm's type, so a public
// key can never be used as an HMAC secret.
func (v *JWTVerifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if jwtFamilies[alg] == jwtFamilyHMAC {
		return v.hmac, nil
	}
	kid, err := jwtTokenKID(t)
	if err != nil {
		return nil, err
	}
	keys, lookupErr := v.candidates(alg, kid)
	if len(keys) > 0 {
		return jwt.VerificationKeySet{Keys: keys}, nil
	}
	err = fmt.Errorf("%w: alg %s, kid %q", errJWTUnknownKey, alg, kid)
	if lookupErr != nil {
		err = fmt.Errorf("%w: %w", err, lookupErr)
	}
	return nil, err
}

// candidates returns the keys that may have signed a token with alg and
// kid. A token without kid is tried against every fitting key. A kid is
// looked up in KeyFile's JWKS, then at JWKSURL (re-fetching if allowed);
// when neither knows it, the kid-less PEM keys are tried.
func (v *JWTVerifier) candidates(alg, kid string) ([]jwt.VerificationKey, error) {
	if kid == "" {
		keys := v.staticKeys(alg, func(jwtKey) bool { return true })
		remote, err := v.remoteKeys(alg, "")
		return append(keys, remote...), err
	}
	if keys := v.staticKeys(alg, func(k jwtKey) bool { return k.kid == kid }); len(keys) > 0 {
		return keys, nil
	}
	keys, err := v.remoteKeys(alg, kid)
	if len(keys) > 0 {
		return keys, nil
	}
	return v.staticKeys(alg, func(k jwtKey) bool { return k.kid == "" }), err
}

// staticKeys returns the KeyFile keys that match and fit alg.
func (v *JWTVerifier) staticKeys(alg string, match func(jwtKey) bool) []jwt.VerificationKey {
	var keys []jwt.VerificationKey
	for _, k := range v.static {
		if match(k) && (k.alg == "" || k.alg == alg) && jwtKeyFits(alg, k.key) {
			keys = append(keys, k.key)
		}
	}
	return keys
}

// remoteKeys returns the JWKSURL keys for kid (all keys when kid is empty)
// that fit alg.
func (v *JWTVerifier) remoteKeys(alg, kid string) ([]jwt.VerificationKey, error) {
	if v.remote == nil {
		return nil, nil
	}
	got, err := v.remote.lookup(v.ctx, alg, kid)
	if err != nil {
		return nil, err
	}
	set, ok := got.(jwt.VerificationKeySet)
	if !ok {
		set.Keys = []jwt.VerificationKey{got}
	}
	return slices.DeleteFunc(set.Keys, func(k jwt.VerificationKey) bool { return !jwtKeyFits(alg, k) }), nil
}

// lookup asks keyfunc for the keys of alg and kid. An unknown kid makes
// keyfunc re-fetch the set, which lookup allows at most once per
// JWKSMinRefetch across all tokens; otherwise it fails without waiting.
func (r *jwtRemote) lookup(ctx context.Context, alg, kid string) (any, error) {
	header := map[string]any{"alg": alg}
	if kid != "" {
		header[jwkset.HeaderKID] = kid
		if _, err := r.cache.KeyRead(ctx, kid); err != nil && !r.limiter.Allow() {
			return nil, fmt.Errorf("%w: JWKS re-fetch rate-limited", err)
		}
	}
	return r.keys.KeyfuncCtx(ctx)(&jwt.Token{Header: header})
}

// jwtTokenKID returns the token's kid header, or "" when there is none.
func jwtTokenKID(t *jwt.Token) (string, error) {
	raw, ok := t.Header[jwkset.HeaderKID]
	if !ok || raw == nil {
		return "", nil
	}
	kid, ok := raw.(string)
	if !ok {
		return "", errJWTBadKID
	}
	return kid, nil
}

// jwtKeyFits reports whether key is of the type and size alg verifies
// with.
func jwtKeyFits(alg string, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return jwtFamilies[alg] == jwtFamilyRSA
	case *ecdsa.PublicKey:
		return k.Curve != nil && k.Curve.Params().Name == jwtCurves[alg]
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize
	}
	return false
}

// extract reads the identity claims from a verified token.
func (n jwtClaimNames) extract(c jwt.MapClaims) Claims {
	return Claims{
		Subject: jwtStringClaim(c, n.user),
		Tenant:  jwtStringClaim(c, n.tenant),
		Plan:    jwtStringClaim(c, n.plan),
		Scopes:  jwtScopes(c, n.scopes),
	}
}

// jwtStringClaim returns claim name when it is a string, else "".
func jwtStringClaim(c jwt.MapClaims, name string) string {
	s, _ := c[name].(string)
	return s
}

// jwtScopes returns the scopes of the first claim in names that is
// present: a space-separated string or an array of strings (non-string
// and empty entries are skipped).
func jwtScopes(c jwt.MapClaims, names []string) []string {
	for _, name := range names {
		raw, ok := c[name]
		if !ok {
			continue
		}
		var scopes []string
		switch s := raw.(type) {
		case string:
			scopes = strings.Fields(s)
		case []any:
			for _, e := range s {
				if str, ok := e.(string); ok && str != "" {
					scopes = append(scopes, str)
				}
			}
		}
		if len(scopes) == 0 {
			return nil
		}
		return scopes
	}
	return nil
}

// jwtNames applies the claim-name defaults. With ScopesClaim unset, scopes
// come from "scope", else "scp", else "scopes".
func jwtNames(opts JWTOptions) jwtClaimNames {
	n := jwtClaimNames{
		user:   cmp.Or(opts.UserClaim, "sub"),
		tenant: cmp.Or(opts.TenantClaim, "tenant"),
		plan:   cmp.Or(opts.PlanClaim, "plan"),
		scopes: []string{opts.ScopesClaim},
	}
	if opts.ScopesClaim == "" {
		n.scopes = []string{"scope", "scp", "scopes"}
	}
	return n
}

// jwtParser builds the golang-jwt parser for opts. exp is required, and
// exp, nbf and iat are checked with Leeway against Now.
func jwtParser(opts JWTOptions) *jwt.Parser {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	parserOpts := []jwt.ParserOption{
		jwt.WithValidMethods(slices.Clone(opts.Algorithms)),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if opts.Issuer != "" {
		parserOpts = append(parserOpts, jwt.WithIssuer(opts.Issuer))
	}
	if len(opts.Audience) > 0 {
		parserOpts = append(parserOpts, jwt.WithAudience(opts.Audience...))
	}
	return jwt.NewParser(parserOpts...)
}

// jwtCheckOptions validates opts before any key is loaded.
func jwtCheckOptions(opts JWTOptions) error {
	if len(opts.Algorithms) == 0 {
		return errors.New("jwt: Algorithms: at least one algorithm is required")
	}
	for _, alg := range opts.Algorithms {
		if strings.EqualFold(alg, "none") {
			return errors.New(`jwt: Algorithms: "none" is never allowed`)
		}
		if jwtFamilies[alg] == 0 {
			return fmt.Errorf("jwt: Algorithms: unsupported algorithm %q", alg)
		}
	}
	if err := jwtCheckDurations(opts); err != nil {
		return err
	}
	if jwtAllows(opts.Algorithms, jwtFamilyHMAC) && len(opts.HMACSecret) == 0 {
		return errors.New("jwt: HMACSecret: required when an HS* algorithm is allowed")
	}
	if jwtAllowsAsymmetric(opts.Algorithms) && opts.KeyFile == "" && opts.JWKSURL == "" {
		return errors.New("jwt: KeyFile or JWKSURL: required when an RS*, PS*, ES* or EdDSA algorithm is allowed")
	}
	return jwtCheckURL(opts.JWKSURL)
}

// jwtCheckDurations refuses negative durations.
func jwtCheckDurations(opts JWTOptions) error {
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"Leeway", opts.Leeway}, {"JWKSRefresh", opts.JWKSRefresh}, {"JWKSMinRefetch", opts.JWKSMinRefetch}} {
		if d.value < 0 {
			return fmt.Errorf("jwt: %s: must not be negative, got %v", d.name, d.value)
		}
	}
	return nil
}

// jwtCheckURL accepts an empty JWKSURL or an absolute http(s) URL.
func jwtCheckURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("jwt: JWKSURL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("jwt: JWKSURL: %q is not an absolute http(s) URL", raw)
	}
	return nil
}

// jwtCheckStaticKeys requires, when there is no JWKSURL, a KeyFile key for
// every allowed asymmetric algorithm.
func jwtCheckStaticKeys(opts JWTOptions, static []jwtKey) error {
	if opts.JWKSURL != "" {
		return nil
	}
	for _, alg := range opts.Algorithms {
		if jwtFamilies[alg] == jwtFamilyHMAC {
			continue
		}
		fits := slices.ContainsFunc(static, func(k jwtKey) bool {
			return (k.alg == "" || k.alg == alg) && jwtKeyFits(alg, k.key)
		})
		if !fits {
			return fmt.Errorf("jwt: KeyFile: no key in %s can verify %s", opts.KeyFile, alg)
		}
	}
	return nil
}

// jwtAllows reports whether an algorithm of family f is allowed.
func jwtAllows(algs []string, f jwtFamily) bool {
	return slices.ContainsFunc(algs, func(alg string) bool { return jwtFamilies[alg] == f })
}

// jwtAllowsAsymmetric reports whether a public-key algorithm is allowed.
func jwtAllowsAsymmetric(algs []string) bool {
	return slices.ContainsFunc(algs, func(alg string) bool {
		f := jwtFamilies[alg]
		return f != 0 && f != jwtFamilyHMAC
	})
}

// jwtLoadKeyFile reads the public keys in path, a JWKS JSON document or
// PEM blocks. An empty path yields no keys.
func jwtLoadKeyFile(path string) ([]jwtKey, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []jwtKey
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		keys, err = jwtParseJWKS(trimmed)
	} else {
		keys, err = jwtParsePEM(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no public key found", path)
	}
	return keys, nil
}

// jwtParseJWKS reads the signing keys of a JWKS document; keys whose use
// is "enc" are skipped, and symmetric or private-only keys are refused.
func jwtParseJWKS(data []byte) ([]jwtKey, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var keys []jwtKey
	for i, m := range set.Keys {
		if m.USE == jwkset.UseEnc {
			continue
		}
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, m.KID, err)
		}
		key, err := jwtPublicKey(jwk.Key())
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, m.KID, err)
		}
		keys = append(keys, jwtKey{kid: m.KID, alg: string(m.ALG), key: key})
	}
	return keys, nil
}

// jwtParsePEM reads every PEM block in data: PUBLIC KEY, RSA PUBLIC KEY or
// CERTIFICATE. Any other block type is an error. Certificates are trusted
// for their key only; their validity dates and chain are not checked.
func jwtParsePEM(data []byte) ([]jwtKey, error) {
	var keys []jwtKey
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			return keys, nil
		}
		data = rest
		key, err := jwtPEMKey(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", len(keys)+1, block.Type, err)
		}
		keys = append(keys, jwtKey{key: key})
	}
}

// jwtPEMKey decodes the public key in one PEM block.
func jwtPEMKey(block *pem.Block) (crypto.PublicKey, error) {
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, errors.New("unsupported block type; want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE")
	}
	if err != nil {
		return nil, err
	}
	return jwtPublicKey(key)
}

// jwtPublicKey accepts RSA, ECDSA and Ed25519 public keys only.
func jwtPublicKey(key any) (crypto.PublicKey, error) {
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// jwtNewRemote fetches the JWKS at opts.JWKSURL and keeps it refreshed
// until ctx ends. The first fetch may fail only when tolerateFailure is
// set, that is when another key source exists.
//
// jwkset's own unknown-kid limiter blocks callers (and then re-fetches
// under the same short deadline), so it is left unlimited and lookup gates
// re-fetches with a non-blocking limiter instead.
func jwtNewRemote(ctx context.Context, opts JWTOptions, tolerateFailure bool) (*jwtRemote, error) {
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: jwtDefaultHTTPTimeout}
	}
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = jwtDefaultHTTPTimeout
	}
	cache, err := jwkset.NewStorageFromHTTP(opts.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               timeout,
		NoErrorReturnFirstHTTPReq: tolerateFailure,
		RefreshErrorHandler:       jwtRefreshErrorLogger(opts.JWKSURL),
		RefreshInterval:           cmp.Or(opts.JWKSRefresh, jwtDefaultRefresh),
	})
	if err != nil {
		return nil, fmt.Errorf("jwt: JWKSURL: %w", err)
	}
	store, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{opts.JWKSURL: cache},
		RateLimitWaitMax:  timeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("jwt: JWKSURL: %w", err)
	}
	keys, err := keyfunc.New(keyfunc.Options{
		Ctx:          ctx,
		Storage:      store,
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
	})
	if err != nil {
		return nil, fmt.Errorf("jwt: JWKSURL: %w", err)
	}
	minRefetch := cmp.Or(opts.JWKSMinRefetch, jwtDefaultMinRefetch)
	return &jwtRemote{keys: keys, cache: cache, limiter: rate.NewLimiter(rate.Every(minRefetch), 1)}, nil
}

// jwtRefreshErrorLogger returns a jwkset refresh error handler that logs
// to slog.Default.
func jwtRefreshErrorLogger(u string) func(context.Context, error) {
	return func(ctx context.Context, err error) {
		slog.Default().WarnContext(ctx, "jwt: JWKS fetch failed; keeping the last good keys", "url", u, "error", err)
	}
}
