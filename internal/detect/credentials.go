package detect

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "credentials", Order: 50, Settings: func() Settings { return &CredentialsConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewCredentials(*s.(*CredentialsConfig), env.Hasher)
		}})
}

// CredentialsConfig configures the credentials detector. Zero fields get the
// defaults named on each field; a negative threshold turns its check off.
type CredentialsConfig struct {
	Common `yaml:",inline"`
	// Window is the sliding window every count is measured over (default 10m).
	Window time.Duration `yaml:"window"`
	// Threshold is the failed attempts one entity may make in Window before
	// the brute-force signal, weighted by Weight (default 10; weight 40).
	Threshold float64 `yaml:"threshold" off:"negative"`
	// MinFailureRatio is the share of an entity's attempts (0-1) that must
	// fail for its brute-force and stuffing signals, so a shared IP whose
	// users mostly log in fine is left alone (default 0.5).
	MinFailureRatio float64 `yaml:"min_failure_ratio"`
	// DistinctThreshold is the distinct identifiers (usernames, codes) one
	// entity may fail on in Window before the stuffing signal (default 5).
	DistinctThreshold float64 `yaml:"distinct_threshold" off:"negative"`
	// DistinctWeight is the risk points of the stuffing signal (default 45).
	DistinctWeight float64 `yaml:"distinct_weight"`
	// PaceWindow is the short window in which DistinctThreshold failures
	// (all but one of them, as the sliding count can lag by one) make the
	// stuffing signal one at a machine's pace, weighted PaceWeight instead
	// of DistinctWeight: a person who forgot which account they
	// used types a few names in a minute, a script one a second (default
	// 20s; a negative one, in Go, turns it off; in a config, set
	// PaceWeight to DistinctWeight).
	PaceWindow time.Duration `yaml:"pace_window"`
	// PaceWeight is the risk points of the stuffing signal at a machine's
	// pace (default 65: past the challenge band, so the script is refused
	// at once rather than after a throttle's burst; a person in a browser
	// solves the challenge).
	PaceWeight float64 `yaml:"pace_weight"`
	// AccountThreshold is the failed attempts on one identifier, from
	// anyone, in Window before the targeted-account signal (default 20).
	AccountThreshold float64 `yaml:"account_threshold" off:"negative"`
	// AccountWeight is the risk points of the targeted-account signal
	// (default 30).
	AccountWeight float64 `yaml:"account_weight"`
	// GlobalRatio is the share of all login attempts (0-1) failing in
	// Window that makes a failure spike (default 0.6).
	GlobalRatio float64 `yaml:"global_ratio"`
	// GlobalMin is the login attempts in Window below which no spike is
	// declared (default 200).
	GlobalMin float64 `yaml:"global_min"`
	// GlobalSurge also makes a spike when the failed logins in Window
	// reach this many times their usual level: an exponential average
	// (over about an hour of event time, learned while there is no spike;
	// a guard that just started knows no usual level, so any failures are
	// a surge until it has learned one). A busy site whose logins mostly
	// succeed never reaches GlobalRatio during an attack; a surge it does
	// reach. The spike only opens the gate: a fingerprint or prefix is
	// signalled on its own failures (default 4; negative turns it off).
	GlobalSurge float64 `yaml:"global_surge" off:"negative"`
	// SharedThreshold is the failed logins in Window from one client
	// fingerprint or one /24 (IPv6 /64) prefix that, during a spike and
	// with the fingerprint's or prefix's own failure share at least
	// GlobalRatio, signal that fingerprint or prefix (default 30).
	SharedThreshold float64 `yaml:"shared_threshold" off:"negative"`
	// SharedWeight is the risk points of the shared signal (default 50).
	SharedWeight float64 `yaml:"shared_weight"`
	// SpreadMin opens the shared check's gate without a global spike:
	// a fingerprint or prefix whose SharedThreshold failures (at least
	// GlobalRatio of its logins) came from this many distinct addresses
	// is signalled, since no one person's typos fail from so many
	// networks, and a low-and-slow attack need not wait for the site's
	// logins to reach GlobalMin (default 20; a negative one, in Go, or one
	// above MaxDistinct turns it off).
	SpreadMin float64 `yaml:"spread_min"`
	// FailureStatuses are the response statuses of a failed attempt on a
	// login route (default: every 4xx but those that say nothing of the
	// credentials, LoginNotFailures; so 400, as an OAuth token endpoint
	// answers invalid_grant, 401, 403 and 422, as a form framework answers
	// a rejected sign-in, are failures). Set, it is the whole set.
	FailureStatuses []int `yaml:"failure_statuses"`
	// VerifyFailureStatuses are the response statuses of a failed attempt
	// on a verify route: a wrong password, promo code or one-time code
	// (default [400, 401, 403, 404, 422]).
	VerifyFailureStatuses []int `yaml:"verify_failure_statuses"`
	// AuthThreshold is the 401 responses one entity may get in Window on
	// requests outside login and verify routes (any path, routes declared
	// or not), while at least MinFailureRatio of its responses since its
	// first 401 are 401s, before the auth-failure signal; it signals again
	// at 2x, 3x ... (default 5; negative turns the check off).
	AuthThreshold float64 `yaml:"auth_threshold" off:"negative"`
	// AuthWeight is the risk points of one auth-failure step (default 15:
	// 15 failures reach the throttle band, 30 a block).
	AuthWeight float64 `yaml:"auth_weight"`
	// InferKinds learns the kind of a POST, PUT or PATCH route with no
	// declared kind from its path words, body field names and the
	// statuses it answers (detect.InferKind, the classifier route
	// learning uses): one that answered 401 or 403 is login-like, one
	// that answered 400, 409 or 422 (or 404 on an identifier) or whose
	// body carries a code is code-like (a voucher, a one-time code, an
	// account lookup), the stronger of the two wins, and its attempts are
	// then counted as on a declared login or verify route (default true;
	// false turns it off).
	InferKinds *bool `yaml:"infer_kinds"`
}

