package engine

import (
	"time"

	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
)

// Shared-address recognition. An address from which many established
// sessions arrive is an office or carrier NAT: its sum looks like one busy
// client (dozens of 404s, failed logins, distinct pages), so its users are
// judged per session instead. A session is established once it has sent
// establishedAfter requests: a client that makes up a new session cookie
// for every request or two stays judged by its address.
const (
	establishedAfter = 2
	sharedAt         = 5 // established sessions on one address
	sharedWindow     = 10 * time.Minute
)

// sharedAddresses remembers, in bounded tables, how many requests each
// session sent and how many established sessions each address carried.
type sharedAddresses struct {
	hasher   detect.Hasher
	sessions *detect.Table[uint32]
	addrs    *detect.Table[detect.Distinct]
}

func newSharedAddresses(maxEntries int, h detect.Hasher) *sharedAddresses {
	return &sharedAddresses{
		hasher:   h,
		sessions: detect.NewTable[uint32](maxEntries, sharedWindow),
		addrs:    detect.NewTable[detect.Distinct](maxEntries/4+1, sharedWindow),
	}
}

// hash namespaces of the two tables.
const (
	nsSession = 's'
	nsAddress = 'a'
)

// see counts v's session and sets request.SharedAddress on v when its
// session is established and its address carries sharedAt established
// sessions. Requests without a session or a verified identity's are left
// alone (identity scopes already spare them).
func (s *sharedAddresses) see(v *request.View) {
	if v.Identity.Session == "" || v.Identity.Verified || !v.ClientIP.IsValid() {
		return
	}
	now := v.Time.UnixNano()
	sh := s.hasher.String(nsSession, v.Identity.Session)
	var n uint32
	s.sessions.Update(sh, now, func(c *uint32) {
		if *c < establishedAfter {
			*c++
		}
		n = *c
	})
	if n < establishedAfter {
		return
	}
	var addr [16]byte
	ip := v.ClientIP.As16()
	copy(addr[:], ip[:])
	shared := false
	s.addrs.Update(s.hasher.Bytes(nsAddress, addr[:]), now, func(d *detect.Distinct) {
		d.Add(now, sharedWindow, sh)
		shared = d.Count(now, sharedWindow) >= sharedAt
	})
	if shared {
		v.Hints |= request.SharedAddress
	}
}

// sweep drops idle sessions and addresses.
func (s *sharedAddresses) sweep(now int64) {
	s.sessions.Sweep(now)
	s.addrs.Sweep(now)
}
