package detect

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func probingView(d time.Duration, ip, path string, rt *request.Route) *request.View {
	return &request.View{
		ID:       fmt.Sprintf("req-%d", d),
		Time:     time.Unix(0, at(d)),
		ClientIP: netip.MustParseAddr(ip),
		Method:   "GET",
		Path:     path,
		Route:    rt,
	}
}

// probingStep sends one request and, when status is not 0, its outcome.
func probingStep(d *Probing, v *request.View, status int, s Sink) {
	d.Request(v, s)
	if status != 0 {
		d.Response(v, verdict.Outcome{Status: status}, s)
	}
}

func TestProbingMissesEscalate(t *testing.T) {
	d := NewProbing(ProbingConfig{}, NewHasher())
	sink := &signals{}
	var when []int // the probe (1-based) at which each signal arrived
	for i := 1; i <= 40; i++ {
		v := probingView(time.Duration(i)*time.Second, "203.0.113.7", fmt.Sprintf("/probe-%c%c", 'a'+i%26, 'a'+i/26), nil)
		n := len(sink.got)
		probingStep(d, v, 404, sink)
		for _, sig := range sink.got[n:] {
			when = append(when, i)
			if sig.Evidence.RequestID != v.ID {
				t.Errorf("signal at probe %d names request %q, want %q", i, sig.Evidence.RequestID, v.ID)
			}
		}
	}
	if len(when) < 3 {
		t.Fatalf("%d signals for 40 distinct misses, want >= 3 (at 10, 20, 30)", len(when))
	}
	// The sketch never overestimates below its threshold, and with 256 bits
	// it undercounts 20-30 items by at most a few collisions.
	if when[0] < 10 || when[0] > 14 {
		t.Errorf("first signal at probe %d, want 10..14", when[0])
	}
	if when[1] < 20 || when[1] > 28 {
		t.Errorf("second signal (80 points) at probe %d, want 20..28", when[1])
	}
	for i, sig := range sink.got {
		want := verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.7"}
		if sig.Detector != "probing" || sig.Entity != want || sig.Weight != 40 {
			t.Errorf("signal %d: %s %v weight %v", i, sig.Detector, sig.Entity, sig.Weight)
		}
		ev := sig.Evidence
		if ev.Threshold != float64(10*(i+1)) || ev.Count < ev.Threshold || ev.Window != 5*time.Minute {
			t.Errorf("signal %d evidence %+v, want threshold %d", i, ev, 10*(i+1))
		}
	}
}

func TestProbingUnmatchedRoutes(t *testing.T) {
	all := &request.Route{Name: "rest", Template: "GET /{path...}"}
	for _, tc := range []struct {
		name       string
		configured bool
		route      *request.Route
		paths      int
		status     int // 0: no response observed (blocked before upstream)
		want       int
	}{
		{"unmatched paths count before any response", true, nil, 25, 0, 2},
		{"unmatched and 404 count once per path", true, nil, 9, 404, 0},
		{"unmatched and 404 escalate together", true, nil, 25, 404, 2},
		{"404s under a catch-all route count per path", true, all, 25, 404, 2},
		{"no route table: unmatched means nothing", false, nil, 40, 0, 0},
		{"no route table: unmatched and 200 is fine", false, nil, 40, 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewProbing(ProbingConfig{RoutesConfigured: tc.configured}, NewHasher())
			sink := &signals{}
			for i := range tc.paths {
				probingStep(d, probingView(time.Duration(i)*time.Second, "198.51.100.1", fmt.Sprintf("/guess/n%c%c", 'a'+i%26, 'a'+i/26), tc.route), tc.status, sink)
			}
			// The sketch may undercount by a collision or two.
			if got := len(sink.got); got != tc.want && !(tc.want > 0 && got == tc.want-1) {
				t.Fatalf("%d signals, want %d: %+v", got, tc.want, sink.got)
			}
		})
	}
}

