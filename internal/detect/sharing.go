package detect

import (
	"fmt"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "sharing", Order: 70, Settings: func() Settings { return &SharingConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewSharing(*s.(*SharingConfig), env.Hasher)
		}})
}

// SharingConfig configures the sharing detector. Zero fields get the
// defaults named on each field; a negative threshold turns its check off.
// The embedded Common weight is the weight of the networks check (default
// 45); the other checks have their own weights.
type SharingConfig struct {
	Common `yaml:",inline"`
	// Window is how long one identity's client networks, addresses and
	// fingerprints are counted (default 1h). Counts cover the last one to
	// two windows, so an item is forgotten one to two windows after it was
	// last seen.
	Window time.Duration `yaml:"window"`
	// Prefixes is the distinct client networks (IPv4 /24, IPv6 /64) one
	// identity may be used from in Window before a signal (default 20):
	// a signal at 20, another at 40, 60, ... each of Common.Weight.
	Prefixes float64 `yaml:"prefixes" off:"negative"`
	// IPs is the distinct client addresses one identity may be used from
	// in Window before a signal (default 50); it signals at 1x and 2x only.
	IPs float64 `yaml:"ips" off:"negative"`
	// IPWeight is the risk points of one IPs signal (default 30).
	IPWeight float64 `yaml:"ip_weight"`
	// Fingerprints is the distinct client fingerprints (user agent, header
	// names, Accept values) one identity may be used with in Window before
	// a signal (default 10); it signals at 1x and 2x only.
	Fingerprints float64 `yaml:"fingerprints" off:"negative"`
	// FingerprintWeight is the risk points of one fingerprints signal
	// (default 25).
	FingerprintWeight float64 `yaml:"fingerprint_weight"`
	// ChurnWindow is how long the distinct API keys of one client IP or
	// user are counted (default 24h); counts cover one to two windows.
	ChurnWindow time.Duration `yaml:"churn_window"`
	// KeysPerIP is the distinct API keys one client IP may send, in
	// requests without a user, in ChurnWindow before a signal (default
	// 10): a signal at 10, 20, 30, ...
	KeysPerIP float64 `yaml:"keys_per_ip" off:"negative"`
	// KeysPerIPWeight is the risk points of one KeysPerIP signal (default 35).
	KeysPerIPWeight float64 `yaml:"keys_per_ip_weight"`
	// KeysPerUser is the distinct API keys one user may send in
	// ChurnWindow before a signal (default 10): a signal at 10, 20, 30, ...
	KeysPerUser float64 `yaml:"keys_per_user" off:"negative"`
	// KeysPerUserWeight is the risk points of one KeysPerUser signal
	// (default 25).
	KeysPerUserWeight float64 `yaml:"keys_per_user_weight"`
	// RefusedKeysPerIP is the distinct API keys the upstream refused (401
	// or 403) that one client IP may send in ChurnWindow before a signal
	// (default 5): a signal at 5, 10, 15, ... A key the upstream refuses
	// is one the client did not get from it: trying several is guessing.
	RefusedKeysPerIP float64 `yaml:"refused_keys_per_ip" off:"negative"`
	// RefusedKeysPerIPWeight is the risk points of one RefusedKeysPerIP
	// signal (default 45).
	RefusedKeysPerIPWeight float64 `yaml:"refused_keys_per_ip_weight"`
}

const (
	sharingWeight            = 45
	sharingIPWeight          = 30
	sharingFingerprintWeight = 25
	sharingKeysPerIPWeight   = 35
	sharingKeysPerUserWeight = 25
	sharingRefusedKeysWeight = 45
	// sharingNetworkSteps caps the steps of the IPs and fingerprints
	// checks: many addresses or fingerprints inside few networks is how
	// autoscaling groups, carrier NAT pools and IPv6 privacy addresses
	// look, so only the networks check escalates without bound.
	sharingNetworkSteps = 2
)

