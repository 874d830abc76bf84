package engine

import (
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
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
	// The same walk without a key (no identity at all) still ends in a
	// challenge or block.
	w.now = w.now.Add(time.Hour)
	stopped := false
	for i := 1; i <= 3000 && !stopped; i++ {
		a, _, _ := w.do("203.0.113.50", "GET", fmt.Sprintf("/catalog/items/%d", i), 200, "User-Agent: python-requests/2.31")
		stopped = a > verdict.Throttle
	}
	if !stopped {
		t.Fatal("a catalogue walk without a key was never challenged or blocked")
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

// paced sends n requests from one address, one every gap, through do
// (which otherwise sets its own pace), and counts the verdicts: it fails
// the test on a challenge or block when noBlock is set.
func (w *world) paced(n int, gap time.Duration, ip string, target func(i int) string, upstream int, noBlock bool, headers ...string) (allowed, throttled, stopped int) {
	w.t.Helper()
	for i := range n {
		at := w.now
		a, status, reason := w.do(ip, "GET", target(i), upstream, headers...)
		w.now = at.Add(gap)
		switch a {
		case verdict.Allow:
			allowed++
		case verdict.Throttle:
			throttled++
		default:
			stopped++
			if noBlock {
				w.t.Fatalf("request %d (%s): %v %d %s, want allow or throttle", i, target(i), a, status, reason)
			}
		}
	}
	return allowed, throttled, stopped
}

// TestUndeclaredPartnerSyncIsKnownClient reproduces issue 10's partner
// outage under the embedded defaults: a partner whose key is not declared
// (an opaque bearer key, read without configuration) syncs the catalogue
// from one address at 25 requests a second for a minute, above the
// anonymous per-IP limit. The upstream accepts the key, so after its first
// answers it is a known client: judged by its key, never challenged or
// blocked, and not refused by the anonymous limit. The same sync without
// a key, and with a key the upstream refuses, is stopped.
func TestUndeclaredPartnerSyncIsKnownClient(t *testing.T) {
	w := newWorld(t, "")
	const gap = 40 * time.Millisecond // 25 a second
	sync := func(i int) string { return fmt.Sprintf("/v2/sync/%s?cursor=%d", []string{"listings", "stock"}[i%2], i) }
	partner := []string{"Authorization: Bearer ptr_live_7f3a9c", "User-Agent: acme-sync/2.3"}
	allowed, throttled, _ := w.paced(1500, gap, "198.51.100.20", sync, 200, true, partner...)
	if allowed < 1490 {
		t.Errorf("partner: %d of 1500 allowed (%d throttled), want 1490 or more", allowed, throttled)
	}
	id := w.keyIDOf("ptr_live_7f3a9c")
	for _, d := range w.ds.ForEntity(verdict.ScopeKey, id, w.now) {
		if d.Action > verdict.Throttle {
			t.Errorf("decision on the partner's key: %+v", d)
		}
	}

	// Without a key the same sync is an anonymous client over the per-IP
	// limit, and ignoring its Retry-After escalates.
	w.now = w.now.Add(time.Hour)
	if _, throttled, stopped := w.paced(1500, gap, "198.51.100.21", sync, 200, false, "User-Agent: acme-sync/2.3"); throttled+stopped < 100 {
		t.Errorf("an anonymous sync at 25/s: %d throttled, %d stopped, want refusals", throttled, stopped)
	}
	// A key the upstream refuses earns nothing: still anonymous.
	w.now = w.now.Add(time.Hour)
	if _, throttled, stopped := w.paced(1500, gap, "198.51.100.22", sync, 401, false, "User-Agent: acme-sync/2.3", "Authorization: Bearer guessed"); throttled+stopped < 100 {
		t.Errorf("a sync with a key the upstream refuses: %d throttled, %d stopped, want refusals", throttled, stopped)
	}
}

// keyIDOf returns the HMAC id the policy gives an undeclared key.
func (w *world) keyIDOf(key string) string { return w.p.Parser.Identifier.Pseudonym("k_", key) }

// decided parses and decides one request without reporting an outcome,
// and returns the view as the engine marked it.
func (w *world) decided(ip, target string, headers ...string) *request.View {
	w.t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = ip + ":40000"
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ": ")
		r.Header.Set(k, v)
	}
	v := &request.View{ID: "view"}
	if prob := w.p.Parser.ParseHTTP(r, w.now, v); prob != nil {
		w.t.Fatalf("parse: %v", prob)
	}
	w.p.Decide(v).Finish(w.now)
	return v
}

