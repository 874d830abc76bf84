package redis

import (
	"context"
	"hash/crc32"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Sketches are windowed counters and distinct counts (HyperLogLog) that
// every node of a cluster adds to, for detectors whose evidence is spread
// over nodes. Count and Distinct never wait on the network: what a node
// adds is queued and sent every flush interval in one pipeline, which also
// reads back the cluster's totals; they return the cluster's total as of
// the last flush plus what this node added since. A set's total is read
// at every flush for 10s after the node last touched it. A flush that fails keeps
// its distinct members for the next one, and drops its counts (a timed-out
// increment may have landed: counts are at most once, never made up).
//
// A window is kept as five buckets of a quarter window each, so a count
// covers between one window and a window and a quarter. Each set's buckets
// share a hash tag (one cluster slot), so one PFCOUNT merges them.
type Sketches struct {
	client   rueidis.Client
	prefix   string
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	seed     maphash.Seed
	shards   [32]sketchShard
	perShard int

	flushes, errors atomic.Uint64
	stop            chan struct{}
	done            chan struct{}
}

type sketchShard struct {
	mu sync.Mutex
	m  map[string]*sketch
}

// sketch is one set's local view.
type sketch struct {
	distinct bool
	window   time.Duration
	cached   float64             // the cluster's total at the last flush
	pending  int64               // Count: added since the last flush
	members  map[string]struct{} // Distinct: added since the last flush
	known    map[string]struct{} // Distinct: members already counted (bounded)
	touched  bool                // read or added to since the last flush: re-read at the next
	last     int64
}

// SketchOptions configures NewSketches.
type SketchOptions struct {
	Addrs          []string
	SentinelMaster string
	Username       string
	Password       string
	Prefix         string        // default "ag:"
	FlushInterval  time.Duration // default 100ms
	MaxSets        int           // sets tracked by this node (default 100000)
	Logger         *slog.Logger
}

// NewSketches connects and starts flushing.
func NewSketches(opts SketchOptions) (*Sketches, error) {
	if opts.Prefix == "" {
		opts.Prefix = "ag:"
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 100 * time.Millisecond
	}
	if opts.MaxSets <= 0 {
		opts.MaxSets = 100000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	co := rueidis.ClientOption{InitAddress: opts.Addrs, Username: opts.Username, Password: opts.Password,
		DisableCache: true, DisableRetry: true, AlwaysPipelining: true, ConnWriteTimeout: time.Second}
	if opts.SentinelMaster != "" {
		co.Sentinel = rueidis.SentinelOption{MasterSet: opts.SentinelMaster, Username: opts.Username, Password: opts.Password}
	}
	client, err := rueidis.NewClient(co)
	if err != nil {
		return nil, err
	}
	s := &Sketches{client: client, prefix: opts.Prefix + "s:", interval: opts.FlushInterval,
		timeout: max(opts.FlushInterval, 200*time.Millisecond), log: opts.Logger, seed: maphash.MakeSeed(),
		perShard: max(1, opts.MaxSets/32), stop: make(chan struct{}), done: make(chan struct{})}
	for i := range s.shards {
		s.shards[i].m = map[string]*sketch{}
	}
	go s.run()
	return s, nil
}

const (
	hotFor            = 10 * time.Second // a set is re-read at each flush for this long after its last touch
	knownMembers      = 256              // members per set remembered as counted
	maxPendingMembers = 4096             // members per set queued between flushes
)

func (s *Sketches) shard(set string) *sketchShard {
	return &s.shards[maphash.String(s.seed, set)&31]
}

// entry returns set's sketch, creating it; the caller holds sh.mu.
func (s *Sketches) entry(sh *sketchShard, set string, distinct bool, window time.Duration) *sketch {
	e := sh.m[set]
	if e == nil {
		if len(sh.m) >= s.perShard {
			for k, v := range sh.m { // drop one set with nothing to send
				if v.pending == 0 && len(v.members) == 0 {
					delete(sh.m, k)
					break
				}
			}
		}
		e = &sketch{distinct: distinct, window: window}
		sh.m[set] = e
	}
	e.window = window
	return e
}

// Count adds n to set's counter and returns the cluster's count over the
// last window (as of the last flush) plus what this node added since.
func (s *Sketches) Count(set string, n int64, now int64, window time.Duration) float64 {
	sh := s.shard(set)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.entry(sh, set, false, window)
	e.pending += n
	e.last, e.touched = now, true
	return e.cached + float64(e.pending)
}

// Distinct adds member to set's distinct members and returns the
// cluster's distinct count over the last window (as of the last flush)
// plus this node's new members since.
func (s *Sketches) Distinct(set, member string, now int64, window time.Duration) float64 {
	sh := s.shard(set)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.entry(sh, set, true, window)
	e.last, e.touched = now, true
	if _, ok := e.known[member]; !ok && len(e.members) < maxPendingMembers {
		if e.members == nil {
			e.members = map[string]struct{}{}
		}
		e.members[member] = struct{}{}
	}
	return e.cached + float64(len(e.members))
}

func (s *Sketches) run() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.Flush(time.Now())
		}
	}
}

