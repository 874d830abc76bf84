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

// sampleSize is how many live entries makeRoom compares to choose a victim.
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
	shift    uint // shard index = hash >> shift, so shards and tables use different bits
	perShard int
}

type shard struct {
	mu          sync.Mutex
	t           table
	evictions   atomic.Uint64
	expirations atomic.Uint64
	_           [64]byte // keep shards on separate cache lines
}

// New returns an empty Store.
func New(opts Options) *Store {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 20
	}
	if opts.Shards <= 0 {
		opts.Shards = 256
	}
	bits := uint(0)
	for 1<<bits < opts.Shards {
		bits++
	}
	n := 1 << bits
	return &Store{
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		shift:    64 - bits,
		perShard: max(1, opts.MaxKeys/n),
	}
}

// MaxKeysFor returns the key budget that fits in bytes of memory.
func MaxKeysFor(bytes int64) int {
	return int(max(1, bytes/BytesPerKey))
}

// lock hashes key, locks its shard and returns the shard and the hash. The
// caller unlocks.
func (s *Store) lock(key []byte) (*shard, uint64) {
	h := maphash.Bytes(s.seed, key)
	if h == 0 {
		h = 1
	}
	var sh *shard
	if s.shift == 64 {
		sh = &s.shards[0]
	} else {
		sh = &s.shards[h>>s.shift]
	}
	sh.mu.Lock()
	return sh, h
}

// entry returns the index of h's slot in the shard, inserting an empty state
// (and making room for it) when absent. The index is valid until the shard's
// table changes.
func (sh *shard) entry(h uint64, now int64, perShard int) int {
	if len(sh.t.slots) == 0 {
		sh.t.grow()
	}
	i, found := sh.t.find(h)
	if found {
		return i
	}
	switch {
	case sh.t.n >= perShard:
		sh.makeRoom(now, h)
		i, _ = sh.t.find(h)
	case (sh.t.n+1)*4 > len(sh.t.slots)*3:
		sh.t.grow()
		i, _ = sh.t.find(h)
	}
	sh.t.slots[i].h = h
	sh.t.n++
	return i
}

// Rate implements limit.Store.
func (s *Store) Rate(key []byte, now int64, r limit.Rate, cost int64) limit.Result {
	sh, h := s.lock(key)
	i := sh.entry(h, now, s.perShard)
	var res limit.Result
	sh.t.slots[i].st, res = limit.GCRA(sh.t.slots[i].st, now, r, cost)
	sh.dropIfEmpty(i)
	sh.mu.Unlock()
	return res
}

// Quota implements limit.Store.
func (s *Store) Quota(key []byte, now, periodEnd, quota, cost int64) limit.Result {
	sh, h := s.lock(key)
	i := sh.entry(h, now, s.perShard)
	var res limit.Result
	sh.t.slots[i].st, res = limit.CountQuota(sh.t.slots[i].st, now, periodEnd, quota, cost)
	sh.dropIfEmpty(i)
	sh.mu.Unlock()
	return res
}

// Acquire implements limit.Store.
func (s *Store) Acquire(key []byte, now, slots int64, lease time.Duration) limit.Result {
	sh, h := s.lock(key)
	i := sh.entry(h, now, s.perShard)
	var res limit.Result
	sh.t.slots[i].st, res = limit.AcquireSlot(sh.t.slots[i].st, now, slots, lease)
	sh.dropIfEmpty(i)
	sh.mu.Unlock()
	return res
}

// Release implements limit.Store.
func (s *Store) Release(key []byte, now int64) {
	sh, h := s.lock(key)
	if len(sh.t.slots) > 0 {
		if i, found := sh.t.find(h); found {
			sh.t.slots[i].st = limit.ReleaseSlot(sh.t.slots[i].st, now)
			sh.dropIfEmpty(i)
		}
	}
	sh.mu.Unlock()
}

// dropIfEmpty removes a slot whose state is the zero state (a denied first
// request, a released last slot): such a key holds nothing.
func (sh *shard) dropIfEmpty(i int) {
	if sh.t.slots[i].st == (limit.State{}) {
		sh.t.remove(i)
	}
}

// makeRoom frees one entry of a full shard: an expired one when the sample
// holds one (an expiration), else the sampled entry closest to expiry (an
// eviction). The sample is the first sampleSize entries from a position
// derived from the incoming hash, which the per-process seed makes random.
func (sh *shard) makeRoom(now int64, h uint64) {
	mask := len(sh.t.slots) - 1
	victim, seen := -1, 0
	for i, n := int(h*0x9E3779B97F4A7C15>>32)&mask, 0; n <= mask && seen < sampleSize; i, n = (i+1)&mask, n+1 {
		sl := &sh.t.slots[i]
		if sl.h == 0 {
			continue
		}
		if sl.st.Expires <= now {
			sh.t.remove(i)
			sh.expirations.Add(1)
			return
		}
		if victim < 0 || sl.st.Expires < sh.t.slots[victim].st.Expires {
			victim = i
		}
		seen++
	}
	if victim >= 0 {
		sh.t.remove(victim)
		sh.evictions.Add(1)
	}
}

// Sweep deletes expired keys and returns how many it deleted. Callers run it
// periodically so that idle keys do not hold memory until evicted.
func (s *Store) Sweep(now int64) int {
	total := 0
	for i := range s.shards {
		sh := &s.shards[i]
		n := 0
		sh.mu.Lock()
		for j := 0; j < len(sh.t.slots); {
			if sl := &sh.t.slots[j]; sl.h != 0 && sl.st.Expires <= now {
				sh.t.remove(j) // may shift a later entry into j: look again
				n++
				continue
			}
			j++
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
		st.Keys += sh.t.n
		sh.mu.Unlock()
		st.Evictions += sh.evictions.Load()
		st.Expirations += sh.expirations.Load()
	}
	return st
}

var _ limit.Store = (*Store)(nil)
