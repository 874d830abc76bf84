package challenge

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"
	"github.com/abuseguard/abuseguard/pkg/challenge"
)

var t0 = time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)

func newTestAuthority(t testing.TB, c *clock.Fake, opts Options) *Authority {
	t.Helper()
	if opts.Secret == nil {
		opts.Secret = []byte("test secret, 32 bytes long......")
	}
	a, err := NewAuthority(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func alice() Binding {
	return Binding{Prefix: netip.MustParsePrefix("203.0.113.0/24"), UserAgent: "Mozilla/5.0 alice", Key: "k_alice"}
}

// solve returns the solution header for ch.
func solve(t testing.TB, ch challenge.Challenge) string {
	t.Helper()
	sol, _, err := challenge.Solver{}.Solve(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	return sol.String()
}

// wrongNonce returns a nonce that does not solve ch.
func wrongNonce(ch challenge.Challenge) string {
	for n := uint64(0); ; n++ {
		if !challenge.Check(ch.Token, n, ch.Difficulty) {
			return challenge.Solution{Token: ch.Token, Nonce: n}.String()
		}
	}
}

func TestRedeem(t *testing.T) {
	c := clock.NewFake(t0)
	a := newTestAuthority(t, c, Options{TTL: 5 * time.Minute})
	ch := a.Issue(alice(), 8, c.Now())
	if ch.Difficulty != 8 || ch.Algorithm != challenge.Algorithm || !ch.Expires.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("challenge = %+v", ch)
	}
	if len(ch.Token) != tokenLen || !challenge.ValidToken(ch.Token) {
		t.Fatalf("token %q: %d characters, want %d base64url", ch.Token, len(ch.Token), tokenLen)
	}
	good := solve(t, ch)

	other := alice()
	other.Prefix = netip.MustParsePrefix("198.51.100.0/24")
	otherKey := alice()
	otherKey.Key = "k_mallory"
	otherAgent := alice()
	otherAgent.UserAgent = "curl/8.5"
	otherUser := alice()
	otherUser.User = "bob"
	pass, _ := a.IssuePass(alice(), 8, c.Now())

	tests := []struct {
		name     string
		header   string
		b        Binding
		required int
		want     Outcome
	}{
		{"malformed", "nonce=1", alice(), 8, Malformed},
		{"forged random token", "token=" + strings.Repeat("A", tokenLen) + ", nonce=1", alice(), 8, Forged},
		{"forged short token", "token=abc, nonce=1", alice(), 8, Forged},
		{"forged flipped byte", flip(ch.Token) + "," + strings.SplitN(good, ",", 2)[1], alice(), 8, Forged},
		{"a pass is not a challenge", "token=" + pass + ", nonce=0", alice(), 0, Forged},
		{"transplanted to another network", good, other, 8, Transplanted},
		{"transplanted to another key", good, otherKey, 8, Transplanted},
		{"transplanted to another user agent", good, otherAgent, 8, Transplanted},
		{"transplanted to another user", good, otherUser, 8, Transplanted},
		{"wrong difficulty", good, alice(), 12, WrongDifficulty},
		{"unsolved", wrongNonce(ch), alice(), 8, Unsolved},
		{"good", good, alice(), 8, OK},
		{"replayed", good, alice(), 8, Replayed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := a.Redeem(tt.header, tt.b, tt.required, c.Now())
			if got.Outcome != tt.want {
				t.Fatalf("Redeem = %v, want %v", got.Outcome, tt.want)
			}
		})
	}
	// Another address in the same prefix is the same client.
	ch2 := a.Issue(alice(), 4, c.Now())
	if got := a.Redeem(solve(t, ch2), alice(), 4, c.Now()); got.Outcome != OK || got.Difficulty != 4 {
		t.Fatalf("Redeem = %+v, want OK at 4", got)
	}
}

// flip returns "token=" and tok with one character changed.
func flip(tok string) string {
	b := []byte(tok)
	if b[40] == 'A' {
		b[40] = 'B'
	} else {
		b[40] = 'A'
	}
	return "token=" + string(b)
}

func TestReasonsAreDistinct(t *testing.T) {
	seen := map[string]Outcome{}
	for o := Malformed; o <= Unsolved; o++ {
		r := o.Reason()
		if prev, ok := seen[r]; ok {
			t.Fatalf("%v and %v share reason %q", prev, o, r)
		}
		seen[r] = o
	}
}

func TestRedeemExpired(t *testing.T) {
	c := clock.NewFake(t0)
	a := newTestAuthority(t, c, Options{TTL: time.Minute})
	ch := a.Issue(alice(), 4, c.Now())
	sol := solve(t, ch)
	c.Advance(time.Minute)
	if got := a.Redeem(sol, alice(), 4, c.Now()).Outcome; got != Expired {
		t.Fatalf("Redeem after the TTL = %v, want Expired", got)
	}
}

func TestPass(t *testing.T) {
	c := clock.NewFake(t0)
	a := newTestAuthority(t, c, Options{PassTTL: 10 * time.Minute})
	pass, exp := a.IssuePass(alice(), 12, c.Now())
	if !exp.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("expires %v", exp)
	}
	other := alice()
	other.Prefix = netip.MustParsePrefix("2001:db8:1::/48")
	ch := a.Issue(alice(), 1, c.Now())
	for i := range 3 { // reusable
		if got := a.CheckPass(pass, alice(), c.Now()); got != OK {
			t.Fatalf("use %d: CheckPass = %v", i, got)
		}
	}
	for _, tt := range []struct {
		name string
		pass string
		b    Binding
		want Outcome
	}{
		{"malformed", "not a pass!", alice(), Malformed},
		{"forged", strings.TrimPrefix(flip(pass), "token="), alice(), Forged},
		{"a challenge is not a pass", ch.Token, alice(), Forged},
		{"transplanted", pass, other, Transplanted},
	} {
		if got := a.CheckPass(tt.pass, tt.b, c.Now()); got != tt.want {
			t.Errorf("%s: CheckPass = %v, want %v", tt.name, got, tt.want)
		}
	}
	c.Advance(10*time.Minute - time.Second)
	if got := a.CheckPass(pass, alice(), c.Now()); got != OK {
		t.Fatalf("just before expiry: %v", got)
	}
	c.Advance(time.Second)
	if got := a.CheckPass(pass, alice(), c.Now()); got != Expired {
		t.Fatalf("at expiry: %v, want Expired", got)
	}
}