// flushed is one set in a flush: what it sends and where its reply lands.
type flushed struct {
	set     string
	e       *sketch
	members []string
	n       int64
	first   int // index of its first command's reply
	reply   int // index of the PFCOUNT / MGET reply
}

// Flush sends what was added and reads back the totals of the sets it
// sent; the store does it every flush interval on its own.
func (s *Sketches) Flush(now time.Time) error {
	var batch []flushed
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for set, e := range sh.m {
			// A set touched lately is read at every flush, so that a node
			// whose share of a campaign is small sees the others' part as
			// soon as they flush it, not only after its own next touch.
			if !e.touched && now.UnixNano()-e.last > int64(hotFor) {
				continue
			}
			f := flushed{set: set, e: e, n: e.pending}
			for m := range e.members {
				f.members = append(f.members, m)
			}
			e.pending, e.members, e.touched = 0, nil, false
			batch = append(batch, f)
		}
		sh.mu.Unlock()
	}
	if len(batch) == 0 {
		return nil
	}
	c := s.client
	var cmds rueidis.Commands
	for i := range batch {
		f := &batch[i]
		width := int64(f.e.window / 4)
		if width <= 0 {
			width = int64(time.Second)
		}
		b := now.UnixNano() / width
		keys := make([]string, 5)
		for j := range keys {
			keys[j] = s.key(f.set, b-int64(j))
		}
		ttl := time.Duration(6 * width).Milliseconds()
		f.first = len(cmds)
		switch {
		case f.e.distinct && len(f.members) > 0:
			cmds = append(cmds, c.B().Pfadd().Key(keys[0]).Element(f.members...).Build(),
				c.B().Pexpire().Key(keys[0]).Milliseconds(ttl).Build())
		case !f.e.distinct && f.n != 0:
			cmds = append(cmds, c.B().Incrby().Key(keys[0]).Increment(f.n).Build(),
				c.B().Pexpire().Key(keys[0]).Milliseconds(ttl).Build())
		}
		f.reply = len(cmds)
		if f.e.distinct {
			cmds = append(cmds, c.B().Pfcount().Key(keys...).Build())
		} else {
			cmds = append(cmds, c.B().Mget().Key(keys...).Build())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	replies := c.DoMulti(ctx, cmds...)
	var firstErr error
	for i := range batch {
		f := &batch[i]
		total, err := s.total(replies[f.reply], f.e.distinct)
		for _, r := range replies[f.first:f.reply] {
			if err == nil {
				err = r.Error()
			}
		}
		sh := s.shard(f.set)
		sh.mu.Lock()
		if err != nil {
			// Members go again with the next flush (adding one twice is
			// harmless); a count does not: a timed-out INCRBY may still
			// have landed, and counting twice would make evidence up.
			f.e.touched = true
			for _, m := range f.members {
				if f.e.members == nil {
					f.e.members = map[string]struct{}{}
				}
				f.e.members[m] = struct{}{}
			}
			if firstErr == nil {
				firstErr = err
			}
		} else {
			f.e.cached = total
			if f.e.distinct {
				if f.e.known == nil {
					f.e.known = map[string]struct{}{}
				}
				for _, m := range f.members {
					if len(f.e.known) < knownMembers {
						f.e.known[m] = struct{}{}
					}
				}
			}
		}
		sh.mu.Unlock()
	}
	s.flushes.Add(1)
	if firstErr != nil {
		s.errors.Add(1)
	}
	return firstErr
}

func (s *Sketches) total(r rueidis.RedisResult, distinct bool) (float64, error) {
	if distinct {
		n, err := r.AsInt64()
		return float64(n), err
	}
	vals, err := r.ToArray()
	if err != nil {
		return 0, err
	}
	sum := int64(0)
	for _, v := range vals {
		if n, err := v.AsInt64(); err == nil {
			sum += n
		}
	}
	return float64(sum), nil
}

// key is bucket b of set: all of a set's buckets share a hash tag.
func (s *Sketches) key(set string, b int64) string {
	tag := crc32.ChecksumIEEE([]byte(set))
	return s.prefix + "{" + strconv.FormatUint(uint64(tag), 16) + "}" + set + ":" + strconv.FormatInt(b, 10)
}

// SketchStats is a snapshot of the flushing.
type SketchStats struct{ Flushes, Errors uint64 }

// Stats returns the flush counters.
func (s *Sketches) Stats() SketchStats {
	return SketchStats{Flushes: s.flushes.Load(), Errors: s.errors.Load()}
}

// Close flushes once more and closes the connection.
func (s *Sketches) Close() {
	close(s.stop)
	<-s.done
	_ = s.Flush(time.Now())
	s.client.Close()
}
