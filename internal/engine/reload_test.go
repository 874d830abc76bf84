package engine

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// TestReloadKeepsIdentities reloads a config whose key ids are HMACs under
// a secret the environment does not set: the secret is made once per
// process, so after the reload a key keeps its id, and with it its limiter
// state, its decisions and the honeypot's pseudonymised honeytokens.
func TestReloadKeepsIdentities(t *testing.T) {
	const yaml = `
identity: {secret_env: AG_TEST_UNSET_SECRET, api_key: {header: X-Api-Key}}
routes:
  - {name: login, match: "POST /login", kind: login, field: username}
limits:
  - {name: per-key, key: [api_key], rate: 3/m, burst: 3}
detectors:
  honeypot: {usernames: [bait@example.com]}
`
	c := clock.NewFake(t0)
	ds, err := decision.Open(decision.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	shared := NewShared(Options{Limits: memory.New(memory.Options{}), Decisions: ds, RiskEntities: 1000})
	load := func() *Policy {
		cfg, err := config.Parse("test.yaml", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(cfg, shared)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	send := func(p *Policy, ip, method, target, body string, h ...string) (verdict.Verdict, request.View) {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.RemoteAddr = ip + ":40000"
		for _, kv := range h {
			k, v, _ := strings.Cut(kv, ": ")
			r.Header.Set(k, v)
		}
		var v request.View
		if prob := p.Parser.ParseHTTP(r, c.Now(), &v); prob != nil {
			t.Fatalf("parse: %v", prob)
		}
		vd := p.Decide(&v)
		out := vd.Verdict
		vd.Finish(c.Now())
		return out, v
	}

	p1 := load()
	var keyID string
	for i := range 3 {
		vd, v := send(p1, "203.0.113.1", "GET", "/items", "", "X-Api-Key: leaked")
		if vd.Action != verdict.Allow {
			t.Fatalf("request %d refused before the limit: %+v", i, vd)
		}
		keyID = v.Identity.KeyID
	}

	p2 := load()
	vd, v := send(p2, "203.0.113.1", "GET", "/items", "", "X-Api-Key: leaked")
	if v.Identity.KeyID != keyID {
		t.Fatalf("key id changed across the reload: %s, then %s", keyID, v.Identity.KeyID)
	}
	if vd.Reason != "rate_limited" {
		t.Errorf("after the reload the key's spent limit was forgotten: %+v", vd)
	}

	c.Advance(time.Hour) // the limit refills; a decision made before the next reload must hold after it
	if _, _, err := ds.Add(decision.Decision{Scope: verdict.ScopeKey, Value: keyID, Action: verdict.Block, Source: "manual", Reason: "manual"}); err != nil {
		t.Fatal(err)
	}
	p3 := load()
	if vd, _ := send(p3, "203.0.113.1", "GET", "/items", "", "X-Api-Key: leaked"); vd.Reason != "blocked" {
		t.Errorf("after the reload the key's block decision did not apply: %+v", vd)
	}

	// The honeypot detector was kept (its settings did not change), with
	// honeytokens pseudonymised before the reloads: they still match.
	send(p3, "198.51.100.7", "POST", "/login", `{"username":"bait@example.com","password":"x"}`, "Content-Type: application/json")
	if got := ds.ForEntity(verdict.ScopeIP, "198.51.100.7", c.Now()); len(got) != 1 || got[0].Source != "detector:honeypot" {
		t.Errorf("honeytoken login after reloads: decisions %+v, want one from detector:honeypot", got)
	}
}
