package challenge

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const tok = "AbCd-_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef"

func TestParseSolution(t *testing.T) {
	for _, tt := range []struct {
		in    string
		want  Solution
		error bool
	}{
		{"token=" + tok + ", nonce=42", Solution{tok, 42}, false},
		{"nonce=0,token=" + tok, Solution{tok, 0}, false},
		{`token="` + tok + `" , nonce=18446744073709551615, v=2`, Solution{tok, 1<<64 - 1}, false},
		{"Token=" + tok + ", Nonce=7", Solution{tok, 7}, false},
		{"token=" + tok, Solution{}, true},
		{"nonce=1", Solution{}, true},
		{"token=" + tok + ", nonce=01", Solution{}, true},
		{"token=" + tok + ", nonce=-1", Solution{}, true},
		{"token=" + tok + ", nonce=18446744073709551616", Solution{}, true},
		{"token=" + tok + ", nonce=1, nonce=2", Solution{}, true},
		{"token=a+b, nonce=1", Solution{}, true},
		{"token=" + strings.Repeat("a", MaxTokenLen+1) + ", nonce=1", Solution{}, true},
		{"token=" + tok + " nonce=1", Solution{}, true},
		{`token="` + tok + `, nonce=1`, Solution{}, true},
		{"", Solution{}, true},
		{"=", Solution{}, true},
	} {
		got, err := ParseSolution(tt.in)
		if (err != nil) != tt.error || got != tt.want {
			t.Errorf("ParseSolution(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.error)
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseSolution(%q): error %v does not wrap ErrSyntax", tt.in, err)
		}
	}
	s := Solution{Token: tok, Nonce: 99}
	if got, err := ParseSolution(s.String()); err != nil || got != s {
		t.Errorf("round trip of %q: %+v, %v", s, got, err)
	}
}

func TestParseWWWAuthenticate(t *testing.T) {
	for _, tt := range []struct {
		in    string
		token string
		diff  int
		error bool
	}{
		{`AbuseguardPoW token="` + tok + `", difficulty=16`, tok, 16, false},
		{`Bearer realm="api", error="invalid_token", AbuseguardPoW token="` + tok + `", difficulty=20`, tok, 20, false},
		{`AbuseguardPoW difficulty=3, token=` + tok + `, Bearer realm="x"`, tok, 3, false},
		{`abuseguardpow token="` + tok + `", difficulty=0`, tok, 0, false},
		{`AbuseguardPoW token="` + tok + `", difficulty=16, algorithm="sha256-leading-zero-bits"`, tok, 16, false},
		{`AbuseguardPoW token="` + tok + `", difficulty=16, algorithm="md5"`, "", 0, true},
		{`AbuseguardPoW token="` + tok + `", difficulty=65`, "", 0, true},
		{`AbuseguardPoW token="` + tok + `"`, "", 0, true},
		{`AbuseguardPoW difficulty=4`, "", 0, true},
		{`Bearer realm="AbuseguardPoW token=x, difficulty=1"`, "", 0, true},
		{`NotAbuseguardPoW token="` + tok + `", difficulty=1`, "", 0, true},
		{``, "", 0, true},
	} {
		got, err := ParseWWWAuthenticate(tt.in)
		if (err != nil) != tt.error || got.Token != tt.token || got.Difficulty != tt.diff && !tt.error {
			t.Errorf("ParseWWWAuthenticate(%q) = %+v, %v", tt.in, got, err)
		}
	}
	c := Challenge{Algorithm: Algorithm, Token: tok, Difficulty: 18}
	if got, err := ParseWWWAuthenticate(c.WWWAuthenticate()); err != nil || got.Token != tok || got.Difficulty != 18 {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}

func TestParseProblem(t *testing.T) {
	body := `{"type":"urn:abuseguard:problem:challenge_required","status":429,"reason":"challenge_required",
	  "challenge":{"algorithm":"sha256-leading-zero-bits","token":"` + tok + `","difficulty":16,"expires":"2026-12-07T06:05:00Z"}}`
	c, err := ParseProblem([]byte(body))
	if err != nil || c.Token != tok || c.Difficulty != 16 || !c.Expires.Equal(time.Date(2026, 12, 7, 6, 5, 0, 0, time.UTC)) {
		t.Fatalf("ParseProblem = %+v, %v", c, err)
	}
	for _, bad := range []string{`{}`, `{"challenge":{"algorithm":"x","token":"` + tok + `","difficulty":1}}`,
		`{"challenge":{"algorithm":"sha256-leading-zero-bits","token":"","difficulty":1}}`, `not json`} {
		if _, err := ParseProblem([]byte(bad)); err == nil {
			t.Errorf("ParseProblem(%s) accepted", bad)
		}
	}
}

func TestSolveAndCheck(t *testing.T) {
	for _, d := range []int{0, 1, 8, 12} {
		c := Challenge{Algorithm: Algorithm, Token: tok, Difficulty: d}
		sol, st, err := Solver{Workers: 2}.Solve(context.Background(), c)
		if err != nil || !Check(tok, sol.Nonce, d) || st.Hashes == 0 {
			t.Fatalf("difficulty %d: %+v %+v %v", d, sol, st, err)
		}
	}
	if Check(tok, 0, 64) {
		t.Error("nonce 0 solves difficulty 64")
	}
}

func TestSolveBounds(t *testing.T) {
	_, st, err := Solver{MaxDifficulty: 10}.Solve(context.Background(), Challenge{Token: tok, Difficulty: 11})
	var tooHard *TooHardError
	if !errors.As(err, &tooHard) || tooHard.Difficulty != 11 || tooHard.Max != 10 || st.Hashes != 0 {
		t.Fatalf("too hard: %v, %+v", err, st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, st, err = Solver{}.Solve(ctx, Challenge{Token: tok, Difficulty: 24})
	if !errors.Is(err, context.Canceled) || st.Hashes > 4096*4 {
		t.Fatalf("cancelled: %v after %d hashes", err, st.Hashes)
	}
	if _, _, err := (Solver{}).Solve(context.Background(), Challenge{Token: "bad token", Difficulty: 1}); !errors.Is(err, ErrSyntax) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestLeadingZeroBits(t *testing.T) {
	var s [32]byte
	if LeadingZeroBits(&s) != 256 {
		t.Error("all zero")
	}
	s[2] = 0x10
	if got := LeadingZeroBits(&s); got != 19 {
		t.Errorf("got %d, want 19", got)
	}
}
