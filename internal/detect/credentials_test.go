package detect

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

var (
	credentialsT0     = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	credentialsLogin  = &request.Route{Name: "login", Template: "POST /login", Kind: "login", Field: "username"}
	credentialsVerify = &request.Route{Name: "promo", Template: "POST /promo", Kind: "verify", Field: "code", Index: 1}
)

const (
	credentialsTool   = request.Fingerprint(0xBAD)
	credentialsChrome = request.Fingerprint(0xC4120E)
)

// credentialsAttempt is one login or verify and its answer.
type credentialsAttempt struct {
	at      time.Duration
	ip      netip.Addr
	subject string
	status  int
	fp      request.Fingerprint
	key     string
	route   *request.Route
}

func credentialsView(a credentialsAttempt) *request.View {
	route := a.route
	if route == nil {
		route = credentialsLogin
	}
	fp := a.fp
	if fp == 0 {
		fp = credentialsChrome
	}
	v := &request.View{
		ID: "r" + strconv.Itoa(int(a.at/time.Millisecond)), Time: credentialsT0.Add(a.at),
		ClientIP: a.ip, Method: "POST", Path: route.Template[5:], Route: route,
		Fingerprint: fp, Subject: a.subject,
	}
	v.Identity.KeyID = a.key
	return v
}

// credentialsRun feeds attempts to d and returns the signals with the
// index of the attempt each came on.
func credentialsRun(d *Credentials, attempts []credentialsAttempt) ([]Signal, []int) {
	s := &signals{}
	var at []int
	for i, a := range attempts {
		v := credentialsView(a)
		d.Request(v, s)
		d.Response(v, verdict.Outcome{Status: a.status}, s)
		for len(at) < len(s.got) {
			at = append(at, i+1)
		}
	}
	return s.got, at
}

func credentialsIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}) // one per /24
}