// Hash namespaces of the sharing detector's tables and sketches.
const (
	nsSharingKey    = 'K' // an identity that is an API key
	nsSharingUser   = 'U' // an identity that is a user
	nsSharingIP     = 'i' // a client address, as an item or a churn entity
	nsSharingPrefix = 'p' // a client network
	nsSharingFP     = 'f' // a client fingerprint
	nsSharingKeyID  = 'k' // an API key id, as a churn item
)

// Sharing detects one credential used by many clients, and one client
// cycling through many credentials.
//
// Sharing: an identity (the user when the request names one, else the API
// key) seen from many client networks (IPv4 /24, IPv6 /64), many client
// addresses or many client fingerprints within a window. A leaked or
// resold key used from a botnet or a proxy pool shows up as many networks,
// which weighs most (High); many addresses or many fingerprints alone
// weigh less and escalate at most twice, because one organisation's
// infrastructure explains them. When a request carries both a key and a
// user, the user is the identity: the key then names the application,
// which is legitimately used from everywhere.
//
// Churn: the distinct API keys sent by one user, or by one client IP in
// requests without a user, within a day. A client trying stolen or
// generated keys, or rotating keys to dodge per-key limits, sends many.
// Keys the upstream refused (401 or 403) are counted apart, per client IP,
// against a lower threshold: guessed keys show up after a handful, while
// an integration platform's many customers' keys are accepted.
//
// False-positive traps: a mobile user moving between networks (a few
// prefixes, stays far below 20); a partner calling from a cloud
// autoscaling group (many addresses, few networks when egress goes
// through a NAT gateway, but a group with public addresses per instance
// spans many /24s); a service account shared by a team or by CI runners
// in many regions; a client-side ("publishable") key embedded in a web or
// mobile app without per-user tokens, which every end user sends; a
// corporate NAT, CI runner or integration platform (one IP, many
// customers' keys) for the keys-per-IP check. Allowlist such identities or
// raise the thresholds; a negative threshold turns a check off.
type Sharing struct {
	cfg   SharingConfig
	h     Hasher
	ids   *Table[sharingIdentity] // by key or user
	churn *Table[sharingChurn]    // by user or client IP
}

type sharingIdentity struct {
	ips, prefixes, fps        Distinct
	ipSteps, pfxSteps, fpStep Steps
}

type sharingChurn struct {
	keys  Distinct
	steps Steps
	// refused and refusedSteps count the keys the upstream refused, for
	// client IPs only.
	refused      Distinct
	refusedSteps Steps
}

// NewSharing returns a Sharing detector for cfg with defaults applied.
// Half of MaxEntities goes to identities, half to churn entities.
func NewSharing(cfg SharingConfig, h Hasher) *Sharing {
	cfg.Common = cfg.Common.Defaults(sharingWeight)
	if cfg.Window <= 0 {
		cfg.Window = time.Hour
	}
	cfg.Prefixes = orDefault(cfg.Prefixes, 20)
	cfg.IPs = orDefault(cfg.IPs, 50)
	cfg.IPWeight = orDefault(cfg.IPWeight, sharingIPWeight)
	cfg.Fingerprints = orDefault(cfg.Fingerprints, 10)
	cfg.FingerprintWeight = orDefault(cfg.FingerprintWeight, sharingFingerprintWeight)
	if cfg.ChurnWindow <= 0 {
		cfg.ChurnWindow = 24 * time.Hour
	}
	cfg.KeysPerIP = orDefault(cfg.KeysPerIP, 10)
	cfg.KeysPerIPWeight = orDefault(cfg.KeysPerIPWeight, sharingKeysPerIPWeight)
	cfg.KeysPerUser = orDefault(cfg.KeysPerUser, 10)
	cfg.KeysPerUserWeight = orDefault(cfg.KeysPerUserWeight, sharingKeysPerUserWeight)
	cfg.RefusedKeysPerIP = orDefault(cfg.RefusedKeysPerIP, 5)
	cfg.RefusedKeysPerIPWeight = orDefault(cfg.RefusedKeysPerIPWeight, sharingRefusedKeysWeight)
	half := max(64, cfg.MaxEntities/2)
	return &Sharing{
		cfg:   cfg,
		h:     h,
		ids:   NewTable[sharingIdentity](half, 2*cfg.Window),
		churn: NewTable[sharingChurn](half, 2*cfg.ChurnWindow),
	}
}

