package redis

import (
	"context"
	"hash/crc32"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/abuseguard/abuseguard/internal/limit"
)

// localFirst decides rates and quotas on this node from leases it takes
// from Redis every sync interval T.
//
// At each sync a node, for every key it used or holds a lease on, gives
// back what it did not spend of its lease, adds what it admitted outside
// one, and reserves its share of what is left: R / N whole requests for R
// left and N live nodes, one more for R mod N of the nodes by a rank that
// rotates every interval and differs per key, and never more than twice
// what it used in the last interval. The reservation is written into the
// key's state in Redis, so what one node holds no other node can spend.
//
// A check is then decided locally when the node's lease covers it, or
// when the node's copy of the cluster's state (as of the last sync) already
// refuses it. Otherwise (the lease is spent, or it is a key this node has
// not synced) it is a claim: a strict check in Redis, within Timeout. The
// one exception is a key the node has never synced: its first request is
// admitted locally and counted at the next sync.
//
// Worst case, while Redis answers: a lease is spent up to 2T after it was
// reserved, and each node may admit one request of a new key unreserved,
// so over any window the cluster admits at most rate × 2T + nodes more
// than strict mode would. While Redis is unavailable (on_error open) each
// node enforces the whole limit on its own, and pushes what it admitted
// when Redis is back. In-flight limits are per node: each node takes its
// share of the slots.
type localFirst struct {
	s        *Store
	id       string
	nodes    atomic.Int64
	rank     atomic.Int64 // this node's index among the live ones, by id
	seed     maphash.Seed
	shards   [64]lfShard
	perShard int
}

type lfShard struct {
	mu sync.Mutex
	m  map[string]*lfKey
}

// lfKey is one key's local view. Units are nanoseconds of TAT for a rate
// and requests for a quota.
type lfKey struct {
	key       string
	op        limit.Op    // the check's parameters (Key unset)
	st        limit.State // the cluster's state as of the last sync or claim
	lease     int64       // reserved for this node and not yet spent
	unleased  int64       // admitted without a lease (new key, outage), not yet pushed
	inFlight  int64       // unleased being pushed
	used      int64       // spent since the last sync, for the next share
	synced    int64       // when the last sync came back; 0: never
	firstUsed bool        // the never-synced key's one local request is spent
	last      int64       // the last check's instant
}

func newLocalFirst(s *Store) *localFirst {
	lf := &localFirst{s: s, id: newNodeID(), seed: maphash.MakeSeed(), perShard: max(1, s.opts.MaxKeys/64)}
	lf.nodes.Store(1)
	for i := range lf.shards {
		lf.shards[i].m = map[string]*lfKey{}
	}
	return lf
}

func (lf *localFirst) shard(key string) *lfShard {
	return &lf.shards[maphash.String(lf.seed, key)&63]
}