func TestCredentialsAttacks(t *testing.T) {
	attacker := netip.MustParseAddr("203.0.113.50")
	type want struct {
		entity    verdict.Entity
		weight    float64
		severity  Severity
		threshold float64
		lo, hi    int // the attempt the first such signal comes on
	}
	tests := []struct {
		name     string
		attempts func() []credentialsAttempt
		want     []want
		// no signal may name any other entity
	}{
		{
			name: "brute force on one account from one IP",
			attempts: func() (as []credentialsAttempt) {
				for i := range 25 {
					as = append(as, credentialsAttempt{at: time.Duration(i) * 10 * time.Second, ip: attacker, subject: "s_victim", status: 401})
				}
				return as
			},
			want: []want{
				{verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.50"}, 40, Medium, 10, 10, 10},
				{verdict.Entity{Scope: verdict.ScopeUser, Value: "s_victim"}, 30, Medium, 20, 20, 20},
			},
		},
		{
			name: "slow credential stuffing from one IP",
			attempts: func() (as []credentialsAttempt) {
				for i := range 8 {
					as = append(as, credentialsAttempt{at: time.Duration(i) * 15 * time.Second, ip: attacker, subject: "s_user" + strconv.Itoa(i), status: 401})
				}
				return as
			},
			want: []want{{verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.50"}, 45, High, 5, 5, 7}},
		},
		{
			name: "credential stuffing from one IP at a machine's pace",
			attempts: func() (as []credentialsAttempt) {
				for i := range 8 {
					as = append(as, credentialsAttempt{at: time.Duration(i) * 500 * time.Millisecond, ip: attacker, subject: "s_user" + strconv.Itoa(i), status: 401})
				}
				return as
			},
			want: []want{{verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.50"}, 65, High, 5, 5, 7}},
		},
		{
			name: "promo code guessing by an API key: the key and its IP",
			attempts: func() (as []credentialsAttempt) {
				for i := range 10 {
					as = append(as, credentialsAttempt{at: time.Duration(i) * time.Second, ip: attacker, key: "k_app",
						subject: "s_code" + strconv.Itoa(i), status: 404, route: credentialsVerify})
				}
				return as
			},
			want: []want{
				{verdict.Entity{Scope: verdict.ScopeKey, Value: "k_app"}, 65, High, 5, 5, 7},
				{verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.50"}, 65, High, 5, 5, 7},
				{verdict.Entity{Scope: verdict.ScopeKey, Value: "k_app"}, 40, Medium, 10, 10, 10},
				{verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.50"}, 40, Medium, 10, 10, 10},
			},
		},
		{
			name: "one account attacked from many IPs",
			attempts: func() (as []credentialsAttempt) {
				for i := range 25 {
					as = append(as, credentialsAttempt{at: time.Duration(i) * 10 * time.Second, ip: credentialsIP(i), subject: "s_victim", status: 401})
				}
				return as
			},
			want: []want{{verdict.Entity{Scope: verdict.ScopeUser, Value: "s_victim"}, 30, Medium, 20, 20, 20}},
		},
		{
			name: "2000 IPs once each with one tool, amid ordinary logins",
			attempts: func() (as []credentialsAttempt) {
				// 10 minutes: 1400 tool failures from 1400 /24s, and 600
				// browser logins of which 40 fail: the browsers' shared
				// fingerprint passes 30 failures during the spike, but
				// most of its logins succeed, so it is left alone.
				for i := range 2000 {
					a := credentialsAttempt{at: time.Duration(i) * 290 * time.Millisecond, ip: credentialsIP(i), subject: "s_u" + strconv.Itoa(i)}
					if i%10 < 7 {
						a.fp, a.status = credentialsTool, 401
					} else if a.status = 200; i%50 == 7 {
						a.status = 401
					}
					as = append(as, a)
				}
				return as
			},
			// 30 failures from as many addresses open the gate without
			// the spike (which needs 200 logins): TestCredentialsSpreadGate
			want: []want{{verdict.Entity{Scope: verdict.ScopeFingerprint, Value: credentialsTool.String()}, 50, High, 30, 40, 50}},
		},
		{
			name: "a botnet in a few /24s, each bot its own fingerprint",
			attempts: func() (as []credentialsAttempt) {
				for i := range 400 {
					ip := netip.AddrFrom4([4]byte{198, 18, byte(i % 4), byte(i / 4)})
					as = append(as, credentialsAttempt{at: time.Duration(i) * time.Second, ip: ip,
						subject: "s_u" + strconv.Itoa(i), status: 401, fp: request.Fingerprint(1000 + i)})
				}
				return as
			},
			want: []want{
				{verdict.Entity{Scope: verdict.ScopePrefix, Value: "198.18.0.0/24"}, 50, High, 30, 115, 125},
				{verdict.Entity{Scope: verdict.ScopePrefix, Value: "198.18.1.0/24"}, 50, High, 30, 115, 125},
				{verdict.Entity{Scope: verdict.ScopePrefix, Value: "198.18.2.0/24"}, 50, High, 30, 115, 125},
				{verdict.Entity{Scope: verdict.ScopePrefix, Value: "198.18.3.0/24"}, 50, High, 30, 115, 125},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, at := credentialsRun(NewCredentials(CredentialsConfig{}, NewHasher()), tc.attempts())
			for _, w := range tc.want {
				i := 0
				for i < len(got) && (got[i].Entity != w.entity || got[i].Weight != w.weight) {
					i++
				}
				if i == len(got) {
					t.Fatalf("no weight %v signal on %v; got %+v", w.weight, w.entity, got)
				}
				sig, ev := got[i], got[i].Evidence
				if sig.Detector != "credentials" || sig.Severity != w.severity {
					t.Errorf("signal %+v, want detector credentials, severity %v", sig, w.severity)
				}
				if ev.Threshold != w.threshold || ev.Count < w.threshold || ev.Window != 10*time.Minute || ev.RequestID == "" {
					t.Errorf("evidence %+v, want count >= threshold %v over 10m0s", ev, w.threshold)
				}
				if at[i] < w.lo || at[i] > w.hi {
					t.Errorf("%v weight %v signal on attempt %d, want %d..%d", w.entity, w.weight, at[i], w.lo, w.hi)
				}
			}
			for _, sig := range got {
				known := false
				for _, w := range tc.want {
					known = known || (sig.Entity == w.entity && sig.Weight == w.weight)
				}
				if !known {
					t.Errorf("unexpected signal %+v", sig)
				}
			}
		})
	}
}

func TestCredentialsBenign(t *testing.T) {
	office := netip.MustParseAddr("192.0.2.10")
	tests := []struct {
		name     string
		attempts func() []credentialsAttempt
	}{
		{"a user mistyping 3 times then succeeding", func() []credentialsAttempt {
			ip := netip.MustParseAddr("198.51.100.5")
			return []credentialsAttempt{
				{at: 0, ip: ip, subject: "s_alice", status: 401},
				{at: 5 * time.Second, ip: ip, subject: "s_alice", status: 401},
				{at: 12 * time.Second, ip: ip, subject: "s_alice", status: 401},
				{at: 20 * time.Second, ip: ip, subject: "s_alice", status: 200},
			}
		}},
		{"200 office users behind one IP, a handful mistyping", func() (as []credentialsAttempt) {
			at := time.Duration(0)
			for i := range 200 {
				u := "s_staff" + strconv.Itoa(i)
				if i%20 == 7 { // ten users mistype once
					at += time.Second
					as = append(as, credentialsAttempt{at: at, ip: office, subject: u, status: 401})
				}
				at += 2 * time.Second
				as = append(as, credentialsAttempt{at: at, ip: office, subject: u, status: 200})
			}
			return as
		}},
		{"a normal day: many fingerprints, 5% failures", func() (as []credentialsAttempt) {
			for i := range 3000 {
				a := credentialsAttempt{at: time.Duration(i) * 400 * time.Millisecond, ip: credentialsIP(i % 701),
					subject: "s_u" + strconv.Itoa(i%701), status: 200, fp: request.Fingerprint(1 + (i/20)%40)}
				if i%20 == 0 {
					a.status = 401
				}
				as = append(as, a)
			}
			return as
		}},
		{"an upstream outage is not a failure", func() (as []credentialsAttempt) {
			ip := netip.MustParseAddr("198.51.100.6")
			for i := range 30 {
				as = append(as, credentialsAttempt{at: time.Duration(i) * time.Second, ip: ip, subject: "s_bob", status: 503})
			}
			return as
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := credentialsRun(NewCredentials(CredentialsConfig{}, NewHasher()), tc.attempts()); len(got) != 0 {
				t.Fatalf("got %d signals, want none: %+v", len(got), got)
			}
		})
	}
}

func TestCredentialsIgnoresOtherRoutes(t *testing.T) {
	// With the auth-failure check and kind inference off, 401s outside
	// login and verify routes count for nothing; with the auth check on,
	// other statuses keep no state; a route answering only 200 is never
	// inferred to be anything.
	other := &request.Route{Name: "me", Template: "GET /me"}
	off := false
	for _, tc := range []struct {
		name   string
		cfg    CredentialsConfig
		status int
	}{
		{"auth check off", CredentialsConfig{AuthThreshold: -1, InferKinds: &off}, 401},
		{"forbidden is not an auth failure", CredentialsConfig{InferKinds: &off}, 403},
		{"successes", CredentialsConfig{}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewCredentials(tc.cfg, NewHasher())
			s := &signals{}
			for i := range 50 {
				v := credentialsView(credentialsAttempt{at: time.Duration(i) * time.Second, ip: credentialsIP(1), subject: "s_x" + strconv.Itoa(i), status: tc.status})
				v.Route = other
				d.Response(v, verdict.Outcome{Status: tc.status}, s)
				v.Route = nil
				d.Response(v, verdict.Outcome{Status: tc.status}, s)
			}
			if len(s.got) != 0 || d.Stats().Entries != 0 {
				t.Fatalf("non-credential routes: %d signals, %d entries; want none", len(s.got), d.Stats().Entries)
			}
		})
	}
}

func TestCredentialsBounded(t *testing.T) {
	d := NewCredentials(CredentialsConfig{Common: Common{MaxEntities: 640}}, NewHasher())
	var as []credentialsAttempt
	for i := range 5000 {
		as = append(as, credentialsAttempt{at: time.Duration(i) * time.Millisecond, ip: credentialsIP(i), subject: "s_" + strconv.Itoa(i), status: 200})
	}
	credentialsRun(d, as)
	if st := d.Stats(); st.Entries > st.MaxEntries || st.Evictions == 0 {
		t.Fatalf("stats = %+v, want at most MaxEntries entries and some evictions", st)
	}
}

func credentialsUpdateAllocs() float64 {
	tb := NewTable[credState](64, time.Minute)
	return testing.AllocsPerRun(100, func() { tb.Update(1, 1, func(*credState) {}) })
}

func TestCredentialsQuietPathAllocs(t *testing.T) {
	d := NewCredentials(CredentialsConfig{}, NewHasher())
	s := &signals{}
	ok := credentialsView(credentialsAttempt{at: time.Second, ip: netip.MustParseAddr("198.51.100.7"), subject: "s_carol", status: 200})
	ok.Identity.User = "carol" // an identity: the IP is tracked too
	fail := credentialsView(credentialsAttempt{at: time.Second, ip: netip.MustParseAddr("198.51.100.8"), status: 401, fp: credentialsTool})
	// 16 clients, each failing on its own account about 6 times: under
	// every threshold, and their entries exist before measuring
	subjects := make([]string, 16)
	for i := range subjects {
		subjects[i] = "s_" + strconv.Itoa(i)
	}
	i := 0
	failing := func() {
		i++
		fail.ClientIP = credentialsIP(i % 16)
		fail.Subject = subjects[i%16]
		d.Response(fail, verdict.Outcome{Status: 401}, s)
	}
	for range 16 {
		failing()
	}
	tests := []struct {
		name    string
		updates float64
		f       func()
	}{
		// entity, IP, fingerprint, prefix
		{"successful login with an identity", 4, func() { d.Request(ok, s); d.Response(ok, verdict.Outcome{Status: 200}, s) }},
		// entity, account, fingerprint, prefix; the tool's fingerprint passes
		// the shared threshold without a spike, so the global check runs too
		{"failures from 16 IPs", 4, failing},
	}
	base := credentialsUpdateAllocs()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.f); n != tc.updates*base {
				t.Fatalf("%v allocs, want %v (%v table updates)", n, tc.updates*base, tc.updates)
			}
		})
	}
	if len(s.got) != 0 {
		t.Fatalf("quiet path signalled: %+v", s.got)
	}
}

// credentialsAnywhere sends n requests from ip to an unrouted path, one
// every gap, answered status, and returns the signals.
func credentialsAnywhere(d *Credentials, s *signals, from time.Duration, n int, gap time.Duration, ip netip.Addr, path string, status int) {
	for i := range n {
		at := from + time.Duration(i)*gap
		v := &request.View{ID: "a" + strconv.Itoa(int(at/time.Millisecond)), Time: credentialsT0.Add(at), ClientIP: ip, Method: "GET", Path: path}
		d.Request(v, s)
		d.Response(v, verdict.Outcome{Status: status}, s)
	}
}

func TestCredentialsAuthFailuresAnywhere(t *testing.T) {
	guesser := netip.MustParseAddr("198.51.100.23")
	t.Run("basic auth guessing on an unrouted path", func(t *testing.T) {
		d := NewCredentials(CredentialsConfig{}, NewHasher())
		s := &signals{}
		credentialsAnywhere(d, s, 0, 31, 200*time.Millisecond, guesser, "/private/reports", 401)
		// A step at 5, 10, ... 30 failures, 15 points each: throttled by
		// the 15th, blocked by the 30th (with a 10-minute half-life, a
		// six-second attack decays by nothing).
		if len(s.got) != 6 {
			t.Fatalf("%d signals for 31 failures, want 6: %+v", len(s.got), s.got)
		}
		for i, sig := range s.got {
			if sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: guesser.String()}) || sig.Weight != 15 || sig.Detector != "credentials" ||
				sig.Evidence.Threshold != 5 || sig.Evidence.Count != float64(5*(i+1)) {
				t.Errorf("signal %d: %+v", i, sig)
			}
		}
		if s.got[0].Evidence.RequestID != "a800" {
			t.Errorf("first signal on %q, want the 5th failure's request a800", s.got[0].Evidence.RequestID)
		}
	})
	t.Run("an API key that keeps failing upstream", func(t *testing.T) {
		d := NewCredentials(CredentialsConfig{}, NewHasher())
		s := &signals{}
		for i := range 5 {
			v := &request.View{ID: "k", Time: credentialsT0.Add(time.Duration(i) * time.Second), ClientIP: guesser, Method: "GET", Path: "/v1/orders"}
			v.Identity.KeyID = "k_revoked"
			d.Response(v, verdict.Outcome{Status: 401}, s)
		}
		if len(s.got) != 1 || s.got[0].Entity != (verdict.Entity{Scope: verdict.ScopeKey, Value: "k_revoked"}) {
			t.Fatalf("signals %+v, want one on the key", s.got)
		}
	})
	t.Run("a login route is the brute-force check's, not this one's", func(t *testing.T) {
		d := NewCredentials(CredentialsConfig{}, NewHasher())
		var as []credentialsAttempt
		for i := range 9 {
			as = append(as, credentialsAttempt{at: time.Duration(i) * time.Second, ip: guesser, subject: "s_root", status: 401})
		}
		if got, _ := credentialsRun(d, as); len(got) != 0 {
			t.Fatalf("9 failed logins signalled: %+v", got)
		}
	})
	t.Run("configured threshold and weight", func(t *testing.T) {
		d := NewCredentials(CredentialsConfig{AuthThreshold: 3, AuthWeight: 7}, NewHasher())
		s := &signals{}
		credentialsAnywhere(d, s, 0, 3, time.Second, guesser, "/", 401)
		if len(s.got) != 1 || s.got[0].Weight != 7 {
			t.Fatalf("signals %+v", s.got)
		}
	})
}

