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

const (
	firstChrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	firstBrowser = request.ClaimsBrowser | request.AcceptLanguage | request.AcceptEncoding | request.FetchMetadata
)

var (
	firstHome  = &request.Route{Name: "home", Template: "GET /"}
	firstPromo = &request.Route{Name: "promo", Template: "POST /promo"}
	firstItem  = &request.Route{Name: "item", Template: "GET /items/{id}"}
)

// firstView is a request from ip at offset d.
func firstView(d time.Duration, ip, method, path string, rt *request.Route) *request.View {
	return &request.View{
		ID: fmt.Sprintf("req-%s-%d", ip, d), Time: time.Unix(0, at(d)), ClientIP: netip.MustParseAddr(ip),
		Method: method, Path: path, Route: rt, UserAgent: firstChrome, Hints: firstBrowser,
	}
}

// firstIP returns the i-th address of a test population.
func firstIP(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }

// firstArrivals sends n new clients (addresses from base) whose first
// request is to the home page, each followed by an item page.
func firstArrivals(d *FirstRequest, base, n int, at time.Duration, sink Sink) {
	for i := range n {
		ip := firstIP(base + i)
		d.Request(firstView(at, ip, "GET", "/", firstHome), sink)
		d.Request(firstView(at+time.Second, ip, "GET", "/items/7", firstItem), sink)
	}
}

func TestFirstRequestHeaders(t *testing.T) {
	const lang, enc = request.AcceptLanguage, request.AcceptEncoding
	for _, tc := range []struct {
		name   string
		ua     string
		hints  request.Hints
		verify bool
		want   string // a word of the summary; "" for no signal
	}{
		{"a browser's full set", firstChrome, firstBrowser, false, ""},
		{"no Accept-Encoding", firstChrome, request.ClaimsBrowser | lang, false, "no Accept-Encoding"},
		{"no Accept-Language", firstChrome, request.ClaimsBrowser | enc, false, "no Accept-Language"},
		{"neither is the automation detector's", firstChrome, request.ClaimsBrowser, false, ""},
		{"contradicting client hints", firstChrome, firstBrowser | request.ClientHintsContradict, false, "client hints"},
		{"HTTP/1.0", firstChrome, firstBrowser | request.HTTP10, false, "HTTP/1.0"},
		{"a tool sends what it likes", "curl/8.5.0", request.HTTP10, false, ""},
		{"a crawler that says so", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", request.ClaimsBrowser | enc, false, ""},
		{"a verified identity", firstChrome, request.ClaimsBrowser | lang, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewFirstRequest(FirstRequestConfig{}, NewHasher())
			sink := &signals{}
			for i := range 3 {
				v := firstView(time.Duration(i)*time.Second, "203.0.113.5", "GET", "/items/7", firstItem)
				v.UserAgent, v.Hints = tc.ua, tc.hints
				if tc.verify {
					v.Identity = request.Identity{User: "u1", Verified: true}
				}
				d.Request(v, sink)
			}
			if tc.want == "" {
				if len(sink.got) != 0 {
					t.Fatalf("signals %+v, want none", sink.got)
				}
				return
			}
			if len(sink.got) != 1 {
				t.Fatalf("%d signals, want one for the client's three requests: %+v", len(sink.got), sink.got)
			}
			sig := sink.got[0]
			if sig.Detector != "firstrequest" || sig.Weight != 15 || sig.Severity != Medium ||
				sig.Entity != (verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.5"}) || !strings.Contains(sig.Evidence.Summary, tc.want) {
				t.Errorf("signal %+v, want 15 points, medium, on the address, saying %q", sig, tc.want)
			}
		})
	}
}

// TestFirstRequestHeadersOnlyWhileNew: an established client that starts
// sending an odd header set is the automation detector's business, not
// this one's.
func TestFirstRequestHeadersOnlyWhileNew(t *testing.T) {
	d := NewFirstRequest(FirstRequestConfig{NewRequests: 5}, NewHasher())
	sink := &signals{}
	for i := range 5 {
		d.Request(firstView(time.Duration(i)*time.Second, "203.0.113.5", "GET", "/items/7", firstItem), sink)
	}
	v := firstView(10*time.Second, "203.0.113.5", "GET", "/items/7", firstItem)
	v.Hints = request.ClaimsBrowser | request.AcceptLanguage
	d.Request(v, sink)
	if len(sink.got) != 0 {
		t.Errorf("signals %+v for an established client", sink.got)
	}
}

