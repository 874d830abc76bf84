// Package challenge is the client side of abuseguard's proof-of-work
// challenge protocol (docs/challenges.md): the wire types and their
// parsers, a bounded solver, and an http.RoundTripper that solves
// challenges transparently and reuses the pass it earns.
//
// A challenged request is answered 429 with a problem+json body whose
// member "challenge" holds an opaque token and a difficulty, and with the
// header
//
//	WWW-Authenticate: AbuseguardPoW token="…", difficulty=N
//
// The client finds a decimal nonce such that SHA-256(token ":" nonce) has
// at least difficulty leading zero bits and retries with
//
//	Abuseguard-Solution: token=<token>, nonce=<nonce>
//
// The answer carries Abuseguard-Pass: <pass>, which the client sends on
// later requests (same header) until the guard challenges it again.
package challenge

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// The protocol's names.
const (
	// Algorithm is the only proof-of-work algorithm: leading zero bits of
	// SHA-256(token ":" nonce).
	Algorithm = "sha256-leading-zero-bits"
	// Scheme is the WWW-Authenticate scheme of a challenge.
	Scheme = "AbuseguardPoW"
	// SolutionHeader carries a solution on the retried request.
	SolutionHeader = "Abuseguard-Solution"
	// PassHeader carries a pass: in the answer to a solved request, and on
	// the client's later requests.
	PassHeader = "Abuseguard-Pass"
	// PassCookie is the cookie a browser keeps its pass in.
	PassCookie = "abuseguard_pass"
	// SolutionCookie is the cookie the interstitial page leaves its
	// solution in, "<token>.<nonce>", for the guard to redeem on reload.
	SolutionCookie = "abuseguard_solution"
	// Reason is the problem reason code of a challenged request.
	Reason = "challenge_required"
)

// Bounds of the protocol.
const (
	// MaxDifficulty is the highest difficulty a token can carry.
	MaxDifficulty = 64
	// MaxTokenLen is the longest token (or pass) accepted, in bytes.
	MaxTokenLen = 256
	// MaxHeaderLen is the longest Abuseguard-Solution or WWW-Authenticate
	// value the parsers look at.
	MaxHeaderLen = 1024
)

// Challenge is one proof-of-work puzzle, as the problem member "challenge"
// carries it.
type Challenge struct {
	Algorithm  string    `json:"algorithm"`
	Token      string    `json:"token"`
	Difficulty int       `json:"difficulty"`
	Expires    time.Time `json:"expires"`
}

// Solution answers a Challenge: Nonce is written in decimal without
// leading zeros.
type Solution struct {
	Token string
	Nonce uint64
}

// String returns the Abuseguard-Solution header value of s.
func (s Solution) String() string {
	return "token=" + s.Token + ", nonce=" + strconv.FormatUint(s.Nonce, 10)
}

// ErrSyntax is wrapped by every parse error of this package.
var ErrSyntax = errors.New("challenge: syntax error")

func syntaxError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)
}

