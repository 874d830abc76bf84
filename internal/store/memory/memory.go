// Package memory is the single-process limit.Store: sharded maps behind
// per-shard mutexes, bounded by a key budget, with no allocation on the hot
// path once a shard's map has grown.
package memory

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/limit"
)

// BytesPerKey is the measured upper bound of memory one key holds, map
// overhead included (see BenchmarkBytesPerKey). It converts a memory budget
// into a key budget.
const BytesPerKey = 64

// sampleSize is how many entries makeRoom looks at to choose a victim.
const sampleSize = 8

// Options configures a Store. Zero fields get defaults.
type Options struct {
	MaxKeys int // total keys held across shards (default 1<<20)
	Shards  int // number of shards, rounded up to a power of two (default 256)
}

// Store is an in-memory limit.Store. Keys are hashed with a per-process
// random seed to 64 bits, so two keys collide with negligible probability and
// a client cannot choose keys that collide.
type Store struct {
	seed     maphash.Seed
	shards   []shard
	mask     uint64
	perShard int
}

type shard struct {
	mu          sync.Mutex
	m           map[uint64]limit.State
	evictions   atomic.Uint64
	expirations atomic.Uint64
	_           [64]byte // keep shards on separate cache lines
}

// New returns an empty Store.
func New(opts Options) *Store {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 20
	}
	n := 1
	for n < max(opts.Shards, 1) {
		n <<= 1
	}
	if opts.Shards <= 0 {
		n = 256
	}
	s := &Store{
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		mask:     uint64(n - 1),
		perShard: max(1, opts.MaxKeys/n),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[uint64]limit.State)
	}
	return s
}

// MaxKeysFor returns the key budget that fits in bytes of memory.
func MaxKeysFor(bytes int64) int {
	return int(max(1, bytes/BytesPerKey))
}

// update applies f to key's state under its shard lock and stores the
// result when f says the state changed.
func (s *Store) update(key []byte, now int64, f func(limit.State) (limit.State, bool)) {
	h := maphash.Bytes(s.seed, key)
	sh := &s.shards[h&s.mask]
	sh.mu.Lock()
	old, found := sh.m[h]
	next, changed := f(old)
	if changed {
		switch {
		case next == (limit.State{}):
			delete(sh.m, h)
		case !found && len(sh.m) >= s.perShard:
			sh.makeRoom(now)
			sh.m[h] = next
		default:
			sh.m[h] = next
		}
	}
	sh.mu.Unlock()
}

// Rate implements limit.Store.
func (s *Store) Rate(key []byte, now int64, r limit.Rate, cost int64) limit.Result {
	var res limit.Result
	s.update(key, now, func(st limit.State) (limit.State, bool) {
		st, res = limit.GCRA(st, now, r, cost)
		return st, res.Allowed
	})
	return res
}

// Quota implements limit.Store.
func (s *Store) Quota(key []byte, now, periodEnd, quota, cost int64) limit.Result {
	var res limit.Result
	s.update(key, now, func(st limit.State) (limit.State, bool) {
		st, res = limit.CountQuota(st, now, periodEnd, quota, cost)
		return st, res.Allowed
	})
	return res
}

// Acquire implements limit.Store.
func (s *Store) Acquire(key []byte, now, slots int64, lease time.Duration) limit.Result {
	var res limit.Result
	s.update(key, now, func(st limit.State) (limit.State, bool) {
		st, res = limit.AcquireSlot(st, now, slots, lease)
		return st, res.Allowed
	})
	return res
}

// Release implements limit.Store.
func (s *Store) Release(key []byte, now int64) {
	s.update(key, now, func(st limit.State) (limit.State, bool) {
		return limit.ReleaseSlot(st, now), true
	})
}

// makeRoom frees one entry of a full shard: an expired one when the sample
// holds one (an expiration), else the sampled entry closest to expiry (an
// eviction). Go randomises where map iteration starts, so the sample is a
// random one.
func (sh *shard) makeRoom(now int64) {
	var victim uint64
	var victimExpires int64
	seen := 0
	for h, st := range sh.m {
		if st.Expires <= now {
			delete(sh.m, h)
			sh.expirations.Add(1)
			return
		}
		if seen == 0 || st.Expires < victimExpires {
			victim, victimExpires = h, st.Expires
		}
		if seen++; seen == sampleSize {
			break
		}
	}
	if seen > 0 {
		delete(sh.m, victim)
		sh.evictions.Add(1)
	}
}

// Sweep deletes every expired key and returns how many it deleted. Callers
// run it periodically so that idle keys do not hold memory until evicted.
func (s *Store) Sweep(now int64) int {
	total := 0
	for i := range s.shards {
		sh := &s.shards[i]
		n := 0
		sh.mu.Lock()
		for h, st := range sh.m {
			if st.Expires <= now {
				delete(sh.m, h)
				n++
			}
		}
		sh.mu.Unlock()
		sh.expirations.Add(uint64(n))
		total += n
	}
	return total
}

// Stats is a snapshot of a Store's size and churn.
type Stats struct {
	Keys        int    // keys held now
	MaxKeys     int    // the key budget
	Evictions   uint64 // live keys dropped to make room, since start
	Expirations uint64 // expired keys dropped, since start
}

// Stats returns a snapshot; it takes each shard lock briefly.
func (s *Store) Stats() Stats {
	st := Stats{MaxKeys: s.perShard * len(s.shards)}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.Keys += len(sh.m)
		sh.mu.Unlock()
		st.Evictions += sh.evictions.Load()
		st.Expirations += sh.expirations.Load()
	}
	return st
}

var _ limit.Store = (*Store)(nil)
