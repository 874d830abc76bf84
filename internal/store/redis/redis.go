// Package redis is the distributed limit.Store: limiter state in Redis
// (standalone, Sentinel or Cluster) through rueidis, in one of two modes.
//
// In strict mode every check is decided by Redis: all of one request's
// checks go to one Lua script (Batch), one round trip, pipelined with the
// other requests in flight. In local-first mode each node decides from its
// own copy of every key it sees and pushes the counts it admitted every
// sync interval, getting back the cluster's count and its share of what is
// left (see localFirst).
//
// When Redis errs or does not answer within Options.Timeout, the store
// turns unavailable at once: no request waits on Redis again until a probe
// finds it back. Meanwhile on_error open decides every check locally (per
// node limits) and on_error closed refuses them (Result.Unavailable). A
// metric and a log line mark both transitions.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"

	"github.com/abuseguard/abuseguard/internal/limit"
	"github.com/abuseguard/abuseguard/internal/store/memory"
)

// Mode is how limits are decided.
type Mode string

// Modes.
const (
	Strict     Mode = "strict"
	LocalFirst Mode = "local-first"
)

// OnError is what a node does while Redis is unavailable.
type OnError string

// Failure modes.
const (
	Open   OnError = "open"   // decide locally, per node
	Closed OnError = "closed" // refuse (503 store_unavailable)
)

// Options configures a Store. Zero fields get the defaults noted.
type Options struct {
	Addrs          []string // one address: standalone; several: cluster
	SentinelMaster string   // set: Addrs are Sentinels watching this master
	Username       string
	Password       string
	Mode           Mode          // default Strict
	OnError        OnError       // default Open
	Timeout        time.Duration // the most a check waits on Redis (default 2ms)
	SyncInterval   time.Duration // local-first push interval (default 100ms)
	Prefix         string        // key prefix (default "ag:")
	// Local is the store that decides while Redis is unavailable under
	// on_error open (default: a memory.Store of MaxKeys keys).
	Local   limit.Store
	MaxKeys int // local-first keys tracked per node (default 1<<20)
	Logger  *slog.Logger
	// Now is the clock of the background work (heartbeats, sync, probes);
	// checks use the instant they are given. Default time.Now.
	Now func() time.Time
	// ProbeInterval is how often an unavailable Redis is probed (default 100ms).
	ProbeInterval time.Duration

	manualSync bool // tests on a virtual clock call Sync themselves
}

