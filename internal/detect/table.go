package detect

import (
	"hash/maphash"

	"sync"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/rollout"
)

// Table holds per-entity state of type T, bounded to a number of entries.
// When full, it drops an entry idle longer than its idle time if a sample
// holds one (an expiration), else the least recently seen of the sample
// (an eviction). It is safe for concurrent use.
type Table[T any] struct {
	shards      [64]tableShard[T]
	perShard    int
	idle        int64
	evictions   atomic.Uint64
	expirations atomic.Uint64
}

type tableShard[T any] struct {
	mu  sync.Mutex
	m   map[uint64]tableEntry[T]
	cur tableEntry[T] // Update's working copy: a local would escape through f
	_   [40]byte
}

type tableEntry[T any] struct {
	seen int64
	v    T
}

// NewTable returns a Table of at most maxEntries whose entries expire after
// idle without being seen.
func NewTable[T any](maxEntries int, idle time.Duration) *Table[T] {
	t := &Table[T]{perShard: max(1, maxEntries/64), idle: int64(idle)}
	for i := range t.shards {
		t.shards[i].m = map[uint64]tableEntry[T]{}
	}
	return t
}

// Update calls f with the state for key (zero when new) and stores what f
// leaves, marking the entry seen at now. f runs under a shard lock: it must
// be quick and must not call back into the Table.
func (t *Table[T]) Update(key uint64, now int64, f func(*T)) {
	sh := &t.shards[key>>58]
	sh.mu.Lock()
	e, ok := sh.m[key]
	if !ok && len(sh.m) >= t.perShard {
		t.makeRoom(sh, now)
	}
	sh.cur = e
	f(&sh.cur.v)
	sh.cur.seen = now
	sh.m[key] = sh.cur
	sh.cur = tableEntry[T]{}
	sh.mu.Unlock()
}

// Get returns a copy of key's state and whether it exists.
func (t *Table[T]) Get(key uint64) (T, bool) {
	sh := &t.shards[key>>58]
	sh.mu.Lock()
	e, ok := sh.m[key]
	sh.mu.Unlock()
	return e.v, ok
}

func (t *Table[T]) makeRoom(sh *tableShard[T], now int64) {
	var victim uint64
	oldest, n := int64(0), 0
	for k := range sh.m { // keys only: ranging over values would copy each one
		seen := sh.m[k].seen
		if now-seen > t.idle {
			delete(sh.m, k)
			t.expirations.Add(1)
			return
		}
		if n == 0 || seen < oldest {
			victim, oldest = k, seen
		}
		if n++; n == 8 {
			break
		}
	}
	if n > 0 {
		delete(sh.m, victim)
		t.evictions.Add(1)
	}
}

// Sweep drops entries idle at now and returns how many.
func (t *Table[T]) Sweep(now int64) int {
	total := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if now-e.seen > t.idle {
				delete(sh.m, k)
				total++
			}
		}
		sh.mu.Unlock()
	}
	t.expirations.Add(uint64(total))
	return total
}

// TableStats is a Table's size and churn.
type TableStats struct {
	Entries, MaxEntries    int
	Evictions, Expirations uint64
}

// Stats returns a snapshot.
func (t *Table[T]) Stats() TableStats {
	s := TableStats{MaxEntries: t.perShard * len(t.shards)}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		s.Entries += len(sh.m)
		sh.mu.Unlock()
	}
	s.Evictions, s.Expirations = t.evictions.Load(), t.expirations.Load()
	return s
}

// Hasher hashes entity keys. A served policy uses a random per-process
// seed (NewHasher), so clients cannot aim collisions at its sketches; an
// offline replay uses a fixed one (NewFixedHasher), so that it is
// repeatable and two configs compared see the same hashes.
type Hasher struct {
	seed  maphash.Seed
	fixed uint64 // used instead of seed when not 0
}

// NewHasher returns a Hasher with a random seed.
func NewHasher() Hasher { return Hasher{seed: maphash.MakeSeed()} }

// NewFixedHasher returns a Hasher that gives the same hashes in every
// process. Its hashes are predictable: use it offline only.
func NewFixedHasher() Hasher { return Hasher{fixed: 0x9E3779B97F4A7C15} }

// String hashes s in namespace ns (a scope or detector tag).
func (h Hasher) String(ns byte, s string) uint64 {
	st := h.Stream(ns)
	st.AddString(s)
	return st.Sum64()
}

// Bytes hashes b in namespace ns; it equals String(ns, string(b)).
func (h Hasher) Bytes(ns byte, b []byte) uint64 {
	st := h.Stream(ns)
	st.Add(b)
	return st.Sum64()
}

// Stream is an incremental hash under a Hasher's seed, for keys built
// piece by piece. Its zero value is not usable: get one from Hasher.Stream.
type Stream struct {
	m     maphash.Hash
	r     rollout.Hash
	fixed uint64
}

// Stream starts a hash in namespace ns.
func (h Hasher) Stream(ns byte) Stream {
	var st Stream
	if h.fixed != 0 {
		st.fixed, st.r = h.fixed, rollout.NewHash().Bytes([]byte{ns})
		return st
	}
	st.m.SetSeed(h.seed)
	st.m.WriteByte(ns)
	return st
}

// AddByte adds c.
func (st *Stream) AddByte(c byte) {
	if st.fixed != 0 {
		st.r = st.r.Bytes([]byte{c})
		return
	}
	st.m.WriteByte(c)
}

// AddString adds s.
func (st *Stream) AddString(s string) {
	if st.fixed != 0 {
		st.r = st.r.String(s)
		return
	}
	st.m.WriteString(s)
}

// Add adds b.
func (st *Stream) Add(b []byte) {
	if st.fixed != 0 {
		st.r = st.r.Bytes(b)
		return
	}
	st.m.Write(b)
}

// Sum64 returns the hash.
func (st *Stream) Sum64() uint64 {
	if st.fixed != 0 {
		return st.r.Sum() ^ st.fixed
	}
	return st.m.Sum64()
}
