package config

import (
	"strings"
	"testing"

	"github.com/abuseguard/abuseguard/internal/rollout"
)

func TestRollables(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
limits:
  - {name: login, key: [ip], rate: 5/m, mode: shadow}
  - {name: per-key, key: [api_key], rate: 5/m, mode: canary, canary_percent: 20}
rules:
  - {name: login, when: "request.method == 'POST'", action: block, mode: shadow}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range c.Rollables() {
		got = append(got, r.Kind+":"+r.Name+"="+r.Mode.String())
	}
	if strings.Join(got, " ") != "limit:login=shadow limit:per-key=canary:20 rule:login=shadow" {
		t.Errorf("Rollables = %v", got)
	}
	if _, err := c.Rollable("login"); err == nil || !strings.Contains(err.Error(), "limit:login or rule:login") {
		t.Errorf("an ambiguous name: %v", err)
	}
	if r, err := c.Rollable("rule:login"); err != nil || r.Kind != "rule" {
		t.Errorf("rule:login = %+v, %v", r, err)
	}
	if _, err := c.Rollable("nope"); err == nil {
		t.Error("an unknown name was found")
	}
	if err := c.SetMode("limit", "per-key", rollout.Target{Mode: "enforce"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMode("rule", "login", rollout.Target{Mode: "canary", Percent: 5}); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Rollable("per-key"); r.Mode.String() != "enforce" {
		t.Errorf("per-key after SetMode: %v", r.Mode)
	}
	rules, err := c.CompiledRules()
	if err != nil {
		t.Fatal(err)
	}
	if r := rules.Rule(0); r.Mode.String() != "canary" || r.CanaryPercent != 5 {
		t.Errorf("compiled rule after SetMode: mode %q %v%%; want it compiled again", r.Mode, r.CanaryPercent)
	}
	if err := c.SetMode("rule", "nope", rollout.Target{Mode: "enforce"}); err == nil {
		t.Error("SetMode of an unknown rule succeeded")
	}
}