func TestFirstRequestRoute(t *testing.T) {
	cfg := FirstRequestConfig{MinClients: 50}
	t.Run("too few clients to judge", func(t *testing.T) {
		d := NewFirstRequest(cfg, NewHasher())
		sink := &signals{}
		firstArrivals(d, 0, 49, 0, sink)
		d.Request(firstView(time.Minute, "203.0.113.9", "POST", "/promo", firstPromo), sink)
		if len(sink.got) != 0 {
			t.Errorf("signals %+v after 49 clients, want none before 50", sink.got)
		}
	})
	for _, tc := range []struct {
		name         string
		method, path string
		rt           *request.Route
		weight       float64
	}{
		{"a write no client starts with", "POST", "/promo", firstPromo, 25},
		{"a read no client starts with", "GET", "/items/9", firstItem, 10},
		{"an undeclared path", "GET", "/v1/orders/42", nil, 10},
		{"where everyone starts", "GET", "/", firstHome, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewFirstRequest(cfg, NewHasher())
			sink := &signals{}
			firstArrivals(d, 0, 50, 0, sink)
			if len(sink.got) != 0 {
				t.Fatalf("signals %+v for clients that start at home", sink.got)
			}
			d.Request(firstView(time.Minute, "203.0.113.9", tc.method, tc.path, tc.rt), sink)
			// The client's second request to the same route is no first request.
			d.Request(firstView(time.Minute+time.Second, "203.0.113.9", tc.method, tc.path, tc.rt), sink)
			if tc.weight == 0 {
				if len(sink.got) != 0 {
					t.Errorf("signals %+v, want none", sink.got)
				}
				return
			}
			if len(sink.got) != 1 {
				t.Fatalf("%d signals, want 1: %+v", len(sink.got), sink.got)
			}
			sig := sink.got[0]
			if sig.Weight != tc.weight || sig.Severity != Low || sig.Evidence.Count != 0 || sig.Evidence.Threshold != 0.01 ||
				!strings.Contains(sig.Evidence.Summary, "of 50 new clients") {
				t.Errorf("signal %+v, want %v points with the share 0 of 50 clients", sig, tc.weight)
			}
		})
	}
	t.Run("a route enough clients start with", func(t *testing.T) {
		d := NewFirstRequest(cfg, NewHasher())
		sink := &signals{}
		firstArrivals(d, 0, 98, 0, sink)
		d.Request(firstView(time.Second, "198.51.100.1", "GET", "/items/3", firstItem), sink) // signals: 0 of 98
		sink.got = nil
		// 1 of 99 is over 1%.
		d.Request(firstView(time.Minute, "203.0.113.9", "GET", "/items/9", firstItem), sink)
		if len(sink.got) != 0 {
			t.Errorf("signals %+v for a route 1 in 99 clients starts with", sink.got)
		}
	})
	t.Run("identified clients are neither judged nor counted", func(t *testing.T) {
		d := NewFirstRequest(cfg, NewHasher())
		sink := &signals{}
		firstArrivals(d, 0, 49, 0, sink)
		for i, id := range []request.Identity{{KeyID: "k1"}, {User: "u1", Verified: true}, {Session: "s1"}} {
			v := firstView(time.Minute, firstIP(1000+i), "POST", "/promo", firstPromo)
			v.Identity = id
			d.Request(v, sink)
		}
		if len(sink.got) != 0 {
			t.Fatalf("signals %+v for identified clients", sink.got)
		}
		d.Request(firstView(time.Minute, "203.0.113.9", "POST", "/promo", firstPromo), sink)
		if len(sink.got) != 0 {
			t.Errorf("signals %+v: the identified clients were counted as new anonymous ones", sink.got)
		}
	})
	t.Run("the shares forget after two windows", func(t *testing.T) {
		d := NewFirstRequest(FirstRequestConfig{MinClients: 50, Window: 10 * time.Minute}, NewHasher())
		sink := &signals{}
		firstArrivals(d, 0, 50, 0, sink)
		d.Request(firstView(21*time.Minute, "203.0.113.9", "POST", "/promo", firstPromo), sink)
		if len(sink.got) != 0 {
			t.Errorf("signals %+v judged on clients two windows old", sink.got)
		}
	})
}

