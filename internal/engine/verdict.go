package engine

import (
	"sync"
	"time"

	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Verdict is the engine's answer for one request: the verdict.Verdict a
// front renders, and what the engine must release afterwards. Verdicts are
// pooled: the front reads it, renders it, and calls Finish exactly once after the
// response, which releases in-flight slots; it must not touch it after.
type Verdict struct {
	verdict.Verdict

	policy *Policy
	slots  []byte // keys of in-flight slots to release, each ended by slotEnds
	ends   []int
	key    []byte // scratch for building keys
	batch  limitBatch
}

var verdicts = sync.Pool{New: func() any { return &Verdict{key: make([]byte, 0, 128)} }}

func newVerdict(p *Policy) *Verdict {
	vd := verdicts.Get().(*Verdict)
	limits := vd.Limits[:0]
	*vd = Verdict{policy: p, slots: vd.slots[:0], ends: vd.ends[:0], key: vd.key[:0], batch: vd.batch}
	vd.Limits = limits
	return vd
}

// note records a limit that applied, for the RateLimit headers. A
// violated limit's reset is its Retry-After.
func (vd *Verdict) note(r *limitRule, a *amount, res limit.Result) {
	rl := verdict.RateLimit{Name: r.name, Remaining: res.Remaining, Reset: res.Reset, Policy: a.policy,
		Concurrent: r.kind == concurrencyRule}
	if !res.Allowed {
		rl.Remaining, rl.Reset, rl.Violated = 0, res.RetryAfter, true
	}
	if rl.Concurrent && !rl.Violated {
		rl.Reset = 0
	}
	vd.Limits = append(vd.Limits, rl)
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