// TestCredentialsAuthFailuresBenign pins the false-positive traps of the
// auth-failure check: challenges that precede a successful login, a person
// mistyping, 5xx, and an office behind one address.
func TestCredentialsAuthFailuresBenign(t *testing.T) {
	office := netip.MustParseAddr("192.0.2.80")
	tests := []struct {
		name string
		run  func(d *Credentials, s *signals)
	}{
		{"a person mistyping a basic-auth password four times", func(d *Credentials, s *signals) {
			credentialsAnywhere(d, s, 0, 4, 5*time.Second, office, "/intranet/", 401)
			credentialsAnywhere(d, s, 20*time.Second, 30, 2*time.Second, office, "/intranet/wiki", 200)
		}},
		{"an office: 60 browsers each meet the basic-auth challenge, then browse", func(d *Credentials, s *signals) {
			for u := range 60 {
				from := time.Duration(u) * 10 * time.Second
				credentialsAnywhere(d, s, from, 1, 0, office, "/intranet/", 401)
				credentialsAnywhere(d, s, from+time.Second, 8, time.Second, office, "/intranet/page", 200)
			}
		}},
		{"a single-page app whose token expired: four calls fail at once, then it refreshes", func(d *Credentials, s *signals) {
			credentialsAnywhere(d, s, 0, 4, 10*time.Millisecond, office, "/api/cart", 401)
			credentialsAnywhere(d, s, time.Second, 40, 3*time.Second, office, "/api/cart", 200)
			credentialsAnywhere(d, s, 10*time.Minute, 4, 10*time.Millisecond, office, "/api/cart", 401)
		}},
		{"an upstream outage answers 503", func(d *Credentials, s *signals) {
			credentialsAnywhere(d, s, 0, 50, time.Second, office, "/api/me", 503)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewCredentials(CredentialsConfig{}, NewHasher())
			s := &signals{}
			tc.run(d, s)
			if len(s.got) != 0 {
				t.Fatalf("%d signals, want none: %+v", len(s.got), s.got[0])
			}
		})
	}
}

