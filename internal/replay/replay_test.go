package replay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func replayer(t testing.TB, yaml string, events *bytes.Buffer) *Replayer {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer // a typed nil *bytes.Buffer would not be a nil io.Writer
	if events != nil {
		w = events
	}
	r, err := NewReplayer(context.Background(), cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func entry(at time.Time, ip, path string, status int) *Entry {
	return &Entry{Time: at, ClientIP: netip.MustParseAddr(ip), Method: "GET", Path: path, Status: status,
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
}

// TestReplayFindsTheProber replays a probe among ordinary traffic and
// expects one block on the prober, named for the probing detector.
func TestReplayFindsTheProber(t *testing.T) {
	var events bytes.Buffer
	r := replayer(t, "", &events)
	at := t0
	for i := range 60 {
		r.Feed(entry(at, "198.51.100.1", fmt.Sprintf("/products/%d", i%7), 200))
		r.Feed(entry(at.Add(100*time.Millisecond), "203.0.113.9", fmt.Sprintf("/archive-%d.tar", i), 404))
		at = at.Add(time.Duration(1+i%3) * time.Second)
	}
	if len(r.Decisions) == 0 {
		t.Fatal("no decision")
	}
	last := r.Decisions[len(r.Decisions)-1]
	if last.Value != "203.0.113.9" || last.Action != verdict.Block || last.Source != "detector:probing" {
		t.Fatalf("decisions %+v", r.Decisions)
	}
	for _, d := range r.Decisions {
		if d.Value == "198.51.100.1" {
			t.Fatalf("the ordinary client got a decision: %+v", d)
		}
	}
	top := r.Offenders(1)
	if len(top) != 1 || top[0].Entity != "ip:203.0.113.9" || top[0].Refused < 20 || !strings.Contains(strings.Join(top[0].Decisions, ","), "block probing") {
		t.Fatalf("offenders %+v", top)
	}
	if r.Signals["probing"] == 0 || r.Refused["detector:probing"] == 0 {
		t.Fatalf("signals %v refused %v", r.Signals, r.Refused)
	}
	if !strings.Contains(r.Flagged["ip:203.0.113.9"][0], "probing") && !strings.Contains(strings.Join(r.Flagged["ip:203.0.113.9"], ","), "probing") {
		t.Fatalf("flagged %v", r.Flagged)
	}
	if !strings.Contains(events.String(), `"action":"decision"`) {
		t.Fatalf("no decision event:\n%.1000s", events.String())
	}
}

// TestReplayRunsInEventTime checks that decisions expire by the log's
// clock, however fast the replay runs.
func TestReplayRunsInEventTime(t *testing.T) {
	r := replayer(t, "limits: [{name: per-ip, key: [ip], rate: 2/h}]", nil)
	r.Feed(entry(t0, "203.0.113.5", "/", 200))
	r.Feed(entry(t0.Add(time.Second), "203.0.113.5", "/", 200))
	r.Feed(entry(t0.Add(2*time.Second), "203.0.113.5", "/", 200))
	if r.Refused["per-ip"] != 1 {
		t.Fatalf("refused %v, want the third request within the hour", r.Refused)
	}
	r.Feed(entry(t0.Add(31*time.Minute), "203.0.113.5", "/", 200)) // one token back after 30 minutes
	if r.Refused["per-ip"] != 1 {
		t.Fatalf("refused %v after half an hour of log time", r.Refused)
	}
	// A line out of order is taken as arriving at the latest time seen.
	r.Feed(entry(t0, "203.0.113.5", "/", 200))
	if r.Refused["per-ip"] != 2 {
		t.Fatalf("refused %v: the out-of-order line was not limited at the latest time", r.Refused)
	}
}

// TestReplayIsDeterministic replays the same entries twice and expects
// the same decisions.
func TestReplayIsDeterministic(t *testing.T) {
	run := func() []string {
		r := replayer(t, "", nil)
		at := t0
		for i := range 200 {
			r.Feed(entry(at, fmt.Sprintf("203.0.113.%d", i%5), fmt.Sprintf("/admin-%d.php", i), 404))
			at = at.Add(300 * time.Millisecond)
		}
		var out []string
		for _, d := range r.Decisions {
			out = append(out, d.Entity().String()+" "+d.Action.String()+" "+d.Source+" "+d.Created.Format(time.RFC3339Nano))
		}
		return out
	}
	a, b := run(), run()
	if strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) == 0 {
		t.Fatalf("two replays differ or made no decision:\n%v\n%v", a, b)
	}
}

// BenchmarkFeed is the engine's share of a replay in the worst case: every
// entry from a new client, so every detector table is full and evicting.
func BenchmarkFeed(b *testing.B) {
	r := replayer(b, "", nil)
	e := entry(t0, "198.51.100.1", "/products/1", 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e.Time = t0.Add(time.Duration(i) * time.Millisecond)
		e.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		r.Feed(e)
	}
}

// BenchmarkReplayCombined is a whole replay per line: parse a combined
// log line and feed it through the default policy (lines/s = 1e9 / ns/op).
func BenchmarkReplayCombined(b *testing.B) {
	r := replayer(b, "", nil)
	p, err := NewParser("combined", JSONMapping{})
	if err != nil {
		b.Fatal(err)
	}
	lines := make([]string, 4096)
	for i := range lines {
		lines[i] = fmt.Sprintf(`198.51.%d.%d - - [28/Nov/2026:10:%02d:%02d +0000] "GET /products/%d?ref=home HTTP/1.1" 200 5120 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"`,
			i/250%250, i%250+1, i/60%60, i%60, i%500)
	}
	var e Entry
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e = Entry{}
		if err := p.Parse(lines[i%len(lines)], &e); err != nil {
			b.Fatal(err)
		}
		r.Feed(&e)
	}
}

// TestReplayIgnoresUnauthenticatedUsers checks that a 401's logged user is
// not taken as an identity: rotating usernames do not hide the address.
func TestReplayIgnoresUnauthenticatedUsers(t *testing.T) {
	r := replayer(t, "limits: [{name: per-ip, key: [ip], applies_to: anonymous, rate: 3/h}]", nil)
	for i := range 5 {
		e := entry(t0.Add(time.Duration(i)*time.Second), "203.0.113.7", "/account", 401)
		e.User = fmt.Sprintf("guess%d", i)
		r.Feed(e)
	}
	if r.Refused["per-ip"] != 2 {
		t.Fatalf("refused %v: the failed logins were not limited by address", r.Refused)
	}
}

// TestReplayAuthFailuresAreTheAddresss checks where the requests of a
// basic-auth guesser land: its 401s (each logged with the name it tried)
// are the client IP's, so the auth-failure check signals and decides on
// ip:..., while the same name on an accepted request is a user.
func TestReplayAuthFailuresAreTheAddresss(t *testing.T) {
	r := replayer(t, "", nil)
	for i := range 20 {
		e := entry(t0.Add(time.Duration(i)*300*time.Millisecond), "203.0.113.40", "/members/", 401)
		e.User = "admin"
		if i%2 == 1 {
			e.User = fmt.Sprintf("guess%d", i)
		}
		r.Feed(e)
	}
	ok := entry(t0.Add(time.Minute), "198.51.100.40", "/members/", 200)
	ok.User = "alice"
	r.Feed(ok)
	if got := strings.Join(r.Flagged["ip:203.0.113.40"], ","); !strings.Contains(got, "credentials") {
		t.Fatalf("flagged %v: the guesser's address was not signalled", r.Flagged)
	}
	for e := range r.Flagged {
		if strings.HasPrefix(e, "user:") {
			t.Fatalf("a name tried on a 401 was taken for a user: %v", r.Flagged)
		}
	}
	var onIP bool
	for _, d := range r.Decisions {
		onIP = onIP || d.Scope == verdict.ScopeIP && d.Value == "203.0.113.40"
	}
	if !onIP {
		t.Fatalf("decisions %+v, want one on the guesser's address", r.Decisions)
	}
	if len(r.Flagged) != 1 {
		t.Fatalf("flagged %v, want the guesser only", r.Flagged)
	}
}

// TestReplayProxyAuthFailureIsNoUser checks a proxy's 407 like a 401.
func TestReplayProxyAuthFailureIsNoUser(t *testing.T) {
	r := replayer(t, "limits: [{name: per-user, key: [user], rate: 1/h}]", nil)
	for i := range 3 {
		e := entry(t0.Add(time.Duration(i)*time.Second), "203.0.113.41", "/", 407)
		e.User = "bob"
		r.Feed(e)
	}
	if r.Refused["per-user"] != 0 {
		t.Fatalf("refused %v: 407s were counted against a user", r.Refused)
	}
}

// TestReplayProtocolProbes checks that a request line that is not HTTP
// reaches the probing detector as such, and that a connection that sent
// nothing ("-") does not.
func TestReplayProtocolProbes(t *testing.T) {
	p, err := NewParser("combined", JSONMapping{})
	if err != nil {
		t.Fatal(err)
	}
	r := replayer(t, "", nil)
	for _, l := range []string{
		`192.0.2.70 - - [28/Nov/2026:12:00:00 +0000] "-" 400 0 "-" "-"`,
		`192.0.2.70 - - [28/Nov/2026:12:00:01 +0000] "-" 408 0 "-" "-"`,
		`203.0.113.71 - - [28/Nov/2026:12:00:02 +0000] "\x16\x03\x01\x00\xC8\x01\x00\x00\xC4\x03\x03" 400 150 "-" "-"`,
		`203.0.113.72 - - [28/Nov/2026:12:00:03 +0000] "CONNECT relay.example.org:25 HTTP/1.1" 400 150 "-" "-"`,
		`203.0.113.73 - - [28/Nov/2026:12:00:04 +0000] "GET http://other-site.example/ip.php HTTP/1.0" 400 150 "-" "-"`,
		`203.0.113.74 - - [28/Nov/2026:12:00:05 +0000] "GET /ip.php HTTP/1.1" 200 150 "-" "-"`,
	} {
		var e Entry
		if err := p.Parse(l, &e); err != nil {
			t.Fatal(err)
		}
		r.Feed(&e)
	}
	for _, ip := range []string{"203.0.113.71", "203.0.113.72", "203.0.113.73"} {
		if got := r.Flagged["ip:"+ip]; len(got) != 1 || got[0] != "probing" {
			t.Errorf("%s flagged by %v, want probing", ip, got)
		}
	}
	for _, ip := range []string{"192.0.2.70", "203.0.113.74"} {
		if got := r.Flagged["ip:"+ip]; len(got) != 0 {
			t.Errorf("%s (no request, or an ordinary one) was flagged by %v", ip, got)
		}
	}
}

// TestReplayOwnRefusalsFeedNoDetector replays abuseguard's own access log:
// a client the live guard blocked kept asking for distinct paths and got
// the guard's 403s. Those lines record the guard's answers, not the
// upstream's, so they flag no one; the same statuses from the upstream
// (no action in the line) are probing.
func TestReplayOwnRefusalsFeedNoDetector(t *testing.T) {
	p, err := NewParser("json", JSONMapping{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(action string) []string {
		r := replayer(t, "", nil)
		when := t0
		for i := range 60 {
			when = when.Add(time.Duration(400+i*137%900) * time.Millisecond) // irregular, like a person
			at := when.Format(time.RFC3339Nano)
			line := fmt.Sprintf(`{"time":%q,"client_ip":"203.0.113.50","method":"GET","path":"/v1/things/x%d","status":403,"user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"%s}`,
				at, i, action)
			var e Entry
			if err := p.Parse(line, &e); err != nil {
				t.Fatal(err)
			}
			r.Feed(&e)
		}
		return r.Flagged["ip:203.0.113.50"]
	}
	if got := run(`,"action":"block","rule":"detector:probing","reason":"blocked"`); len(got) != 0 {
		t.Errorf("the guard's own 403s flagged the client again: %v", got)
	}
	if got := run(""); !strings.Contains(strings.Join(got, ","), "probing") {
		t.Errorf("the upstream's 403s on 60 distinct paths flagged %v, want probing (the check above would pass for nothing)", got)
	}
}

// TestReplaySessionsWithoutAddresses replays a log whose client addresses
// are all blank, with a session field: each session is judged on its own,
// so the one probing is blocked and the others browse on.
func TestReplaySessionsWithoutAddresses(t *testing.T) {
	var events bytes.Buffer
	r := replayer(t, "", &events)
	line := func(at time.Time, session, path string, status int) *Entry {
		return &Entry{Time: at, Method: "GET", Path: path, Status: status, Session: session,
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
	}
	at := t0
	for i := range 60 {
		for s := range 3 {
			r.Feed(line(at.Add(time.Duration(s)*10*time.Millisecond), fmt.Sprintf("good-%d", s), fmt.Sprintf("/products/%d", (i+s)%7), 200))
		}
		r.Feed(line(at.Add(100*time.Millisecond), "bad", fmt.Sprintf("/archive-%d.tar", i), 404))
		at = at.Add(time.Duration(1+i%3) * time.Second)
	}
	bad := "session:" + r.policy.Parser.Identifier.Pseudonym("s_", "bad")
	if len(r.Decisions) == 0 {
		t.Fatal("no decision")
	}
	for _, d := range r.Decisions {
		if d.Entity().String() != bad {
			t.Errorf("decision on %s, want only %s: %+v", d.Entity(), bad, d)
		}
	}
	if last := r.Decisions[len(r.Decisions)-1]; last.Action != verdict.Block || last.Source != "detector:probing" {
		t.Errorf("last decision %+v, want a probing block", last)
	}
	for e := range r.Flagged {
		if e != bad {
			t.Errorf("%s flagged by %v; only %s probes", e, r.Flagged[e], bad)
		}
	}
	top := r.Offenders(10)
	if len(top) != 1 || top[0].Entity != bad || top[0].Refused < 20 {
		t.Errorf("offenders %+v, want only %s, refused 20 times or more", top, bad)
	}
	if strings.Contains(events.String(), `"bad"`) || !strings.Contains(events.String(), `"scope":"session"`) ||
		!strings.Contains(events.String(), `"session":"`+strings.TrimPrefix(bad, "session:")+`"`) {
		t.Errorf("events name the raw session, or no session scope or label:\n%.600s", events.String())
	}
}

// TestReplaySessionLimit keys a limit on the session: with blank
// addresses, each session has its own budget.
func TestReplaySessionLimit(t *testing.T) {
	r := replayer(t, "limits: [{name: per-session, key: [session], rate: 2/h}]", nil)
	for i := range 3 {
		for _, s := range []string{"a", "b"} {
			r.Feed(&Entry{Time: t0.Add(time.Duration(i) * time.Second), Method: "GET", Path: "/", Status: 200, Session: s})
		}
	}
	if r.Refused["per-session"] != 2 {
		t.Fatalf("refused %v, want the third request of each session", r.Refused)
	}
}