// TestKnownClientRecord: a key is known after 20 accepted answers from
// few networks; a key the upstream refuses, one used from many networks,
// and one idle past the record's window are not.
func TestKnownClientRecord(t *testing.T) {
	w := newWorld(t, "")
	known := func(ip, key string) bool {
		return w.decided(ip, "/v1/things", "X-API-Key: "+key).Hints.Has(request.KnownClient)
	}
	for i := range 20 {
		if known("198.51.100.5", "good") {
			t.Fatalf("known after %d accepted answers, want 20 (known_after)", i)
		}
		w.do("198.51.100.5", "GET", "/v1/things", 200, "X-API-Key: good")
	}
	if !known("198.51.100.5", "good") {
		t.Fatal("not known after 20 accepted answers")
	}
	// Refused answers: a key the upstream answers 401 for is not accepted.
	for range 40 {
		w.do("198.51.100.6", "GET", "/v1/things", 401, "X-API-Key: guessed")
	}
	if known("198.51.100.6", "guessed") {
		t.Fatal("a refused key is known")
	}
	// A mostly accepted key the upstream refuses now and then is not
	// known either while refusals exceed one in 20.
	for i := range 40 {
		w.do("198.51.100.7", "GET", "/v1/things", map[bool]int{true: 403, false: 200}[i%5 == 0], "X-API-Key: flaky")
	}
	if known("198.51.100.7", "flaky") {
		t.Fatal("a key refused 8 times in 40 is known")
	}
	// Used from more than knownNetworks networks, the known key is no
	// longer known (leaked), from anywhere.
	for n := range knownNetworks - 2 {
		w.do(fmt.Sprintf("203.0.%d.9", 100+n), "GET", "/v1/things", 200, "X-API-Key: good")
	}
	if !known("192.0.2.200", "good") {
		t.Fatalf("a key used from %d networks is no longer known", knownNetworks)
	}
	// The networks are a distinct-count sketch (two may share one of its
	// 256 bits), so past the bound by a few.
	for n := range 3 {
		w.do(fmt.Sprintf("192.0.%d.200", 3+n), "GET", "/v1/things", 200, "X-API-Key: good")
	}
	if known("198.51.100.5", "good") {
		t.Fatalf("a key used from %d networks is still known", knownNetworks+4)
	}
	// The record is decayed with the injected clock: idle for two windows
	// it is forgotten, and the key starts over.
	w.now = w.now.Add(3 * knownWindow)
	if known("198.51.100.5", "good") {
		t.Fatal("still known three windows later")
	}
}

// TestMadeUpKeyShieldsNoBlockedAddress: a key cannot earn a record while
// its address is blocked (its requests never reach the upstream), so a
// blocked prober adding a fresh key, even one the upstream would accept,
// is still refused; and a key the upstream refuses is anonymous.
func TestMadeUpKeyShieldsNoBlockedAddress(t *testing.T) {
	w := newWorld(t, "")
	for i := range 40 {
		w.do("192.0.2.10", "GET", fmt.Sprintf("/probe-%d", i), 404)
	}
	for i := range 50 {
		if _, status, _ := w.do("192.0.2.10", "GET", "/v1/things", 200, "X-API-Key: fresh"); status != 403 {
			t.Fatalf("request %d of a blocked address with a fresh key: %d, want 403", i, status)
		}
	}
	if w.decided("192.0.2.10", "/v1/things", "X-API-Key: fresh").Hints.Has(request.KnownClient) {
		t.Fatal("a key sent only from a blocked address is known")
	}
}

// TestKnownClientKeepsKeyScopeEvidence: a known client's key is still
// stopped for abuse of the key itself: used from many networks (leaked),
// it is blocked, and its old address is refused with it.
func TestKnownClientKeepsKeyScopeEvidence(t *testing.T) {
	w := newWorld(t, "")
	key := "X-API-Key: ptr_live_leaks"
	w.paced(30, 200*time.Millisecond, "198.51.100.30", func(int) string { return "/v1/things" }, 200, true, key)
	stoppedAt := 0
	for i := range 60 {
		if a, _, _ := w.do(fmt.Sprintf("203.0.%d.%d", 1+i, 7), "GET", "/v1/things", 200, key); a > verdict.Throttle {
			stoppedAt = i + 1
			break
		}
	}
	if stoppedAt == 0 {
		t.Fatal("a key used from 60 networks was never challenged or blocked")
	}
	if a, _, _ := w.do("198.51.100.30", "GET", "/v1/things", 200, key); a == verdict.Allow {
		t.Fatal("the leaked key is still served at its first address")
	}
	t.Logf("stopped at the %dth network", stoppedAt)
}

// TestTokenChurnStoppedEarly: one address sending a new key with every
// request at 3 a second, each refused by the upstream, is refused within
// 5 seconds (15 requests): keys the upstream refused count against the
// address at a lower threshold than keys in general.
func TestTokenChurnStoppedEarly(t *testing.T) {
	w := newWorld(t, "")
	first := 0
	for i := 1; i <= 30 && first == 0; i++ {
		at := w.now
		if a, _, _ := w.do("203.0.113.80", "GET", "/v1/partner/orders", 403, fmt.Sprintf("Authorization: Bearer sk_live_%016x", i*7919)); a != verdict.Allow {
			first = i
		}
		w.now = at.Add(time.Second / 3)
	}
	if first == 0 || first > 15 {
		t.Fatalf("token churn first refused at request %d, want within 15 (5 s at 3/s)", first)
	}
	if ds := w.ds.ForEntity(verdict.ScopeIP, "203.0.113.80", w.now); len(ds) == 0 || ds[0].Reason != "sharing" {
		t.Fatalf("decisions on the churning address: %+v, want one for sharing", ds)
	}
}