// Credentials detects brute force and credential stuffing on routes of kind
// login and verify, and failed authentication anywhere, from response
// statuses:
//
//   - brute force: many failures from one entity (detect.Subject, and also
//     the client IP when the subject is an API key or user);
//   - stuffing or code guessing: failures on many distinct identifiers
//     (View.Subject) from one entity, weighted more when they came at a
//     machine's pace (CredentialsConfig.PaceWindow);
//   - a targeted account (login routes): many failures on one identifier
//     from anyone, signalled on Entity{ScopeUser, View.Subject} (the
//     identifier's pseudonym, "s_..."), so a policy that looks up user
//     decisions by View.Subject can slow attempts on that account;
//   - distributed low-and-slow (login routes): during a global spike of
//     failing logins, or when its failures came from many addresses
//     (CredentialsConfig.SpreadMin), a client fingerprint or /24 (/64)
//     prefix that carries many of the failures and mostly fails itself;
//   - inferred kinds: a POST, PUT or PATCH route with no declared kind
//     whose path words, body fields and answers say what it is (401/403:
//     credentials; 400, 409, 422, 404 on identifiers: codes; see
//     InferKind) is judged as a login or verify route from then on, so brute force and code guessing are seen without a
//     routes section (CredentialsConfig.InferKinds);
//   - auth failures anywhere: many 401 responses to one entity on requests
//     outside login and verify routes (HTTP basic auth, an API that
//     checks its own tokens), so brute force is seen without routes.
//
// The auth-failure check knows nothing of the path, so it counts only
// 401 (the one status that means "authentication failed" everywhere),
// weighs less per step than brute force on a declared login route, and
// needs the same failure share: it counts an entity's other responses
// from its first 401 on, so an office whose browsers each meet one basic
// auth challenge and then browse stays quiet. A client with a revoked key
// that retries for ever is a trap it springs on purpose (all its requests
// fail anyway).
//
// A failure is a response status in the route kind's failure set; 5xx,
// 429 and upstream errors count as neither success nor failure. Entity
// checks need the entity's own failure share at MinFailureRatio or more,
// so 200 users behind one NAT address who mostly succeed are left alone;
// an attacker who interleaves successful logins can dilute it. The
// account and shared checks skip verify routes, whose field may be the
// guessed secret itself (a promo code that many people mistype is no
// account under attack).
type Credentials struct {
	cfg   CredentialsConfig
	h     Hasher
	state *Table[credState]
	// kinds holds what was seen of routes with no declared kind, for
	// InferKind.
	kinds  kindLearner
	fail   [2]statusBits // by credKind
	global credGlobal
	// authSeen has a bit set for every auth-failure key that ever got a
	// 401, so that the responses of a client that never failed cost one
	// atomic load rather than a table lookup. Bits are never cleared: as
	// they fill, more responses take the lookup, and none is missed.
	authSeen [1024]atomic.Uint64
	// authLast is when (unix nanoseconds) any client last got a 401
	// outside login routes: until one does, and three windows after, a
	// response costs no hashing at all.
	authLast atomic.Int64
}