func TestProbingBenignTwins(t *testing.T) {
	items := &request.Route{Name: "item", Template: "GET /items/{id}"}
	home := &request.Route{Name: "app", Template: "GET /app/{path...}", Kind: "static"}
	actuator := &request.Route{Name: "health", Template: "GET /actuator/health"}
	type req struct {
		path   string
		route  *request.Route
		status int
	}
	repeat := func(n int, f func(i int) req) []req {
		out := make([]req, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		configured bool
		reqs       []req
	}{
		{"a user hitting a few stale links", false, repeat(5, func(i int) req { return req{fmt.Sprintf("/old/page-%c", 'a'+i), nil, 404} })},
		{"a client polling one missing resource", false, repeat(300, func(int) req { return req{"/v1/jobs/pending", nil, 404} })},
		{"an SPA where every path matches a route", true, repeat(200, func(i int) req { return req{fmt.Sprintf("/app/chunk-%d.js", i%50), home, 200} })},
		{"a sync client checking deleted ids on one route", true, repeat(100, func(i int) req { return req{fmt.Sprintf("/items/%d", 1000+i), items, 404} })},
		{"deleted ids without a route table", false, repeat(100, func(i int) req {
			return req{fmt.Sprintf("/v1/orders/%d/lines/7f3c9a2e-%04d", 1000+i, i), nil, 404}
		})},
		{"a sensitive-looking path the API serves", true, repeat(20, func(int) req { return req{"/actuator/health", actuator, 200} })},
		{"a user refused on one admin route", true, repeat(30, func(i int) req { return req{fmt.Sprintf("/items/%d", i), items, 403} })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewProbing(ProbingConfig{RoutesConfigured: tc.configured}, NewHasher())
			sink := &signals{}
			for i, r := range tc.reqs {
				probingStep(d, probingView(time.Duration(i)*time.Second, "192.0.2.10", r.path, r.route), r.status, sink)
			}
			if len(sink.got) != 0 {
				t.Fatalf("benign traffic signalled: %+v", sink.got)
			}
		})
	}
}

func TestProbingSensitivePatterns(t *testing.T) {
	d := NewProbing(ProbingConfig{}, NewHasher())
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/.env", true},
		{"/app/.ENV", true},
		{"/.env.production", true},
		{"/.environment", false},
		{"/.git/config", true},
		{"/.git", true},
		{"/.gitignore", false},
		{"/wp-login.php", true},
		{"/blog/wp-admin/install.php", true},
		{"/xmlrpc.php", true},
		{"/phpMyAdmin/index.php", true},
		{"/server-status", true},
		{"/actuator/env", true},
		{"/api/actuator", false},
		{"/backup", true},
		{"/backups/42", false},
		{"/backup.zip", true},
		{"/site.TAR.GZ", true},
		{"/exports/report.zip", false},
		{"/dump.sql", true},
		{"/db/schema.sql", false},
		{"/index.php.bak", true},
		{"/static/../../etc/passwd", true},
		{"/files/..%2f..%2fsecret", true},
		{"/.DS_Store", true},
		{"/shell.php", true},
		{"/uploads/Mini_Shell.PHP", true},
		{"/wp-content/c99.php", true},
		{"/wso.php", true},
		{"/shellfish.php", false},
		{"/v1/shells/42", false},
		{"/users/42", false},
		{strings.Repeat("/a", 40) + "/.git/config", true},
		{strings.Repeat("/a", 40) + "/.gitconfig", false},
		{"/", false},
		{"", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got := d.matchSensitive(&request.View{Path: tc.path}) >= 0
			if got != tc.want {
				t.Fatalf("matchSensitive(%q) = %v, want %v", tc.path, got, tc.want)
			}
			whole := false // searching the whole path agrees with searching at slashes
			for i := range d.sensitive {
				whole = whole || d.sensitive[i].match(tc.path, nil)
			}
			if whole != tc.want {
				t.Fatalf("match(%q, nil) = %v, want %v", tc.path, whole, tc.want)
			}
		})
	}
}

func TestProbingSensitiveSignals(t *testing.T) {
	files := &request.Route{Name: "files", Template: "GET /files/{path...}"}
	env := &request.Route{Name: "env", Template: "GET /.env"}
	for _, tc := range []struct {
		name  string
		cfg   ProbingConfig
		paths []string
		route *request.Route
		want  int
	}{
		{"two distinct sensitive paths reach 90", ProbingConfig{}, []string{"/.env", "/.git/config"}, nil, 2},
		{"every distinct path signals once", ProbingConfig{}, []string{"/.env", "/.git/config", "/wp-login.php", "/xmlrpc.php", "/.aws/credentials", "/backup.zip", "/backup.zip", "/.aws/credentials"}, nil, 6},
		{"the same path again does not signal again", ProbingConfig{}, []string{"/.env", "/.env", "/.env"}, nil, 1},
		{"a sensitive path the API routes is fine", ProbingConfig{}, []string{"/.env", "/.env"}, env, 0},
		{"a catch-all route vouches for nothing", ProbingConfig{}, []string{"/.env"}, &request.Route{Name: "spa", Template: "GET /{path...}", Kind: "static"}, 1},
		{"traversal through a matched route still signals", ProbingConfig{}, []string{"/files/../../etc/passwd"}, files, 1},
		{"configured list replaces the defaults", ProbingConfig{SensitivePaths: []string{"/internal/*"}}, []string{"/.env", "/internal/debug"}, nil, 1},
		{"an empty list turns the check off", ProbingConfig{SensitivePaths: []string{}}, []string{"/.env"}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewProbing(tc.cfg, NewHasher())
			sink := &signals{}
			for i, p := range tc.paths {
				v := probingView(time.Duration(i)*time.Second, "203.0.113.9", p, tc.route)
				v.Identity.KeyID = "k_scanner"
				d.Request(v, sink)
			}
			if len(sink.got) != tc.want {
				t.Fatalf("%d signals, want %d: %+v", len(sink.got), tc.want, sink.got)
			}
			for _, sig := range sink.got {
				if sig.Entity != (verdict.Entity{Scope: verdict.ScopeKey, Value: "k_scanner"}) || sig.Weight != 45 || sig.Severity != High || sig.Evidence.Threshold != 1 {
					t.Errorf("signal %+v", sig)
				}
			}
		})
	}
}