func TestRotationKeepsLastPeriodsPasses(t *testing.T) {
	c := clock.NewFake(t0)
	a := newTestAuthority(t, c, Options{Rotation: time.Hour, PassTTL: time.Hour})
	c.Set(t0.Truncate(time.Hour).Add(59 * time.Minute)) // late in a period
	pass, _ := a.IssuePass(alice(), 8, c.Now())
	c.Advance(30 * time.Minute) // the key has rotated
	if got := a.CheckPass(pass, alice(), c.Now()); got != OK {
		t.Fatalf("after one rotation: %v, want OK", got)
	}
	// A token signed two periods ago no longer verifies even if it had
	// not expired: its key is gone.
	b := alice()
	long := newTestAuthority(t, c, Options{Rotation: time.Hour, PassTTL: 3 * time.Hour})
	old, _ := long.IssuePass(b, 8, c.Now())
	c.Advance(2 * long.opts.Rotation)
	if got := long.CheckPass(old, b, c.Now()); got != Forged {
		t.Fatalf("two rotations later: %v, want Forged", got)
	}
}

func TestPreviousSecretVerifies(t *testing.T) {
	c := clock.NewFake(t0)
	before := newTestAuthority(t, c, Options{Secret: []byte("old secret")})
	pass, _ := before.IssuePass(alice(), 8, c.Now())
	ch := before.Issue(alice(), 4, c.Now())
	sol := solve(t, ch)
	after := newTestAuthority(t, c, Options{Secret: []byte("new secret"), PreviousSecret: []byte("old secret")})
	if got := after.CheckPass(pass, alice(), c.Now()); got != OK {
		t.Fatalf("pass under the previous secret: %v", got)
	}
	if got := after.Redeem(sol, alice(), 4, c.Now()).Outcome; got != OK {
		t.Fatalf("solution under the previous secret: %v", got)
	}
	stranger := newTestAuthority(t, c, Options{Secret: []byte("new secret")})
	if got := stranger.CheckPass(pass, alice(), c.Now()); got != Forged {
		t.Fatalf("pass under a secret not configured: %v, want Forged", got)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := clock.NewFake(t0)
	a := newTestAuthority(t, c, Options{ReplayEntries: replayShards * 2, TTL: 10 * time.Minute})
	var sols []string
	for i := range replayShards * 8 {
		c.Advance(time.Second)
		sol := challenge.Solution{Token: a.Issue(alice(), 0, c.Now()).Token}.String()
		if got := a.Redeem(sol, alice(), 0, c.Now()).Outcome; got != OK {
			t.Fatalf("solution %d: %v", i, got)
		}
		sols = append(sols, sol)
	}
	entries, evictions := a.SpentStats()
	if entries > replayShards*2 || evictions == 0 {
		t.Fatalf("entries %d (cap %d), evictions %d", entries, replayShards*2, evictions)
	}
	for i, s := range sols { // evicted or not, none replays
		if got := a.Redeem(s, alice(), 0, c.Now()).Outcome; got != Replayed {
			t.Fatalf("replay %d: %v, want Replayed", i, got)
		}
	}
}

// idInShard returns an id of shard 0 numbered n.
func idInShard(n uint32) [12]byte {
	var id [12]byte
	id[0], id[4], id[5] = 0, byte(n), byte(n>>8) // first four bytes 0: shard 0
	return id
}

func TestReplayShardEvictsFirstToExpire(t *testing.T) {
	rc := newReplayCache(replayShards * 3) // three per shard
	for n := range uint32(3) {
		if !rc.spend(idInShard(n), 100+n, 10) {
			t.Fatalf("spend %d refused", n)
		}
	}
	// Full of unexpired ids: the one expiring first (at 100) goes, and the
	// floor rises to 100.
	if !rc.spend(idInShard(3), 200, 10) {
		t.Fatal("spend into a full shard refused")
	}
	if e, ev := rc.stats(); e != 3 || ev != 1 {
		t.Fatalf("entries %d evictions %d, want 3 and 1", e, ev)
	}
	if rc.spend(idInShard(0), 100, 10) {
		t.Fatal("the evicted id was accepted again")
	}
	if rc.spend(idInShard(9), 100, 10) {
		t.Fatal("a fresh id expiring at the floor was accepted")
	}
	// Later, expired ids make room without an eviction.
	if !rc.spend(idInShard(4), 300, 150) {
		t.Fatal("spend after expiry refused")
	}
	if _, ev := rc.stats(); ev != 1 {
		t.Fatalf("evictions %d, want still 1", ev)
	}
}

func BenchmarkVerify(b *testing.B) {
	c := clock.NewFake(t0)
	a := newTestAuthority(b, c, Options{ReplayEntries: 1 << 20})
	bind := alice()
	pass, _ := a.IssuePass(bind, 16, c.Now())
	b.Run("CheckPass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if a.CheckPass(pass, bind, c.Now()) != OK {
				b.Fatal("refused")
			}
		}
	})
	b.Run("Redeem", func(b *testing.B) {
		// Difficulty 0, so that every fresh token is solved by nonce 0;
		// the work verified is the same at any difficulty.
		headers := make([]string, 0, 1<<16)
		for range cap(headers) {
			headers = append(headers, challenge.Solution{Token: a.Issue(bind, 0, c.Now()).Token}.String())
		}
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for b.Loop() {
			if i == len(headers) {
				b.StopTimer()
				for j := range headers {
					headers[j] = challenge.Solution{Token: a.Issue(bind, 0, c.Now()).Token}.String()
				}
				i = 0
				b.StartTimer()
			}
			if got := a.Redeem(headers[i], bind, 0, c.Now()).Outcome; got != OK {
				b.Fatal(got)
			}
			i++
		}
	})
	b.Run("Issue", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = a.Issue(bind, 16, c.Now())
		}
	})
}

func BenchmarkSolve(b *testing.B) {
	c := clock.NewFake(t0)
	a := newTestAuthority(b, c, Options{})
	for _, d := range []int{8, 12, 16, 18, 20} {
		b.Run("difficulty="+strconv.Itoa(d), func(b *testing.B) {
			var hashes uint64
			for b.Loop() {
				_, st, err := challenge.Solver{Workers: 1}.Solve(context.Background(), a.Issue(alice(), d, c.Now()))
				if err != nil {
					b.Fatal(err)
				}
				hashes += st.Hashes
			}
			b.ReportMetric(float64(hashes)/float64(b.N), "hashes/op")
		})
	}
}
