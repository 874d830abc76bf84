package gameday

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/examples"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/sample"
	"github.com/abuseguard/abuseguard/internal/store/memory"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// TestGraphQLCostRefusesAbuseQueries: with the shop's policy and a GraphQL
// cost limit of 1,000 (every other hard limit off), the simulator's deep
// and alias-heavy queries are refused by their cost (400
// graphql_too_complex) when decided, so they never reach the shop; the
// app's product-screen query passes. Each on a fresh client, so no
// detector's decision is involved.
func TestGraphQLCostRefusesAbuseQueries(t *testing.T) {
	t.Setenv(sample.TokenSecretEnv, "game-day-test-secret")
	c, err := config.Parse("shop.yaml", append(append([]byte(nil), examples.Shop...),
		"\ngraphql: {mode: enforce, max_depth: 0, max_aliases: 0, max_root_fields: 0, max_batch: 0, max_tokens: 0, max_cost: 1000}\n"...))
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(c, engine.NewShared(engine.Options{Limits: memory.New(memory.Options{}), RiskEntities: 1000, Getenv: os.Getenv}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	p0 := DefaultParams().GraphQLAbuse
	for i, tc := range []struct {
		name, query string
		refused     bool
	}{
		{"deep", deepQuery(p0.Depth, 7), true},
		{"aliases", aliasQuery(p0.Aliases, 1), true},
		{"app", "query ProductScreen { product(id: 3) { id name price stock reviews(first: 5) { rating body author { username } } } }", false},
	} {
		body, _ := json.Marshal(map[string]string{"query": tc.query})
		r := httptest.NewRequest("POST", "/graphql", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = "198.51.100." + string(rune('1'+i)) + ":5000"
		var v request.View
		if prob := p.Parser.ParseHTTP(r, time.Now(), &v); prob != nil {
			t.Fatalf("%s: parse: %v", tc.name, prob)
		}
		vd := p.Decide(&v)
		refused := vd.Action != verdict.Allow
		if refused != tc.refused || refused && (vd.Status != 400 || vd.Reason != "graphql_too_complex") {
			t.Errorf("%s query (cost %d): %v %d %s, want refused=%v with 400 graphql_too_complex", tc.name, v.Cost, vd.Action, vd.Status, vd.Reason, tc.refused)
		}
		t.Logf("%s: cost %d", tc.name, v.Cost)
		vd.Finish(v.Time)
	}
}
