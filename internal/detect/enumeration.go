package detect

import (
	"fmt"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "enumeration", Order: 60, Settings: func() Settings { return &EnumerationConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewEnumeration(*s.(*EnumerationConfig), env.Hasher)
		}})
}

// EnumerationConfig configures the enumeration detector. Zero fields get the
// defaults named on each field; a negative threshold turns the check off.
type EnumerationConfig struct {
	Common `yaml:",inline"`
	// Window is the sliding window every count is measured over (default 10m).
	Window time.Duration `yaml:"window"`
	// DistinctThreshold is the distinct identifiers (emails, usernames) one
	// entity may try on signup and reset routes in Window before the signal
	// (default 10: a person who forgot which address they used tries two
	// or three).
	DistinctThreshold float64 `yaml:"distinct_threshold" off:"negative"`
	// PaceWindow is the short window in which DistinctThreshold attempts
	// (all but one of them, as the sliding count can lag by one) make the
	// signal one at a machine's pace, weighted PaceWeight instead
	// of Weight (default 20s; negative turns it off).
	PaceWindow time.Duration `yaml:"pace_window"`
	// PaceWeight is the risk points of the signal at a machine's pace
	// (default 65: past the challenge band, so a script is refused at once
	// rather than after a throttle's burst).
	PaceWeight float64 `yaml:"pace_weight"`
	// MinRatio is the share of the entity's attempts (0-1) whose answer
	// reveals whether the identifier exists that the signal needs
	// (default 0.5).
	MinRatio float64 `yaml:"min_ratio"`
	// NotFoundStatuses are the statuses that reveal existence: 404 (no such
	// account, on reset), 409 (already exists, on signup) and 422 (often
	// "email taken") (default [404, 409, 422]).
	NotFoundStatuses []int `yaml:"not_found_statuses"`
	// SignupReveals counts every answer on a signup route as revealing:
	// a 2xx says the identifier was free, a 409 or 422 that it was taken,
	// so signing up many identifiers is enumeration (or mass account
	// creation) whatever the share of either; the distinct identifiers,
	// DistinctThreshold and the pace are as on reset (default true; false
	// counts only NotFoundStatuses there too).
	SignupReveals *bool `yaml:"signup_reveals"`
	// InferKinds counts a POST, PUT or PATCH route with no declared kind
	// as a signup once InferKind finds it most likely one (by its path
	// words, body fields and answers: a post to a collection naming an
	// email or username answered 201 or 409), so account creation and
	// enumeration through signup are seen without a routes section
	// (default true; false turns it off). Reset routes are not inferred:
	// an account lookup answering 404 is a code check to the credentials
	// detector, which counts its distinct identifiers.
	InferKinds *bool `yaml:"infer_kinds"`
}

// Enumeration detects account enumeration on routes of kind signup and
// reset: one entity (detect.Subject) trying many distinct identifiers
// (View.Subject) while most answers tell it whether each one exists. An
// API that answers every reset with the same 202 leaks nothing and never
// trips it. On signup every answer tells (EnumerationConfig.SignupReveals):
// a created account says the identifier was free, a conflict that it was
// taken, so one entity signing up many identifiers is signalled whatever
// the mix. A POST, PUT or PATCH route with no declared kind that
// InferKind finds most likely a signup is one (EnumerationConfig.InferKinds).
// Identifiers tried at a machine's pace (DistinctThreshold in PaceWindow)
// weigh PaceWeight.
//
// Known traps: an office or school signing many people up from one NAT
// address without sessions to tell them apart (behind a shared address
// detect.Subject is each person's session, once they have one); a support
// tool that resets passwords or creates accounts for customers (exempt
// its key in policy).
type Enumeration struct {
	cfg      EnumerationConfig
	h        Hasher
	state    *Table[enumState]
	kinds    kindLearner // routes with no declared kind, for InferKinds
	revealed statusBits
}

type enumState struct {
	attempts, revealed Window
	recent             Window // attempts in PaceWindow
	ids                Distinct
	steps              Steps
}

// nsEnumID is the hash namespace of identifiers in an entity's Distinct.
const nsEnumID = 'e'

