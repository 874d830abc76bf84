package engine

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/verdict"
)

// TestDeclaredPartnerSyncIsNeverBlocked reproduces issue 10's partner
// outage: a declared partner key syncing the whole catalogue (thousands of
// distinct ids, a sequential walk, from one address) was blocked by the
// scraping detector. Bulk reading is a partner's job: the key may be
// throttled with Retry-After, never blocked or challenged.
func TestDeclaredPartnerSyncIsNeverBlocked(t *testing.T) {
	w := newWorld(t, fmt.Sprintf(`
identity:
  api_key:
    query: key
    keys:
      - {id: acme, plan: partner, sha256: %x}
routes:
  - {name: product, match: "GET /catalog/items/{id}"}
`, sha256.Sum256([]byte("acme-sync-key"))))
	throttled := 0
	for i := 1; i <= 3000; i++ {
		a, status, reason := w.do("198.51.100.20", "GET", fmt.Sprintf("/catalog/items/%d?key=acme-sync-key", i), 200,
			"User-Agent: acme-sync/3.2")
		switch a {
		case verdict.Allow:
		case verdict.Throttle:
			throttled++
		default:
			t.Fatalf("partner request %d: %v %d %s, want allow or throttle", i, a, status, reason)
		}
	}
	for _, d := range w.ds.ForEntity(verdict.ScopeKey, "acme", w.now) {
		if d.Action > verdict.Throttle {
			t.Fatalf("decision on the partner key: %+v", d)
		}
	}
	t.Logf("throttled %d of 3000", throttled)
	// The same walk with a made-up key (no declared identity) still ends
	// in a challenge or block.
	w.now = w.now.Add(time.Hour)
	stopped := false
	for i := 1; i <= 3000 && !stopped; i++ {
		a, _, _ := w.do("203.0.113.50", "GET", fmt.Sprintf("/catalog/items/%d?key=made-up", i), 200, "User-Agent: python-requests/2.31")
		stopped = a > verdict.Throttle
	}
	if !stopped {
		t.Fatal("a catalogue walk with a made-up key was never challenged or blocked")
	}
}

// TestSessionLimitJudgesOfficeUsersApart: behind one office NAT address,
// a limit keyed on the session gives each signed-in user (a framework
// session cookie, read without configuration) a budget of their own, so
// one user running into it does not refuse the others.
func TestSessionLimitJudgesOfficeUsersApart(t *testing.T) {
	w := newWorld(t, `
limits:
  - {name: per-session, key: [session], rate: 10/m, burst: 10}
`)
	const office = "192.0.2.40"
	for i := range 15 {
		a, status, _ := w.do(office, "GET", "/account", 200, "Cookie: sessionid=noisy-user")
		if i >= 10 && status != 429 {
			t.Fatalf("request %d of the noisy session: %v %d, want 429", i, a, status)
		}
	}
	for u := range 40 {
		if a, status, _ := w.do(office, "GET", "/account", 200, fmt.Sprintf("Cookie: theme=x; sessionid=user-%d", u)); a != verdict.Allow {
			t.Fatalf("office user %d refused (%d) after a colleague hit the limit", u, status)
		}
	}
}
