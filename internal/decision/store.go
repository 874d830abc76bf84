package decision

import (
	"container/heap"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/verdict"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Defaults for Options.
const (
	DefaultMaxTTL        = 24 * time.Hour
	DefaultMaxManualTTL  = 365 * 24 * time.Hour
	DefaultOffenseMemory = 7 * 24 * time.Hour
	DefaultMaxDecisions  = 100_000
	DefaultLockTimeout   = time.Second
)

// DefaultLadder returns the default escalation ladder: 5m for a first
// offense, 1h for the second, 24h for the third and every later one.
func DefaultLadder() []time.Duration {
	return []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour}
}

// Options configures a Store. Zero fields get the defaults.
type Options struct {
	// Path is the bbolt file decisions and offense counts persist to,
	// created when missing; "" keeps them in memory only.
	Path string
	// Ladder is the TTL by offense number; its last step repeats
	// (default DefaultLadder).
	Ladder []time.Duration
	// MaxTTL caps the TTL of automatic decisions (every Source but
	// "manual"), ladder steps included (default 24h).
	MaxTTL time.Duration
	// MaxManualTTL caps the TTL of manual decisions (default 365 days).
	MaxManualTTL time.Duration
	// OffenseMemory is how long a past offense counts for escalation
	// (default 7 days).
	OffenseMemory time.Duration
	// MaxDecisions bounds the decisions held (default 100000). Adding one
	// beyond it drops the held decision that expires soonest, counted in
	// Stats.Dropped. Offense histories are bounded to twice as many
	// entities, counted in Stats.OffendersDropped.
	MaxDecisions int
	// LockTimeout is how long Open waits for another process holding the
	// file to let go (default 1s).
	LockTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Ladder) == 0 {
		o.Ladder = DefaultLadder()
	}
	o.Ladder = slices.Clone(o.Ladder)
	for i, d := range o.Ladder {
		if d <= 0 {
			return fmt.Errorf("decision: ladder step %d is %s; every step must be positive", i+1, d)
		}
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"max TTL", &o.MaxTTL, DefaultMaxTTL},
		{"max manual TTL", &o.MaxManualTTL, DefaultMaxManualTTL},
		{"offense memory", &o.OffenseMemory, DefaultOffenseMemory},
		{"lock timeout", &o.LockTimeout, DefaultLockTimeout},
	} {
		if *f.v < 0 {
			return fmt.Errorf("decision: %s is negative (%s)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if o.MaxDecisions < 0 {
		return fmt.Errorf("decision: max decisions is negative (%d)", o.MaxDecisions)
	}
	if o.MaxDecisions == 0 {
		o.MaxDecisions = DefaultMaxDecisions
	}
	return nil
}

// ErrPersist is wrapped by the errors of Add and Remove when the change
// was made in memory but could not be written to the file. Persistence
// fails open: the in-memory decision stays in force (or stays removed)
// until it expires or the process restarts.
var ErrPersist = errors.New("decision store: not persisted")

// Stats are a Store's counters.
type Stats struct {
	Active           int    // decisions held (Len)
	Dropped          uint64 // decisions dropped to stay within MaxDecisions
	PersistErrors    uint64 // failed writes to the file
	Offenders        int    // entities with an offense history
	OffendersDropped uint64 // offense histories forgotten to stay within bounds
	Discarded        uint64 // records in the file that did not decode at Open and were deleted
}

const (
	shardCount        = 32 // a power of two
	scopeLimit        = int(verdict.ScopeCampaign) + 1
	maxOffenseHistory = 32 // offense times kept per entity; Offense tops out at this + 1
	offenderSample    = 8  // histories compared to choose one to forget
	schemaVersion     = "1"
)

var (
	bucketDecisions = []byte("decisions")
	bucketOffenses  = []byte("offenses")
	bucketMeta      = []byte("meta")
	keyVersion      = []byte("version")
)

// Local is the Store of one process: it holds active decisions, at most one
// per entity, and each entity's recent offenses, in memory and (with a
// Path) in a bbolt file. It is safe for concurrent use. Active, the per-request
// lookup, takes only a read lock on one of 32 shards and allocates nothing;
// writers serialize on one lock, never held during file I/O.
type Local struct {
	opts   Options
	db     *bolt.DB // nil when in memory only
	seed   maphash.Seed
	shards [shardCount]shard

	// mu guards byID, heap, offenders, and every write to the shard maps
	// (so a holder of mu may read the shard maps without their locks).
	mu           sync.RWMutex
	byID         map[string]*entry
	heap         expiryHeap
	offenders    map[string]*offender
	maxOffenders int

	n                atomic.Int64
	dropped          atomic.Uint64
	offendersDropped atomic.Uint64
	persistErrors    atomic.Uint64
	discarded        atomic.Uint64
}

// entry is a held decision. d and exp never change; idx is the heap
// position, guarded by Store.mu.
type entry struct {
	d     *Decision
	exp   int64 // d.Expires in Unix nanoseconds
	scope verdict.Scope
	idx   int
}

type shard struct {
	mu sync.RWMutex
	m  [scopeLimit]map[string]*entry // by scope, then value
	_  [64]byte
}

// offender is an entity's recent offense times, oldest first, in Unix
// nanoseconds.
type offender struct{ times []int64 }

// Open returns a Local store. With a Path it opens or creates the bbolt file,
// waiting at most LockTimeout for another process that holds it, loads the
// unexpired decisions and offense histories, and deletes the expired ones.
// A file that is not a decision store, or cannot be created, is an error
// naming the path.
func Open(opts Options) (*Local, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	s := &Local{
		opts:         opts,
		seed:         maphash.MakeSeed(),
		byID:         map[string]*entry{},
		offenders:    map[string]*offender{},
		maxOffenders: 2 * opts.MaxDecisions,
	}
	for i := range s.shards {
		for sc := 1; sc < scopeLimit; sc++ {
			s.shards[i].m[sc] = map[string]*entry{}
		}
	}
	if opts.Path == "" {
		return s, nil
	}
	db, err := bolt.Open(opts.Path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("decision store %s: locked by another process (waited %s)", opts.Path, opts.LockTimeout)
	}
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
		return nil, fmt.Errorf("decision store %s: not a bbolt file, or a corrupt one (move it away to start empty): %w", opts.Path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("decision store %s: %w", opts.Path, err)
	}
	if err := db.Update(s.load); err != nil {
		db.Close()
		return nil, fmt.Errorf("decision store %s: %w", opts.Path, err)
	}
	s.db = db
	return s, nil
}

// load reads the file into s, deleting what is expired, undecodable, or
// beyond the bounds.
func (s *Local) load(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	switch v := meta.Get(keyVersion); {
	case v == nil:
		if err := meta.Put(keyVersion, []byte(schemaVersion)); err != nil {
			return err
		}
	case string(v) != schemaVersion:
		return fmt.Errorf("schema version %q, this abuseguard reads %q", v, schemaVersion)
	}
	db, err := tx.CreateBucketIfNotExists(bucketDecisions)
	if err != nil {
		return err
	}
	ob, err := tx.CreateBucketIfNotExists(bucketOffenses)
	if err != nil {
		return err
	}
	now := s.opts.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()

	var stale [][]byte
	err = db.ForEach(func(k, v []byte) error {
		var d Decision
		if json.Unmarshal(v, &d) != nil || d.ID != string(k) {
			s.discarded.Add(1)
			stale = append(stale, k)
			return nil
		}
		sc, err := normalize(&d)
		exp := d.Expires.UnixNano()
		if err != nil || exp <= now {
			if err != nil {
				s.discarded.Add(1)
			}
			stale = append(stale, k)
			return nil
		}
		e := &entry{d: &d, exp: exp, scope: sc}
		if old := s.lookupLocked(sc, d.Value); old != nil {
			if !d.Stronger(old.d) {
				stale = append(stale, k)
				return nil
			}
			stale = append(stale, []byte(old.d.ID))
			s.removeLocked(old)
		}
		s.insertLocked(e)
		return nil
	})
	if err != nil {
		return err
	}
	for len(s.byID) > s.opts.MaxDecisions {
		e := s.heap[0]
		s.removeLocked(e)
		s.dropped.Add(1)
		stale = append(stale, []byte(e.d.ID))
	}
	for _, k := range stale {
		if err := db.Delete(k); err != nil {
			return err
		}
	}

	stale = stale[:0]
	cutoff := now - int64(s.opts.OffenseMemory)
	err = ob.ForEach(func(k, v []byte) error {
		o := &offender{}
		if json.Unmarshal(v, &o.times) != nil {
			s.discarded.Add(1)
			stale = append(stale, k)
			return nil
		}
		o.prune(cutoff)
		if len(o.times) == 0 {
			stale = append(stale, k)
			return nil
		}
		s.offenders[string(k)] = o
		return nil
	})
	if err != nil {
		return err
	}
	for len(s.offenders) > s.maxOffenders {
		stale = append(stale, []byte(s.forgetLocked()))
	}
	for _, k := range stale {
		if err := ob.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the file. The Store must not be used afterwards.
func (s *Local) Close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// Add records d and returns the decision now in force for its entity and
// whether d was added.
//
// d's Scope, Value, Action and Mode are checked (a malformed one is an
// error wrapping ErrInvalid; Mode "" is enforce) and Value made canonical
// (see NormalizeValue). When the entity already has an active decision at
// least as strong as d (see Stronger), Add returns that one unchanged and
// false. Otherwise d gets an ID, Created (now), and Offense: the entity's
// offenses within OffenseMemory, before this one, plus one. When
// d.Expires is zero the TTL is the ladder step for that offense; either
// way it is capped by MaxTTL (MaxManualTTL for Source "manual"). A d that
// replaces a weaker active decision is the same offense escalating: it
// keeps the offense number, the later of the two expiries, and the
// replaced decision's evidence it lacks after its own, up to MaxEvidence.
//
// The change is written to the file before Add returns. If that fails,
// the error wraps ErrPersist and d stays in force in memory anyway.
func (s *Local) Add(d Decision) (Decision, bool, error) {
	now := s.opts.Now().UTC()
	sc, err := normalize(&d)
	if err != nil {
		return Decision{}, false, err
	}
	if !d.Expires.IsZero() && !d.Expires.After(now) {
		return Decision{}, false, &verdict.FieldError{Field: "expires", Msg: fmt.Sprintf("%s is not after now (%s)", d.Expires.Format(time.RFC3339), now.Format(time.RFC3339))}
	}
	ns := now.UnixNano()
	okey := offenderKey(sc, d.Value)
	okeys := []string{okey}

	s.mu.Lock()
	old := s.lookupLocked(sc, d.Value)
	if old != nil && old.exp > ns && !d.Stronger(old.d) {
		kept := old.d.clone()
		s.mu.Unlock()
		return kept, false, nil
	}
	d.ID = s.newIDLocked()
	d.Created = now
	escalation := old != nil && old.exp > ns
	if escalation {
		// The same incident getting worse (throttle, then block) is one
		// offense, not a repeat: it keeps the offense number and its ladder step.
		d.Offense = old.d.Offense
	} else {
		var forgotten string
		d.Offense, forgotten = s.offendLocked(okey, ns)
		if forgotten != "" {
			okeys = append(okeys, forgotten)
		}
	}
	d.Expires = s.expiry(&d, now)
	ids := []string{d.ID}
	if old != nil {
		if escalation {
			if old.d.Expires.After(d.Expires) {
				d.Expires = old.d.Expires
			}
			for _, e := range old.d.Evidence {
				if len(d.Evidence) == MaxEvidence {
					break
				}
				if !slices.Contains(d.Evidence, e) {
					d.Evidence = append(d.Evidence, e)
				}
			}
		}
		s.removeLocked(old)
		ids = append(ids, old.d.ID)
	}
	for len(s.byID) >= s.opts.MaxDecisions {
		victim := s.heap[0]
		s.removeLocked(victim)
		s.dropped.Add(1)
		ids = append(ids, victim.d.ID)
	}
	stored := d
	s.insertLocked(&entry{d: &stored, exp: d.Expires.UnixNano(), scope: sc})
	s.mu.Unlock()
	return d.clone(), true, s.persist(ids, okeys)
}

// expiry returns when d, made at now, expires.
func (s *Local) expiry(d *Decision, now time.Time) time.Time {
	limit := s.opts.MaxTTL
	if d.Source == SourceManual {
		limit = s.opts.MaxManualTTL
	}
	if d.Expires.IsZero() {
		step := s.opts.Ladder[min(d.Offense, len(s.opts.Ladder))-1]
		return now.Add(min(step, limit))
	}
	if d.Expires.Sub(now) > limit {
		return now.Add(limit)
	}
	return d.Expires.UTC()
}

// Remove removes the decision with id and reports whether it was active.
// The entity's offense history is kept. The removal is written to the file
// before Remove returns; if that fails the error wraps ErrPersist and the
// decision stays removed in memory.
func (s *Local) Remove(id string) (bool, error) {
	now := s.opts.Now().UnixNano()
	s.mu.Lock()
	e := s.byID[id]
	if e == nil {
		s.mu.Unlock()
		return false, nil
	}
	s.removeLocked(e)
	s.mu.Unlock()
	return e.exp > now, s.persist([]string{id}, nil)
}

// Active returns the decision in force for the entity at now (Unix
// nanoseconds), or nil when there is none or it has expired: a decision is
// active while now < Expires. The result may be a shadow decision (see
// Enforced) and must not be modified. Active allocates nothing.
func (s *Local) Active(scope verdict.Scope, value []byte, now int64) *Decision {
	if s.n.Load() == 0 || scope == 0 || int(scope) >= scopeLimit {
		return nil
	}
	sh := &s.shards[maphash.Bytes(s.seed, value)&(shardCount-1)]
	var d *Decision
	sh.mu.RLock()
	if e := sh.m[scope][string(value)]; e != nil && now < e.exp {
		d = e.d
	}
	sh.mu.RUnlock()
	return d
}

// Len returns the number of decisions held, including expired ones not yet
// swept. It is one atomic load: when it is 0, Active is never needed.
func (s *Local) Len() int { return int(s.n.Load()) }

// List returns the decisions active at now, oldest first (by Created, then
// ID).
func (s *Local) List(now time.Time) []Decision {
	ns := now.UnixNano()
	s.mu.RLock()
	out := make([]Decision, 0, len(s.byID))
	for _, e := range s.byID {
		if e.exp > ns {
			out = append(out, e.d.clone())
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Decision) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// Get returns the active decision with id.
func (s *Local) Get(id string) (Decision, bool) {
	now := s.opts.Now().UnixNano()
	s.mu.RLock()
	e := s.byID[id]
	s.mu.RUnlock()
	if e == nil || e.exp <= now {
		return Decision{}, false
	}
	return e.d.clone(), true
}

// ForEntity returns the decisions active at now for the entity sc:value
// (made canonical as by verdict.NormalizeValue): none or one. A malformed entity has none.
func (s *Local) ForEntity(sc verdict.Scope, value string, now time.Time) []Decision {
	v, err := verdict.NormalizeValue(sc, value)
	if err != nil {
		return nil
	}
	if d := s.Active(sc, []byte(v), now.UnixNano()); d != nil {
		return []Decision{d.clone()}
	}
	return nil
}

// Sweep drops the decisions expired at now and the offense histories older
// than OffenseMemory, in memory and in the file, and returns the number of
// decisions dropped. A failed write is counted in Stats.PersistErrors.
func (s *Local) Sweep(now time.Time) int {
	ns := now.UnixNano()
	cutoff := ns - int64(s.opts.OffenseMemory)
	var ids, okeys []string
	s.mu.Lock()
	for len(s.heap) > 0 && s.heap[0].exp <= ns {
		e := s.heap[0]
		s.removeLocked(e)
		ids = append(ids, e.d.ID)
	}
	for k, o := range s.offenders {
		if o.last() <= cutoff {
			delete(s.offenders, k)
			okeys = append(okeys, k)
		}
	}
	s.mu.Unlock()
	if len(ids)+len(okeys) > 0 {
		_ = s.persist(ids, okeys) // counted in Stats.PersistErrors
	}
	return len(ids)
}

// Stats returns the Store's counters.
func (s *Local) Stats() Stats {
	s.mu.RLock()
	offenders := len(s.offenders)
	s.mu.RUnlock()
	return Stats{
		Active:           s.Len(),
		Dropped:          s.dropped.Load(),
		PersistErrors:    s.persistErrors.Load(),
		Offenders:        offenders,
		OffendersDropped: s.offendersDropped.Load(),
		Discarded:        s.discarded.Load(),
	}
}

// persist writes the current in-memory state of the decisions ids and the
// offense histories okeys to the file: present ones are put, absent ones
// deleted. Writing state rather than operations makes concurrent writers
// safe in any order: bbolt serializes the transactions, and the last one
// writes what memory holds then.
func (s *Local) persist(ids, okeys []string) error {
	if s.db == nil {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		db, ob := tx.Bucket(bucketDecisions), tx.Bucket(bucketOffenses)
		ds := make([]*Decision, len(ids))
		ts := make([][]int64, len(okeys))
		s.mu.RLock()
		for i, id := range ids {
			if e := s.byID[id]; e != nil {
				ds[i] = e.d
			}
		}
		for i, k := range okeys {
			if o := s.offenders[k]; o != nil {
				ts[i] = slices.Clone(o.times)
			}
		}
		s.mu.RUnlock()
		for i, id := range ids {
			if ds[i] == nil {
				if err := db.Delete([]byte(id)); err != nil {
					return err
				}
				continue
			}
			buf, err := json.Marshal(ds[i])
			if err != nil {
				return err
			}
			if err := db.Put([]byte(id), buf); err != nil {
				return err
			}
		}
		for i, k := range okeys {
			if len(ts[i]) == 0 {
				if err := ob.Delete([]byte(k)); err != nil {
					return err
				}
				continue
			}
			buf, _ := json.Marshal(ts[i])
			if err := ob.Put([]byte(k), buf); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.persistErrors.Add(1)
		return fmt.Errorf("%w: %w", ErrPersist, err)
	}
	return nil
}

func (s *Local) shardFor(value string) *shard {
	return &s.shards[maphash.String(s.seed, value)&(shardCount-1)]
}

// lookupLocked returns the entry held for the entity, expired or not.
func (s *Local) lookupLocked(sc verdict.Scope, value string) *entry {
	return s.shardFor(value).m[sc][value]
}

func (s *Local) insertLocked(e *entry) {
	s.byID[e.d.ID] = e
	heap.Push(&s.heap, e)
	sh := s.shardFor(e.d.Value)
	sh.mu.Lock()
	sh.m[e.scope][e.d.Value] = e
	sh.mu.Unlock()
	s.n.Add(1)
}

func (s *Local) removeLocked(e *entry) {
	delete(s.byID, e.d.ID)
	heap.Remove(&s.heap, e.idx)
	sh := s.shardFor(e.d.Value)
	sh.mu.Lock()
	if sh.m[e.scope][e.d.Value] == e {
		delete(sh.m[e.scope], e.d.Value)
	}
	sh.mu.Unlock()
	s.n.Add(-1)
}

// newIDLocked returns an unused random ID such as "d_3f9a1c0e5b7d2a64".
func (s *Local) newIDLocked() string {
	for {
		var b [8]byte
		rand.Read(b[:])
		id := "d_" + hex.EncodeToString(b[:])
		if s.byID[id] == nil {
			return id
		}
	}
}

// offendLocked records an offense of the entity okey at now and returns
// its offense number, and the key of an offense history it forgot to make
// room, if any.
func (s *Local) offendLocked(okey string, now int64) (int, string) {
	var forgotten string
	o := s.offenders[okey]
	if o == nil {
		if len(s.offenders) >= s.maxOffenders {
			forgotten = s.forgetLocked()
		}
		o = &offender{}
		s.offenders[okey] = o
	}
	o.prune(now - int64(s.opts.OffenseMemory))
	n := len(o.times) + 1
	if len(o.times) == maxOffenseHistory {
		o.times = slices.Delete(o.times, 0, 1)
	}
	o.times = append(o.times, now)
	return n, forgotten
}

// forgetLocked forgets one offense history: of a few sampled, the one
// whose last offense is oldest. It returns its key.
func (s *Local) forgetLocked() string {
	var victim string
	var oldest int64
	n := 0
	for k, o := range s.offenders {
		if n == 0 || o.last() < oldest {
			victim, oldest = k, o.last()
		}
		if n++; n == offenderSample {
			break
		}
	}
	delete(s.offenders, victim)
	s.offendersDropped.Add(1)
	return victim
}

// prune drops the offenses at or before cutoff.
func (o *offender) prune(cutoff int64) {
	i := 0
	for i < len(o.times) && o.times[i] <= cutoff {
		i++
	}
	o.times = slices.Delete(o.times, 0, i)
}

func (o *offender) last() int64 {
	if len(o.times) == 0 {
		return math.MinInt64
	}
	return o.times[len(o.times)-1]
}

func offenderKey(sc verdict.Scope, value string) string {
	return sc.String() + ":" + value
}

func (d *Decision) clone() Decision {
	c := *d
	c.Evidence = slices.Clone(d.Evidence)
	return c
}

// expiryHeap orders entries by expiry, soonest first.
type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}

func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.idx = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}

var _ Store = (*Local)(nil)
