package engine

import (
	"encoding/binary"
	"time"

	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Known clients. An API key that is not declared is client-chosen: on its
// own it shields nothing. But a key the upstream keeps accepting (2xx
// answers), almost never refuses (401, 403) and that arrives from few
// networks is a client the upstream knows, a partner whose key was never
// declared here: it is judged by its key, like a declared one (its limits
// are the identified ones, decisions on its address do not apply to it,
// and the behaviour a plan permits throttles it at most). A made-up key
// earns nothing: the upstream refuses it, and while its address is
// blocked its requests never reach the upstream to build a record. A key
// used from many networks (leaked) stops being known. Only answers on
// endpoints the upstream does not serve without a key count: where a
// request without any key was answered 2xx (a public catalogue, a page
// behind a session cookie) the upstream is not checking keys, so its
// acceptance says nothing about one, and a made-up key there earns
// nothing either.
// The accepted answers before a key is known are identity.api_key.known_after
// (20 by default).
const (
	knownRefusals = 20             // at most one refusal per this many acceptances
	knownNetworks = 4              // client networks (/24, /64) a known key may come from
	knownWindow   = time.Hour      // answers and networks are counted over one to two of these
	openWindow    = 24 * time.Hour // an endpoint answered 2xx without a key stays open this long
)

// openRoute is when an endpoint last answered 2xx to a request without a key.
type openRoute struct{ last int64 }

// keyRecord is what the upstream said about one key, and where it came from.
type keyRecord struct {
	accepted, refused detect.Window
	networks          detect.Distinct
}

// known reports whether the record is a known client's at now, after
// the given accepted answers.
func (r *keyRecord) known(now int64, after float64) bool {
	ok := r.accepted.Count(now, knownWindow)
	return ok >= after && r.refused.Count(now, knownWindow)*knownRefusals <= ok &&
		r.networks.Count(now, knownWindow) < knownNetworks+0.5 // the sketch estimates 4 as 4.03
}

// keyRecords remembers, in a bounded table, the track record of each key
// without a verified identity.
type keyRecords struct {
	hasher detect.Hasher
	keys   *detect.Table[keyRecord]
	open   *detect.Table[openRoute] // endpoints served without a key, by endpoint
}

// maxOpenRoutes bounds the endpoints remembered as served without a key.
const maxOpenRoutes = 16384

func newKeyRecords(maxEntries int, h detect.Hasher) *keyRecords {
	return &keyRecords{hasher: h, keys: detect.NewTable[keyRecord](maxEntries, 2*knownWindow),
		open: detect.NewTable[openRoute](maxOpenRoutes, openWindow)}
}

// nsKnownKey, nsKnownNet and nsKnownRoute are the hash namespaces of keys,
// networks and endpoints.
const (
	nsKnownKey   = 'n'
	nsKnownNet   = 'w'
	nsKnownRoute = 'e'
)

// see counts v's client network for its key and sets
// request.KnownClient on v when the key's record is a known client's
// after the given accepted answers (0: never). Requests without a key, or
// with a verified identity, are left alone.
func (k *keyRecords) see(v *request.View, after float64) {
	if v.Identity.KeyID == "" || v.Identity.Verified || after <= 0 {
		return
	}
	now := v.Time.UnixNano()
	var net uint64
	if v.ClientIP.IsValid() {
		pfx := request.Prefix(v.ClientIP, 24, 64).Addr().As16()
		net = k.hasher.Bytes(nsKnownNet, pfx[:])
	}
	known := false
	k.keys.Update(k.hasher.String(nsKnownKey, v.Identity.KeyID), now, func(r *keyRecord) {
		if net != 0 {
			r.networks.Add(now, knownWindow, net)
		}
		known = r.known(now, after)
	})
	if known {
		v.Hints |= request.KnownClient
	}
}

// observe adds the upstream's answer to v's key's record: a 2xx accepts
// it, unless the endpoint serves requests without a key; a 401 or 403
// refuses it; other answers say nothing about the key. A 2xx to a
// request without a key marks its endpoint open.
func (k *keyRecords) observe(v *request.View, o verdict.Outcome) {
	if o.Guard {
		return
	}
	accepted := o.Status >= 200 && o.Status < 300
	now := v.Time.UnixNano()
	if v.Identity.KeyID == "" {
		if accepted {
			k.open.Update(k.endpoint(v), now, func(r *openRoute) { r.last = now })
		}
		return
	}
	if v.Identity.Verified || !accepted && o.Status != 401 && o.Status != 403 {
		return
	}
	if accepted {
		if r, ok := k.open.Get(k.endpoint(v)); ok && now-r.last < int64(openWindow) {
			return // served without a key too: this answer vouches for nothing
		}
	}
	k.keys.Update(k.hasher.String(nsKnownKey, v.Identity.KeyID), now, func(r *keyRecord) {
		if accepted {
			r.accepted.Add(now, knownWindow, 1)
		} else {
			r.refused.Add(now, knownWindow, 1)
		}
	})
}

// endpoint returns a hash of v's method and route (detect.RouteOf): an
// upstream checks keys per endpoint, and a public GET beside a keyed POST
// on one path is common.
func (k *keyRecords) endpoint(v *request.View) uint64 {
	st := k.hasher.Stream(nsKnownRoute)
	st.AddString(v.Method)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], detect.RouteOf(k.hasher, v))
	st.Add(b[:])
	return st.Sum64()
}

// sweep drops the records of keys idle for two windows.
func (k *keyRecords) sweep(now int64) {
	k.keys.Sweep(now)
	k.open.Sweep(now)
}

// identified reports whether v is judged by its identity rather than its
// address: a verified identity, or a known client's key.
func identified(v *request.View) bool {
	return v.Identity.Verified || v.Hints.Has(request.KnownClient)
}