type credState struct {
	attempts, failures Window
	recent             Window // failures in PaceWindow
	// subjects are the identifiers an entity failed on; for a
	// fingerprint or prefix, the addresses its failures came from.
	subjects                                            Distinct
	failSteps, distinctSteps, accountSteps, sharedSteps Steps
}

// credFired is what one entity's update crossed.
type credFired struct {
	fail, distinct        int
	failures, ratio, nIDs float64
	recent                float64 // failures in PaceWindow; 0 when it is off
}

// Kinds of credential routes, indexing Credentials.fail; credOther is
// every other request, seen by the auth-failure check.
const (
	credLogin = iota
	credVerify
	credOther
)

// Hash namespaces of the credentials detector (scopes use their own value).
const (
	nsCredSubject   = 'c' // per-identifier failure counts
	nsCredRoute     = 'r' // declared routes without a kind, by name
	nsCredTried     = 't' // identifiers in an entity's Distinct
	credGlobalEvery = int64(time.Second)
)

// NewCredentials returns a Credentials detector with defaults applied to cfg.
func NewCredentials(cfg CredentialsConfig, h Hasher) *Credentials {
	cfg.Common = cfg.Common.Defaults(40)
	cfg.Window = orDefault(cfg.Window, 10*time.Minute)
	cfg.Threshold = orDefault(cfg.Threshold, 10)
	cfg.MinFailureRatio = orDefault(cfg.MinFailureRatio, 0.5)
	cfg.DistinctThreshold = orDefault(cfg.DistinctThreshold, 5)
	cfg.DistinctWeight = orDefault(cfg.DistinctWeight, 45)
	cfg.PaceWindow = orDefault(cfg.PaceWindow, 20*time.Second)
	cfg.PaceWeight = orDefault(cfg.PaceWeight, 65)
	cfg.AccountThreshold = orDefault(cfg.AccountThreshold, 20)
	cfg.AccountWeight = orDefault(cfg.AccountWeight, 30)
	cfg.GlobalRatio = orDefault(cfg.GlobalRatio, 0.6)
	cfg.GlobalMin = orDefault(cfg.GlobalMin, 200)
	cfg.GlobalSurge = orDefault(cfg.GlobalSurge, 4)
	cfg.SharedThreshold = orDefault(cfg.SharedThreshold, 30)
	cfg.SharedWeight = orDefault(cfg.SharedWeight, 50)
	cfg.SpreadMin = orDefault(cfg.SpreadMin, 20)
	cfg.AuthThreshold = orDefault(cfg.AuthThreshold, 5)
	cfg.AuthWeight = orDefault(cfg.AuthWeight, 15)
	if cfg.FailureStatuses == nil {
		cfg.FailureStatuses = DefaultLoginFailures()
	}
	if cfg.VerifyFailureStatuses == nil {
		cfg.VerifyFailureStatuses = []int{400, 401, 403, 404, 422}
	}
	if cfg.InferKinds == nil {
		on := true
		cfg.InferKinds = &on
	}
	d := &Credentials{cfg: cfg, h: h, state: NewTable[credState](cfg.MaxEntities, 3*cfg.Window),
		kinds: newKindLearner(h, cfg.MaxEntities/16+64)}
	d.fail[credLogin] = newStatusBits(cfg.FailureStatuses)
	d.fail[credVerify] = newStatusBits(cfg.VerifyFailureStatuses)
	return d
}

// Name returns "credentials".
func (d *Credentials) Name() string { return "credentials" }

// Request does nothing: the detector needs the outcome.
func (d *Credentials) Request(*request.View, Sink) {}

