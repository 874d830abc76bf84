package redis

import (
	"context"
	"hash/crc32"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/abuseguard/abuseguard/internal/limit"
)

// localFirst decides rates and quotas on this node and syncs them every
// interval T. For each key it sees, a node keeps a mirror (the cluster's
// state at the last sync plus what this node admitted since) and a budget:
// its share of the R requests the cluster had left at the last sync. Shares
// are whole requests: R / N each for N live nodes, and the R mod N left
// over go to nodes by a rank that rotates every interval and differs per
// key, so a limit whose allowance is smaller than the node count still
// flows. A check is admitted when the mirror allows it (the limit's own
// arithmetic) and its cost fits the budget. Every T the node pushes the
// counts it admitted (Redis adds them unconditionally, so nothing admitted
// is ever lost), gets the cluster's state back, and takes a new share.
//
// A key the node has not synced within 2T (new, or idle) gets a budget of
// one request until its next sync: a burst on a new key is admitted over
// the first interval, not at once. In-flight limits are per node: each
// node takes its share of the slots.
//
// Worst case: besides what one node would admit (burst + rate × window),
// the cluster admits at most nodes × (rate × T + 1) more: each node's
// share can be stale by one interval of the others' admissions, and is
// rounded up to one request for a key it has not synced.
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

// lfKey is one key's local view.
type lfKey struct {
	key     string
	op      limit.Op    // the check's parameters (Key unset)
	st      limit.State // mirror: the cluster's state at the last sync plus local admissions
	pending int64       // cost admitted and not yet pushed
	sending int64       // cost in the push under way
	budget  int64       // what this node may still spend before the next sync: ns of TAT (rate) or count (quota)
	synced  int64       // when the last sync came back; 0: never
	fresh   bool        // budget is a share of a full allowance, not of a sync
	used    int64       // the last check's instant
	dirty   bool        // checked since the last push
}

func newLocalFirst(s *Store) *localFirst {
	lf := &localFirst{s: s, id: newNodeID(), seed: maphash.MakeSeed(), perShard: max(1, s.opts.MaxKeys/64)}
	lf.nodes.Store(1)
	for i := range lf.shards {
		lf.shards[i].m = map[string]*lfKey{}
	}
	return lf
}

