package detect

import (
	"strconv"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "honeypot", Order: 10, Settings: func() Settings { return &HoneypotConfig{} },
		New: func(s Settings, env Env) Detector {
			hc := *s.(*HoneypotConfig)
			hc.Pseudonym = env.Pseudonym
			return NewHoneypot(hc, env.Hasher)
		}})
}

// HoneypotConfig configures the honeypot detector. Zero fields get the
// defaults named on each field.
type HoneypotConfig struct {
	Common `yaml:",inline"`
	// APIKeyIDs are honeytoken API keys, by the id they have in the key
	// configuration (the View's Identity.KeyID): keys planted where only
	// a thief would find them (default none).
	APIKeyIDs []string `yaml:"api_key_ids"`
	// Usernames are honeytoken accounts: login, verify, signup or reset
	// identifiers (usernames, emails, promo codes) that exist only as
	// bait, written exactly as clients send them (default none). They are
	// pseudonymised at start-up and never kept raw.
	Usernames []string `yaml:"usernames"`
	// Pseudonym turns a raw identifier into the HMAC id the request parser
	// puts in View.Subject (request.Identifier.Pseudonym). Set by the
	// policy compiler; without it Usernames match nothing.
	Pseudonym func(prefix, s string) string `yaml:"-"`
}

const honeypotWeight = 100

// Honeypot detects a client touching bait that no legitimate client
// knows about: a route of kind decoy, a honeytoken API key, or a login
// (or verify, signup, reset) for a honeytoken account. Every touch
// signals at once with the full weight and high severity, against both
// the client IP and the request's subject (key, else user), so the
// attacker is caught whichever identity it rotates next.
//
// It keeps no state: each touch is evidence on its own. The only
// false-positive trap is bait that is not bait: a decoy route an
// ordinary page links to, a honeytoken key pasted into a real config, a
// honeytoken username that a real person also signs up with.
type Honeypot struct {
	cfg      HoneypotConfig
	keys     map[string]struct{}
	subjects map[string]struct{}
}

// NewHoneypot returns a Honeypot detector for cfg with defaults applied.
// It pseudonymises cfg.Usernames with cfg.Pseudonym and the prefix "s_",
// as the request parser does for View.Subject.
func NewHoneypot(cfg HoneypotConfig, _ Hasher) *Honeypot {
	cfg.Common = cfg.Common.Defaults(honeypotWeight)
	d := &Honeypot{cfg: cfg, keys: map[string]struct{}{}, subjects: map[string]struct{}{}}
	for _, k := range cfg.APIKeyIDs {
		d.keys[k] = struct{}{}
	}
	if cfg.Pseudonym != nil {
		for _, u := range cfg.Usernames {
			d.subjects[cfg.Pseudonym("s_", u)] = struct{}{}
		}
	}
	d.cfg.Usernames = nil // pseudonymised above; not kept raw
	return d
}

// Name returns "honeypot".
func (d *Honeypot) Name() string { return "honeypot" }

// Request signals a request to a decoy route, with a honeytoken key, or
// for a honeytoken account.
func (d *Honeypot) Request(v *request.View, s Sink) {
	decoy := v.Route != nil && v.Route.Kind == "decoy"
	_, key := d.keys[v.Identity.KeyID]
	key = key && v.Identity.KeyID != ""
	_, subject := d.subjects[v.Subject]
	subject = subject && v.Subject != ""
	if !decoy && !key && !subject {
		return
	}
	var summary string
	switch {
	case decoy:
		summary = "request to decoy route " + strconv.Quote(v.Route.Name)
	case key:
		summary = "request with honeytoken API key " + strconv.Quote(v.Identity.KeyID)
	default:
		summary = "request for honeytoken account " + strconv.Quote(v.Subject)
	}
	if decoy && (key || subject) {
		summary += " with a honeytoken identity"
	}
	sig := Signal{Detector: d.Name(), Weight: d.cfg.Weight, Severity: High, Evidence: Evidence{
		Summary: summary, Count: 1, Threshold: 1, RequestID: v.ID,
	}}
	// The address always, when there is one: a made-up key or session
	// beside it does not spare it.
	var ip verdict.Entity
	if v.ClientIP.IsValid() {
		ip = verdict.Entity{Scope: verdict.ScopeIP, Value: v.ClientIP.String()}
		sig.Entity = ip
		s.Emit(sig)
	}
	if e := Subject(v); e != ip {
		sig.Entity = e
		s.Emit(sig)
	}
}

// Response does nothing: a touch is judged on the request alone.
func (d *Honeypot) Response(*request.View, verdict.Outcome, Sink) {}

// Sweep does nothing: Honeypot keeps no per-entity state.
func (d *Honeypot) Sweep(int64) {}

// Stats returns zero stats: Honeypot keeps no per-entity state.
func (d *Honeypot) Stats() TableStats { return TableStats{} }

var (
	_ Detector = (*Honeypot)(nil)
	_ Stateful = (*Honeypot)(nil)
)