// TestCredentialsAuthFailureTrap keeps a known false positive visible: a
// monitor probing a protected URL without credentials fails every time.
func TestCredentialsAuthFailureTrap(t *testing.T) {
	d := NewCredentials(CredentialsConfig{}, NewHasher())
	s := &signals{}
	credentialsAnywhere(d, s, 0, 20, 30*time.Second, netip.MustParseAddr("192.0.2.99"), "/health/deep", 401)
	if len(s.got) == 0 {
		t.Fatal("a client failing every request was not signalled")
	}
}

func TestCredentialsAuthQuietPathAllocs(t *testing.T) {
	d := NewCredentials(CredentialsConfig{}, NewHasher())
	s := &signals{}
	v := &request.View{Time: credentialsT0, ClientIP: netip.MustParseAddr("192.0.2.1"), Method: "GET", Path: "/v1/items"}
	if n := testing.AllocsPerRun(100, func() { d.Response(v, verdict.Outcome{Status: 200}, s) }); n != 0 {
		t.Fatalf("a success outside login routes: %v allocs", n)
	}
	// Below its threshold (signals allocate their evidence).
	d = NewCredentials(CredentialsConfig{AuthThreshold: 1000}, NewHasher())
	f := &request.View{Time: credentialsT0, ClientIP: netip.MustParseAddr("192.0.2.2"), Method: "GET", Path: "/v1/items"}
	if n := testing.AllocsPerRun(100, func() { d.Response(f, verdict.Outcome{Status: 401}, s) }); n > tableUpdateAllocs() {
		t.Fatalf("a 401: %v allocs, the table's own %v", n, tableUpdateAllocs())
	}
}