// TestKnownAfterOff: with identity.api_key.known_after 0 no undeclared key
// is ever known, however often the upstream accepts it.
func TestKnownAfterOff(t *testing.T) {
	w := newWorld(t, "identity: {api_key: {known_after: 0}}\n")
	for range 100 {
		w.do("198.51.100.5", "GET", "/v1/things", 200, "X-API-Key: good")
	}
	if w.decided("198.51.100.5", "/v1/things", "X-API-Key: good").Hints.Has(request.KnownClient) {
		t.Fatal("a key is known with known_after: 0")
	}
}

// TestKnownClientBehindABlockedAddress: a known client's key shares an
// address with an anonymous prober; the address is blocked, the known
// client is still served (decisions on its address are not its own), until
// the address itself cycles through keys the upstream refuses: that
// decision, made by key-scope evidence, applies to the known key too.
func TestKnownClientBehindABlockedAddress(t *testing.T) {
	w := newWorld(t, "")
	const nat = "192.0.2.50"
	partner := "X-API-Key: ptr_live_nat"
	w.paced(25, 100*time.Millisecond, nat, func(i int) string { return fmt.Sprintf("/v1/orders?page=%d", i) }, 200, true, partner)
	for i := range 40 {
		w.do(nat, "GET", fmt.Sprintf("/probe-%d", i), 404)
	}
	if _, status, _ := w.do(nat, "GET", "/v1/orders", 200); status != 403 {
		t.Fatalf("the prober's address: %d, want 403", status)
	}
	for i := range 20 {
		if a, status, reason := w.do(nat, "GET", "/v1/orders", 200, partner); a != verdict.Allow {
			t.Fatalf("known client request %d behind the blocked address: %v %d %s", i, a, status, reason)
		}
	}
	// A fresh key from the blocked address is refused: it has no record.
	if _, status, _ := w.do(nat, "GET", "/v1/orders", 200, "X-API-Key: fresh"); status != 403 {
		t.Fatalf("a fresh key from the blocked address: %d, want 403", status)
	}

	// Another address: a known client, then guessed keys from it.
	const churner = "192.0.2.60"
	other := "X-API-Key: ptr_live_churn"
	w.paced(25, 100*time.Millisecond, churner, func(int) string { return "/v1/orders" }, 200, true, other)
	for i := range 12 {
		w.do(churner, "GET", "/v1/orders", 403, fmt.Sprintf("X-API-Key: guess-%d", i))
	}
	if a, _, _ := w.do(churner, "GET", "/v1/orders", 200, other); a == verdict.Allow {
		t.Fatal("a known key from an address blocked for key churn is still served")
	}
}

// TestMadeUpKeyOnAPublicEndpointEarnsNothing: on an endpoint the upstream
// serves without a key (a public catalogue that ignores keys), its 2xx
// answers to a keyed request vouch for nothing. A scraper that adds a
// made-up key to its walk never becomes a known client there, however
// many answers it collects, and the walk is still stopped; the same key
// on an endpoint only keyed requests are served on does become known.
func TestMadeUpKeyOnAPublicEndpointEarnsNothing(t *testing.T) {
	w := newWorld(t, "")
	for i := range 5 { // a visitor without a key is served the catalogue
		w.do("192.0.2.10", "GET", fmt.Sprintf("/catalog/items/%d", 900+i), 200, "User-Agent: Mozilla/5.0")
	}
	scraper := []string{"Authorization: Bearer anything-at-all", "User-Agent: acme-sync/2.3"}
	walk := func(i int) string { return fmt.Sprintf("/catalog/items/%d", i+1) }
	_, throttled, stopped := w.paced(1500, 40*time.Millisecond, "203.0.113.60", walk, 200, false, scraper...)
	if v := w.decided("203.0.113.60", "/catalog/items/1", scraper...); v.Hints.Has(request.KnownClient) {
		t.Error("a made-up key on an endpoint served without a key became a known client")
	}
	if stopped == 0 {
		t.Errorf("the keyed walk of a public catalogue was never challenged or blocked (%d throttled)", throttled)
	}
	// The control: the same number of answers on an endpoint served to
	// keyed requests only makes the key known.
	w.now = w.now.Add(3 * time.Hour)
	partner := []string{"Authorization: Bearer ptr_live_7f3a9c", "User-Agent: acme-sync/2.3"}
	w.paced(30, 40*time.Millisecond, "198.51.100.20", func(i int) string { return fmt.Sprintf("/v2/sync/stock?cursor=%d", i) }, 200, true, partner...)
	if v := w.decided("198.51.100.20", "/v2/sync/stock?cursor=31", partner...); !v.Hints.Has(request.KnownClient) {
		t.Error("a key accepted on an endpoint served only with a key is not a known client")
	}
}
