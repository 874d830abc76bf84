// Package limit holds the arithmetic of rate limits, calendar quotas and
// in-flight limits, and the Store interface their state lives behind. The
// arithmetic is pure: a Store applies it to one key's State atomically, so
// the memory and Redis stores agree by construction.
package limit

import "time"

// State is the whole state of one limiter key. Expires is the instant from
// which the key is indistinguishable from a missing one, so a store may drop
// it then; N is a count whose meaning depends on the limit kind.
type State struct {
	Expires int64 // unix nanoseconds
	N       int64
}

// Result is the outcome of one check against one limiter key.
type Result struct {
	Allowed    bool
	Limit      int64         // requests the policy allows in its window (burst, quota or slots)
	Remaining  int64         // requests still allowed now, after this one
	RetryAfter time.Duration // when denied: how long until the request would be allowed
	Reset      time.Duration // how long until the key is back to its full allowance
	// Unavailable marks a refusal made because the store could not decide
	// (a remote store unreachable, configured to fail closed).
	Unavailable bool
}

// Store holds limiter state by key. Keys are opaque bytes built by the
// engine; a Store must not retain them after a call returns. Every method is
// safe for concurrent use and applies its update atomically per key.
type Store interface {
	// Rate applies GCRA with cost to key at now (unix nanoseconds).
	Rate(key []byte, now int64, r Rate, cost int64) Result
	// Quota counts cost against quota requests in the period ending at
	// periodEnd (unix nanoseconds); the count resets when the period ends.
	Quota(key []byte, now, periodEnd, quota, cost int64) Result
	// Acquire takes one of slots in-flight slots; a slot not released within
	// lease is reclaimed. A caller whose Acquire was allowed calls Release
	// exactly once.
	Acquire(key []byte, now, slots int64, lease time.Duration) Result
	// Release returns a slot taken by Acquire.
	Release(key []byte, now int64)
}

// Rate is a GCRA rate: Burst requests at once, refilled one per Interval.
type Rate struct {
	Interval time.Duration // emission interval: the period divided by the count
	Burst    int64         // requests allowed at once; at least 1
}

// PerPeriod returns the rate of count requests per period with the given burst.
func PerPeriod(count int64, period time.Duration, burst int64) Rate {
	if count < 1 {
		count = 1
	}
	if burst < 1 {
		burst = 1
	}
	return Rate{Interval: period / time.Duration(count), Burst: burst}
}

// GCRA applies a request of cost at now to s and returns the new state and
// the result. A denied request leaves the state unchanged. A state whose
// Expires (the theoretical arrival time) has passed behaves as a fresh key.
func GCRA(s State, now int64, r Rate, cost int64) (State, Result) {
	interval := int64(r.Interval)
	window := interval * r.Burst
	tat := max(s.Expires, now)
	newTAT := tat + interval*cost
	allowAt := newTAT - window
	res := Result{Limit: r.Burst}
	if allowAt > now {
		res.RetryAfter = time.Duration(allowAt - now)
		res.Reset = time.Duration(tat - now)
		res.Remaining = remaining(now-(tat-window), interval)
		return s, res
	}
	res.Allowed = true
	res.Remaining = remaining(now-allowAt, interval)
	res.Reset = time.Duration(newTAT - now)
	return State{Expires: newTAT}, res
}

func remaining(slack, interval int64) int64 {
	if interval <= 0 || slack < 0 {
		return 0
	}
	return slack / interval
}

// CountQuota counts cost against quota for the period ending at periodEnd.
// The stored count starts again from zero once its period has ended.
func CountQuota(s State, now, periodEnd, quota, cost int64) (State, Result) {
	if s.Expires <= now {
		s = State{Expires: periodEnd}
	}
	res := Result{Limit: quota, Reset: time.Duration(s.Expires - now)}
	if s.N+cost > quota {
		res.Remaining = max(0, quota-s.N)
		res.RetryAfter = res.Reset
		return s, res
	}
	s.N += cost
	res.Allowed = true
	res.Remaining = quota - s.N
	return s, res
}

// AcquireSlot takes one of slots in-flight slots; slots are reclaimed lease after the
// most recent acquisition.
func AcquireSlot(s State, now, slots int64, lease time.Duration) (State, Result) {
	if s.Expires <= now {
		s = State{}
	}
	res := Result{Limit: slots}
	if s.N >= slots {
		res.RetryAfter = time.Second
		return s, res
	}
	s.N++
	s.Expires = now + int64(lease)
	res.Allowed = true
	res.Remaining = slots - s.N
	return s, res
}

// ReleaseSlot returns one slot; releasing the last slot empties the state.
func ReleaseSlot(s State, now int64) State {
	if s.N <= 1 || s.Expires <= now {
		return State{}
	}
	s.N--
	return s
}