func TestFirstRequestDecoy(t *testing.T) {
	ip := verdict.Entity{Scope: verdict.ScopeIP, Value: "203.0.113.66"}
	decoy := func(d *FirstRequest, at time.Duration, path string, sink *signals) {
		d.Request(firstView(at, "203.0.113.66", "GET", path, nil), sink)
	}
	t.Run("a new client's touch", func(t *testing.T) {
		d := NewFirstRequest(FirstRequestConfig{}, NewHasher())
		sink := &signals{}
		d.Request(firstView(0, "203.0.113.66", "GET", "/", firstHome), sink)
		decoy(d, time.Second, "/Admin-Backup", sink)
		decoy(d, 2*time.Second, "/Admin-Backup", sink)           // once per path
		decoy(d, 3*time.Second, "/api/v1/internal/export", sink) // the third segment
		if len(sink.got) != 2 {
			t.Fatalf("%d signals, want one per decoy-looking path: %+v", len(sink.got), sink.got)
		}
		for i, word := range []string{`"admin"`, `"internal"`} {
			sig := sink.got[i]
			if sig.Weight != 60 || sig.Severity != High || sig.Entity != ip || !strings.Contains(sig.Evidence.Summary, word) {
				t.Errorf("signal %d: %+v, want 60 points, high, on the address, naming %s", i, sig, word)
			}
		}
	})
	t.Run("on the address and a made-up key", func(t *testing.T) {
		d := NewFirstRequest(FirstRequestConfig{}, NewHasher())
		sink := &signals{}
		v := firstView(0, "203.0.113.66", "GET", "/backup/db", nil)
		v.Identity.KeyID = "h_made_up"
		d.Request(v, sink)
		if len(sink.got) != 0 {
			t.Fatalf("signals %+v before the answer to a keyed client", sink.got)
		}
		d.Response(v, verdict.Outcome{Status: 401}, sink)
		if len(sink.got) != 2 || sink.got[0].Entity != ip || sink.got[1].Entity != (verdict.Entity{Scope: verdict.ScopeKey, Value: "h_made_up"}) {
			t.Errorf("signals %+v, want the address and the key once the upstream refused the key", sink.got)
		}
	})
	t.Run("an integration's key the upstream serves", func(t *testing.T) {
		d := NewFirstRequest(FirstRequestConfig{}, NewHasher())
		sink := &signals{}
		for i := range 5 {
			v := firstView(time.Duration(i)*time.Second, "203.0.113.66", "GET", "/api/export/conversations", nil)
			v.Identity.KeyID = "k_partner"
			d.Request(v, sink)
			d.Response(v, verdict.Outcome{Status: 200}, sink)
		}
		if len(sink.got) != 0 {
			t.Errorf("signals %+v for a keyed integration the upstream serves on its export endpoint", sink.got)
		}
	})
	t.Run("a path established clients use", func(t *testing.T) {
		d := NewFirstRequest(FirstRequestConfig{NewRequests: 3}, NewHasher())
		sink := &signals{}
		for i := range 3 {
			d.Request(firstView(time.Duration(i)*time.Second, "198.51.100.7", "GET", "/items/1", firstItem), sink)
		}
		d.Request(firstView(5*time.Second, "198.51.100.7", "GET", "/admin/reports/12", nil), sink)
		d.Request(firstView(6*time.Second, "203.0.113.66", "GET", "/admin/reports/99", nil), sink) // the same template
		if len(sink.got) != 0 {
			t.Errorf("signals %+v for a path an established client uses", sink.got)
		}
	})
	t.Run("known paths are forgotten after known_for", func(t *testing.T) {
		d := NewFirstRequest(FirstRequestConfig{NewRequests: 1, KnownFor: time.Hour}, NewHasher())
		sink := &signals{}
		d.Request(firstView(0, "198.51.100.7", "GET", "/items/1", firstItem), sink)
		d.Request(firstView(time.Second, "198.51.100.7", "GET", "/admin", nil), sink)
		d.Sweep(at(2 * time.Hour))
		decoy(d, 2*time.Hour, "/admin", sink)
		if len(sink.got) != 1 {
			t.Errorf("signals %+v, want one once the established client's use is forgotten", sink.got)
		}
	})
	for _, tc := range []struct {
		name string
		v    *request.View
		cfg  FirstRequestConfig
	}{
		{"a declared route", firstView(0, "203.0.113.66", "GET", "/admin", &request.Route{Name: "admin", Template: "GET /admin"}), FirstRequestConfig{}},
		{"a word inside a word", firstView(0, "203.0.113.66", "GET", "/administrators-guide", nil), FirstRequestConfig{}},
		{"a user's folder deep in a file tree", firstView(0, "203.0.113.66", "PROPFIND", "/remote.php/webdav/User/Name/Backup/photos", nil), FirstRequestConfig{}},
		{"an ordinary path", firstView(0, "203.0.113.66", "GET", "/v1/orders/42", nil), FirstRequestConfig{}},
		{"the check off", firstView(0, "203.0.113.66", "GET", "/admin", nil), FirstRequestConfig{DecoyWords: []string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewFirstRequest(tc.cfg, NewHasher())
			sink := &signals{}
			d.Request(tc.v, sink)
			if len(sink.got) != 0 {
				t.Errorf("signals %+v, want none", sink.got)
			}
		})
	}
	for _, id := range []request.Identity{{User: "ops", Verified: true}, {User: "alice"}} {
		t.Run("signed in as "+id.User, func(t *testing.T) {
			d := NewFirstRequest(FirstRequestConfig{}, NewHasher())
			sink := &signals{}
			v := firstView(0, "198.51.100.3", "GET", "/admin", nil)
			v.Identity = id
			d.Request(v, sink)
			decoy(d, time.Second, "/admin", sink) // and it made the path known
			if len(sink.got) != 0 {
				t.Errorf("signals %+v, want none", sink.got)
			}
		})
	}
}

