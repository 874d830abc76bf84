package detect

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// TestCredentialsSignInFailureStatuses checks what a failed sign-in is by
// default: any 4xx a login route answers but the statuses that say nothing
// of the credentials sent. An OAuth token endpoint answering 400
// invalid_grant and a form framework answering 422 are stuffed like a 401
// sign-in; a client hitting the wrong method, a wrong content type or its
// rate limit is not; and an explicit failure_statuses is the whole set.
func TestCredentialsSignInFailureStatuses(t *testing.T) {
	stuffer := netip.MustParseAddr("203.0.113.60")
	for _, tc := range []struct {
		name   string
		cfg    CredentialsConfig
		status int
		want   bool
	}{
		{"OAuth invalid_grant (400)", CredentialsConfig{}, 400, true},
		{"a form's rejected sign-in (422)", CredentialsConfig{}, 422, true},
		{"a locked account (423)", CredentialsConfig{}, 423, true},
		{"401 as ever", CredentialsConfig{}, 401, true},
		{"wrong method (405)", CredentialsConfig{}, 405, false},
		{"wrong content type (415)", CredentialsConfig{}, 415, false},
		{"no such route (404)", CredentialsConfig{}, 404, false},
		{"400 with failure_statuses set to 401, 403", CredentialsConfig{FailureStatuses: []int{401, 403}}, 400, false},
		{"400 with failure_statuses set to 400", CredentialsConfig{FailureStatuses: []int{400}}, 400, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var as []credentialsAttempt
			for i := range 8 {
				as = append(as, credentialsAttempt{at: time.Duration(i) * 500 * time.Millisecond, ip: stuffer,
					subject: "s_user" + strconv.Itoa(i), status: tc.status})
			}
			got, at := credentialsRun(NewCredentials(tc.cfg, NewHasher()), as)
			if !tc.want {
				if len(got) != 0 {
					t.Fatalf("signals %+v, want none: %d is no failed sign-in", got, tc.status)
				}
				return
			}
			if len(got) == 0 || got[0].Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: stuffer.String()}) ||
				got[0].Weight != 65 || at[0] < 5 || at[0] > 7 {
				t.Fatalf("signals %+v on attempts %v, want stuffing at a machine's pace (65) on the address by attempt 5..7", got, at)
			}
		})
	}
}

// TestCredentialsInferredTokenEndpoint checks the same rule on a sign-in
// nobody declared: a POST whose path and body say it is a token endpoint,
// answering 400 to every wrong password, is an inferred login whose 400s
// are failures, so stuffing on it is signalled under the defaults; and the
// same route answering mostly 200 (people signing in, a few mistyping)
// stays quiet.
func TestCredentialsInferredTokenEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status func(i int) int
		want   bool
	}{
		{"a stuffer's invalid_grant", func(int) int { return 400 }, true},
		{"people signing in, one in ten mistyping", func(i int) int {
			if i%10 == 3 {
				return 400
			}
			return 200
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewCredentials(CredentialsConfig{AuthThreshold: -1}, NewHasher())
			s := &signals{}
			for i := range 30 {
				v := &request.View{Time: credentialsT0.Add(time.Duration(i) * 700 * time.Millisecond), ClientIP: credentialsIP(9),
					Method: "POST", Path: "/oauth/token", Fingerprint: credentialsChrome, Subject: "s_u" + strconv.Itoa(i)}
				v.BodyFields.SetNames([]string{"grant_type", "username", "password"})
				d.Response(v, verdict.Outcome{Status: tc.status(i)}, s)
			}
			if got := len(s.got) > 0; got != tc.want {
				t.Fatalf("signals %+v, want some: %v", s.got, tc.want)
			}
			if tc.want && !strings.Contains(s.got[0].Evidence.Summary, "login (inferred)") {
				t.Errorf("signal %+v, want evidence naming an inferred login", s.got[0])
			}
		})
	}
}

// TestDefaultLoginFailures checks the default set against its definition.
func TestDefaultLoginFailures(t *testing.T) {
	got := newStatusBits(DefaultLoginFailures())
	for c := 100; c < 600; c++ {
		want := c >= 400 && c < 500
		for _, n := range LoginNotFailures {
			want = want && c != n
		}
		if got.has(c) != want {
			t.Errorf("status %d: failure %v, want %v", c, got.has(c), want)
		}
	}
}