// Response counts a login or verify attempt and its outcome, and signals
// each threshold multiple a measure crosses.
func (d *Credentials) Response(v *request.View, o verdict.Outcome, s Sink) {
	kind, what := credOther, ""
	if v.Route != nil {
		switch what = v.Route.Kind; what {
		case "login":
			kind = credLogin
		case "verify":
			kind = credVerify
		}
	}
	if kind == credOther && what == "" && *d.cfg.InferKinds {
		kind, what = d.inferredKind(v, o.Status)
	}
	if kind == credOther {
		d.authFailure(v, o, s)
		return
	}
	failed := d.fail[kind].has(o.Status)
	if !failed && (o.UpstreamError || o.Status >= 500 || o.Status == 429 || o.Status == 0) {
		return // neither a success nor a failure: the check never ran
	}
	now := v.Time.UnixNano()
	var tried uint64
	if v.Subject != "" {
		tried = d.h.String(nsCredTried, v.Subject)
	}

	key := subjectTableKey(d.h, v)
	r := d.entity(key, now, failed, tried)
	if r.fail+r.distinct > 0 {
		d.emitEntity(s, v, Subject(v), kind, what, r)
	}
	// A subject other than the address (a key, user or session) may be
	// made up or shared; the address counts too, so rotating sessions or
	// keys does not hide a brute-forcer.
	if (v.Identity.KeyID != "" || v.Identity.User != "" || v.BySession()) && v.ClientIP.IsValid() {
		if r := d.entity(addrKey(d.h, byte(verdict.ScopeIP), v.ClientIP), now, failed, tried); r.fail+r.distinct > 0 {
			d.emitEntity(s, v, verdict.Entity{Scope: verdict.ScopeIP, Value: v.ClientIP.String()}, kind, what, r)
		}
	}

	if kind != credLogin {
		return
	}
	if failed && v.Subject != "" && d.cfg.AccountThreshold > 0 {
		d.account(s, v, now)
	}
	d.global.add(key, now, &d.cfg, failed)
	var src uint64
	if failed && v.ClientIP.IsValid() {
		src = addrKey(d.h, byte(verdict.ScopeIP), v.ClientIP)
	}
	if v.Fingerprint != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v.Fingerprint))
		fp := d.h.Bytes(byte(verdict.ScopeFingerprint), b[:])
		if hot, spread := d.shared(fp, now, failed, src); hot {
			d.sharedFire(s, v, fp, now, spread, verdict.Entity{Scope: verdict.ScopeFingerprint, Value: v.Fingerprint.String()}, "fingerprint")
		}
	}
	if v.ClientIP.IsValid() {
		p := request.Prefix(v.ClientIP, 24, 64)
		pk := addrKey(d.h, byte(verdict.ScopePrefix), p.Addr())
		if hot, spread := d.shared(pk, now, failed, src); hot {
			d.sharedFire(s, v, pk, now, spread, verdict.Entity{Scope: verdict.ScopePrefix, Value: p.String()}, "prefix")
		}
	}
}

// inferredKind learns what v's route (a POST, PUT or PATCH with no
// declared kind) is from its path words, its body fields and the status
// it answered (kindLearner, InferKind: the classifier route learning uses
// too), and returns the kind its attempts count as and its name in
// evidence: credLogin or credVerify, whichever InferKind finds more likely
// once it finds either at all (one refusal of credentials is enough), else
// credOther.
func (d *Credentials) inferredKind(v *request.View, status int) (int, string) {
	_, conf, ok := d.kinds.observe(v, status)
	if !ok {
		return credOther, ""
	}
	login, verify := conf.Of(KindLogin), conf.Of(KindVerify)
	switch {
	case login > 0 && login >= verify:
		return credLogin, "login (inferred)"
	case verify > 0:
		return credVerify, "verify (inferred)"
	}
	return credOther, ""
}

