package policy

import (
	"net/netip"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/rollout"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Prefix sizes for canary cohorts of prefix-scoped rules: the config
// defaults for ip_prefix.
const (
	canaryPrefix4 = 24
	canaryPrefix6 = 64
)

// enforcedFor reports whether r acts on v: always in enforce mode, never in
// shadow mode, and in canary mode for the entities whose rollout.Hash of
// rule name and entity value the canary includes. The same entities are in the canary every time, in every
// process, and raising the percentage only adds entities.
func (r *Rule) enforcedFor(v *request.View) bool {
	switch r.Mode {
	case verdict.Enforce:
		return true
	case verdict.Canary:
		return r.canary.Includes(hashEntity(rollout.NewHash().String(r.Name).Sep(), r.Scope, v).Sum())
	}
	return false
}

// hashEntity folds the value of v's entity in scope into h without
// allocating. The text hashed is verdict.Entity.Value's (an unknown IP
// hashes as ""); a prefix is the client's /24 or /64.
func hashEntity(h rollout.Hash, scope verdict.Scope, v *request.View) rollout.Hash {
	var buf [64]byte
	switch scope {
	case 0:
		switch {
		case v.Identity.KeyID != "":
			return h.String(v.Identity.KeyID)
		case v.Identity.User != "":
			return h.String(v.Identity.User)
		case v.BySession():
			return h.String(v.Identity.Session)
		}
		return h.Bytes(appendAddr(buf[:0], v.ClientIP))
	case verdict.ScopeKey:
		return h.String(v.Identity.KeyID)
	case verdict.ScopeUser:
		return h.String(v.Identity.User)
	case verdict.ScopeSession:
		return h.String(v.Identity.Session)
	case verdict.ScopeFingerprint:
		return h.Bytes(appendFingerprint(buf[:0], v.Fingerprint))
	case verdict.ScopePrefix:
		bits := canaryPrefix6
		if v.ClientIP.Is4() {
			bits = canaryPrefix4
		}
		p, err := v.ClientIP.Prefix(bits)
		if err != nil {
			return h
		}
		return h.Bytes(p.AppendTo(buf[:0]))
	}
	return h.Bytes(appendAddr(buf[:0], v.ClientIP))
}

// appendAddr appends a's text, or nothing for the zero Addr.
func appendAddr(dst []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return dst
	}
	return a.AppendTo(dst)
}

// appendFingerprint appends f's text, "f_" and 16 hex digits, as
// request.Fingerprint.String does.
func appendFingerprint(dst []byte, f request.Fingerprint) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, 'f', '_')
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, hexDigits[(f>>uint(i))&0xf])
	}
	return dst
}
