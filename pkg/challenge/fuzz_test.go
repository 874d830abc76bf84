package challenge

import (
	"testing"
)

// FuzzParseSolution: the solution parser never panics, accepts nothing
// over its size cap, and what it accepts prints back to itself.
func FuzzParseSolution(f *testing.F) {
	for _, s := range []string{"token=" + tok + ", nonce=42", `nonce=0, token="` + tok + `"`, "token=a,nonce=1,x=\"\\\"\"",
		"token=,nonce=", `token="a\`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSolution(in)
		if err != nil {
			return
		}
		if len(in) > MaxHeaderLen || !ValidToken(s.Token) {
			t.Fatalf("accepted %q as %+v", in, s)
		}
		again, err := ParseSolution(s.String())
		if err != nil || again != s {
			t.Fatalf("%+v prints as %q, which parses as %+v, %v", s, s.String(), again, err)
		}
	})
}

// FuzzParseWWWAuthenticate: the challenge parser never panics and what it
// accepts is well-formed.
func FuzzParseWWWAuthenticate(f *testing.F) {
	for _, s := range []string{`AbuseguardPoW token="` + tok + `", difficulty=16`, `Basic realm="x", AbuseguardPoW token=a, difficulty=1`,
		`AbuseguardPoW token="a\"b", difficulty=1`, `AbuseguardPoW ,,,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseWWWAuthenticate(in)
		if err != nil {
			return
		}
		if !ValidToken(c.Token) || c.Difficulty < 0 || c.Difficulty > MaxDifficulty || len(in) > MaxHeaderLen {
			t.Fatalf("accepted %q as %+v", in, c)
		}
	})
}
