package limit

import "time"

// OpKind is what one Op of a batch does.
type OpKind uint8

// Op kinds: the three checks of a Store.
const (
	OpRate    OpKind = iota + 1 // Store.Rate
	OpQuota                     // Store.Quota
	OpAcquire                   // Store.Acquire
)

// Op is one limit check of a request: the arguments of one Store call.
type Op struct {
	Kind      OpKind
	Key       []byte
	Rate      Rate          // OpRate
	Cost      int64         // OpRate, OpQuota
	PeriodEnd int64         // OpQuota: unix nanoseconds
	Quota     int64         // OpQuota
	Slots     int64         // OpAcquire
	Lease     time.Duration // OpAcquire
	// Stop makes a refusal of this op end the batch: the ops after it are
	// not applied (an enforced limit refused the request).
	Stop bool
}

// Batcher is implemented by a Store that applies all of one request's
// checks at once (one round trip to a remote store). The engine uses it
// when its Store has it, and Sequential otherwise.
type Batcher interface {
	// Batch applies ops in order at now (unix nanoseconds), writes each
	// applied op's Result to res[i] (len(res) >= len(ops)) and returns how
	// many ops it applied: all of them, or up to and including the first
	// refused op whose Stop is set. Each op is atomic on its key; a store
	// documents whether the batch is atomic as a whole.
	Batch(now int64, ops []Op, res []Result) int
}

// Sequential is Batch for any Store: it applies ops one at a time, in
// order, with the same stopping rule.
func Sequential(s Store, now int64, ops []Op, res []Result) int {
	for i := range ops {
		res[i] = Apply(s, now, &ops[i])
		if !res[i].Allowed && ops[i].Stop {
			return i + 1
		}
	}
	return len(ops)
}

// Apply makes the Store call op describes.
func Apply(s Store, now int64, op *Op) Result {
	switch op.Kind {
	case OpRate:
		return s.Rate(op.Key, now, op.Rate, op.Cost)
	case OpQuota:
		return s.Quota(op.Key, now, op.PeriodEnd, op.Quota, op.Cost)
	case OpAcquire:
		return s.Acquire(op.Key, now, op.Slots, op.Lease)
	}
	return Result{}
}

// Step applies op to one key's state s with the pure arithmetic: the
// function every Store runs under its per-key lock (a remote store
// reproduces it; tests compare the two).
func Step(s State, now int64, op *Op) (State, Result) {
	switch op.Kind {
	case OpRate:
		return GCRA(s, now, op.Rate, op.Cost)
	case OpQuota:
		return CountQuota(s, now, op.PeriodEnd, op.Quota, op.Cost)
	case OpAcquire:
		return AcquireSlot(s, now, op.Slots, op.Lease)
	}
	return s, Result{}
}
