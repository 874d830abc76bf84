package gameday

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/sample"
	"github.com/abuseguard/abuseguard/internal/sample/bank"
	"github.com/abuseguard/abuseguard/internal/sample/desk"
	"github.com/abuseguard/abuseguard/internal/sample/tickets"
)

func TestClassify(t *testing.T) {
	problem := func(reason string) []byte {
		return []byte(`{"type":"urn:abuseguard:problem:` + reason + `","status":0,"rule":"detector:probing"}`)
	}
	tests := []struct {
		name        string
		status      int
		contentType string
		body        []byte
		want        Outcome
		reason      string
	}{
		{"upstream ok", 200, "application/json", []byte(`{}`), Reached, ""},
		{"upstream 429 is the upstream's", 429, "application/json", []byte(`{"error":"slow down"}`), Reached, ""},
		{"upstream problem of its own", 403, "application/problem+json", []byte(`{"type":"https://api.example/forbidden"}`), Reached, ""},
		{"rate limited", 429, "application/problem+json", problem("rate_limited"), Throttled, "rate_limited"},
		{"throttled", 429, "application/problem+json; charset=utf-8", problem("throttled"), Throttled, "throttled"},
		{"challenge", 429, "application/problem+json", problem("challenge_required"), Challenged, "challenge_required"},
		{"blocked", 403, "application/problem+json", problem("blocked"), Blocked, "blocked"},
		{"unknown route", 404, "application/problem+json", problem("unknown_route"), Blocked, "unknown_route"},
		{"guard could not reach upstream", 502, "application/problem+json", problem("upstream_unavailable"), Failed, "upstream_unavailable"},
		{"garbage problem body", 429, "application/problem+json", []byte(`not json`), Reached, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason, rule := classify(tc.status, tc.contentType, tc.body)
			wantRule := ""
			if tc.reason != "" {
				wantRule = "detector:probing"
			}
			if got != tc.want || reason != tc.reason || rule != wantRule {
				t.Errorf("classify = %s %q %q, want %s %q %q", got, reason, rule, tc.want, tc.reason, wantRule)
			}
		})
	}
}

func TestOnlyLoopback(t *testing.T) {
	for _, target := range []string{"http://10.0.0.1:8080", "https://example.com", "http://[2001:db8::1]/", "ftp://127.0.0.1/", "127.0.0.1:8080"} {
		_, err := Simulate(context.Background(), Options{Target: target, Scenarios: []string{"flood"}, Duration: time.Second})
		if err == nil || !strings.Contains(err.Error(), "target") {
			t.Errorf("target %s: err = %v, want a refusal", target, err)
		}
	}
	_, err := Simulate(context.Background(), Options{Target: "http://127.0.0.1:1", Direct: "http://192.0.2.1", Scenarios: []string{"flood"}, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "direct") {
		t.Errorf("direct off loopback: err = %v", err)
	}
	for _, d := range []time.Duration{0, -time.Second, 2 * time.Hour} {
		if _, err := Simulate(context.Background(), Options{Target: "http://localhost:1", Scenarios: []string{"flood"}, Duration: d}); err == nil {
			t.Errorf("duration %s accepted", d)
		}
	}
	if _, err := Simulate(context.Background(), Options{Target: "http://localhost:1", Scenarios: []string{"nope"}, Duration: time.Second}); err == nil || !strings.Contains(err.Error(), `unknown scenario "nope"`) {
		t.Errorf("unknown scenario: %v", err)
	}
}

// firstSteps returns the first n steps of every actor, answering each 200.
func firstSteps(t *testing.T, cast []Cast, n int) []string {
	t.Helper()
	var out []string
	for _, c := range cast {
		var last *Answer
		for range n {
			s, ok := c.Actor.Next(last)
			if !ok {
				break
			}
			out = append(out, c.Info.Name+" "+s.Source.String()+" "+s.Method+" "+s.Path+" "+string(s.Body)+" "+s.Wait.String())
			last = &Answer{Status: 200, Body: []byte(`{"token":"t"}`)}
		}
	}
	return out
}

func TestCastIsDeterministic(t *testing.T) {
	p := DefaultParams()
	one, err := CastScenarios([]string{Mixed}, p, 7, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	two, _ := CastScenarios([]string{Mixed}, p, 7, time.Minute)
	other, _ := CastScenarios([]string{Mixed}, p, 8, time.Minute)
	a, b, c := firstSteps(t, one, 5), firstSteps(t, two, 5), firstSteps(t, other, 5)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Error("seed 7 cast two different game days")
	}
	if strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Error("seeds 7 and 8 cast the same game day")
	}
	// Every scenario is there, every address is loopback, and only the
	// office and its abuser share one.
	seen := map[string]bool{}
	owner := map[netip.Addr]string{}
	for _, c := range one {
		seen[c.Info.Scenario] = true
		for _, ip := range c.Info.Sources {
			if !ip.IsLoopback() || ip.As4()[1] == 0 {
				t.Fatalf("%s sends from %s", c.Info.Name, ip)
			}
			office := strings.HasPrefix(c.Info.Scenario, "office")
			if prev, ok := owner[ip]; ok && prev != c.Info.Scenario && !(office && strings.HasPrefix(prev, "office")) {
				t.Fatalf("%s and %s share %s", prev, c.Info.Name, ip)
			}
			owner[ip] = c.Info.Scenario
		}
	}
	for _, s := range Scenarios {
		if seen[s.Name] == s.Alone {
			t.Errorf("scenario %s (alone: %v): cast in mixed %v", s.Name, s.Alone, seen[s.Name])
		}
	}
}

