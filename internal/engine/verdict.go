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
	*vd = Verdict{policy: p, slots: vd.slots[:0], ends: vd.ends[:0], key: vd.key[:0], batch: vd.batch}
	return vd
}

// consider keeps res as the tightest limit when it leaves fewer requests.
func (vd *Verdict) consider(name, policy string, res limit.Result) {
	rl := &vd.RateLimit
	if rl.Name != "" && (res.Remaining > rl.Remaining || res.Remaining == rl.Remaining && res.Reset <= rl.Reset) {
		return
	}
	*rl = verdict.RateLimit{Name: name, Remaining: res.Remaining, Reset: res.Reset, Policy: policy}
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
