package challenge

import (
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// FuzzCheckPass: the pass parser never panics and accepts only the passes
// it issued (to that client, unexpired).
func FuzzCheckPass(f *testing.F) {
	c := clock.NewFake(t0)
	// A fixed random stream: every fuzz worker issues the same pass.
	a := newTestAuthority(f, c, Options{Rand: strings.NewReader(strings.Repeat("fixed random bytes", 100))})
	pass, _ := a.IssuePass(alice(), 16, t0)
	f.Add(pass)
	f.Add(a.Issue(alice(), 4, t0).Token)
	f.Add(strings.Repeat("A", tokenLen))
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 4096 {
			return
		}
		if o := a.CheckPass(in, alice(), t0.Add(time.Minute)); o == OK && in != pass {
			t.Fatalf("accepted %q, which it never issued", in)
		}
	})
}

// FuzzRedeem: the solution parser and redeemer never panic and accept no
// solution to a token they did not issue.
func FuzzRedeem(f *testing.F) {
	c := clock.NewFake(t0)
	a := newTestAuthority(f, c, Options{Rand: strings.NewReader(strings.Repeat("fixed random bytes", 100))})
	ch := a.Issue(alice(), 0, t0)
	f.Add(challenge.Solution{Token: ch.Token}.String())
	f.Add("token=" + strings.Repeat("A", tokenLen) + ", nonce=1")
	f.Add("token=x, nonce=01")
	f.Add(`token="` + ch.Token + `", nonce=1, nonce=2`)
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 4096 {
			return
		}
		r := a.Redeem(in, alice(), 0, t0)
		if r.Outcome == OK && !strings.Contains(in, ch.Token) {
			t.Fatalf("redeemed %q, a solution to no token it issued", in)
		}
	})
}
