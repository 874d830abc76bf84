package engine

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// TestOfficeBehindOneAddress reproduces issue 10's office outage: 40
// signed-in users (a session cookie each) behind one NAT address, browsing
// as people do (product pages, searches, the odd 404 and mistyped
// password), for ten minutes. Their sum looks like one busy client; none
// of them may be refused.
func TestOfficeBehindOneAddress(t *testing.T) {
	w := newWorld(t, `
routes:
  - {name: product, match: "GET /shop/products/{id}"}
  - {name: search, match: "GET /shop/search"}
  - {name: login, match: "POST /auth/login", kind: login, field: username}
`)
	rng := rand.New(rand.NewPCG(1, 2))
	const office = "192.0.2.80"
	refused := map[string]int{}
	total := 0
	end := w.now.Add(10 * time.Minute)
	for w.now.Before(end) {
		u := rng.IntN(40)
		cookie := fmt.Sprintf("Cookie: sessionid=office-%d", u)
		ua := "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
		var a verdict.Action
		var reason string
		switch r := rng.IntN(100); {
		case r < 70:
			a, _, reason = w.do(office, "GET", fmt.Sprintf("/shop/products/%d", 1+rng.IntN(400)), 200, cookie, ua, "Accept-Language: de-DE", "Accept-Encoding: gzip, deflate, br")
		case r < 85:
			a, _, reason = w.do(office, "GET", fmt.Sprintf("/shop/search?q=item%d&page=%d", rng.IntN(50), 1+rng.IntN(5)), 200, cookie, ua, "Accept-Language: de-DE", "Accept-Encoding: gzip, deflate, br")
		case r < 87:
			a, _, reason = w.do(office, "GET", fmt.Sprintf("/shop/old-link-%d", rng.IntN(30)), 404, cookie, ua, "Accept-Language: de-DE", "Accept-Encoding: gzip, deflate, br")
		case r < 98:
			a, _, reason = w.do(office, "GET", "/shop/cart", 200, cookie, ua, "Accept-Language: de-DE", "Accept-Encoding: gzip, deflate, br")
		default: // signing in again; one in five mistypes the password
			status := 200
			if rng.IntN(5) == 0 {
				status = 401
			}
			a, _, reason = w.do(office, "POST", "/auth/login", status, cookie, ua, "Accept-Language: de-DE", "Accept-Encoding: gzip, deflate, br")
		}
		total++
		if a != verdict.Allow {
			refused[reason]++
			if len(refused) == 1 && refused[reason] == 1 {
				t.Logf("first refusal at %v, user %d: %s", w.now.Sub(t0), u, reason)
			}
		}
	}
	if len(refused) > 0 {
		for _, d := range w.ds.List(w.now) {
			t.Logf("decision %s:%s %s %s: %v", d.Scope, d.Value, d.Action, d.Reason, d.Evidence)
		}
		t.Fatalf("office: %v of %d requests refused", refused, total)
	}
	// A prober behind the same address, with no session or a new made-up
	// session cookie on every request, is still judged by the address and
	// stopped; the office users are not.
	for i, stopped := 0, false; !stopped; i++ {
		if i == 60 {
			t.Fatal("a prober rotating session cookies behind the office was not stopped in 60 requests")
		}
		a, _, _ := w.do(office, "GET", fmt.Sprintf("/.git/probe-%d", i), 404, fmt.Sprintf("Cookie: sessionid=fresh-%d", i))
		stopped = a != verdict.Allow
	}
	if a, status, _ := w.do(office, "GET", "/shop/cart", 200); status != 403 {
		t.Fatalf("sessionless request from the prober's address: %v %d, want 403", a, status)
	}
	for u := range 40 {
		if a, status, reason := w.do(office, "GET", "/shop/cart", 200, fmt.Sprintf("Cookie: sessionid=office-%d", u)); a != verdict.Allow {
			t.Fatalf("office user %d refused (%d %s) after the prober's block", u, status, reason)
		}
	}
}

// BenchmarkDecisionSharedAddress is BenchmarkDecisionAllDetectors for an
// office user: an anonymous browser with a session cookie, one of 40
// behind a shared address, so the session is HMAC'd and the shared-address
// tables are consulted on every request.
func BenchmarkDecisionSharedAddress(b *testing.B) {
	w := newWorld(b, `
routes:
  - {name: get-user, match: "GET /v1/users/{id}"}
`)
	reqs := make([]*http.Request, 40)
	for i := range reqs {
		r := httptest.NewRequest("GET", "/v1/users/42?page=2", nil)
		r.RemoteAddr = "192.0.2.80:40000"
		r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0")
		r.Header.Set("Cookie", fmt.Sprintf("theme=dark; sessionid=office-user-%d", i))
		reqs[i] = r
	}
	v := &request.View{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		v.Reset()
		now := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		if prob := w.p.Parser.ParseHTTP(reqs[i%len(reqs)], now, v); prob != nil {
			b.Fatal(prob)
		}
		vd := w.p.Decide(v)
		w.p.Observe(v, verdict.Outcome{Status: 200, Latency: time.Millisecond})
		vd.Finish(now)
	}
}