// TestProbingTraversalInSentPath: the canonical path has its dot segments
// removed, so traversal is found in the spelling the client sent.
func TestProbingTraversalInSentPath(t *testing.T) {
	d := NewProbing(ProbingConfig{}, NewHasher())
	for _, tc := range []struct {
		path, sent string
		want       bool
	}{
		{"/etc/passwd", "/files/../../etc/passwd", true},
		{"/secret", "/files/%2e%2e/%2E%2E/secret", true},
		{"/v1/items", "/v1/./items", false},
		{"/v1/items", "/v1//items", false},
	} {
		got := d.matchSensitive(&request.View{Path: tc.path, SentPath: tc.sent, Route: &request.Route{Name: "x", Template: "GET /x"}}) >= 0
		if got != tc.want {
			t.Errorf("matchSensitive(path %q, sent %q) = %v, want %v", tc.path, tc.sent, got, tc.want)
		}
	}
}

func TestProbingInjectionPatterns(t *testing.T) {
	d := NewProbing(ProbingConfig{}, NewHasher())
	for _, tc := range []struct {
		query string
		want  bool
	}{
		// Probes, in the encodings scanners send them.
		{"id=7+UNION+SELECT+username,password+FROM+accounts", true},
		{"id=7%20union%20all%20select%20null", true},
		{"id=7/**/UnIoN/**/SeLeCt/**/1", true},
		{"id=7%09union%0Aselect%201", true},
		{"q=x%27%20OR%201=1--", true},
		{"q=x%2527%2520or%25201%253D1", true}, // double-encoded
		{"table=INFORMATION_SCHEMA.columns", true},
		{"id=3;WAITFOR%20DELAY%20%270:0:9%27", true},
		{"id=3%20AND%20SLEEP(9)", true},
		{"name=%3Cscript%3Ealert(document.domain)%3C/script%3E", true},
		{"next=javascript:void(0)", true},
		{"img=x%22%20onerror=%22fetch(1)", true},
		{"q=%253Csvg%252Fonload%253D1%253E", true},
		// Ordinary parameters, some close to the patterns.
		{"q=union+station+parking", false},
		{"sort=select&order=desc", false},
		{"q=how+to+select+a+trade+union", false},
		{"filter=status%3Dopen&page=2", false},
		{"email=alice%40example.org", false},
		{"callback=onLoaded&v=3", false},
		{"q=script+writing+tips", false},
		{"expr=1%3D1", false},
		{"redirect=%2Faccount%2Forders", false},
		{"", false},
	} {
		t.Run(tc.query, func(t *testing.T) {
			if got := d.matchInjection(tc.query) >= 0; got != tc.want {
				var buf [probingQueryMax]byte
				t.Fatalf("matchInjection(%q) = %v, want %v (normalised %q)", tc.query, got, tc.want, normaliseQuery(buf[:0], tc.query))
			}
		})
	}
}