func (lf *localFirst) size() int {
	n := 0
	for i := range lf.shards {
		sh := &lf.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// batch decides ops in order, with the stopping rule of Batch.
func (lf *localFirst) batch(now int64, ops []limit.Op, res []limit.Result) int {
	for i := range ops {
		res[i] = lf.check(now, &ops[i])
		if !res[i].Allowed && ops[i].Stop {
			return i + 1
		}
	}
	return len(ops)
}

// unit is what one request of op costs in lease units.
func unit(op *limit.Op) int64 {
	if op.Kind == limit.OpRate {
		return int64(op.Rate.Interval) * max(1, op.Cost)
	}
	return max(1, op.Cost)
}

// check decides one op: from the lease, from the cluster's state, or by a
// claim in Redis.
func (lf *localFirst) check(now int64, op *limit.Op) limit.Result {
	if op.Kind == limit.OpAcquire {
		n := lf.nodes.Load()
		return lf.s.local.Acquire(op.Key, now, max(1, (op.Slots+n-1)/n), op.Lease)
	}
	sh := lf.shard(unsafeString(op.Key))
	sh.mu.Lock()
	e := sh.m[string(op.Key)]
	if e == nil {
		if len(sh.m) >= lf.perShard && !sh.evictOne() {
			sh.mu.Unlock()
			return lf.claim(now, op, nil) // no room to track it: Redis decides
		}
		e = &lfKey{key: string(op.Key)}
		sh.m[e.key] = e
	}
	if e.op.Kind == limit.OpQuota && op.Kind == limit.OpQuota && e.op.PeriodEnd != op.PeriodEnd {
		// A new period: the old lease and counts no longer mean anything.
		e.lease, e.unleased, e.st = 0, 0, limit.State{}
	}
	e.op = *op
	e.op.Key = nil
	e.last = now
	cost := unit(op)
	next, r := limit.Step(e.st, now, op)
	switch {
	case !lf.s.available.Load():
		// on_error open: the node alone enforces the whole limit.
		if r.Allowed {
			e.st, e.unleased, e.used = next, e.unleased+op.Cost, e.used+cost
		}
		sh.mu.Unlock()
		return r
	case e.synced != 0 && now-e.synced <= 2*int64(lf.s.opts.SyncInterval) && e.lease >= cost:
		e.lease -= cost
		e.used += cost
		r = limit.Result{Allowed: true, Limit: r.Limit, Remaining: e.lease / cost, Reset: time.Duration(max(0, e.st.Expires-now))}
		sh.mu.Unlock()
		return r
	case e.synced != 0 && now-e.synced <= 2*int64(lf.s.opts.SyncInterval) && !r.Allowed:
		sh.mu.Unlock() // the cluster's state, as of the last sync, already refuses it
		return r
	case e.synced == 0 && !e.firstUsed && r.Allowed:
		e.firstUsed = true
		e.st, e.unleased, e.used = next, e.unleased+op.Cost, e.used+cost
		sh.mu.Unlock()
		return r
	}
	e.used += cost // demand, whether the claim succeeds or not
	sh.mu.Unlock()
	return lf.claim(now, op, e)
}

// claim asks Redis to decide op (a strict check) and takes the answer as
// the key's state.
func (lf *localFirst) claim(now int64, op *limit.Op, e *lfKey) limit.Result {
	s := lf.s
	b := s.bufs.Get().(*buffer)
	defer s.bufs.Put(b)
	b.reset()
	b.args = append(b.args, itoa(now), ttlSlack)
	b.addKey(s.opts.Prefix, op.Key)
	b.args = appendOpArgs(b.args, op)
	keys, args := b.strings()
	s.stats.calls.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	reply, err := s.client.Do(ctx, s.client.B().Evalsha().Sha1(s.script).Numkeys(1).Key(keys...).Arg(args...).Build()).AsStrSlice()
	cancel()
	if err != nil || len(reply) != 1 {
		if err == nil {
			err = errShortReply
		}
		s.stats.errors.Add(1)
		s.markUnavailable(err)
		var res [1]limit.Result
		s.unavailable(now, []limit.Op{*op}, res[:])
		return res[0]
	}
	old, _ := parseState(reply[0])
	next, r := limit.Step(old, now, op)
	if e != nil {
		sh := lf.shard(e.key)
		sh.mu.Lock()
		if r.Allowed {
			e.st = next
		} else {
			e.st = old
		}
		sh.mu.Unlock()
	}
	return r
}

// evictOne drops a key that holds no lease and no unpushed count; the
// caller holds mu.
func (sh *lfShard) evictOne() bool {
	for k, e := range sh.m {
		if e.lease == 0 && e.unleased == 0 && e.inFlight == 0 {
			delete(sh.m, k)
			return true
		}
	}
	return false
}

// run syncs every interval until the store closes, then gives its leases
// back.
func (lf *localFirst) run() {
	defer lf.s.wg.Done()
	t := time.NewTicker(lf.s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-lf.s.stop:
			if lf.s.available.Load() {
				_ = lf.sync(lf.s.opts.Now().UnixNano())
			}
			return
		case <-t.C:
		}
		if lf.s.available.Load() {
			_ = lf.sync(lf.s.opts.Now().UnixNano())
		}
	}
}

// Sync pushes this node's counts and takes new leases now; the store does
// it every sync interval on its own (tests on a virtual clock call it).
func (s *Store) Sync(now time.Time) error {
	if s.lf == nil {
		return nil
	}
	return s.lf.sync(now.UnixNano())
}

// syncTimeout bounds one sync: it runs off the hot path, so it may wait
// longer than a check.
func (lf *localFirst) syncTimeout() time.Duration {
	return max(lf.s.opts.SyncInterval, 10*lf.s.opts.Timeout)
}

// heartbeat registers this node and counts the live ones.
func (lf *localFirst) heartbeat(ctx context.Context) error {
	c := lf.s.client
	key := lf.s.opts.Prefix + "nodes"
	nowMS := lf.s.opts.Now().UnixMilli()
	ttl := max(3*time.Second, 10*lf.s.opts.SyncInterval).Milliseconds()
	r := c.DoMulti(ctx,
		c.B().Zadd().Key(key).ScoreMember().ScoreMember(float64(nowMS), lf.id).Build(),
		c.B().Zremrangebyscore().Key(key).Min("-inf").Max(itoa(nowMS-ttl)).Build(),
		c.B().Pexpire().Key(key).Milliseconds(ttl).Build(),
		c.B().Zrange().Key(key).Min("0").Max("-1").Build())
	ids, err := r[3].AsStrSlice()
	if err != nil {
		return err
	}
	slices.Sort(ids)
	lf.nodes.Store(int64(max(1, len(ids))))
	lf.rank.Store(int64(max(0, slices.Index(ids, lf.id))))
	return nil
}

// syncBatchKeys bounds one sync script call.
const syncBatchKeys = 256

// pushed is one key of a sync under way, with what it sends.
type pushed struct {
	e      *lfKey
	delta  int64 // unleased admissions less the unused lease, in lease units
	want   int64 // requests
	refund int64
}

// sync gives back unused leases, pushes unleased counts, and takes new
// leases for every key used since the last sync.
func (lf *localFirst) sync(now int64) error {
	s := lf.s
	ctx, cancel := context.WithTimeout(context.Background(), lf.syncTimeout())
	defer cancel()
	if err := lf.heartbeat(ctx); err != nil {
		s.stats.syncErrors.Add(1)
		s.markUnavailable(err)
		return err
	}
	var batch []pushed
	idle := now - max(int64(time.Minute), 4*int64(s.opts.SyncInterval))
	for i := range lf.shards {
		sh := &lf.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.used == 0 && e.lease == 0 && e.unleased == 0 {
				if e.last < idle && e.inFlight == 0 {
					delete(sh.m, k)
				}
				continue
			}
			u := unit(&e.op)
			p := pushed{e: e, refund: e.lease, want: 2 * e.used / max(1, u)}
			if e.op.Kind == limit.OpRate {
				p.delta = e.unleased*int64(e.op.Rate.Interval) - e.lease
			} else {
				p.delta = e.unleased - e.lease
			}
			e.inFlight, e.unleased, e.lease, e.used = e.unleased, 0, 0, 0
			batch = append(batch, p)
		}
		sh.mu.Unlock()
	}
	if len(batch) == 0 {
		return nil
	}
	var err error
	if s.cluster {
		err = lf.push(ctx, now, batch, true)
	} else {
		for i := 0; i < len(batch) && err == nil; i += syncBatchKeys {
			err = lf.push(ctx, now, batch[i:min(len(batch), i+syncBatchKeys)], false)
		}
	}
	if err != nil {
		s.stats.syncErrors.Add(1)
		for _, p := range batch {
			sh := lf.shard(p.e.key)
			sh.mu.Lock()
			if p.e.inFlight != 0 {
				p.e.unleased += p.e.inFlight // pushed again next time
				p.e.inFlight = 0
			}
			sh.mu.Unlock()
		}
		s.markUnavailable(err)
	}
	return err
}

