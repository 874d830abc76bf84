package engine

import (
	"strconv"
	"sync"
	"time"

	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/problem"
)

// Action is what the engine tells a front to do with a request.
type Action uint8

// Actions, mildest first.
const (
	Allow Action = iota
	Throttle
	Challenge
	Block
)

func (a Action) String() string {
	switch a {
	case Throttle:
		return "throttle"
	case Challenge:
		return "challenge"
	case Block:
		return "block"
	}
	return "allow"
}

// Mode says whether a rule acts: enforce acts, shadow only records what it
// would have done, canary enforces for a fixed share of keys.
type Mode uint8

// Modes.
const (
	Enforce Mode = iota
	Shadow
	Canary
)

func (m Mode) String() string {
	switch m {
	case Shadow:
		return "shadow"
	case Canary:
		return "canary"
	}
	return "enforce"
}

// ParseMode parses a mode name; "" is enforce.
func ParseMode(s string) (Mode, bool) {
	switch s {
	case "", "enforce":
		return Enforce, true
	case "shadow":
		return Shadow, true
	case "canary":
		return Canary, true
	}
	return 0, false
}

// Verdict is the engine's answer for one request. Verdicts are pooled: the
// front reads it, renders it, and calls Finish exactly once after the
// response, which releases in-flight slots; it must not touch it after.
type Verdict struct {
	Action     Action
	Status     int    // HTTP status when Action is not Allow
	Reason     string // stable reason code: rate_limited, quota_exceeded, ...
	Rule       string // the rule that acted, or would have acted in shadow
	Mode       Mode   // the mode of Rule
	RetryAfter time.Duration

	// Would is true when Rule is a shadow (or out-of-canary) rule that would
	// have refused the request; Action is then Allow.
	Would bool
	// Detail explains a refusal to the client; DecisionID names the
	// decision that refused it, if one did.
	Detail     string
	DecisionID string
	// Allowlisted is true when the client is on the allowlist: decisions,
	// detectors and rules were skipped (limits still applied).
	Allowlisted bool

	// The tightest limit that applied, for the RateLimit headers.
	rateLimit     limit.Result
	rateLimitName string
	ratePolicy    string // precomputed RateLimit-Policy value
	hasRateLimit  bool

	policy *Policy
	slots  []byte // keys of in-flight slots to release, each ended by slotEnds
	ends   []int
	key    []byte // scratch for building keys
	batch  limitBatch
}

var verdicts = sync.Pool{New: func() any { return &Verdict{key: make([]byte, 0, 128)} }}

func newVerdict(p *Policy) *Verdict {
	vd := verdicts.Get().(*Verdict)
	*vd = Verdict{policy: p, slots: vd.slots[:0], ends: vd.ends[:0], key: vd.key[:0], batch: vd.batch}
	return vd
}

// RateLimit returns the value of the RateLimit header for the tightest
// limit that applied, appended to dst, and false when no limit applied.
// The format is the IETF draft's: "name";r=REMAINING;t=SECONDS.
func (vd *Verdict) RateLimit(dst []byte) ([]byte, bool) {
	if !vd.hasRateLimit {
		return dst, false
	}
	dst = strconv.AppendQuote(dst, vd.rateLimitName)
	dst = append(dst, ";r="...)
	dst = strconv.AppendInt(dst, vd.rateLimit.Remaining, 10)
	dst = append(dst, ";t="...)
	return strconv.AppendInt(dst, problem.Seconds(vd.rateLimit.Reset), 10), true
}

// RateLimitPolicy returns the RateLimit-Policy header value of the tightest
// limit: "name";q=QUOTA;w=WINDOW_SECONDS, or "" when no limit applied.
func (vd *Verdict) RateLimitPolicy() string { return vd.ratePolicy }

// consider keeps res as the tightest limit when it leaves fewer requests.
func (vd *Verdict) consider(name, policy string, res limit.Result) {
	if vd.hasRateLimit && (res.Remaining > vd.rateLimit.Remaining ||
		res.Remaining == vd.rateLimit.Remaining && res.Reset <= vd.rateLimit.Reset) {
		return
	}
	vd.rateLimit, vd.rateLimitName, vd.ratePolicy, vd.hasRateLimit = res, name, policy, true
}

func (vd *Verdict) holdSlot(key []byte) {
	vd.slots = append(vd.slots, key...)
	vd.ends = append(vd.ends, len(vd.slots))
}

func (vd *Verdict) releaseSlots(now int64) {
	start := 0
	for _, end := range vd.ends {
		vd.policy.store.Release(vd.slots[start:end], now)
		start = end
	}
	vd.slots, vd.ends = vd.slots[:0], vd.ends[:0]
}

// Finish releases the request's in-flight slots and recycles the Verdict.
func (vd *Verdict) Finish(now time.Time) {
	vd.releaseSlots(now.UnixNano())
	vd.policy = nil
	verdicts.Put(vd)
}
