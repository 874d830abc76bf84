// Package rollout chooses which entities a canary includes, for limits and
// rules alike: by a hash that is the same in every process, so a client is
// consistently in or out, and raising the percentage only adds clients.
package rollout

import "math"

// Canary is a share of entities. The zero Canary includes none.
type Canary uint64

// NewCanary returns the canary that includes percent (0-100) of entities.
func NewCanary(percent float64) Canary {
	switch {
	case percent >= 100:
		return math.MaxUint64
	case !(percent > 0):
		return 0
	}
	return Canary(percent / 100 * (1 << 63) * 2)
}

// Includes reports whether the entity whose Hash sums to h is in c.
func (c Canary) Includes(h uint64) bool {
	return c == math.MaxUint64 || h < uint64(c)
}

// Hash is an incremental FNV-1a hash of an entity's identifying bytes;
// Sum finalises it. Start from NewHash.
type Hash uint64

const prime = 1099511628211

// NewHash returns an empty Hash.
func NewHash() Hash { return 14695981039346656037 }

// String adds s.
func (h Hash) String(s string) Hash {
	for i := 0; i < len(s); i++ {
		h = (h ^ Hash(s[i])) * prime
	}
	return h
}

// Bytes adds b.
func (h Hash) Bytes(b []byte) Hash {
	for _, c := range b {
		h = (h ^ Hash(c)) * prime
	}
	return h
}

// Sep adds a separator, so that "ab"+"c" and "a"+"bc" differ.
func (h Hash) Sep() Hash { return h * prime }

// Sum returns the hash finalised with MurmurHash3's mixer: FNV-1a alone
// leaves the top bits, which Includes compares, skewed for values that
// differ only at the end ("key-1", "key-2", ...).
func (h Hash) Sum() uint64 {
	x := uint64(h)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
