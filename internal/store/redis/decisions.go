package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Decisions is the decision.Store of a cluster: every node holds every
// active decision in its own decision.Local, which answers the per-request
// lookup (Active) without the network, and Redis holds them all for nodes
// that start later. A decision recorded or lifted on one node is written
// to Redis and published; every other node applies it on receipt (within
// a millisecond or so on a local network: well inside 100ms).
//
// Redis keeps the decisions in one hash and their expiries in one sorted
// set, under one hash tag, so a cluster keeps them on one slot. New loads
// every active decision before it returns, so a node reports ready only
// with them. While Redis is unavailable decisions are made and enforced
// locally and queued; when the subscription is back the node writes back
// what it queued and loads what it missed.
type Decisions struct {
	local  *decision.Local
	client rueidis.Client
	opts   DecisionOptions
	node   string
	hash   string // id -> JSON decision
	exp    string // id scored by expiry (unix ms)
	ch     string // pub/sub channel

	mu      sync.Mutex
	pending map[string]*decision.Decision // written back on recovery; nil value: a removal
	epoch   string                        // Redis's epoch key as last seen: a new one means it lost its data

	available   atomic.Bool
	published   atomic.Uint64
	received    atomic.Uint64
	writeErrors atomic.Uint64
	hello       chan string
	stop        context.CancelFunc
	done        chan struct{}
}

// DecisionOptions configures NewDecisions. Zero fields get defaults.
type DecisionOptions struct {
	Addrs          []string
	SentinelMaster string
	Username       string
	Password       string
	Prefix         string        // default "ag:"
	Timeout        time.Duration // for each write (default 100ms: writes are off the hot path)
	Logger         *slog.Logger
	Now            func() time.Time
}

// message is what a node publishes for each change.
type message struct {
	Node     string             `json:"node"`
	Op       string             `json:"op"` // add, remove or hello
	Decision *decision.Decision `json:"decision,omitempty"`
	ID       string             `json:"id,omitempty"`
}