func TestProbingInjectionSignals(t *testing.T) {
	items := &request.Route{Name: "item", Template: "GET /items/{id}"}
	for _, tc := range []struct {
		name    string
		cfg     ProbingConfig
		queries []string
		route   *request.Route
		want    int
	}{
		{"each distinct probe signals once", ProbingConfig{}, []string{"id=1+union+select+1", "id=1+union+select+1,2", "q=%3Cscript%3E"}, nil, 3},
		{"the same probe again does not signal again", ProbingConfig{}, []string{"q=%3Cscript%3E", "q=%3Cscript%3E"}, nil, 1},
		{"a matched route vouches for no query", ProbingConfig{}, []string{"x=1+or+1=1"}, items, 1},
		{"ordinary queries are quiet", ProbingConfig{}, []string{"page=2", "q=select+union+jack"}, nil, 0},
		{"configured list replaces the defaults", ProbingConfig{InjectionPatterns: []string{"${jndi:"}}, []string{"q=%3Cscript%3E", "x=%24%7Bjndi:ldap"}, nil, 1},
		{"an empty list turns the check off", ProbingConfig{InjectionPatterns: []string{}}, []string{"id=1+union+select+1"}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewProbing(tc.cfg, NewHasher())
			sink := &signals{}
			for i, q := range tc.queries {
				v := probingView(time.Duration(i)*time.Second, "203.0.113.21", "/items/1", tc.route)
				v.Query = q
				probingStep(d, v, 200, sink)
			}
			if len(sink.got) != tc.want {
				t.Fatalf("%d signals, want %d: %+v", len(sink.got), tc.want, sink.got)
			}
			for _, sig := range sink.got {
				if sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.21"}) || sig.Weight != 30 || sig.Severity != Medium ||
					!strings.HasPrefix(sig.Evidence.Summary, "injection probe in query") {
					t.Errorf("signal %+v", sig)
				}
			}
		})
	}
}

func TestProbingSensitiveAgainNextWindow(t *testing.T) {
	d := NewProbing(ProbingConfig{}, NewHasher())
	sink := &signals{}
	d.Request(probingView(0, "203.0.113.9", "/.env", nil), sink)
	d.Request(probingView(time.Minute, "203.0.113.9", "/.env", nil), sink)
	d.Request(probingView(11*time.Minute, "203.0.113.9", "/.env", nil), sink)
	if len(sink.got) != 2 {
		t.Fatalf("%d signals, want one per window: %+v", len(sink.got), sink.got)
	}
}

func TestProbingStateBounded(t *testing.T) {
	d := NewProbing(ProbingConfig{Common: Common{MaxEntities: 640}}, NewHasher())
	sink := &signals{}
	v := probingView(0, "10.0.0.0", "/missing", nil)
	for i := range 100_000 {
		v.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		v.Time = time.Unix(0, at(time.Duration(i)*time.Millisecond))
		d.Response(v, verdict.Outcome{Status: 404}, sink)
	}
	s := d.Stats()
	if s.Entries > s.MaxEntries || s.MaxEntries != 640 || s.Evictions == 0 {
		t.Fatalf("stats %+v", s)
	}
	d.Sweep(at(time.Hour))
	if s := d.Stats(); s.Entries != 0 {
		t.Fatalf("after sweep %+v", s)
	}
}

func TestProbingQuietPathAllocs(t *testing.T) {
	items := &request.Route{Name: "item", Template: "GET /items/{id}"}
	d := NewProbing(ProbingConfig{RoutesConfigured: true}, NewHasher())
	sink := &signals{}
	matched := probingView(0, "192.0.2.1", "/items/42", items)
	unrouted := probingView(0, "192.0.2.1", "/v1/some/ordinary/path-here", nil)
	queried := probingView(0, "192.0.2.1", "/v1/search", nil)
	queried.Query = "q=caf%C3%A9+au+lait&sort=price%2Cdesc&page=3"
	dn := NewProbing(ProbingConfig{}, NewHasher())
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"request on a route", func() { d.Request(matched, sink) }},
		{"request without a route table", func() { dn.Request(unrouted, sink) }},
		{"request with an ordinary query", func() { dn.Request(queried, sink) }},
		{"response 200", func() { d.Response(matched, verdict.Outcome{Status: 200}, sink) }},
		{"response 404 below threshold", func() { d.Response(matched, verdict.Outcome{Status: 404}, sink) }},
		{"response 404 on an unrouted path", func() { dn.Response(unrouted, verdict.Outcome{Status: 404}, sink) }},
		{"request unmatched below threshold", func() { d.Request(unrouted, sink) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.f); n > tableUpdateAllocs() {
				t.Fatalf("%v allocs, the table's own %v", n, tableUpdateAllocs())
			}
		})
	}
	if len(sink.got) != 0 {
		t.Fatalf("quiet path signalled: %+v", sink.got)
	}
}