// Store is a limit.Store and limit.Batcher on Redis. Close releases it.
type Store struct {
	opts    Options
	client  rueidis.Client
	cluster bool
	script  string // SHA1 of batchScript
	local   limit.Store
	lf      *localFirst // nil in strict mode
	log     *slog.Logger

	available atomic.Bool
	probing   atomic.Bool
	stats     counters
	bufs      sync.Pool
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type counters struct {
	calls, errors, fallbacks, refusals, unavailable, recoveries, syncs, syncErrors atomic.Uint64
}

// Stats is a snapshot of a Store's traffic with Redis, for metrics.
type Stats struct {
	Available   bool
	Calls       uint64 // round trips made for checks (each a Batch, or one per cluster slot group)
	Errors      uint64 // failed or timed-out round trips
	Fallbacks   uint64 // checks decided locally because Redis was unavailable (on_error open)
	Refusals    uint64 // checks refused because Redis was unavailable (on_error closed)
	Outages     uint64 // transitions to unavailable
	Recoveries  uint64 // transitions back to available
	Syncs       uint64 // local-first sync round trips
	SyncErrors  uint64
	Nodes       int // live nodes (local-first)
	TrackedKeys int // local-first keys held by this node
}

// New connects to Redis and returns a Store. It fails when no address
// answers within a second or the options are invalid; a Store that
// started keeps running through later outages.
func New(ctx context.Context, opts Options) (*Store, error) {
	if len(opts.Addrs) == 0 {
		return nil, errors.New("redis: no address")
	}
	if opts.Mode == "" {
		opts.Mode = Strict
	}
	if opts.Mode != Strict && opts.Mode != LocalFirst {
		return nil, fmt.Errorf("redis: mode %q (want strict or local-first)", opts.Mode)
	}
	if opts.OnError == "" {
		opts.OnError = Open
	}
	if opts.OnError != Open && opts.OnError != Closed {
		return nil, fmt.Errorf("redis: on_error %q (want open or closed)", opts.OnError)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Millisecond
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 100 * time.Millisecond
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = 100 * time.Millisecond
	}
	if opts.Prefix == "" {
		opts.Prefix = "ag:"
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Local == nil {
		opts.Local = memory.New(memory.Options{MaxKeys: opts.MaxKeys})
	}
	co := rueidis.ClientOption{
		InitAddress: opts.Addrs,
		Username:    opts.Username,
		Password:    opts.Password,
		// Checks are never cached; decisions use their own client.
		DisableCache: true,
		// Every command goes through the pipeline, so a check that times
		// out is abandoned without closing the shared connection.
		AlwaysPipelining: true,
		ConnWriteTimeout: max(time.Second, 100*opts.Timeout),
		Dialer:           net.Dialer{Timeout: time.Second},
		DisableRetry:     true,
	}
	if opts.SentinelMaster != "" {
		co.Sentinel = rueidis.SentinelOption{MasterSet: opts.SentinelMaster, Username: opts.Username, Password: opts.Password}
	}
	client, err := rueidis.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", strings.Join(opts.Addrs, ","), err)
	}
	s := &Store{opts: opts, client: client, local: opts.Local, log: opts.Logger, stop: make(chan struct{})}
	s.bufs.New = func() any { return &buffer{} }
	s.cluster = client.Mode() == rueidis.ClientModeCluster
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for _, n := range client.Nodes() {
		sha, err := n.Do(sctx, n.B().ScriptLoad().Script(batchScript).Build()).ToString()
		if err != nil {
			client.Close()
			return nil, fmt.Errorf("redis %s: loading the limit script: %w", strings.Join(opts.Addrs, ","), err)
		}
		s.script = sha
	}
	s.available.Store(true)
	if opts.Mode == LocalFirst {
		s.lf = newLocalFirst(s)
		if err := s.lf.heartbeat(sctx); err != nil {
			client.Close()
			return nil, fmt.Errorf("redis %s: %w", strings.Join(opts.Addrs, ","), err)
		}
		if !opts.manualSync {
			s.wg.Add(1)
			go s.lf.run()
		}
	}
	return s, nil
}

// Close stops the background work and closes the connections.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.client.Close()
	})
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Available: s.available.Load(), Calls: s.stats.calls.Load(), Errors: s.stats.errors.Load(),
		Fallbacks: s.stats.fallbacks.Load(), Refusals: s.stats.refusals.Load(),
		Outages: s.stats.unavailable.Load(), Recoveries: s.stats.recoveries.Load(),
		Syncs: s.stats.syncs.Load(), SyncErrors: s.stats.syncErrors.Load(),
	}
	if s.lf != nil {
		st.Nodes = int(s.lf.nodes.Load())
		st.TrackedKeys = s.lf.size()
	}
	return st
}

// Available reports whether Redis answered the last call.
func (s *Store) Available() bool { return s.available.Load() }

// Rate implements limit.Store.
func (s *Store) Rate(key []byte, now int64, r limit.Rate, cost int64) limit.Result {
	ops := [1]limit.Op{{Kind: limit.OpRate, Key: key, Rate: r, Cost: cost}}
	var res [1]limit.Result
	s.Batch(now, ops[:], res[:])
	return res[0]
}

// Quota implements limit.Store.
func (s *Store) Quota(key []byte, now, periodEnd, quota, cost int64) limit.Result {
	ops := [1]limit.Op{{Kind: limit.OpQuota, Key: key, PeriodEnd: periodEnd, Quota: quota, Cost: cost}}
	var res [1]limit.Result
	s.Batch(now, ops[:], res[:])
	return res[0]
}

// Acquire implements limit.Store.
func (s *Store) Acquire(key []byte, now, slots int64, lease time.Duration) limit.Result {
	ops := [1]limit.Op{{Kind: limit.OpAcquire, Key: key, Slots: slots, Lease: lease}}
	var res [1]limit.Result
	s.Batch(now, ops[:], res[:])
	return res[0]
}

// Release implements limit.Store. It waits at most Timeout; a release
// that fails leaves the slot to expire with its lease.
func (s *Store) Release(key []byte, now int64) {
	if s.lf != nil || !s.available.Load() {
		s.local.Release(key, now)
		return
	}
	b := s.bufs.Get().(*buffer)
	defer s.bufs.Put(b)
	b.reset()
	op := limit.Op{Key: key} // zero kind: release
	b.addKey(s.opts.Prefix, key)
	b.args = append(b.args, itoa(now), ttlSlack)
	b.args = appendOpArgs(b.args, &op)
	keys, args := b.strings()
	s.stats.calls.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	err := s.client.Do(ctx, s.client.B().Evalsha().Sha1(s.script).Numkeys(1).Key(keys...).Arg(args...).Build()).Error()
	cancel()
	if err != nil {
		s.stats.errors.Add(1)
		s.markUnavailable(err)
	}
}

