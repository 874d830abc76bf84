// Package challenge is the server side of the proof-of-work protocol
// (docs/challenges.md; the client side and the wire types are the public
// package pkg/challenge): an Authority issues HMAC-signed challenge tokens
// bound to the challenged client, redeems solutions once, and issues and
// checks passes bound the same way. Verification is a few hashes, O(1),
// against the 2^difficulty a solver pays.
package challenge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/pkg/challenge"
)

// Outcome is the result of checking a solution or a pass. Each refusal has
// its own stable reason code.
type Outcome uint8

// Outcomes.
const (
	OK              Outcome = iota
	Malformed               // the header does not parse
	Forged                  // the token is not one this guard signed (or not for this use)
	Expired                 // the token's time is up
	Replayed                // the solution was already used
	Transplanted            // the token was issued to another client (IP prefix, user agent, key or user)
	WrongDifficulty         // the token's difficulty is below the one now required
	Unsolved                // the nonce does not have the leading zero bits the token asks for
)

var reasons = [...]string{
	OK: "ok", Malformed: "challenge_malformed", Forged: "challenge_forged", Expired: "challenge_expired",
	Replayed: "challenge_replayed", Transplanted: "challenge_transplanted",
	WrongDifficulty: "challenge_wrong_difficulty", Unsolved: "challenge_unsolved",
}

var passReasons = [...]string{
	OK: "ok", Malformed: "pass_malformed", Forged: "pass_forged", Expired: "pass_expired",
	Transplanted: "pass_transplanted",
}

// Reason returns the problem reason code of a refused solution.
func (o Outcome) Reason() string {
	if int(o) < len(reasons) {
		return reasons[o]
	}
	return "challenge_invalid"
}

// PassReason returns the reason code of a refused pass.
func (o Outcome) PassReason() string {
	if int(o) < len(passReasons) && passReasons[o] != "" {
		return passReasons[o]
	}
	return "pass_invalid"
}

func (o Outcome) String() string { return o.Reason() }

// Binding is who a token is for: the client's network prefix, its user
// agent, and its API key id and user where present. A token checked
// against another Binding is Transplanted.
type Binding struct {
	Prefix    netip.Prefix
	UserAgent string
	Key       string
	User      string
}

// Options configures an Authority. Zero fields get the defaults shown.
type Options struct {
	// Secret signs tokens; tokens verify on every process with the same
	// secret. Default: 32 random bytes (tokens die with the process).
	Secret []byte
	// PreviousSecret still verifies tokens signed before a change of
	// Secret.
	PreviousSecret []byte
	// Rotation is how often the signing key (derived from Secret) rolls
	// over; tokens signed in the current and the previous period verify.
	// Default 1h; raised to PassTTL when shorter, so a pass always
	// outlives the key that signed it.
	Rotation time.Duration
	// TTL is how long a challenge can be solved. Default 5m.
	TTL time.Duration
	// PassTTL is how long a pass lasts. Default 30m.
	PassTTL time.Duration
	// ReplayEntries bounds the replay cache (spent solutions). Default
	// 65536 (about 3 MB).
	ReplayEntries int
	// Rand makes the random secret and token ids. Default crypto/rand;
	// tests give a fixed stream to make tokens repeatable.
	Rand io.Reader
}

// Authority issues and verifies tokens. It is safe for concurrent use.
// Its clock is the caller's: every method takes the time of the request
// (event time in replay and game days).
type Authority struct {
	opts    Options
	secrets [][]byte // current first
	keys    atomic.Pointer[keyring]
	spent   *replayCache
}

// NewAuthority returns an Authority, or an error when the random secret
// cannot be read.
func NewAuthority(opts Options) (*Authority, error) {
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if len(opts.Secret) == 0 {
		opts.Secret = make([]byte, 32)
		if _, err := io.ReadFull(opts.Rand, opts.Secret); err != nil {
			return nil, err
		}
	}
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.PassTTL <= 0 {
		opts.PassTTL = 30 * time.Minute
	}
	if opts.Rotation <= 0 {
		opts.Rotation = time.Hour
	}
	opts.Rotation = max(opts.Rotation, opts.PassTTL, opts.TTL)
	if opts.ReplayEntries <= 0 {
		opts.ReplayEntries = 1 << 16
	}
	a := &Authority{opts: opts, secrets: [][]byte{opts.Secret}, spent: newReplayCache(opts.ReplayEntries)}
	if len(opts.PreviousSecret) > 0 {
		a.secrets = append(a.secrets, opts.PreviousSecret)
	}
	return a, nil
}

// Token layout, before base64url (no padding):
//
//	0      kind: 'c' challenge, 'p' pass
//	1      difficulty
//	2      key hint: first byte of SHA-256(secret)
//	3..7   rotation period of the signing key, uint32
//	7..11  issued, unix seconds, uint32
//	11..15 expires, unix seconds, uint32
//	15..27 random id
//	27..35 binding: network prefix hash
//	35..39 binding: user agent hash
//	39..47 binding: key and user hash
//	47..63 HMAC-SHA256 of bytes 0..47 under the period key, truncated
const (
	offKind, offDifficulty, offHint, offPeriod = 0, 1, 2, 3
	offIssued, offExpires, offID               = 7, 11, 15
	offNet, offAgent, offIdentity, offMAC      = 27, 35, 39, 47
	rawLen                                     = 63
	macLen                                     = rawLen - offMAC
	tokenLen                                   = (rawLen*8 + 5) / 6 // 84 characters
)