// tableUpdateAllocs is what one Table.Update allocates by itself: the
// detectors' quiet paths may allocate nothing beyond it. Table.Update
// moves its entry to the heap (f(&e.v) with an unknown f), so today it is
// 1; once the table keeps the entry in its shard it is 0 and the
// detectors' allocation tests tighten with it.
func tableUpdateAllocs() float64 {
	tb := NewTable[probingState](64, time.Minute)
	return testing.AllocsPerRun(100, func() { tb.Update(1, at(0), func(*probingState) {}) })
}

func BenchmarkProbingRequest(b *testing.B) {
	items := &request.Route{Name: "item", Template: "GET /v1/customers/{id}/orders"}
	for _, bc := range []struct {
		name  string
		route *request.Route
		query string
	}{
		{"unrouted path, no route table", nil, ""},
		{"matched route", items, ""},
		{"matched route with a query", items, "status=shipped&since=2026-01-01T00%3A00%3A00Z&sort=-created&page=4"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewProbing(ProbingConfig{RoutesConfigured: bc.route != nil}, NewHasher())
			v := probingView(0, "192.0.2.1", "/v1/customers/123/orders", bc.route)
			v.Query = bc.query
			sink := &signals{}
			b.ReportAllocs()
			for b.Loop() {
				d.Request(v, sink)
			}
		})
	}
}

func TestProbingProtocol(t *testing.T) {
	view := func(d time.Duration, method, host, path string) *request.View {
		v := probingView(d, "198.51.100.61", path, nil)
		v.Method, v.Host = method, host
		return v
	}
	tests := []struct {
		name    string
		cfg     ProbingConfig
		reqs    []*request.View
		signals int
		summary string
	}{
		{"CONNECT to a mail port", ProbingConfig{}, []*request.View{view(0, "CONNECT", "mail.example.net:25", "")}, 1, `proxy request: CONNECT "mail.example.net:25"`},
		{"a TLS handshake on the plain-HTTP port, as a log records it", ProbingConfig{}, []*request.View{view(0, "\x16\x03\x01\x02\x00\x01", "", "")}, 1,
			`request line with no path, beginning "\x16\x03\x01\x02\x00\x01": not an HTTP request an API serves`},
		{"a bare word", ProbingConfig{}, []*request.View{view(0, "STATUS", "", "")}, 1, ""},
		{"an absolute-form target: the API taken for a forward proxy", ProbingConfig{}, []*request.View{func() *request.View {
			v := view(0, "GET", "other-site.example", "/index.html")
			v.Hints |= request.AbsoluteTarget
			return v
		}()}, 1, `proxy request: GET for host "other-site.example" (absolute-form target)`},
		{"many protocol probes: once per kind per window", ProbingConfig{}, []*request.View{
			view(0, "\x16\x03\x01", "", ""), view(time.Second, "SSH-2.0-Go", "", ""), view(2*time.Second, "HELLO", "", ""),
			view(3*time.Second, "CONNECT", "203.0.113.1:443", ""), view(4*time.Second, "CONNECT", "203.0.113.2:443", ""),
			view(6*time.Minute, "HELLO", "", ""),
		}, 3, ""},
		{"turned off", ProbingConfig{ProtocolWeight: -1}, []*request.View{view(0, "CONNECT", "a:25", ""), view(time.Second, "\x16\x03", "", "")}, 0, ""},
		{"configured weight", ProbingConfig{ProtocolWeight: 50}, []*request.View{view(0, "CONNECT", "a:25", "")}, 1, ""},
		{"ordinary requests", ProbingConfig{}, []*request.View{
			view(0, "GET", "api.example", "/v1/items"), view(time.Second, "OPTIONS", "api.example", "*"),
			view(2*time.Second, "POST", "api.example", "/v1/orders"), view(3*time.Second, "PROPFIND", "dav.example", "/files/"),
		}, 0, ""},
		{"a connection that sent no request (no method, no path)", ProbingConfig{}, []*request.View{view(0, "", "", "")}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewProbing(tc.cfg, NewHasher())
			sink := &signals{}
			for _, v := range tc.reqs {
				d.Request(v, sink)
			}
			if len(sink.got) != tc.signals {
				t.Fatalf("%d signals, want %d: %+v", len(sink.got), tc.signals, sink.got)
			}
			for _, sig := range sink.got {
				want := orDefault(tc.cfg.ProtocolWeight, 30)
				if sig.Weight != want || sig.Severity != Medium || sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "198.51.100.61"}) {
					t.Errorf("signal %+v, want weight %v", sig, want)
				}
			}
			if tc.summary != "" && sink.got[0].Evidence.Summary != tc.summary {
				t.Errorf("summary %q, want %q", sink.got[0].Evidence.Summary, tc.summary)
			}
		})
	}
}