func TestLoadParams(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	p, err := LoadParams(write("ok.yaml", "flood: {rate: 40}\noffice: {users: 20}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Flood.Rate != 40 || p.Flood.Length != 15*time.Second || p.Office.Users != 20 || p.Browsing.Users != 60 {
		t.Errorf("decoded onto defaults: flood %+v, office %d, browsing %d", p.Flood, p.Office.Users, p.Browsing.Users)
	}
	for _, tc := range []struct{ text, want string }{
		{"flood:\n  rat: 40\n", "bad.yaml:2:3"},
		{"flood:\n  rat: 40\n", `"rate"`},
		{"office:\n  users: many\n", "bad.yaml:2:10"},
		{"flood: {rate: 0}\n", "flood.rate must be more than 0"},
		{"browsing: {think: {min: 5s, max: 1s}}\n", "browsing.think must have 0 < min <= max"},
		{"token_churn: {start: 1.5}\n", "token_churn.start must be in [0, 1)"},
	} {
		_, err := LoadParams(write("bad.yaml", tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to mention %s", tc.text, err, tc.want)
		}
	}
}

// recorder is an upstream that notes who sent what.
type recorder struct {
	mu      sync.Mutex
	sources map[string]int
	xff     map[string]int
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	host, _, _ := net.SplitHostPort(req.RemoteAddr)
	r.mu.Lock()
	r.sources[host]++
	if f := req.Header.Get("X-Forwarded-For"); f != "" {
		r.xff[f]++
	}
	r.mu.Unlock()
	if strings.HasPrefix(req.URL.Path, "/api/login") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"token":"tok"}`))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestWallClockSendsFromEachActorsAddress runs two seconds of real
// traffic at a local server and checks that each actor's requests come
// from its own loopback address (or name it in X-Forwarded-For).
func TestWallClockSendsFromEachActorsAddress(t *testing.T) {
	for _, forwarded := range []bool{false, true} {
		rec := &recorder{sources: map[string]int{}, xff: map[string]int{}}
		srv := httptest.NewServer(rec)
		p := DefaultParams()
		p.ScrapingFast.Start, p.PathProbing.Start, p.LeakedKey.Start = 0, 0, 0
		p.LeakedKey.Sources = 5
		run, err := Simulate(context.Background(), Options{
			Target: srv.URL, Scenarios: []string{"scraping-fast,path-probing,leaked-key"}, Params: p,
			Duration: 2 * time.Second, Seed: 3, ForwardedFor: forwarded,
		})
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if run.Virtual || len(run.Results) < 20 {
			t.Fatalf("forwarded=%v: %d results", forwarded, len(run.Results))
		}
		seen := rec.sources
		if forwarded {
			seen = rec.xff
			if len(rec.sources) != 1 || rec.sources["127.0.0.1"] == 0 {
				t.Errorf("forwarded: connections from %v, want only 127.0.0.1", rec.sources)
			}
		}
		total := 0
		for _, a := range run.Actors {
			for _, ip := range a.Sources {
				total += seen[ip.String()]
			}
		}
		if total != len(run.Results) {
			t.Errorf("forwarded=%v: server saw %d requests from the actors' addresses (%v), runner recorded %d", forwarded, total, seen, len(run.Results))
		}
		for _, r := range run.Results {
			if r.Outcome != Reached || r.Status != http.StatusNoContent {
				t.Fatalf("result %+v, want reached 204", r)
			}
		}
	}
}

func TestSignInMustSucceed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"type":"urn:abuseguard:problem:rate_limited"}`))
	}))
	defer srv.Close()
	_, err := Simulate(context.Background(), Options{Target: srv.URL, Scenarios: []string{"office"}, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "sign-in 1 of 200") || !strings.Contains(err.Error(), "rate_limited") {
		t.Errorf("err = %v, want the first sign-in's refusal", err)
	}
}