// Name returns "sharing".
func (d *Sharing) Name() string { return "sharing" }

// sharingFired is one check's outcome: the estimate, the steps newly
// crossed and the step reached.
type sharingFired struct {
	count    float64
	n, steps int
}

// sharingAdd records item h in sketch dd and, when the item is new,
// re-estimates and crosses steps (at most maxSteps of them when maxSteps
// > 0). A repeated item cannot raise the estimate, so it costs a lookup.
func sharingAdd(dd *Distinct, st *Steps, now int64, w time.Duration, h uint64, threshold float64, maxSteps int) sharingFired {
	seen := dd.Has(now, w, h)
	dd.Add(now, w, h)
	if seen {
		return sharingFired{}
	}
	c := dd.Count(now, w)
	m := c
	if maxSteps > 0 {
		m = min(c, threshold*float64(maxSteps))
	}
	n := st.Cross(m, threshold)
	return sharingFired{count: c, n: n, steps: int(*st)}
}

// Request records the client network, address and fingerprint against the
// request's identity, and the API key against its user or client IP.
func (d *Sharing) Request(v *request.View, s Sink) {
	now := v.Time.UnixNano()
	ipOK := v.ClientIP.IsValid()
	var ipF, pfxF, fpF, churnF sharingFired

	if id, ns := d.identity(v); id != "" {
		var ipH, pfxH, fpH uint64
		if ipOK {
			ipH = addrKey(d.h, nsSharingIP, v.ClientIP)
			pfxH = addrKey(d.h, nsSharingPrefix, request.Prefix(v.ClientIP, 24, 64).Addr())
		}
		if v.Fingerprint != 0 {
			fpH = sharingUint64Key(d.h, nsSharingFP, uint64(v.Fingerprint))
		}
		cfg, w := &d.cfg, d.cfg.Window
		d.ids.Update(d.h.String(ns, id), now, func(st *sharingIdentity) {
			if ipOK && cfg.Prefixes > 0 {
				pfxF = sharingAdd(&st.prefixes, &st.pfxSteps, now, w, pfxH, cfg.Prefixes, 0)
			}
			if ipOK && cfg.IPs > 0 {
				ipF = sharingAdd(&st.ips, &st.ipSteps, now, w, ipH, cfg.IPs, sharingNetworkSteps)
			}
			if fpH != 0 && cfg.Fingerprints > 0 {
				fpF = sharingAdd(&st.fps, &st.fpStep, now, w, fpH, cfg.Fingerprints, sharingNetworkSteps)
			}
		})
	}

	churnByUser := v.Identity.User != ""
	churnThreshold := d.cfg.KeysPerIP
	if churnByUser {
		churnThreshold = d.cfg.KeysPerUser
	}
	if v.Identity.KeyID != "" && churnThreshold > 0 && (churnByUser || ipOK) {
		var ck uint64
		if churnByUser {
			ck = d.h.String(nsSharingUser, v.Identity.User)
		} else {
			ck = addrKey(d.h, nsSharingIP, v.ClientIP)
		}
		kh, w := d.h.String(nsSharingKeyID, v.Identity.KeyID), d.cfg.ChurnWindow
		d.churn.Update(ck, now, func(st *sharingChurn) {
			churnF = sharingAdd(&st.keys, &st.steps, now, w, kh, churnThreshold, 0)
		})
	}

	if pfxF.n+ipF.n+fpF.n > 0 {
		e := d.identityEntity(v)
		d.emit(s, v, e, pfxF, d.cfg.Weight, High, d.cfg.Prefixes, d.cfg.Window, "%.0f distinct client networks (/24, /64) used %s in %s")
		d.emit(s, v, e, ipF, d.cfg.IPWeight, Medium, d.cfg.IPs, d.cfg.Window, "%.0f distinct client IPs used %s in %s")
		d.emit(s, v, e, fpF, d.cfg.FingerprintWeight, Low, d.cfg.Fingerprints, d.cfg.Window, "%.0f distinct client fingerprints used %s in %s")
	}
	if churnF.n > 0 {
		if churnByUser {
			d.emit(s, v, verdict.Entity{Scope: verdict.ScopeUser, Value: v.Identity.User}, churnF, d.cfg.KeysPerUserWeight, Low, d.cfg.KeysPerUser, d.cfg.ChurnWindow, "%.0f distinct API keys sent by %s in %s")
		} else {
			d.emit(s, v, verdict.Entity{Scope: verdict.ScopeIP, Value: v.ClientIP.String()}, churnF, d.cfg.KeysPerIPWeight, Medium, d.cfg.KeysPerIP, d.cfg.ChurnWindow, "%.0f distinct API keys sent from %s in %s")
		}
	}
}