// authFailure counts a 401 on a request outside login and verify routes
// against its subject, and a later response of a subject already counted,
// and signals each multiple of AuthThreshold its 401s cross while they
// are at least MinFailureRatio of its responses.
func (d *Credentials) authFailure(v *request.View, o verdict.Outcome, s Sink) {
	cfg, w := &d.cfg, d.cfg.Window
	if cfg.AuthThreshold <= 0 {
		return
	}
	failed := o.Status == 401
	if !failed && (o.UpstreamError || o.Status >= 500 || o.Status == 429 || o.Status == 0) {
		return
	}
	now := v.Time.UnixNano()
	if failed {
		if now > d.authLast.Load() {
			d.authLast.Store(now)
		}
	} else if last := d.authLast.Load(); last == 0 || now-last > 3*int64(w) {
		return // no auth failure anywhere lately
	}
	key := credAuthKey(subjectTableKey(d.h, v))
	word, bit := &d.authSeen[key>>54], uint64(1)<<(key>>48&63)
	if !failed {
		if word.Load()&bit == 0 {
			return // never failed: nothing to dilute
		}
		if _, ok := d.state.Get(key); !ok {
			return
		}
	} else if word.Load()&bit == 0 {
		word.Or(bit)
	}
	var r credFired
	d.state.Update(key, now, func(st *credState) {
		st.attempts.Add(now, w, 1)
		if failed {
			st.failures.Add(now, w, 1)
		}
		a, f := st.attempts.Count(now, w), st.failures.Count(now, w)
		r.failures, r.ratio = f, f/max(a, 1)
		r.fail = crossWhile(&st.failSteps, r.ratio >= cfg.MinFailureRatio, f, cfg.AuthThreshold)
	})
	if r.fail > 0 {
		d.emit(s, v, Subject(v), cfg.AuthWeight, Medium, r.failures, cfg.AuthThreshold,
			fmt.Sprintf("authentication failures outside login routes: %.0f answered 401 in %v (%.0f%% of responses)", r.failures, w, 100*r.ratio))
	}
}

// credAuthKey maps a subject's table key to the key of its auth-failure
// counts, so that they are kept apart from its login counts.
func credAuthKey(k uint64) uint64 {
	x := k ^ 0xA0761D6478BD642F
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	return x ^ x>>31
}

// account counts a failed login against the identifier tried, and signals
// the identifier's pseudonym as a user when many fail on it.
func (d *Credentials) account(s Sink, v *request.View, now int64) {
	cfg, w := &d.cfg, d.cfg.Window
	var n int
	var f float64
	d.state.Update(d.h.String(nsCredSubject, v.Subject), now, func(st *credState) {
		st.failures.Add(now, w, 1)
		f = st.failures.Count(now, w)
		n = st.accountSteps.Cross(f, cfg.AccountThreshold)
	})
	if n > 0 {
		d.emit(s, v, verdict.Entity{Scope: verdict.ScopeUser, Value: v.Subject}, cfg.AccountWeight, Medium, f, cfg.AccountThreshold,
			fmt.Sprintf("%.0f failed logins on one account in %v", f, w))
	}
}

// entity counts an attempt against one entity's state.
func (d *Credentials) entity(key uint64, now int64, failed bool, tried uint64) credFired {
	cfg, w := &d.cfg, d.cfg.Window
	var r credFired
	d.state.Update(key, now, func(st *credState) {
		st.attempts.Add(now, w, 1)
		if failed {
			st.failures.Add(now, w, 1)
			if tried != 0 {
				st.subjects.Add(now, w, tried)
				if cfg.PaceWindow > 0 {
					st.recent.Add(now, cfg.PaceWindow, 1)
				}
			}
		}
		a, f := st.attempts.Count(now, w), st.failures.Count(now, w)
		r.failures, r.ratio = f, f/max(a, 1)
		ok := r.ratio >= cfg.MinFailureRatio
		r.fail = crossWhile(&st.failSteps, ok, f, cfg.Threshold)
		if tried != 0 {
			r.nIDs = st.subjects.Count(now, w)
			r.distinct = crossWhile(&st.distinctSteps, ok, r.nIDs, cfg.DistinctThreshold)
			if r.distinct > 0 && cfg.PaceWindow > 0 {
				r.recent = st.recent.Count(now, cfg.PaceWindow)
			}
		}
	})
	return r
}