// NewEnumeration returns an Enumeration detector with defaults applied to cfg.
func NewEnumeration(cfg EnumerationConfig, h Hasher) *Enumeration {
	cfg.Common = cfg.Common.Defaults(45)
	cfg.Window = orDefault(cfg.Window, 10*time.Minute)
	cfg.DistinctThreshold = orDefault(cfg.DistinctThreshold, 10)
	cfg.MinRatio = orDefault(cfg.MinRatio, 0.5)
	cfg.PaceWindow = orDefault(cfg.PaceWindow, 20*time.Second)
	cfg.PaceWeight = orDefault(cfg.PaceWeight, 65)
	if cfg.NotFoundStatuses == nil {
		cfg.NotFoundStatuses = []int{404, 409, 422}
	}
	on := true
	if cfg.SignupReveals == nil {
		cfg.SignupReveals = &on
	}
	if cfg.InferKinds == nil {
		cfg.InferKinds = &on
	}
	return &Enumeration{cfg: cfg, h: h, state: NewTable[enumState](cfg.MaxEntities, 3*cfg.Window),
		kinds: newKindLearner(h, cfg.MaxEntities/16+64), revealed: newStatusBits(cfg.NotFoundStatuses)}
}

// Name returns "enumeration".
func (d *Enumeration) Name() string { return "enumeration" }

// Request does nothing: the detector needs the outcome.
func (d *Enumeration) Request(*request.View, Sink) {}

// Response counts a signup or reset attempt that names an identifier, and
// signals each multiple of DistinctThreshold crossed while the revealing
// share is at least MinRatio.
func (d *Enumeration) Response(v *request.View, o verdict.Outcome, s Sink) {
	if v.Subject == "" {
		return
	}
	kind := ""
	if v.Route != nil {
		kind = v.Route.Kind
	}
	if kind == "" && *d.cfg.InferKinds {
		if best, _, ok := d.kinds.observe(v, o.Status); ok && best == KindSignup {
			kind = KindSignup
		}
	}
	if kind != KindSignup && kind != KindReset {
		return
	}
	revealed := d.revealed.has(o.Status)
	if !revealed && (o.UpstreamError || o.Status >= 500 || o.Status == 429 || o.Status == 0) {
		return // the upstream said nothing about the identifier
	}
	revealed = revealed || (kind == KindSignup && *d.cfg.SignupReveals)
	now, w, cfg := v.Time.UnixNano(), d.cfg.Window, &d.cfg
	id := d.h.String(nsEnumID, v.Subject)
	var n int
	var ids, ratio, recent float64
	d.state.Update(subjectTableKey(d.h, v), now, func(st *enumState) {
		st.attempts.Add(now, w, 1)
		if cfg.PaceWindow > 0 {
			st.recent.Add(now, cfg.PaceWindow, 1)
			recent = st.recent.Count(now, cfg.PaceWindow)
		}
		if revealed {
			st.revealed.Add(now, w, 1)
		}
		st.ids.Add(now, w, id)
		ids = st.ids.Count(now, w)
		ratio = st.revealed.Count(now, w) / max(st.attempts.Count(now, w), 1)
		n = crossWhile(&st.steps, ratio >= cfg.MinRatio, ids, cfg.DistinctThreshold)
	})
	if n == 0 {
		return
	}
	weight, pace, what := cfg.Weight, "", kind
	if v.Route == nil || v.Route.Kind == "" {
		what += " (inferred)"
	}
	if kind == KindSignup && *cfg.SignupReveals {
		pace = " (on signup every answer does)"
	}
	if recent >= cfg.DistinctThreshold-1 {
		weight, pace = cfg.PaceWeight, pace+fmt.Sprintf(", %.0f attempts in %v (a machine's pace)", recent, cfg.PaceWindow)
	}
	s.Emit(Signal{Detector: d.Name(), Entity: Subject(v), Weight: weight, Severity: Medium, Evidence: Evidence{
		Summary: fmt.Sprintf("%.0f distinct identifiers tried on %s in %v, %.0f%% of answers revealing existence%s",
			ids, what, w, 100*ratio, pace),
		Count: ids, Threshold: cfg.DistinctThreshold, Window: w, RequestID: v.ID,
	}})
}

// Sweep drops entities idle for three windows and routes idle for an hour.
func (d *Enumeration) Sweep(now int64) {
	d.state.Sweep(now)
	d.kinds.Sweep(now)
}

// Stats returns the size and churn of the per-entity state and the
// routes learned.
func (d *Enumeration) Stats() TableStats { return tableStatsSum(d.state.Stats(), d.kinds.Stats()) }

var (
	_ Detector = (*Enumeration)(nil)
	_ Stateful = (*Enumeration)(nil)
)