// TestVirtualClockIsReproducible runs the same short game day twice on a
// virtual clock against the sample API alone: the same requests at the
// same times get the same answers.
func TestVirtualClockIsReproducible(t *testing.T) {
	at := func() time.Time { return time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC) }
	once := func() []Result {
		srv := httptest.NewServer(sample.New(sample.Options{Seed: 1, Now: at}))
		defer srv.Close()
		run, err := Simulate(context.Background(), Options{
			Target: srv.URL, Scenarios: []string{"browsing,scraping-fast,promo-bruteforce"}, Duration: 20 * time.Second,
			Seed: 5, Clock: NewVirtualClock(at()),
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range run.Results {
			run.Results[i].Latency = 0
		}
		return run.Results
	}
	a, b := once(), once()
	if len(a) < 100 || len(a) != len(b) {
		t.Fatalf("%d and %d results", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("result %d: %+v then %+v", i, a[i], b[i])
		}
	}
}

// TestProductIDUUID checks the "uuid:" product_id spelling against the
// ticketing API's event ids, which the game day must name exactly.
func TestProductIDUUID(t *testing.T) {
	spelling := "uuid:" + tickets.EventURL
	for _, n := range []int{1, 2, 1500, 1501} {
		if got, want := productID(spelling, n), tickets.EventID(n); got != want {
			t.Errorf("productID(%q, %d) = %s, want %s", spelling, n, got, want)
		}
	}
	if got := productID("lst-%05d", 7); got != "lst-00007" {
		t.Errorf("productID(lst-%%05d, 7) = %s", got)
	}
}

// TestProductIDBase62 checks the "base62:" product_id spelling against
// the help-desk API's article ids, and that scenarios-desk.yaml spells
// them so.
func TestProductIDBase62(t *testing.T) {
	spelling := "base62:" + strconv.Itoa(desk.ArticleIDMultiplier)
	for _, n := range []int{1, 2, 1200, 1201} {
		if got, want := productID(spelling, n), desk.ArticleID(n); got != want {
			t.Errorf("productID(%q, %d) = %s, want %s", spelling, n, got, want)
		}
	}
	p, err := ParamsFor("desk")
	if err != nil {
		t.Fatal(err)
	}
	if p.API.ProductID != spelling {
		t.Errorf("scenarios-desk.yaml: product_id %q, want %q", p.API.ProductID, spelling)
	}
	if got := productID("base62:x", 1); got != "" {
		t.Errorf("productID(base62:x, 1) = %q, want \"\"", got)
	}
}

// TestDeskSpellings checks the request shapes the help-desk API needs: a
// form sign-in (with Accept text/html from a browser, JSON from the
// app), a Basic-auth key, and enumeration by a GET query.
func TestDeskSpellings(t *testing.T) {
	p, err := ParamsFor("desk")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	web := &client{rng: rng, header: browserHeader(rng), api: &p.API}
	s := web.signInStep(0, "agent1@northwind.example", "desk-1-secret")
	if s.Method != "POST" || s.Path != "/users/sign_in" || s.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || !strings.HasPrefix(s.Header.Get("Accept"), "text/html") {
		t.Errorf("web sign-in: %s %s %v", s.Method, s.Path, s.Header)
	}
	if got, want := string(s.Body), "commit=Log+in&user%5Bemail%5D=agent1%40northwind.example&user%5Bpassword%5D=desk-1-secret"; got != want {
		t.Errorf("web sign-in body %s, want %s", got, want)
	}
	app := &client{rng: rng, header: http.Header{"Accept": {"application/json"}}, api: &p.API, app: true}
	if got := app.signInStep(0, "a", "b").Header.Get("Accept"); got != "application/json" {
		t.Errorf("app sign-in Accept %q, want application/json", got)
	}
	if got := app.keyed("dsk_live_x"); len(got) != 2 || got[0] != "Authorization" || got[1] != "Basic ZHNrX2xpdmVfeDo=" {
		t.Errorf("keyed: %q, want Authorization: Basic base64(dsk_live_x:)", got)
	}
	casts, err := CastScenarios([]string{"account-enumeration"}, p, 1, time.Minute)
	if err != nil || len(casts) != 1 {
		t.Fatal(casts, err)
	}
	step, _ := casts[0].Actor.Next(nil)
	if step.Method != "GET" || !strings.HasPrefix(step.Path, "/api/people/lookup?email=") || step.Body != nil {
		t.Errorf("enumeration step: %s %s %q", step.Method, step.Path, step.Body)
	}
}

// TestBankSpellings checks that scenarios-bank.yaml spells the banking
// API's merchant ids, phone numbers and PINs as internal/sample/bank
// does, and its sign-in as {"phone","pin"}.
func TestBankSpellings(t *testing.T) {
	p, err := ParamsFor("bank")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 999, 1000} {
		if got, want := productID(p.API.ProductID, n), bank.MerchantID(n); got != want {
			t.Errorf("product_id %q for %d: %s, want %s", p.API.ProductID, n, got, want)
		}
		if got, want := fmt.Sprintf(p.API.Username, n), bank.PhoneOf(n); got != want {
			t.Errorf("username %q for %d: %s, want %s", p.API.Username, n, got, want)
		}
		if got, want := fmt.Sprintf(p.API.Password, n), bank.PINOf(n); got != want {
			t.Errorf("password %q for %d: %s, want %s", p.API.Password, n, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	app := &client{rng: rng, header: http.Header{"Accept": {"application/json"}}, api: &p.API, app: true}
	s := app.signInStep(0, bank.PhoneOf(1), bank.PINOf(1))
	if s.Path != "/v1/auth/login" || !strings.Contains(string(s.Body), `"phone":"+447700000001"`) || !strings.Contains(string(s.Body), `"pin":"900001"`) {
		t.Errorf("sign-in: %s %s", s.Path, s.Body)
	}
	if got := app.keyed("k"); len(got) != 2 || got[0] != "Ocp-Apim-Subscription-Key" || got[1] != "k" {
		t.Errorf("keyed: %q", got)
	}
}