// identity returns the identity sharing is measured for and its hash
// namespace: the user when present (a key beside it names the app), else
// the API key, else "".
func (d *Sharing) identity(v *request.View) (string, byte) {
	if v.Identity.User != "" {
		return v.Identity.User, nsSharingUser
	}
	return v.Identity.KeyID, nsSharingKey
}

func (d *Sharing) identityEntity(v *request.View) verdict.Entity {
	if v.Identity.User != "" {
		return verdict.Entity{Scope: verdict.ScopeUser, Value: v.Identity.User}
	}
	return verdict.Entity{Scope: verdict.ScopeKey, Value: v.Identity.KeyID}
}

// emit sends one signal per step f newly crossed; the evidence threshold
// is the step's multiple of threshold.
func (d *Sharing) emit(s Sink, v *request.View, e verdict.Entity, f sharingFired, weight float64, sev Severity, threshold float64, w time.Duration, format string) {
	for step := f.steps - f.n + 1; step <= f.steps; step++ {
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: weight, Severity: sev, Evidence: Evidence{
			Summary:   fmt.Sprintf(format, f.count, e, w),
			Count:     f.count,
			Threshold: threshold * float64(step),
			Window:    w,
			RequestID: v.ID,
		}})
	}
}

// Response counts a key the upstream refused (401 or 403) against the
// client IP that sent it, in requests without a verified identity or a
// user; the rest of sharing is seen on requests.
func (d *Sharing) Response(v *request.View, o verdict.Outcome, s Sink) {
	if d.cfg.RefusedKeysPerIP <= 0 || (o.Status != 401 && o.Status != 403) || o.Guard ||
		v.Identity.KeyID == "" || v.Identity.Verified || v.Identity.User != "" || !v.ClientIP.IsValid() {
		return
	}
	now := v.Time.UnixNano()
	kh, w := d.h.String(nsSharingKeyID, v.Identity.KeyID), d.cfg.ChurnWindow
	var f sharingFired
	d.churn.Update(addrKey(d.h, nsSharingIP, v.ClientIP), now, func(st *sharingChurn) {
		f = sharingAdd(&st.refused, &st.refusedSteps, now, w, kh, d.cfg.RefusedKeysPerIP, 0)
	})
	if f.n > 0 {
		d.emit(s, v, verdict.Entity{Scope: verdict.ScopeIP, Value: v.ClientIP.String()}, f, d.cfg.RefusedKeysPerIPWeight, High,
			d.cfg.RefusedKeysPerIP, w, "%.0f distinct API keys refused by the upstream sent from %s in %s")
	}
}

// Sweep drops identities and churn entities idle at now.
func (d *Sharing) Sweep(now int64) {
	d.ids.Sweep(now)
	d.churn.Sweep(now)
}

// Stats returns the combined size and churn of both tables.
func (d *Sharing) Stats() TableStats { return tableStatsSum(d.ids.Stats(), d.churn.Stats()) }

// sharingUint64Key hashes x in namespace ns with the seeded hasher, so a
// client cannot choose values that collide in a sketch.
func sharingUint64Key(h Hasher, ns byte, x uint64) uint64 {
	var b [8]byte
	for i := range b {
		b[i] = byte(x >> (8 * i))
	}
	return h.Bytes(ns, b[:])
}

var (
	_ Detector = (*Sharing)(nil)
	_ Stateful = (*Sharing)(nil)
)