func BenchmarkCredentialsResponse(b *testing.B) {
	d := NewCredentials(CredentialsConfig{}, NewHasher())
	s := &signals{}
	v := &request.View{Time: credentialsT0, ClientIP: netip.MustParseAddr("192.0.2.1"), Method: "GET", Path: "/v1/items"}
	b.Run("success, never failed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Response(v, verdict.Outcome{Status: 200}, s)
		}
	})
	f := &request.View{Time: credentialsT0, ClientIP: netip.MustParseAddr("192.0.2.2"), Method: "GET", Path: "/v1/items"}
	d.Response(f, verdict.Outcome{Status: 401}, s)
	b.Run("success, never failed, while another client fails", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Response(v, verdict.Outcome{Status: 200}, s)
		}
	})
	b.Run("success after a 401", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Response(f, verdict.Outcome{Status: 200}, s)
		}
	})
}

// TestCredentialsSurgeOnABusySite: on a site whose logins mostly succeed,
// a distributed attack never makes 60% of all logins fail; the surge over
// the usual failures is what lets the shared fingerprint be found.
func TestCredentialsSurgeOnABusySite(t *testing.T) {
	var attempts []credentialsAttempt
	normal := func(i int) credentialsAttempt {
		a := credentialsAttempt{at: time.Duration(i) * 400 * time.Millisecond, ip: credentialsIP(i % 701),
			subject: "s_u" + strconv.Itoa(i%701), status: 200, fp: request.Fingerprint(1 + (i/20)%40)}
		if i%20 == 0 {
			a.status = 401
		}
		return a
	}
	// Twenty minutes of ordinary logins (2.5 a second, 5% failing), then
	// ten more with one attempt a second from a new address of one tool.
	for i := range 3000 {
		attempts = append(attempts, normal(i))
	}
	for k := range 600 {
		attempts = append(attempts, normal(3000+k*5/2), credentialsAttempt{at: 20*time.Minute + time.Duration(k)*time.Second,
			ip: netip.AddrFrom4([4]byte{100, 64, byte(k >> 8), byte(k)}), subject: "s_v" + strconv.Itoa(k), status: 401, fp: credentialsTool})
	}
	slices.SortStableFunc(attempts, func(a, b credentialsAttempt) int { return cmp.Compare(a.at, b.at) })

	got, at := credentialsRun(NewCredentials(CredentialsConfig{SpreadMin: -1}, NewHasher()), attempts)
	tool := verdict.Entity{Scope: verdict.ScopeFingerprint, Value: credentialsTool.String()}
	if len(got) == 0 || got[0].Entity != tool || got[0].Weight != 50 {
		t.Fatalf("signals %+v, want the tool's fingerprint first", got)
	}
	for _, sig := range got {
		// The attack's own /24s are fair game; nothing else is.
		if sig.Entity != tool && !(sig.Entity.Scope == verdict.ScopePrefix && strings.HasPrefix(sig.Entity.Value, "100.64.")) {
			t.Errorf("an ordinary client was signalled: %+v", sig)
		}
	}
	if when := attempts[at[0]-1].at - 20*time.Minute; when > 5*time.Minute {
		t.Errorf("found %s into the attack, want within 5m", when)
	}
	if got, _ := credentialsRun(NewCredentials(CredentialsConfig{GlobalSurge: -1, SpreadMin: -1}, NewHasher()), attempts); len(got) != 0 {
		t.Errorf("without the surge check: %d signals, want none (the ratio never reaches 60%%)", len(got))
	}
}