// Batch implements limit.Batcher. In strict mode the ops go to Redis in one
// script call (on a cluster, one call per hash slot group, sent together):
// atomic as a whole on standalone and Sentinel, per entity on a cluster.
// In local-first mode they are decided locally.
func (s *Store) Batch(now int64, ops []limit.Op, res []limit.Result) int {
	if len(ops) == 0 {
		return 0
	}
	if !s.available.Load() {
		return s.unavailable(now, ops, res)
	}
	if s.lf != nil {
		return s.lf.batch(now, ops, res)
	}
	b := s.bufs.Get().(*buffer)
	defer s.bufs.Put(b)
	b.reset()
	if !s.cluster {
		b.args = append(b.args, itoa(now), ttlSlack)
		for i := range ops {
			b.addKey(s.opts.Prefix, ops[i].Key)
			b.args = appendOpArgs(b.args, &ops[i])
		}
		keys, args := b.strings()
		s.stats.calls.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		reply, err := s.client.Do(ctx, s.client.B().Evalsha().Sha1(s.script).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()).AsStrSlice()
		cancel()
		if err != nil {
			return s.failed(err, now, ops, res)
		}
		return s.results(now, ops, res, reply, nil, nil)
	}
	return s.clusterBatch(now, ops, res, b)
}

// clusterBatch groups ops by hash tag (the entity), sends one script call
// per group in one DoMulti, and merges the replies in op order.
func (s *Store) clusterBatch(now int64, ops []limit.Op, res []limit.Result, b *buffer) int {
	b.group = b.group[:0]
	b.tags = b.tags[:0]
	for i := range ops {
		tag := tagOf(ops[i].Key)
		g := -1
		for j, t := range b.tags {
			if t == tag {
				g = j
				break
			}
		}
		if g < 0 {
			g = len(b.tags)
			b.tags = append(b.tags, tag)
		}
		b.group = append(b.group, g)
	}
	cmds := make(rueidis.Commands, 0, len(b.tags))
	for g := range b.tags {
		gb := s.bufs.Get().(*buffer)
		gb.reset()
		gb.args = append(gb.args, itoa(now), ttlSlack)
		for i := range ops {
			if b.group[i] == g {
				gb.addKey(s.opts.Prefix, ops[i].Key)
				gb.args = appendOpArgs(gb.args, &ops[i])
			}
		}
		keys, args := gb.strings()
		cmds = append(cmds, s.client.B().Evalsha().Sha1(s.script).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
		defer s.bufs.Put(gb)
	}
	s.stats.calls.Add(uint64(len(cmds)))
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	replies := s.client.DoMulti(ctx, cmds...)
	cancel()
	perGroup := make([][]string, len(replies))
	for g, r := range replies {
		v, err := r.AsStrSlice()
		if err != nil {
			return s.failed(err, now, ops, res)
		}
		perGroup[g] = v
	}
	return s.results(now, ops, res, nil, b.group, perGroup)
}

// results turns the script's replies (each key's value before the op)
// into Results with the pure arithmetic. On a cluster, groups are sent
// together, so a group may have applied ops after the op that stopped the
// batch: their counts stay (a refused request counted against a later
// limit), and an in-flight slot one of them took is released.
func (s *Store) results(now int64, ops []limit.Op, res []limit.Result, reply []string, groups []int, perGroup [][]string) int {
	var next []int
	if perGroup != nil {
		next = make([]int, len(perGroup))
	}
	n := -1
	for i := range ops {
		var v string
		applied := false
		if perGroup == nil {
			if i < len(reply) {
				v, applied = reply[i], true
			}
		} else {
			g := groups[i]
			if c := next[g]; c < len(perGroup[g]) {
				v, applied = perGroup[g][c], true
			}
			next[g]++
		}
		if !applied {
			continue
		}
		st, _ := parseState(v)
		_, r := limit.Step(st, now, &ops[i])
		if n >= 0 {
			if ops[i].Kind == limit.OpAcquire && r.Allowed {
				s.Release(ops[i].Key, now)
			}
			continue
		}
		res[i] = r
		if !r.Allowed && ops[i].Stop {
			n = i + 1
		}
	}
	if n < 0 {
		n = len(ops)
	}
	return n
}

// ttlSlack keeps a key in Redis a second past its own expiry, so that a
// node whose clock runs behind Redis's never finds a live key dropped.
const ttlSlack = "1000"

// failed records a failed round trip, turns the store unavailable and
// decides ops as on_error says.
func (s *Store) failed(err error, now int64, ops []limit.Op, res []limit.Result) int {
	s.stats.errors.Add(1)
	s.markUnavailable(err)
	return s.unavailable(now, ops, res)
}

// markUnavailable turns the store unavailable (once per outage) and starts
// the probe that turns it back.
func (s *Store) markUnavailable(err error) {
	if s.available.CompareAndSwap(true, false) {
		s.stats.unavailable.Add(1)
		s.log.Warn("redis unavailable", "addrs", strings.Join(s.opts.Addrs, ","), "on_error", string(s.opts.OnError), "err", err.Error())
	}
	if s.probing.CompareAndSwap(false, true) {
		s.wg.Add(1)
		go s.probe()
	}
}

// probe pings Redis every ProbeInterval until it answers, then turns the
// store available again (local-first pushes what it counted meanwhile on
// its next sync).
func (s *Store) probe() {
	defer s.wg.Done()
	defer s.probing.Store(false)
	t := time.NewTicker(s.opts.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if s.ping() == nil {
			s.available.Store(true)
			s.stats.recoveries.Add(1)
			s.log.Info("redis available again", "addrs", strings.Join(s.opts.Addrs, ","))
			return
		}
	}
}

// ping checks every node, reloading the script (a restarted Redis has
// forgotten it).
func (s *Store) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), max(100*time.Millisecond, s.opts.Timeout))
	defer cancel()
	for _, n := range s.client.Nodes() {
		if err := n.Do(ctx, n.B().ScriptLoad().Script(batchScript).Build()).Error(); err != nil {
			return err
		}
	}
	return nil
}