// TestFirstRequestQuietAllocates: the quiet path (an established client,
// and a new client with nothing odd) allocates nothing.
func TestFirstRequestQuietAllocates(t *testing.T) {
	d := NewFirstRequest(FirstRequestConfig{}, NewHasher())
	sink := &signals{}
	v := firstView(0, "203.0.113.5", "GET", "/items/7", firstItem)
	n := 0
	if a := testing.AllocsPerRun(200, func() {
		n++
		v.Time = time.Unix(0, at(time.Duration(n)*time.Millisecond))
		d.Request(v, sink)
	}); a != 0 {
		t.Errorf("%v allocations per request, want 0", a)
	}
	if len(sink.got) != 0 {
		t.Errorf("signals %+v", sink.got)
	}
}

// BenchmarkFirstRequestRequest measures the detector per request: an
// established client, new clients (one first request each, counted in
// the route shares), and the decoy-word scan of a path against the
// obvious alternative (split into words, look each up in a set).
func BenchmarkFirstRequestRequest(b *testing.B) {
	d := NewFirstRequest(FirstRequestConfig{}, NewHasher())
	sink := &signals{}
	v := firstView(0, "203.0.113.5", "GET", "/api/products/7", firstItem)
	b.Run("established", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Request(v, sink)
		}
	})
	b.Run("new clients", func(b *testing.B) {
		b.ReportAllocs()
		nv := *v
		addr := netip.MustParseAddr("10.0.0.0")
		for b.Loop() {
			addr = addr.Next()
			nv.ClientIP = addr
			d.Request(&nv, sink)
		}
	})
	const path = "/api/v2/products/1234/reviews/recent"
	b.Run("decoy scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = d.decoyWord(path)
		}
	})
	set := map[string]bool{}
	for _, w := range DefaultDecoyWords {
		set[w] = true
	}
	b.Run("decoy scan by split and set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, w := range strings.FieldsFunc(strings.ToLower(path), func(r rune) bool { return r > 127 || !isWordByte(byte(r)) }) {
				if set[w] {
					break
				}
			}
		}
	})
}
