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

// TestEnumerationThroughSignup checks that on a signup route every answer
// reveals whether the identifier exists: one client signing up many
// identifiers of which most are free (201) and a few taken (409), a share
// of revealing statuses far under MinRatio, is signalled by about the 10th, at a
// machine's pace with PaceWeight; with SignupReveals off it is not (only
// the 409s reveal), and a reset route still needs its revealing share.
func TestEnumerationThroughSignup(t *testing.T) {
	off := false
	tries := func(route *request.Route, ok int) (ts []enumerationTry) {
		for i := range 20 {
			st := ok
			if i%6 == 5 {
				st = 409 // one in six taken
			}
			ts = append(ts, enumerationTry{route, "s_e" + strconv.Itoa(i), st})
		}
		return ts
	}
	for _, tc := range []struct {
		name string
		cfg  EnumerationConfig
		ts   []enumerationTry
		want bool
	}{
		{"signup, mostly created", EnumerationConfig{}, tries(enumerationSignup, 201), true},
		{"signup, mostly created, signup_reveals off", EnumerationConfig{SignupReveals: &off}, tries(enumerationSignup, 201), false},
		{"reset answering 202 but for a few", EnumerationConfig{}, tries(enumerationReset, 202), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewEnumeration(tc.cfg, NewHasher())
			s := &signals{}
			first := 0
			for i, try := range tc.ts {
				v := enumerationView(i, "203.0.113.72", try)
				v.Time = enumerationT0.Add(time.Duration(i) * 400 * time.Millisecond)
				d.Response(v, verdict.Outcome{Status: try.status}, s)
				if first == 0 && len(s.got) > 0 {
					first = i + 1
				}
			}
			if !tc.want {
				if len(s.got) != 0 {
					t.Fatalf("signals %+v, want none", s.got)
				}
				return
			}
			if len(s.got) == 0 || first < 10 || first > 14 {
				t.Fatalf("signals %+v, first on try %d; want the first by try 10..14", s.got, first)
			}
			if sig := s.got[0]; sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.72"}) || sig.Weight != 65 {
				t.Errorf("signal %+v, want the address at a machine's pace (65)", sig)
			}
		})
	}
}

// TestEnumerationSignupCrowds checks the crowds that sign up at once and
// must stay quiet now that every signup answer counts: a launch-day wave
// of newcomers, each from its own address, each signing up once; and an
// office of colleagues behind one NAT address, each signing up once from
// their own session (the address is shared, so each is judged by it).
func TestEnumerationSignupCrowds(t *testing.T) {
	office := netip.MustParseAddr("192.0.2.20")
	for _, tc := range []struct {
		name string
		view func(i int) (*request.View, int)
	}{
		{"a launch-day wave, one signup each", func(i int) (*request.View, int) {
			v := enumerationView(i, "10.0.0.1", enumerationTry{enumerationSignup, "s_new" + strconv.Itoa(i), 201})
			v.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 7})
			return v, 201
		}},
		{"an office behind one NAT address, one signup per session", func(i int) (*request.View, int) {
			st := 201
			if i%7 == 3 {
				st = 409 // already had an account
			}
			v := enumerationView(i, office.String(), enumerationTry{enumerationSignup, "s_staff" + strconv.Itoa(i), st})
			v.Identity.Session = "sess" + strconv.Itoa(i)
			v.Hints |= request.SharedAddress
			return v, st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewEnumeration(EnumerationConfig{}, NewHasher())
			s := &signals{}
			for i := range 200 {
				v, st := tc.view(i)
				v.Time = enumerationT0.Add(time.Duration(i) * 50 * time.Millisecond)
				d.Response(v, verdict.Outcome{Status: st}, s)
			}
			if len(s.got) != 0 {
				t.Fatalf("%d signals, want none: %+v", len(s.got), s.got[0])
			}
		})
	}
}

// TestEnumerationInfersSignup checks that a signup nobody declared is
// found by its answers: a post to a collection naming an email, answered
// 201 for most and 409 for a few, is a signup to the detector, so one
// client signing up many identifiers on it is signalled as on a declared
// signup; not with InferKinds off, and not on a route answering every
// email alike (a reset that leaks nothing).
func TestEnumerationInfersSignup(t *testing.T) {
	off := false
	for _, tc := range []struct {
		name   string
		cfg    EnumerationConfig
		status func(i int) int
		want   bool
	}{
		{"created, a few taken", EnumerationConfig{}, func(i int) int {
			if i%6 == 5 {
				return 409
			}
			return 201
		}, true},
		{"created, a few taken, infer_kinds off", EnumerationConfig{InferKinds: &off}, func(i int) int {
			if i%6 == 5 {
				return 409
			}
			return 201
		}, false},
		{"answered 204 alike", EnumerationConfig{}, func(int) int { return 204 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewEnumeration(tc.cfg, NewHasher())
			s := &signals{}
			for i := range 20 {
				v := &request.View{ID: "r" + strconv.Itoa(i), Time: enumerationT0.Add(time.Duration(i) * 400 * time.Millisecond),
					ClientIP: netip.MustParseAddr("203.0.113.73"), Method: "POST", Path: "/v1/members", Subject: "s_e" + strconv.Itoa(i)}
				v.BodyFields.SetNames([]string{"email"})
				d.Response(v, verdict.Outcome{Status: tc.status(i)}, s)
			}
			if got := len(s.got) > 0; got != tc.want {
				t.Fatalf("signals %+v, want some: %v", s.got, tc.want)
			}
			if tc.want && !strings.Contains(s.got[0].Evidence.Summary, "signup (inferred)") {
				t.Errorf("evidence %q, want it to name an inferred signup", s.got[0].Evidence.Summary)
			}
		})
	}
}

// BenchmarkEnumerationResponse is one answered post naming an identifier:
// on a declared reset route, and on a route no declared kind covers, which
// the detector learns the kind of (InferKinds) before it counts.
func BenchmarkEnumerationResponse(b *testing.B) {
	for _, bc := range []struct {
		name  string
		route *request.Route
	}{{"declared", enumerationReset}, {"inferred", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewEnumeration(EnumerationConfig{}, NewHasher())
			s := &signals{}
			v := &request.View{ID: "r1", ClientIP: netip.MustParseAddr("198.51.100.50"), Method: "POST", Path: "/v1/members",
				Route: bc.route, Subject: "s_me"}
			v.BodyFields.SetNames([]string{"email"})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				v.Time = enumerationT0.Add(time.Duration(i) * time.Second)
				d.Response(v, verdict.Outcome{Status: 201}, s)
			}
		})
	}
}