const (
	kindChallenge = 'c'
	kindPass      = 'p'
)

// key is one derived signing key with a pool of HMACs under it.
type key struct {
	hint   byte
	period uint32
	macs   sync.Pool // *macState
}

type macState struct {
	h   hash.Hash
	in  [offMAC]byte // the signed bytes, copied so the caller's token stays on its stack
	sum [sha256.Size]byte
}

// keyring holds the keys of the current period and the one before, for
// each secret.
type keyring struct {
	period uint32
	keys   []*key
}

func (a *Authority) period(t time.Time) uint32 {
	return uint32(t.Unix() / int64(a.opts.Rotation/time.Second))
}

// ring returns the keys for the period of now, deriving them when the
// period has changed.
func (a *Authority) ring(now time.Time) *keyring {
	p := a.period(now)
	if r := a.keys.Load(); r != nil && r.period == p {
		return r
	}
	r := &keyring{period: p}
	for _, s := range a.secrets {
		hint := sha256.Sum256(s)
		for _, per := range [2]uint32{p, p - 1} {
			mac := hmac.New(sha256.New, s)
			mac.Write([]byte("abuseguard challenge key v1\x00"))
			mac.Write(binary.BigEndian.AppendUint32(nil, per))
			derived := mac.Sum(nil)
			k := &key{hint: hint[0], period: per}
			k.macs.New = func() any { return &macState{h: hmac.New(sha256.New, derived)} }
			r.keys = append(r.keys, k)
		}
	}
	a.keys.Store(r)
	return r
}

// sign writes the MAC of raw[:offMAC] under k into raw[offMAC:].
func (k *key) sign(raw *[rawLen]byte) {
	m := k.macs.Get().(*macState)
	m.h.Reset()
	copy(m.in[:], raw[:offMAC])
	m.h.Write(m.in[:])
	m.h.Sum(m.sum[:0])
	copy(raw[offMAC:], m.sum[:macLen])
	k.macs.Put(m)
}

// verify reports whether raw carries k's MAC.
func (k *key) verify(raw *[rawLen]byte) bool {
	m := k.macs.Get().(*macState)
	m.h.Reset()
	copy(m.in[:], raw[:offMAC])
	m.h.Write(m.in[:])
	m.h.Sum(m.sum[:0])
	ok := subtle.ConstantTimeCompare(m.sum[:macLen], raw[offMAC:]) == 1
	k.macs.Put(m)
	return ok
}

// bindingHashes is a Binding reduced to the token's three hashes.
type bindingHashes struct {
	net      [8]byte
	agent    [4]byte
	identity [8]byte
}

// hashers hold a SHA-256 and a scratch buffer for hashing a Binding
// without allocating.
var hashers = sync.Pool{New: func() any { return &hasher{h: sha256.New()} }}

type hasher struct {
	h   hash.Hash
	buf [128]byte
}

// sum returns SHA-256 of the parts, each followed by a NUL.
func (x *hasher) sum(parts ...string) [sha256.Size]byte {
	x.h.Reset()
	for _, s := range parts {
		for len(s) > 0 {
			n := copy(x.buf[:], s)
			x.h.Write(x.buf[:n])
			s = s[n:]
		}
		x.buf[0] = 0
		x.h.Write(x.buf[:1])
	}
	var out [sha256.Size]byte
	copy(out[:], x.h.Sum(x.buf[:0]))
	return out
}

func hashBinding(b *Binding) bindingHashes {
	var h bindingHashes
	x := hashers.Get().(*hasher)
	nb, _ := b.Prefix.Masked().AppendBinary(x.buf[:0])
	s := sha256.Sum256(nb)
	copy(h.net[:], s[:])
	s = x.sum(b.UserAgent)
	copy(h.agent[:], s[:])
	s = x.sum(b.Key, b.User)
	copy(h.identity[:], s[:])
	hashers.Put(x)
	return h
}

// mint builds and signs a token.
func (a *Authority) mint(kind byte, difficulty int, b *Binding, now time.Time, ttl time.Duration) (string, time.Time) {
	r := a.ring(now)
	k := r.keys[0]
	var raw [rawLen]byte
	raw[offKind], raw[offDifficulty], raw[offHint] = kind, byte(difficulty), k.hint
	binary.BigEndian.PutUint32(raw[offPeriod:], k.period)
	issued := now.Unix()
	expires := now.Add(ttl).Unix()
	binary.BigEndian.PutUint32(raw[offIssued:], uint32(issued))
	binary.BigEndian.PutUint32(raw[offExpires:], uint32(expires))
	_, _ = io.ReadFull(a.opts.Rand, raw[offID:offNet]) // crypto/rand never fails; a short test stream leaves zeros
	h := hashBinding(b)
	copy(raw[offNet:], h.net[:])
	copy(raw[offAgent:], h.agent[:])
	copy(raw[offIdentity:], h.identity[:])
	k.sign(&raw)
	return base64.RawURLEncoding.EncodeToString(raw[:]), time.Unix(expires, 0).UTC()
}