// push sends one group of keys (on a cluster, one script call per hash
// tag, sent together) and takes the leases the replies grant.
func (lf *localFirst) push(ctx context.Context, now int64, keys []pushed, cluster bool) error {
	s := lf.s
	var groups [][]pushed
	if cluster {
		byTag := map[uint32]int{}
		for _, p := range keys {
			tag := tagOf([]byte(p.e.key))
			g, ok := byTag[tag]
			if !ok {
				g = len(groups)
				byTag[tag] = g
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], p)
		}
	} else {
		groups = [][]pushed{keys}
	}
	nodes, rank := lf.nodes.Load(), lf.rank.Load()
	round := now / int64(s.opts.SyncInterval)
	cmds := make(rueidis.Commands, 0, len(groups))
	for _, g := range groups {
		b := &buffer{}
		b.args = append(b.args, itoa(now), ttlSlack)
		for _, p := range g {
			b.addKey(s.opts.Prefix, []byte(p.e.key))
			slot := (rank + int64(crc32.ChecksumIEEE([]byte(p.e.key))%uint32(nodes)) + round) % nodes
			share := strconv.FormatInt(max(1, p.want), 10) + "," + itoa(nodes) + "," + itoa(slot)
			if p.e.op.Kind == limit.OpRate {
				b.args = append(b.args, kindSyncRate, itoa(int64(p.e.op.Rate.Interval)), itoa(p.e.op.Rate.Burst), itoa(p.delta), share)
			} else {
				b.args = append(b.args, kindSyncQ, itoa(p.e.op.PeriodEnd), itoa(p.e.op.Quota), itoa(p.delta), share)
			}
		}
		k, a := b.strings()
		cmds = append(cmds, s.client.B().Evalsha().Sha1(s.script).Numkeys(int64(len(k))).Key(k...).Arg(a...).Build())
	}
	s.stats.syncs.Add(uint64(len(cmds)))
	replies := s.client.DoMulti(ctx, cmds...)
	values := make([][]string, len(replies))
	for i, r := range replies {
		v, err := r.AsStrSlice()
		if err != nil {
			return err
		}
		if len(v) != len(groups[i]) {
			return errShortReply
		}
		values[i] = v
	}
	for gi, g := range groups {
		for i, p := range g {
			st, share, _ := parseSync(values[gi][i])
			sh := lf.shard(p.e.key)
			sh.mu.Lock()
			e := p.e
			e.st, e.lease = st, share*unit(&e.op)
			e.inFlight, e.synced = 0, now
			sh.mu.Unlock()
		}
	}
	return nil
}