// ValidToken reports whether t has the shape of a token or a pass: 1 to
// MaxTokenLen bytes of the base64url alphabet (A-Z a-z 0-9 - _). It says
// nothing about whether the guard will accept it.
func ValidToken(t string) bool {
	if len(t) == 0 || len(t) > MaxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !isTokenByte(t[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ParseNonce parses a decimal nonce without leading zeros (except "0").
func ParseNonce(s string) (uint64, error) {
	if s == "" || len(s) > 20 || len(s) > 1 && s[0] == '0' {
		return 0, syntaxError("nonce %.24q is not a decimal number without leading zeros", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, syntaxError("nonce %.24q is not a decimal number below 2^64", s)
	}
	return n, nil
}

// ParseSolution parses an Abuseguard-Solution header value:
// "token=<token>, nonce=<nonce>", parameters in any order, the token
// optionally quoted; unknown parameters are ignored, repeated ones are an
// error.
func ParseSolution(v string) (Solution, error) {
	if len(v) > MaxHeaderLen {
		return Solution{}, syntaxError("solution longer than %d bytes", MaxHeaderLen)
	}
	var s Solution
	var haveToken, haveNonce bool
	err := eachParam(v, func(name, value string) error {
		switch strings.ToLower(name) {
		case "token":
			if haveToken {
				return syntaxError("token given twice")
			}
			if !ValidToken(value) {
				return syntaxError("token is not 1 to %d base64url characters", MaxTokenLen)
			}
			s.Token, haveToken = value, true
		case "nonce":
			if haveNonce {
				return syntaxError("nonce given twice")
			}
			n, err := ParseNonce(value)
			if err != nil {
				return err
			}
			s.Nonce, haveNonce = n, true
		}
		return nil
	})
	switch {
	case err != nil:
		return Solution{}, err
	case !haveToken:
		return Solution{}, syntaxError("no token parameter")
	case !haveNonce:
		return Solution{}, syntaxError("no nonce parameter")
	}
	return s, nil
}

// eachParam calls fn for each name=value of a comma-separated list of
// auth-params (RFC 9110 section 11.2); a quoted value is unquoted.
func eachParam(v string, fn func(name, value string) error) error {
	for rest := v; ; {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return nil
		}
		i := 0
		for i < len(rest) && isTchar(rest[i]) {
			i++
		}
		if i == 0 {
			return syntaxError("expected a parameter name at %.16q", rest)
		}
		name := rest[:i]
		rest = strings.TrimLeft(rest[i:], " \t")
		if rest == "" || rest[0] != '=' {
			return syntaxError("parameter %.32q has no value", name)
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		value, after, err := paramValue(rest)
		if err != nil {
			return err
		}
		if err := fn(name, value); err != nil {
			return err
		}
		rest = strings.TrimLeft(after, " \t")
		if rest == "" {
			return nil
		}
		if rest[0] != ',' {
			return syntaxError("expected a comma after parameter %.32q", name)
		}
		rest = rest[1:]
	}
}

// paramValue reads a token or a quoted-string from the start of s.
func paramValue(s string) (value, rest string, err error) {
	if s != "" && s[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch c := s[i]; c {
			case '"':
				return b.String(), s[i+1:], nil
			case '\\':
				if i+1 == len(s) {
					return "", "", syntaxError("unterminated quoted string")
				}
				i++
				b.WriteByte(s[i])
			default:
				b.WriteByte(c)
			}
		}
		return "", "", syntaxError("unterminated quoted string")
	}
	i := 0
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	if i == 0 {
		return "", "", syntaxError("empty parameter value")
	}
	return s[:i], s[i:], nil
}

// isTchar reports whether c may appear in an HTTP token (RFC 9110).
func isTchar(c byte) bool {
	if isTokenByte(c) {
		return true
	}
	return strings.IndexByte("!#$%&'*+.^`|~", c) >= 0
}

// WWWAuthenticate returns the WWW-Authenticate value that announces c.
func (c Challenge) WWWAuthenticate() string {
	return Scheme + ` token="` + c.Token + `", difficulty=` + strconv.Itoa(c.Difficulty)
}

// ParseWWWAuthenticate finds the AbuseguardPoW challenge in a
// WWW-Authenticate value, which may list other schemes' challenges too,
// and returns its token and difficulty (Algorithm is set; Expires is zero:
// the header does not carry it). It returns an error wrapping ErrSyntax
// when there is no well-formed AbuseguardPoW challenge.
func ParseWWWAuthenticate(v string) (Challenge, error) {
	if len(v) > MaxHeaderLen {
		return Challenge{}, syntaxError("WWW-Authenticate longer than %d bytes", MaxHeaderLen)
	}
	i := schemeIndex(v)
	if i < 0 {
		return Challenge{}, syntaxError("no %s challenge", Scheme)
	}
	params := v[i+len(Scheme):]
	// The parameters run until the next challenge: a comma followed by a
	// token that is not followed by '='.
	params = params[:paramsEnd(params)]
	c := Challenge{Algorithm: Algorithm, Difficulty: -1}
	err := eachParam(params, func(name, value string) error {
		switch strings.ToLower(name) {
		case "token":
			if !ValidToken(value) {
				return syntaxError("token is not 1 to %d base64url characters", MaxTokenLen)
			}
			c.Token = value
		case "difficulty":
			d, err := strconv.Atoi(value)
			if err != nil || d < 0 || d > MaxDifficulty {
				return syntaxError("difficulty %.16q is not a whole number from 0 to %d", value, MaxDifficulty)
			}
			c.Difficulty = d
		case "algorithm":
			if value != Algorithm {
				return syntaxError("algorithm %.40q is not %s", value, Algorithm)
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return Challenge{}, err
	case c.Token == "":
		return Challenge{}, syntaxError("%s challenge without a token", Scheme)
	case c.Difficulty < 0:
		return Challenge{}, syntaxError("%s challenge without a difficulty", Scheme)
	}
	return c, nil
}

// schemeIndex returns where the AbuseguardPoW scheme starts in v (at the
// start or after a comma, followed by a space or the end), or -1.
func schemeIndex(v string) int {
	for i := 0; i+len(Scheme) <= len(v); i++ {
		if !strings.EqualFold(v[i:i+len(Scheme)], Scheme) {
			continue
		}
		before := strings.TrimRight(v[:i], " \t")
		if before != "" && before[len(before)-1] != ',' {
			continue
		}
		if end := i + len(Scheme); end == len(v) || v[end] == ' ' || v[end] == '\t' {
			return i
		}
	}
	return -1
}

// paramsEnd returns the length of the auth-params at the start of s.
func paramsEnd(s string) int {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ',':
			j := i + 1
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			k := j
			for k < len(s) && isTchar(s[k]) {
				k++
			}
			for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
				k++
			}
			if k > j && (k == len(s) || s[k] != '=') {
				return i
			}
		}
	}
	return len(s)
}

// ParseProblem returns the challenge member of a problem+json body, and an
// error when the body has none or it is malformed.
func ParseProblem(body []byte) (Challenge, error) {
	var p struct {
		Challenge *Challenge `json:"challenge"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return Challenge{}, syntaxError("problem body: %v", err)
	}
	c := p.Challenge
	switch {
	case c == nil:
		return Challenge{}, syntaxError("problem body has no challenge member")
	case c.Algorithm != Algorithm:
		return Challenge{}, syntaxError("algorithm %.40q is not %s", c.Algorithm, Algorithm)
	case !ValidToken(c.Token):
		return Challenge{}, syntaxError("token is not 1 to %d base64url characters", MaxTokenLen)
	case c.Difficulty < 0 || c.Difficulty > MaxDifficulty:
		return Challenge{}, syntaxError("difficulty %d is not from 0 to %d", c.Difficulty, MaxDifficulty)
	}
	return *c, nil
}

// LeadingZeroBits returns the number of leading zero bits of sum.
func LeadingZeroBits(sum *[sha256.Size]byte) int {
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// Check reports whether nonce solves token at difficulty: SHA-256 of
// token ":" decimal(nonce) has at least difficulty leading zero bits.
func Check(token string, nonce uint64, difficulty int) bool {
	var buf [MaxTokenLen + 1 + 20]byte
	if len(token) > MaxTokenLen {
		return false
	}
	b := append(buf[:0], token...)
	b = append(b, ':')
	b = strconv.AppendUint(b, nonce, 10)
	sum := sha256.Sum256(b)
	return LeadingZeroBits(&sum) >= difficulty
}