// TestCredentialsInfersKinds checks kind inference from status semantics:
// a POST route with no declared kind that answers 403 is judged as a
// login (brute force from one address is signalled), one answering 422 as
// a verify route; the same statuses on GET are not, and an address whose
// posts mostly succeed is left alone.
func TestCredentialsInfersKinds(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		status             func(i int) int
		want               bool
	}{
		{"403 on a sign-in", "POST", "/auth/session", func(int) int { return 403 }, true},
		{"422 on a voucher", "POST", "/redeem", func(int) int { return 422 }, true},
		{"404 on an id route", "POST", "/v2/orders/123/confirm", func(int) int { return 404 }, true},
		{"403 on GET", "GET", "/v2/me", func(int) int { return 403 }, false},
		{"mostly successes", "POST", "/auth/session", func(i int) int {
			if i%4 == 0 {
				return 403
			}
			return 201
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewCredentials(CredentialsConfig{AuthThreshold: -1}, NewHasher())
			s := &signals{}
			for i := range 40 {
				v := &request.View{Time: credentialsT0.Add(time.Duration(i) * 300 * time.Millisecond), ClientIP: credentialsIP(7),
					Method: tc.method, Path: tc.path, Fingerprint: credentialsChrome}
				d.Response(v, verdict.Outcome{Status: tc.status(i)}, s)
			}
			if got := len(s.got) > 0; got != tc.want {
				t.Fatalf("signals %+v, want some: %v", s.got, tc.want)
			}
			if tc.want && (s.got[0].Entity.Scope != verdict.ScopeIP || !strings.Contains(s.got[0].Evidence.Summary, "(inferred)")) {
				t.Errorf("signal %+v, want the address, evidence naming an inferred kind", s.got[0])
			}
		})
	}
}