// unavailable decides ops while Redis is unavailable: locally (open) or
// refused (closed).
func (s *Store) unavailable(now int64, ops []limit.Op, res []limit.Result) int {
	if s.opts.OnError == Closed {
		s.stats.refusals.Add(uint64(len(ops)))
		for i := range ops {
			res[i] = limit.Result{Unavailable: true, RetryAfter: time.Second}
		}
		return len(ops)
	}
	s.stats.fallbacks.Add(uint64(len(ops)))
	if s.lf != nil {
		return s.lf.batch(now, ops, res)
	}
	return limit.Sequential(s.local, now, ops, res)
}

// buffer holds one call's keys and arguments; strings point into data,
// which is not reused until the call is over.
type buffer struct {
	data  []byte
	offs  []int // key i is data[offs[2i]:offs[2i+1]]
	args  []string
	keys  []string
	tags  []uint32
	group []int
}

func (b *buffer) reset() {
	b.data, b.offs, b.args, b.keys = b.data[:0], b.offs[:0], b.args[:0], b.keys[:0]
}

// addKey appends the Redis key of a limiter key: prefix, the hash tag of
// its entity, then the key itself (binary-safe).
func (b *buffer) addKey(prefix string, key []byte) {
	start := len(b.data)
	b.data = append(b.data, prefix...)
	b.data = appendTag(b.data, tagOf(key))
	b.data = append(b.data, key...)
	b.offs = append(b.offs, start, len(b.data))
}

// strings returns the keys and arguments as strings; valid until reset.
func (b *buffer) strings() ([]string, []string) {
	for i := 0; i < len(b.offs); i += 2 {
		k := b.data[b.offs[i]:b.offs[i+1]]
		b.keys = append(b.keys, unsafe.String(unsafe.SliceData(k), len(k)))
	}
	return b.keys, b.args
}

// tagOf is the hash tag of a limiter key: a hash of its entity (the bytes
// after the rule name), so that every limit on one entity (per-second and
// per-minute rates on one IP, say) lands on one cluster slot and is
// decided in one atomic script.
func tagOf(key []byte) uint32 {
	for i, c := range key {
		if c == 0 {
			return crc32.ChecksumIEEE(key[i:])
		}
	}
	return crc32.ChecksumIEEE(nil)
}

func appendTag(dst []byte, tag uint32) []byte {
	var t [4]byte
	t[0], t[1], t[2], t[3] = byte(tag>>24), byte(tag>>16), byte(tag>>8), byte(tag)
	dst = append(dst, '{')
	dst = hex.AppendEncode(dst, t[:])
	return append(dst, '}')
}

// errShortReply is a script reply with fewer entries than keys sent.
var errShortReply = errors.New("redis: short script reply")

// unsafeString views b as a string for a lookup that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// newNodeID returns a random id for this process's heartbeat.
func newNodeID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var (
	_ limit.Store   = (*Store)(nil)
	_ limit.Batcher = (*Store)(nil)
)
