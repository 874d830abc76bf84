package config

import (
	"fmt"
	"strings"

	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Rollable is one limit or CEL rule whose mode an operator can roll out
// (`abuseguard rules promote`).
type Rollable struct {
	Name string
	Kind string // limit or rule
	Mode rollout.Target
}

// Rollables returns c's limits, then its rules, with their modes.
func (c *Config) Rollables() []Rollable {
	out := make([]Rollable, 0, len(c.Limits)+len(c.Rules))
	for _, l := range c.Limits {
		out = append(out, Rollable{Name: l.Name, Kind: "limit", Mode: targetOf(l.Mode.String(), l.CanaryPercent)})
	}
	for _, r := range c.Rules {
		out = append(out, Rollable{Name: r.Name, Kind: "rule", Mode: targetOf(r.Mode, r.CanaryPercent)})
	}
	return out
}

func targetOf(mode string, percent float64) rollout.Target {
	switch mode {
	case "", "enforce":
		return rollout.Target{Mode: "enforce"}
	case "canary":
		return rollout.Target{Mode: "canary", Percent: percent}
	}
	return rollout.Target{Mode: mode}
}

// Rollable returns the limit or rule called name; "limit:NAME" and
// "rule:NAME" choose between a limit and a rule of the same name.
func (c *Config) Rollable(name string) (Rollable, error) {
	kind, bare, _ := strings.Cut(name, ":")
	if bare == "" || kind != "limit" && kind != "rule" {
		kind, bare = "", name
	}
	var found []Rollable
	for _, r := range c.Rollables() {
		if r.Name == bare && (kind == "" || r.Kind == kind) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return Rollable{}, fmt.Errorf("no limit or rule named %q", name)
	case 1:
		return found[0], nil
	}
	return Rollable{}, fmt.Errorf("%q names a limit and a rule: say limit:%s or rule:%s", name, bare, bare)
}

// SetMode sets the mode of the limit or rule called name (of kind) to t.
// The CEL rules compile again on next use, with it.
func (c *Config) SetMode(kind, name string, t rollout.Target) error {
	mode, ok := verdict.ParseMode(t.Mode)
	if !ok || mode != verdict.Enforce && mode != verdict.Shadow && mode != verdict.Canary {
		return fmt.Errorf("%s %s: %q is not shadow, canary or enforce", kind, name, t.Mode)
	}
	switch kind {
	case "limit":
		for i := range c.Limits {
			if l := &c.Limits[i]; l.Name == name {
				l.Mode, l.CanaryPercent = mode, t.Percent
				return nil
			}
		}
	case "rule":
		for i := range c.Rules {
			if r := &c.Rules[i]; r.Name == name {
				r.Mode, r.CanaryPercent = t.Mode, t.Percent
				c.rules = nil
				return nil
			}
		}
	}
	return fmt.Errorf("no %s named %q", kind, name)
}