// NewDecisions connects, subscribes, and loads every active decision from
// Redis into local; it fails when that cannot be done within five seconds.
func NewDecisions(ctx context.Context, local *decision.Local, opts DecisionOptions) (*Decisions, error) {
	if opts.Prefix == "" {
		opts.Prefix = "ag:"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	co := rueidis.ClientOption{InitAddress: opts.Addrs, Username: opts.Username, Password: opts.Password,
		DisableCache: true, DisableRetry: true, ConnWriteTimeout: time.Second}
	if opts.SentinelMaster != "" {
		co.Sentinel = rueidis.SentinelOption{MasterSet: opts.SentinelMaster, Username: opts.Username, Password: opts.Password}
	}
	client, err := rueidis.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", strings.Join(opts.Addrs, ","), err)
	}
	tag := opts.Prefix + "{decisions}"
	d := &Decisions{local: local, client: client, opts: opts, node: newNodeID(),
		hash: tag + ":all", exp: tag + ":expires", ch: tag + ":changes",
		pending: map[string]*decision.Decision{}, hello: make(chan string, 4), done: make(chan struct{})}
	bg, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	first := make(chan error, 1)
	go d.subscribe(bg, first)
	select {
	case err = <-first:
	case <-time.After(5 * time.Second):
		err = errors.New("no subscription within 5s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		client.Close()
		<-d.done
		return nil, fmt.Errorf("redis decisions: %w", err)
	}
	return d, nil
}

// subscribe keeps the subscription up: each time it is (re)established it
// writes back what was queued and loads every active decision. The first
// outcome goes to first.
func (d *Decisions) subscribe(ctx context.Context, first chan<- error) {
	defer close(d.done)
	reported := false
	report := func(err error) {
		if !reported {
			reported = true
			first <- err
		}
	}
	for ctx.Err() == nil {
		recv := make(chan error, 1)
		go func() {
			recv <- d.client.Receive(ctx, d.client.B().Subscribe().Channel(d.ch).Build(), d.onMessage)
		}()
		err := d.confirm(ctx, recv)
		if err == nil {
			err = d.resync(ctx)
		}
		if err == nil {
			if d.available.CompareAndSwap(false, true) && reported {
				d.opts.Logger.Info("redis decisions available again")
			}
			report(nil)
			err = <-recv // until the connection drops or ctx ends
		}
		if ctx.Err() != nil {
			return
		}
		if d.available.CompareAndSwap(true, false) {
			d.opts.Logger.Warn("redis decisions unavailable: deciding locally", "err", fmt.Sprint(err))
		}
		if !reported {
			report(err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// confirm publishes a hello until this node receives its own, which
// proves the subscription is live.
func (d *Decisions) confirm(ctx context.Context, recv <-chan error) error {
	nonce := newNodeID()
	msg, _ := json.Marshal(message{Node: d.node, Op: "hello", ID: nonce})
	deadline := time.After(2 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		wctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
		err := d.client.Do(wctx, d.client.B().Publish().Channel(d.ch).Message(string(msg)).Build()).Error()
		cancel()
		if err != nil {
			return err
		}
		select {
		case got := <-d.hello:
			if got == nonce {
				return nil
			}
		case err := <-recv:
			return fmt.Errorf("subscribe: %w", err)
		case <-deadline:
			return errors.New("subscription not confirmed")
		case <-tick.C:
		}
	}
}

// resync writes back the queued changes, then loads every active decision.
// When Redis lost its data since this node last saw it (a restart without
// persistence: its epoch key changed), the node also writes back every
// decision it holds, so that nodes started later get them.
func (d *Decisions) resync(ctx context.Context) error {
	ectx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	epoch := newNodeID()
	c := d.client
	r := c.DoMulti(ectx, c.B().Set().Key(d.epochKey()).Value(epoch).Nx().Build(), c.B().Get().Key(d.epochKey()).Build())
	cancel()
	current, err := r[1].ToString()
	if err != nil {
		return err
	}
	d.mu.Lock()
	queued := d.pending
	d.pending = map[string]*decision.Decision{}
	lost := d.epoch != current // also on the first connection: this node's persisted decisions go to Redis
	restarted := d.epoch != "" && lost
	d.epoch = current
	d.mu.Unlock()
	if lost {
		now := d.opts.Now()
		for _, dec := range d.local.List(now) {
			if _, ok := queued[dec.ID]; !ok {
				queued[dec.ID] = &dec
			}
		}
		if restarted {
			d.opts.Logger.Info("redis lost its decisions; writing back this node's", "decisions", len(queued))
		}
	}
	for id, dec := range queued {
		var err error
		if dec == nil {
			err = d.writeRemove(ctx, id)
		} else if dec.Expires.After(d.opts.Now()) {
			err = d.writeAdd(ctx, *dec)
		}
		if err != nil {
			d.mu.Lock()
			for id, dec := range queued {
				if _, newer := d.pending[id]; !newer {
					d.pending[id] = dec
				}
			}
			d.mu.Unlock()
			return err
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	all, err := d.client.Do(lctx, d.client.B().Hgetall().Key(d.hash).Build()).AsStrMap()
	if err != nil {
		return err
	}
	now := d.opts.Now()
	var expired []string
	for id, v := range all {
		var dec decision.Decision
		if json.Unmarshal([]byte(v), &dec) != nil || !dec.Expires.After(now) {
			expired = append(expired, id)
			continue
		}
		if err := d.local.Replicate(dec); err != nil && !errors.Is(err, decision.ErrPersist) {
			d.opts.Logger.Warn("skipped a shared decision", "id", id, "err", err.Error())
		}
	}
	if len(expired) > 0 {
		_ = d.client.DoMulti(lctx, d.client.B().Hdel().Key(d.hash).Field(expired...).Build(),
			d.client.B().Zrem().Key(d.exp).Member(expired...).Build())
	}
	if !lost {
		// Redis kept its data, so a decision this node holds that Redis
		// lacks was lifted elsewhere while this node was cut off. (One made
		// here in the last moments may not be written yet: those stay.)
		settled := now.Add(-liftMargin)
		for _, dec := range d.local.List(now) {
			if _, ok := all[dec.ID]; !ok && dec.Created.Before(settled) {
				if _, requeued := queued[dec.ID]; !requeued {
					_, _ = d.local.Remove(dec.ID)
				}
			}
		}
	}
	return nil
}

// liftMargin is how old a decision must be before a resync that does not
// find it in Redis lifts it.
const liftMargin = 5 * time.Second

func (d *Decisions) epochKey() string { return d.hash[:len(d.hash)-len(":all")] + ":epoch" }

// onMessage applies another node's change.
func (d *Decisions) onMessage(m rueidis.PubSubMessage) {
	var msg message
	if json.Unmarshal([]byte(m.Message), &msg) != nil {
		return
	}
	if msg.Node == d.node {
		if msg.Op == "hello" {
			select {
			case d.hello <- msg.ID:
			default:
			}
		}
		return
	}
	switch msg.Op {
	case "add":
		if msg.Decision != nil {
			d.received.Add(1)
			_ = d.local.Replicate(*msg.Decision)
		}
	case "remove":
		d.received.Add(1)
		_, _ = d.local.Remove(msg.ID)
	}
}

// Add implements decision.Store: the decision is recorded locally (and so
// enforced at once on this node), then written to Redis and published.
func (d *Decisions) Add(dec decision.Decision) (decision.Decision, bool, error) {
	got, added, err := d.local.Add(dec)
	if err != nil && !errors.Is(err, decision.ErrPersist) || !added {
		return got, added, err
	}
	d.share(got)
	return got, added, err
}

func (d *Decisions) share(dec decision.Decision) {
	if !d.available.Load() {
		d.queue(dec.ID, &dec)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.Timeout)
	defer cancel()
	if err := d.writeAdd(ctx, dec); err != nil {
		d.writeErrors.Add(1)
		d.queue(dec.ID, &dec)
	}
}

func (d *Decisions) queue(id string, dec *decision.Decision) {
	d.mu.Lock()
	d.pending[id] = dec
	d.mu.Unlock()
}

// writeAdd stores dec with its expiry and publishes it.
func (d *Decisions) writeAdd(ctx context.Context, dec decision.Decision) error {
	body, err := json.Marshal(dec)
	if err != nil {
		return err
	}
	msg, _ := json.Marshal(message{Node: d.node, Op: "add", Decision: &dec})
	c := d.client
	now := d.opts.Now().UnixMilli()
	cmds := rueidis.Commands{
		c.B().Hset().Key(d.hash).FieldValue().FieldValue(dec.ID, string(body)).Build(),
		c.B().Zadd().Key(d.exp).ScoreMember().ScoreMember(float64(dec.Expires.UnixMilli()), dec.ID).Build(),
		c.B().Publish().Channel(d.ch).Message(string(msg)).Build(),
	}
	// Replaced and expired decisions: drop them from the hash too.
	if old, err := c.Do(ctx, c.B().Zrangebyscore().Key(d.exp).Min("-inf").Max(itoa(now)).Build()).AsStrSlice(); err == nil && len(old) > 0 {
		cmds = append(cmds, c.B().Hdel().Key(d.hash).Field(old...).Build(), c.B().Zrem().Key(d.exp).Member(old...).Build())
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	d.published.Add(1)
	return nil
}

// writeRemove deletes the decision with id and publishes its removal.
func (d *Decisions) writeRemove(ctx context.Context, id string) error {
	msg, _ := json.Marshal(message{Node: d.node, Op: "remove", ID: id})
	c := d.client
	for _, r := range c.DoMulti(ctx,
		c.B().Hdel().Key(d.hash).Field(id).Build(),
		c.B().Zrem().Key(d.exp).Member(id).Build(),
		c.B().Publish().Channel(d.ch).Message(string(msg)).Build()) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	d.published.Add(1)
	return nil
}

// Remove implements decision.Store: the decision is lifted here and on
// every node.
func (d *Decisions) Remove(id string) (bool, error) {
	ok, err := d.local.Remove(id)
	if !d.available.Load() {
		d.queue(id, nil)
		return ok, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.Timeout)
	defer cancel()
	if werr := d.writeRemove(ctx, id); werr != nil {
		d.writeErrors.Add(1)
		d.queue(id, nil)
	}
	return ok, err
}

// Active implements decision.Store from the local copy: no network.
func (d *Decisions) Active(scope verdict.Scope, value []byte, now int64) *decision.Decision {
	return d.local.Active(scope, value, now)
}

// Len implements decision.Store.
func (d *Decisions) Len() int { return d.local.Len() }

// Get implements decision.Store.
func (d *Decisions) Get(id string) (decision.Decision, bool) { return d.local.Get(id) }

// List implements decision.Store.
func (d *Decisions) List(now time.Time) []decision.Decision { return d.local.List(now) }

// ForEntity implements decision.Store.
func (d *Decisions) ForEntity(scope verdict.Scope, value string, now time.Time) []decision.Decision {
	return d.local.ForEntity(scope, value, now)
}

// Sweep implements decision.Store.
func (d *Decisions) Sweep(now time.Time) int { return d.local.Sweep(now) }

// Stats implements decision.Store.
func (d *Decisions) Stats() decision.Stats { return d.local.Stats() }

// SharedStats is a snapshot of the sharing itself.
type SharedStats struct {
	Available           bool
	Published, Received uint64
	WriteErrors         uint64
	Queued              int
}

// Shared returns the sharing's counters.
func (d *Decisions) Shared() SharedStats {
	d.mu.Lock()
	q := len(d.pending)
	d.mu.Unlock()
	return SharedStats{Available: d.available.Load(), Published: d.published.Load(), Received: d.received.Load(),
		WriteErrors: d.writeErrors.Load(), Queued: q}
}

// Close stops the subscription and closes the local store.
func (d *Decisions) Close() error {
	d.stop()
	d.client.Close()
	<-d.done
	return d.local.Close()
}

var _ decision.Store = (*Decisions)(nil)