// TestCredentialsInfersKindsFromBodyFields checks that body field names
// take part in kind inference: a post answering 403 is a login by its
// status, but with a voucher in its body it is a verify route (code
// guessing), as route learning would suggest.
func TestCredentialsInfersKindsFromBodyFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string
		want   string
	}{
		{"status alone", nil, "login (inferred)"},
		{"a voucher field", []string{"voucher", "cart"}, "verify (inferred)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewCredentials(CredentialsConfig{AuthThreshold: -1}, NewHasher())
			s := &signals{}
			for i := range 40 {
				v := &request.View{Time: credentialsT0.Add(time.Duration(i) * 300 * time.Millisecond), ClientIP: credentialsIP(7),
					Method: "POST", Path: "/v2/apply", Fingerprint: credentialsChrome, Subject: "s_" + strconv.Itoa(i)}
				v.BodyFields.SetNames(tc.fields)
				d.Response(v, verdict.Outcome{Status: 403}, s)
			}
			if len(s.got) == 0 || !strings.Contains(s.got[0].Evidence.Summary, tc.want) {
				t.Fatalf("signals %+v, want the first naming %q", s.got, tc.want)
			}
		})
	}
}

// TestCredentialsSpreadGate checks the shared check's gate without a
// global spike: one tool failing from many addresses, one at a time, is
// signalled once its failures reach SharedThreshold, long before the
// site's logins reach GlobalMin; with SpreadMin off it waits for the
// spike; and failures of one fingerprint from a handful of addresses do
// not open the gate (those addresses answer for themselves).
func TestCredentialsSpreadGate(t *testing.T) {
	tool := verdict.Entity{Scope: verdict.ScopeFingerprint, Value: credentialsTool.String()}
	spread := func(addrs int) (as []credentialsAttempt) {
		// a tool failing once every 2 s, amid browsers logging in fine
		for i := range 300 {
			a := credentialsAttempt{at: time.Duration(i) * time.Second, ip: credentialsIP(1000 + i%97), subject: "s_u" + strconv.Itoa(i), status: 200}
			if i%2 == 0 {
				a.fp, a.status, a.ip = credentialsTool, 401, netip.AddrFrom4([4]byte{100, 64, byte(i % addrs), 1})
			}
			as = append(as, a)
		}
		return as
	}
	first := func(got []Signal, at []int) int {
		for i, sig := range got {
			if sig.Entity == tool {
				return at[i]
			}
		}
		return 0
	}
	for _, tc := range []struct {
		name   string
		cfg    CredentialsConfig
		addrs  int
		lo, hi int // the attempt of the tool's first signal; 0: none
	}{
		{"from 150 addresses", CredentialsConfig{}, 150, 59, 62},
		{"from 150 addresses, spread gate off", CredentialsConfig{SpreadMin: -1}, 150, 0, 0},
		{"from 150 addresses, spread_min above what the sketch counts", CredentialsConfig{SpreadMin: MaxDistinct + 1}, 150, 0, 0},
		{"from 5 addresses", CredentialsConfig{Threshold: 1000, DistinctThreshold: 1000}, 5, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.AuthThreshold = -1
			got, at := credentialsRun(NewCredentials(tc.cfg, NewHasher()), spread(tc.addrs))
			if n := first(got, at); n < tc.lo || n > tc.hi {
				t.Fatalf("tool signalled on attempt %d, want %d..%d (0: never); signals %+v", n, tc.lo, tc.hi, got)
			}
			for _, sig := range got {
				if sig.Entity != tool && sig.Entity.Scope != verdict.ScopePrefix {
					t.Errorf("a browser was signalled: %+v", sig)
				}
				if sig.Entity == tool && !strings.Contains(sig.Evidence.Summary, "addresses") {
					t.Errorf("evidence %q does not name the spread", sig.Evidence.Summary)
				}
			}
		})
	}
}
