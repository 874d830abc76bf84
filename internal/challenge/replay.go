package challenge

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// replayCache remembers spent challenge ids until their tokens expire. It
// is bounded: a full shard first drops expired ids, then the sampled id
// closest to expiry, and raises the shard's floor to that id's expiry; a
// token expiring at or before the floor is refused as spent, so eviction
// never reopens a replay. Sharded by id, one mutex per shard.
type replayCache struct {
	shards    [replayShards]replayShard
	perShard  int
	evictions atomic.Uint64
}

const replayShards = 64

type replayShard struct {
	mu    sync.Mutex
	ids   map[[12]byte]uint32 // id -> expiry, unix seconds
	floor uint32
	swept uint32 // when expired ids were last dropped
}

func newReplayCache(entries int) *replayCache {
	c := &replayCache{perShard: max(entries/replayShards, 1)}
	for i := range c.shards {
		c.shards[i].ids = make(map[[12]byte]uint32)
	}
	return c
}

// spend records id, whose token expires at exp, as spent at now; it
// reports false when id was spent before (or may have been: exp is at or
// below the shard's floor).
func (c *replayCache) spend(id [12]byte, exp, now uint32) bool {
	s := &c.shards[binary.LittleEndian.Uint32(id[:4])%replayShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp <= s.floor {
		return false
	}
	if _, ok := s.ids[id]; ok {
		return false
	}
	if len(s.ids) >= c.perShard {
		c.makeRoom(s, now)
	}
	s.ids[id] = exp
	return true
}

// makeRoom drops s's expired ids (at most once a second, so a full shard
// costs O(1) per spend); when none had expired, it evicts the one of a
// sample that expires first and raises the floor to it.
func (c *replayCache) makeRoom(s *replayShard, now uint32) {
	if s.swept != now {
		s.swept = now
		for id, exp := range s.ids {
			if exp <= now {
				delete(s.ids, id)
			}
		}
		if len(s.ids) < c.perShard {
			return
		}
	}
	var victim [12]byte
	var first uint32
	sampled := 0
	for id, exp := range s.ids {
		if sampled == 0 || exp < first {
			victim, first = id, exp
		}
		if sampled++; sampled == 8 {
			break
		}
	}
	delete(s.ids, victim)
	s.floor = max(s.floor, first)
	c.evictions.Add(1)
}

func (c *replayCache) stats() (entries int, evictions uint64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		entries += len(s.ids)
		s.mu.Unlock()
	}
	return entries, c.evictions.Load()
}