func (d *Credentials) emitEntity(s Sink, v *request.View, e verdict.Entity, kind int, what string, r credFired) {
	if r.fail > 0 {
		d.emit(s, v, e, d.cfg.Weight, Medium, r.failures, d.cfg.Threshold,
			fmt.Sprintf("%.0f failed %s attempts in %v (%.0f%% of attempts)", r.failures, what, d.cfg.Window, 100*r.ratio))
	}
	noun := "identifiers"
	if kind == credVerify {
		noun = "codes or identifiers"
	}
	if r.distinct > 0 {
		weight, pace := d.cfg.DistinctWeight, ""
		if r.recent >= d.cfg.DistinctThreshold-1 {
			weight, pace = d.cfg.PaceWeight, fmt.Sprintf(", %.0f of them in %v (a machine's pace)", r.recent, d.cfg.PaceWindow)
		}
		d.emit(s, v, e, weight, High, r.nIDs, d.cfg.DistinctThreshold,
			fmt.Sprintf("failed %s attempts on %.0f distinct %s in %v%s", what, r.nIDs, noun, d.cfg.Window, pace))
	}
}

// shared counts a login attempt against a fingerprint's or prefix's state
// (src, when not 0, is the failing address) and reports whether its
// failures have reached a new step that only a global spike stands
// between it and a signal, and whether they came from SpreadMin distinct
// addresses or more, which opens the gate without a spike. The step is
// not recorded here: sharedFire records it once the gate is open.
func (d *Credentials) shared(key uint64, now int64, failed bool, src uint64) (hot, spread bool) {
	cfg, w := &d.cfg, d.cfg.Window
	d.state.Update(key, now, func(st *credState) {
		st.attempts.Add(now, w, 1)
		if failed {
			st.failures.Add(now, w, 1)
			if src != 0 && cfg.SpreadMin > 0 {
				st.subjects.Add(now, w, src)
			}
		}
		a, f := st.attempts.Count(now, w), st.failures.Count(now, w)
		if cfg.SharedThreshold > 0 && f >= (float64(st.sharedSteps)+1)*cfg.SharedThreshold && f >= cfg.GlobalRatio*a {
			hot = true
			spread = cfg.SpreadMin > 0 && st.subjects.Count(now, w) >= cfg.SpreadMin
			return
		}
		crossWhile(&st.sharedSteps, false, f, cfg.SharedThreshold)
	})
	return hot, spread
}

// sharedFire confirms the gate (a global spike, or failures spread over
// many addresses), records the step and signals.
func (d *Credentials) sharedFire(s Sink, v *request.View, key uint64, now int64, spread bool, e verdict.Entity, what string) {
	spike, ga, gf := d.global.spiking(now, &d.cfg)
	if !spike && !spread {
		return
	}
	cfg, w := &d.cfg, d.cfg.Window
	var n int
	var f float64
	d.state.Update(key, now, func(st *credState) {
		a := st.attempts.Count(now, w)
		f = st.failures.Count(now, w)
		n = crossWhile(&st.sharedSteps, f >= cfg.GlobalRatio*a, f, cfg.SharedThreshold)
	})
	if n > 0 {
		gate := fmt.Sprintf("during a spike: %.0f%% of %.0f logins failing", 100*gf/max(ga, 1), ga)
		if !spike {
			gate = fmt.Sprintf("from %.0f or more addresses", cfg.SpreadMin)
		}
		d.emit(s, v, e, cfg.SharedWeight, High, f, cfg.SharedThreshold,
			fmt.Sprintf("%.0f failed logins from one %s in %v, %s", f, what, w, gate))
	}
}

func (d *Credentials) emit(s Sink, v *request.View, e verdict.Entity, weight float64, sev Severity, count, threshold float64, summary string) {
	s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: weight, Severity: sev, Evidence: Evidence{
		Summary: summary, Count: count, Threshold: threshold, Window: d.cfg.Window, RequestID: v.ID,
	}})
}

// Sweep drops entities, identifiers, fingerprints and prefixes idle for
// three windows.
func (d *Credentials) Sweep(now int64) {
	d.state.Sweep(now)
	d.kinds.Sweep(now)
}

// Stats returns the size and churn of the detector's state: entities,
// identifiers, fingerprints and prefixes share one table.
func (d *Credentials) Stats() TableStats { return tableStatsSum(d.state.Stats(), d.kinds.Stats()) }