func (lf *localFirst) shard(key []byte) *lfShard {
	return &lf.shards[maphash.Bytes(lf.seed, key)&63]
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

// batch decides ops locally, in order, with the stopping rule of Batch.
func (lf *localFirst) batch(now int64, ops []limit.Op, res []limit.Result) int {
	shares := lf.s.available.Load()
	for i := range ops {
		res[i] = lf.check(now, &ops[i], shares)
		if !res[i].Allowed && ops[i].Stop {
			return i + 1
		}
	}
	return len(ops)
}

// check decides one op. Without shares (Redis unavailable) only the
// mirror decides: each node enforces the whole limit on its own, and the
// counts are pushed when Redis is back.
func (lf *localFirst) check(now int64, op *limit.Op, shares bool) limit.Result {
	if op.Kind == limit.OpAcquire {
		n := lf.nodes.Load()
		return lf.s.local.Acquire(op.Key, now, max(1, (op.Slots+n-1)/n), op.Lease)
	}
	sh := lf.shard(op.Key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[string(op.Key)]
	if e == nil {
		if len(sh.m) >= lf.perShard && !sh.evictOne() {
			// Every key holds unpushed counts: decide without tracking.
			_, r := limit.Step(limit.State{}, now, op)
			return r
		}
		e = &lfKey{key: string(op.Key)}
		sh.m[e.key] = e
	}
	if e.op.Kind == limit.OpQuota && op.Kind == limit.OpQuota && e.op.PeriodEnd != op.PeriodEnd {
		e.pending = 0 // counts of an ended period no longer matter
	}
	e.op = *op
	e.op.Key = nil
	e.used, e.dirty = now, true
	if !e.fresh && (e.synced == 0 || now-e.synced > 2*int64(lf.s.opts.SyncInterval)) {
		e.budget, e.fresh = lf.fullShare(op), true
	}
	next, r := limit.Step(e.st, now, op)
	if !r.Allowed {
		return r
	}
	spend := op.Cost
	if op.Kind == limit.OpRate {
		spend = next.Expires - max(e.st.Expires, now)
	}
	if shares && spend > e.budget {
		return limit.Result{Limit: r.Limit, RetryAfter: lf.s.opts.SyncInterval, Reset: r.Reset}
	}
	e.st = next
	e.budget -= spend
	e.pending += op.Cost
	return r
}

// fullShare is the budget of a key not synced lately: one request.
func (lf *localFirst) fullShare(op *limit.Op) int64 {
	if op.Kind == limit.OpRate {
		return int64(op.Rate.Interval) * max(1, op.Cost)
	}
	return max(1, op.Cost)
}

// share is this node's whole-request share of room requests for key at
// now: room / nodes, plus one of the room mod nodes left over when its
// rank for this key and interval falls among them.
func (lf *localFirst) share(key string, room, nodes, now int64) int64 {
	if room <= 0 {
		return 0
	}
	s := room / nodes
	round := now / int64(lf.s.opts.SyncInterval)
	rank := (lf.rank.Load() + int64(uint64(crc32.ChecksumIEEE([]byte(key)))%uint64(nodes)) + round) % nodes
	if rank < room%nodes {
		s++
	}
	return s
}

// evictOne drops a key that holds no unpushed count; the caller holds mu.
func (sh *lfShard) evictOne() bool {
	for k, e := range sh.m {
		if e.pending == 0 && e.sending == 0 {
			delete(sh.m, k)
			return true
		}
	}
	return false
}

// run syncs every interval until the store closes, then pushes once more.
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

// Sync pushes this node's counts and takes new shares now; the store does
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

// sync pushes every key checked since the last push and takes new shares.
func (lf *localFirst) sync(now int64) error {
	s := lf.s
	ctx, cancel := context.WithTimeout(context.Background(), lf.syncTimeout())
	defer cancel()
	if err := lf.heartbeat(ctx); err != nil {
		s.stats.syncErrors.Add(1)
		s.markUnavailable(err)
		return err
	}
	var batch []*lfKey
	idle := now - max(int64(time.Minute), 4*int64(s.opts.SyncInterval))
	for i := range lf.shards {
		sh := &lf.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.dirty || e.pending > 0 {
				e.sending, e.pending, e.dirty = e.pending, 0, false
				batch = append(batch, e)
			} else if e.used < idle && e.sending == 0 {
				delete(sh.m, k)
			}
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
		for _, e := range batch {
			sh := lf.shard([]byte(e.key))
			sh.mu.Lock()
			e.pending += e.sending
			e.sending, e.dirty = 0, true
			sh.mu.Unlock()
		}
		s.markUnavailable(err)
	}
	return err
}

// push sends one group of keys' counts (on a cluster, one script call per
// hash tag, sent together) and applies the replies.
func (lf *localFirst) push(ctx context.Context, now int64, keys []*lfKey, cluster bool) error {
	s := lf.s
	var groups [][]*lfKey
	if cluster {
		byTag := map[uint32]int{}
		for _, e := range keys {
			tag := tagOf([]byte(e.key))
			g, ok := byTag[tag]
			if !ok {
				g = len(groups)
				byTag[tag] = g
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], e)
		}
	} else {
		groups = [][]*lfKey{keys}
	}
	cmds := make(rueidis.Commands, 0, len(groups))
	for _, g := range groups {
		b := &buffer{}
		b.args = append(b.args, itoa(now), ttlSlack)
		for _, e := range g {
			b.addKey(s.opts.Prefix, []byte(e.key))
			if e.op.Kind == limit.OpRate {
				b.args = append(b.args, kindSyncRate, itoa(int64(e.op.Rate.Interval)), itoa(e.op.Rate.Burst), itoa(e.sending), "0")
			} else {
				b.args = append(b.args, kindSyncQ, itoa(e.op.PeriodEnd), "0", itoa(e.sending), "0")
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
		values[i] = v
	}
	n := lf.nodes.Load()
	for gi, g := range groups {
		for i, e := range g {
			var v string
			if i < len(values[gi]) {
				v = values[gi][i]
			}
			global, _ := parseState(v)
			sh := lf.shard([]byte(e.key))
			sh.mu.Lock()
			lf.apply(e, global, now, n)
			sh.mu.Unlock()
		}
	}
	return nil
}

// apply takes the cluster's state of e after the push: the mirror is it
// plus what this node admitted since the push left, the budget this
// node's share of what is left, less that. The caller holds e's shard.
func (lf *localFirst) apply(e *lfKey, global limit.State, now, nodes int64) {
	if e.op.Kind == limit.OpRate {
		interval := int64(e.op.Rate.Interval)
		tat := max(global.Expires, now)
		room := max(0, now+interval*e.op.Rate.Burst-tat) / max(1, interval)
		e.st = limit.State{Expires: tat + interval*e.pending}
		e.budget = max(0, interval*(lf.share(e.key, room, nodes, now)-e.pending))
	} else {
		e.st = limit.State{Expires: global.Expires, N: global.N + e.pending}
		e.budget = max(0, lf.share(e.key, e.op.Quota-global.N, nodes, now)-e.pending)
	}
	e.sending, e.synced, e.fresh = 0, now, false
}