// Issue returns a new challenge at difficulty (clamped to 0..64) for the
// client b, issued at now.
func (a *Authority) Issue(b Binding, difficulty int, now time.Time) challenge.Challenge {
	difficulty = min(max(difficulty, 0), challenge.MaxDifficulty)
	tok, exp := a.mint(kindChallenge, difficulty, &b, now, a.opts.TTL)
	return challenge.Challenge{Algorithm: challenge.Algorithm, Token: tok, Difficulty: difficulty, Expires: exp}
}

// open decodes and authenticates a token of kind for b; it does not check
// single use.
func (a *Authority) open(tok string, kind byte, b *Binding, now time.Time) (raw [rawLen]byte, o Outcome) {
	if len(tok) != tokenLen {
		return raw, Forged
	}
	var src [tokenLen]byte
	copy(src[:], tok)
	if n, err := base64.RawURLEncoding.Decode(raw[:], src[:]); err != nil || n != rawLen {
		return raw, Forged
	}
	if raw[offKind] != kind {
		return raw, Forged
	}
	r := a.ring(now)
	hint, period := raw[offHint], binary.BigEndian.Uint32(raw[offPeriod:])
	signed := false
	for _, k := range r.keys {
		if k.hint == hint && k.period == period && k.verify(&raw) {
			signed = true
			break
		}
	}
	if !signed {
		return raw, Forged
	}
	if int64(binary.BigEndian.Uint32(raw[offExpires:])) <= now.Unix() {
		return raw, Expired
	}
	h := hashBinding(b)
	if subtle.ConstantTimeCompare(h.net[:], raw[offNet:offAgent]) != 1 ||
		subtle.ConstantTimeCompare(h.agent[:], raw[offAgent:offIdentity]) != 1 ||
		subtle.ConstantTimeCompare(h.identity[:], raw[offIdentity:offMAC]) != 1 {
		return raw, Transplanted
	}
	return raw, OK
}

// Redemption is the result of Redeem.
type Redemption struct {
	Outcome    Outcome
	Difficulty int // the solved token's difficulty (0 unless it authenticated)
}

// Redeem checks an Abuseguard-Solution header value for the client b at
// now against the difficulty required, and marks it spent when it is
// good. The checks, in order: it parses (Malformed), the token is this
// guard's challenge (Forged), unexpired (Expired), issued to b
// (Transplanted), at least as hard as required (WrongDifficulty), solved
// by the nonce (Unsolved), and not used before (Replayed).
func (a *Authority) Redeem(header string, b Binding, required int, now time.Time) Redemption {
	sol, err := challenge.ParseSolution(header)
	if err != nil {
		return Redemption{Outcome: Malformed}
	}
	raw, o := a.open(sol.Token, kindChallenge, &b, now)
	if o != OK {
		return Redemption{Outcome: o}
	}
	d := int(raw[offDifficulty])
	if d < required {
		return Redemption{Outcome: WrongDifficulty, Difficulty: d}
	}
	if !challenge.Check(sol.Token, sol.Nonce, d) {
		return Redemption{Outcome: Unsolved, Difficulty: d}
	}
	var id [12]byte
	copy(id[:], raw[offID:offNet])
	if !a.spent.spend(id, binary.BigEndian.Uint32(raw[offExpires:]), uint32(now.Unix())) {
		return Redemption{Outcome: Replayed, Difficulty: d}
	}
	return Redemption{Outcome: OK, Difficulty: d}
}

// IssuePass returns a pass for b, recording the difficulty solved to earn
// it, and when it expires.
func (a *Authority) IssuePass(b Binding, difficulty int, now time.Time) (string, time.Time) {
	return a.mint(kindPass, min(max(difficulty, 0), challenge.MaxDifficulty), &b, now, a.opts.PassTTL)
}

// CheckPass checks a pass (the Abuseguard-Pass header or the pass cookie)
// for the client b at now: Malformed, Forged, Expired, Transplanted or OK. A pass
// is reusable until it expires.
func (a *Authority) CheckPass(pass string, b Binding, now time.Time) Outcome {
	if !challenge.ValidToken(pass) {
		return Malformed
	}
	_, o := a.open(pass, kindPass, &b, now)
	return o
}

// PassTTL returns how long a pass lasts.
func (a *Authority) PassTTL() time.Duration { return a.opts.PassTTL }

// SpentStats returns the replay cache's size and how many unexpired
// entries it had to evict (each raising the floor below which solutions
// are refused as replayed).
func (a *Authority) SpentStats() (entries int, evictions uint64) { return a.spent.stats() }