// credGlobal counts all login attempts and failures in a sliding window,
// over sharded locks so that logins do not contend on one mutex. Whether
// failures spike is evaluated at most once a second (event time), as
// logins arrive, so the usual level of failures is learned between
// attacks.
type credGlobal struct {
	shards [16]struct {
		mu                 sync.Mutex
		attempts, failures Window
		_                  [24]byte
	}
	evalAt             atomic.Int64
	spike              atomic.Bool
	attempts, failures atomic.Uint64 // float64 bits of the last evaluation

	mu        sync.Mutex // guards the evaluation and the baseline
	baseline  float64    // usual failures in the window, learned while not spiking
	baseSince int64      // event time of the baseline's first sample; 0 before
	baseAt    int64      // event time of its last update
}

// credBaselineTau is the time constant of the usual failure level.
const credBaselineTau = time.Hour

func (g *credGlobal) add(key uint64, now int64, cfg *CredentialsConfig, failed bool) {
	sh := &g.shards[key&15]
	sh.mu.Lock()
	sh.attempts.Add(now, cfg.Window, 1)
	if failed {
		sh.failures.Add(now, cfg.Window, 1)
	}
	sh.mu.Unlock()
	g.spiking(now, cfg)
}

// spiking reports whether failures spike at now, with the window's login
// attempts and failures: at least GlobalMin attempts, and a GlobalRatio
// share of them failing or failures at GlobalSurge times their usual
// level.
func (g *credGlobal) spiking(now int64, cfg *CredentialsConfig) (bool, float64, float64) {
	if at := g.evalAt.Load(); at != 0 && now-at < credGlobalEvery && at-now < credGlobalEvery {
		return g.spike.Load(), math.Float64frombits(g.attempts.Load()), math.Float64frombits(g.failures.Load())
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var a, f float64
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		a += sh.attempts.Count(now, cfg.Window)
		f += sh.failures.Count(now, cfg.Window)
		sh.mu.Unlock()
	}
	surge := cfg.GlobalSurge > 0 && f >= cfg.GlobalSurge*max(g.baseline, 1)
	spike := a >= cfg.GlobalMin && (f >= cfg.GlobalRatio*a || surge)
	switch {
	case spike:
	case g.baseSince == 0:
		g.baseline, g.baseSince, g.baseAt = f, now, now
	case now > g.baseAt:
		// While its history is shorter than the time constant, the
		// baseline is the plain mean of its samples.
		dt := float64(now - g.baseAt)
		alpha := max(1-math.Exp(-dt/float64(credBaselineTau)), dt/float64(now-g.baseSince))
		g.baseline += alpha * (f - g.baseline)
		g.baseAt = now
	}
	g.attempts.Store(math.Float64bits(a))
	g.failures.Store(math.Float64bits(f))
	g.spike.Store(spike)
	g.evalAt.Store(now)
	return spike, a, f
}

// LoginNotFailures are the 4xx statuses that are no failed sign-in by
// default: the request never reached a credentials check, because the
// route or method is wrong (404, 405), its form was refused before it was
// read (406, 408, 411, 413, 414, 415, 431), or it was rate limited (429).
// Every other 4xx on a login route is a refusal of what was sent: 401 and
// 403, 400 (OAuth's invalid_grant, RFC 6749 5.2), 422 (a form
// framework's rejected sign-in), 423 (a locked account) and the like.
var LoginNotFailures = [...]int{404, 405, 406, 408, 411, 413, 414, 415, 429, 431}

// DefaultLoginFailures returns the default failure statuses of a login
// route: 400-499 but LoginNotFailures.
func DefaultLoginFailures() []int {
	out := make([]int, 0, 100-len(LoginNotFailures))
	for c := 400; c < 500; c++ {
		if !slices.Contains(LoginNotFailures[:], c) {
			out = append(out, c)
		}
	}
	return out
}

// statusBits is a set of HTTP status codes 0-639.
type statusBits [10]uint64

func newStatusBits(codes []int) statusBits {
	var b statusBits
	for _, c := range codes {
		if c >= 0 && c < 640 {
			b[c>>6] |= 1 << (c & 63)
		}
	}
	return b
}

func (b *statusBits) has(code int) bool {
	return code >= 0 && code < 640 && b[code>>6]&(1<<(code&63)) != 0
}

var (
	_ Detector = (*Credentials)(nil)
	_ Stateful = (*Credentials)(nil)
)
