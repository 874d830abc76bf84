package serve

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/abuseguard/abuseguard/internal/admin"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/telemetry"
)

// rollouts is serve's admin.Rollout: operators' mode overrides for limits
// and rules, applied over the config file at every load (so they survive
// reloads) and saved beside the decisions (so they survive restarts), and
// the tally rules report from.
type rollouts struct {
	overrides *rollout.Overrides
	tally     *rollout.Tally
	engine    *engine.Engine
	events    *telemetry.Events
	log       *slog.Logger
	now       func() time.Time
	// reload recompiles the policy from the file with the overrides
	// applied; set once the engine runs.
	reload func() error

	mu sync.Mutex // one promote or rollback at a time
}

// rolloutPath is where the overrides of a config are saved: beside its
// decisions file; "" (in memory) when decisions are not persisted.
func rolloutPath(cfg *config.Config) string {
	if cfg.Decisions.Path == "" {
		return ""
	}
	return cfg.Decisions.Path + ".rollout.json"
}

// apply sets the overridden modes on cfg, as loaded from its file. An
// override whose limit or rule is gone, or whose mode the file changed
// since, is dropped: the file wins for what it sets.
func (r *rollouts) apply(cfg *config.Config) {
	for _, ov := range r.overrides.List() {
		cur, err := cfg.Rollable(ov.Kind + ":" + ov.Name)
		if err == nil && cur.Mode.String() == ov.FileMode {
			to, _ := rollout.ParseTarget(ov.Mode)
			if err = cfg.SetMode(ov.Kind, ov.Name, to); err == nil {
				continue
			}
		}
		why := "the config file changed its mode"
		if err != nil {
			why = err.Error()
		}
		if _, rerr := r.overrides.Remove(ov.Kind, ov.Name); rerr != nil {
			r.log.Error("rollout override could not be dropped", "name", ov.Name, "err", rerr)
		}
		r.log.Warn("rollout override dropped: the config file decides", "kind", ov.Kind, "name", ov.Name,
			"override", ov.Mode, "file_mode", cur.Mode.String(), "why", why)
	}
}

func (r *rollouts) state(cfg *config.Config, it config.Rollable) admin.RuleState {
	st := admin.RuleState{Name: it.Name, Kind: it.Kind, Mode: it.Mode.String(), FileMode: it.Mode.String()}
	if ov, ok := r.overrides.Get(it.Kind, it.Name); ok {
		st.FileMode, st.Override = ov.FileMode, &ov
	}
	return st
}

// Rules lists the limits and rules of the policy in force.
func (r *rollouts) Rules() []admin.RuleState {
	cfg := r.engine.Policy().Config
	var out []admin.RuleState
	for _, it := range cfg.Rollables() {
		out = append(out, r.state(cfg, it))
	}
	return out
}

func (r *rollouts) find(name string) (*config.Config, config.Rollable, error) {
	cfg := r.engine.Policy().Config
	it, err := cfg.Rollable(name)
	if err != nil {
		return nil, it, fmt.Errorf("%w: %v", admin.ErrUnknownRule, err)
	}
	return cfg, it, nil
}

// Promote sets the mode of name to to, recompiles the policy and audits
// it in the events. Promoting to what the file says drops the override.
func (r *rollouts) Promote(name string, to rollout.Target, by string) (admin.RuleState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, it, err := r.find(name)
	if err != nil {
		return admin.RuleState{}, err
	}
	before := r.state(cfg, it)
	if to.String() == before.FileMode {
		if _, err := r.overrides.Remove(it.Kind, it.Name); err != nil {
			return before, err
		}
	} else {
		err := r.overrides.Set(rollout.Override{Name: it.Name, Kind: it.Kind, Mode: to.String(), FileMode: before.FileMode,
			Previous: before.Mode, By: by, At: r.now().UTC()})
		if err != nil {
			return before, err
		}
	}
	if err := r.reload(); err != nil {
		r.restore(before)
		return before, fmt.Errorf("%s %s: the policy does not compile with mode %s, nothing changed: %w", it.Kind, it.Name, to, err)
	}
	r.audit("rollout_promote", it, before.Mode, to.String(), by)
	_, it, _ = r.find(it.Kind + ":" + it.Name)
	return r.state(r.engine.Policy().Config, it), nil
}

// Rollback drops the override of name: it runs as the file says again.
func (r *rollouts) Rollback(name, by string) (admin.RuleState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, it, err := r.find(name)
	if err != nil {
		return admin.RuleState{}, err
	}
	before := r.state(cfg, it)
	if before.Override == nil {
		return before, fmt.Errorf("%s %s runs as the config file says (%s): nothing to roll back", it.Kind, it.Name, before.Mode)
	}
	if _, err := r.overrides.Remove(it.Kind, it.Name); err != nil {
		return before, err
	}
	if err := r.reload(); err != nil {
		r.restore(before)
		return before, fmt.Errorf("%s %s: the policy does not compile, nothing changed: %w", it.Kind, it.Name, err)
	}
	r.audit("rollout_rollback", it, before.Mode, before.FileMode, by)
	_, it, _ = r.find(it.Kind + ":" + it.Name)
	return r.state(r.engine.Policy().Config, it), nil
}

// restore puts back the override st had.
func (r *rollouts) restore(st admin.RuleState) {
	var err error
	if st.Override != nil {
		err = r.overrides.Set(*st.Override)
	} else {
		_, err = r.overrides.Remove(st.Kind, st.Name)
	}
	if err != nil {
		r.log.Error("rollout override could not be restored", "name", st.Name, "err", err)
	}
}

// Report returns what name acted and would have acted on.
func (r *rollouts) Report(name string) (rollout.Report, error) {
	_, it, err := r.find(name)
	if err != nil {
		return rollout.Report{}, err
	}
	key := it.Name
	if it.Kind == "rule" {
		key = "rule:" + it.Name // the Verdict's Rule of a CEL rule
	}
	rep := r.tally.Report(key)
	rep.Name = it.Name
	return rep, nil
}

// audit writes the change as a security event.
func (r *rollouts) audit(kind string, it config.Rollable, from, to, by string) {
	r.log.Info("rollout", "change", kind, "kind", it.Kind, "name", it.Name, "from", from, "to", to, "by", by)
	r.events.Emit(&telemetry.Event{Time: r.now(), Kind: kind, Rule: it.Name, Mode: to, Severity: "medium",
		Summary: fmt.Sprintf("%s %s: %s -> %s through the admin API from %s", it.Kind, it.Name, from, to, by)})
}

var _ admin.Rollout = (*rollouts)(nil)
