package detect

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "volumetric", Order: 80, Settings: func() Settings { return &VolumetricConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewVolumetric(*s.(*VolumetricConfig), env.Hasher)
		}})
}

// VolumetricConfig configures the volumetric detector. Zero fields get
// the defaults named on each field. The embedded Common weight is the
// weight of the baseline check (default 30).
type VolumetricConfig struct {
	Common `yaml:",inline"`
	// Bucket is the tumbling interval requests are counted in (default
	// 1m). Rates below are requests per bucket.
	Bucket time.Duration `yaml:"bucket"`
	// Alpha is the weight of the newest bucket in an entity's moving
	// average, 0 < alpha <= 1 (default 0.1: the baseline remembers about
	// ten active buckets).
	Alpha float64 `yaml:"alpha"`
	// K is how many standard deviations above its own mean an entity's
	// bucket must reach to signal (default 6).
	K float64 `yaml:"k"`
	// MinRate is the requests per bucket below which neither the
	// baseline nor the population check signals (default 120: two a
	// second for a minute).
	MinRate float64 `yaml:"min_rate"`
	// Warmup is the active buckets an entity's baseline needs before the
	// baseline check applies (default 5).
	Warmup int `yaml:"warmup"`
	// FloodRate is the requests per bucket that signal at once, with or
	// without a baseline (default 3000: 50 a second for a minute); a
	// signal at 1x, 2x, ... in every bucket. Negative turns it off.
	FloodRate float64 `yaml:"flood_rate" off:"negative"`
	// FloodWeight is the risk points of one flood signal (default 40).
	FloodWeight float64 `yaml:"flood_weight"`
	// ZThreshold is the robust z-score against the route's population of
	// per-entity bucket counts above which an entity signals (default 10).
	// Negative turns the population check off.
	ZThreshold float64 `yaml:"z_threshold" off:"negative"`
	// PopulationWeight is the risk points of one population signal
	// (default 25).
	PopulationWeight float64 `yaml:"population_weight"`
	// BurstThreshold is the distinct new query strings one entity may send
	// to one path within BurstWindow (one to two BurstWindows of history)
	// before the burst signal, again at 2x, 3x ...: cache-busting floods
	// that make every request miss the cache. A query counts as new when
	// the entity did not send it to that path in the last minute or two
	// (one to two Buckets), so a dashboard re-polling the same queries
	// counts once. Default 30; negative turns the check off.
	BurstThreshold float64 `yaml:"burst_threshold" off:"negative"`
	// BurstWindow is the window of the burst check (default 1s).
	BurstWindow time.Duration `yaml:"burst_window"`
	// BurstWeight is the risk points of one burst step (default 25).
	BurstWeight float64 `yaml:"burst_weight"`
}

const (
	volumetricWeight           = 30
	volumetricFloodWeight      = 40
	volumetricPopulationWeight = 25
	volumetricBurstWeight      = 25
	// volumetricIdleBuckets is how many buckets an idle entity's baseline
	// is kept: an hourly job keeps its baseline between runs.
	volumetricIdleBuckets = 60
	// volumetricSamples is the size of a route's ring of recent
	// per-entity bucket counts, and volumetricMinSamples how many it needs
	// before the population check applies.
	volumetricSamples    = 64
	volumetricMinSamples = 16
	// volumetricMaxRoutes bounds the per-route populations; routes with a
	// larger index share one.
	volumetricMaxRoutes = 4096
)

// Volumetric detects an entity sending far more requests than it usually
// does, far more than its peers on a route, or simply too many.
//
// Per entity (key, else user, else IP) it counts requests in tumbling
// buckets and keeps an exponentially weighted mean and deviation of its
// active buckets (idle buckets are not folded in: the baseline is the
// entity's rate while active). Three checks:
//
//   - baseline: after Warmup active buckets, a bucket reaching
//     max(MinRate, mean + K x max(std, sqrt(mean))) signals at 1x, 2x, ...
//     of that limit. The sqrt(mean) floor is Poisson noise: a perfectly
//     regular job has no variance, yet a few more requests than usual are
//     not an anomaly. The baseline adapts within a few buckets, so it
//     catches onsets; a sustained flood is left to the flood ceiling.
//   - flood: a bucket reaching FloodRate signals at once, at 1x, 2x, ...,
//     in every bucket it lasts, without needing any history.
//   - population: per route (or "unmatched"), a ring of the last 64
//     finished per-entity bucket counts gives a median and a MAD,
//     recomputed when a newer bucket's count arrives. An entity's bucket
//     count x on that route signals when x >= MinRate and
//     (x - median) / scale >= ZThreshold, where scale is 1.4826 x MAD.
//     When the MAD is under one request (more than half the entities sent
//     the same count) scale falls back to 1.2533 x the mean absolute
//     deviation from the median, and is never below one request. It
//     judges only the entities their own baseline cannot, those still
//     warming up, and signals once per entity and route: a new client far
//     heavier than its peers. A known heavy client is judged by its own
//     history, however far it stands from the crowd, and so is a declared
//     key or a known client's (request.View.IdentifiedKey) from its first
//     bucket: a partner's bulk sync is not a newcomer's.
//
// A fourth check, burst, counts per entity the distinct query strings it
// sends to one path that it has not sent there in the last Bucket or
// two: BurstThreshold of them within BurstWindow signals, at 1x, 2x, ...
// (cache busting: "/?<random>" dozens of times a second). Its state is
// kept per entity for the latest path it sent a query to, in a table of
// its own that requests without a query never touch; switching paths
// starts over.
//
// False-positive traps: many users behind one NAT IP without identities
// add up (200 users at 15 requests a minute reach the flood ceiling); a
// heavy partner with a key the upstream has not accepted yet is a
// population outlier on its first buckets (one population signal per
// route, 25 points, after each restart); a sudden
// step in a steady client's rate (a deploy doubling its calls) fires the
// baseline check once; a client firing dozens of new queries at one path
// at once (a dashboard whose panels query one endpoint with a changing
// time range, a batch lookup by query parameter) trips the burst check
// once per burst. Raise MinRate, FloodRate or BurstThreshold, or
// allowlist the client.
type Volumetric struct {
	cfg      VolumetricConfig
	h        Hasher
	entities *Table[volumetricEntity]     // by entity
	routes   *Table[volumetricRouteCount] // by entity and route
	bursts   *Table[volumetricBurst]      // by entity, for requests with a query

	pops      atomic.Pointer[[]*volumetricPopulation] // by route index
	popsMu    sync.Mutex                              // serialises growing pops
	unmatched volumetricPopulation                    // requests that matched no route
	overflow  volumetricPopulation                    // routes past volumetricMaxRoutes
}

type volumetricEntity struct {
	start       int64 // the current bucket's start, unix nanoseconds
	count       uint32
	base, flood Steps
	ewma        EWMA // of the entity's finished, non-empty buckets
}

// volumetricBurst is an entity's new queries on the latest path it sent
// one to.
type volumetricBurst struct {
	path  uint64   // hash of the path
	seen  Distinct // queries sent to the path, over one to two Buckets
	fresh Distinct // of those, the ones new when sent, over one to two BurstWindows
	steps Steps
}

type volumetricRouteCount struct {
	start int64
	count uint32
	noted bool // the population check signalled for this entity and route
}

// NewVolumetric returns a Volumetric detector for cfg with defaults
// applied. Half of MaxEntities goes to entities, three eighths to
// entity-route pairs and one eighth to bursts (entities sending queries).
func NewVolumetric(cfg VolumetricConfig, h Hasher) *Volumetric {
	cfg.Common = cfg.Common.Defaults(volumetricWeight)
	if cfg.Bucket <= 0 {
		cfg.Bucket = time.Minute
	}
	if cfg.Alpha <= 0 {
		cfg.Alpha = 0.1
	}
	cfg.Alpha = min(cfg.Alpha, 1)
	cfg.K = orDefault(cfg.K, 6)
	cfg.MinRate = orDefault(cfg.MinRate, 120)
	cfg.Warmup = orDefault(cfg.Warmup, 5)
	cfg.FloodRate = orDefault(cfg.FloodRate, 3000)
	cfg.FloodWeight = orDefault(cfg.FloodWeight, volumetricFloodWeight)
	cfg.ZThreshold = orDefault(cfg.ZThreshold, 10)
	cfg.PopulationWeight = orDefault(cfg.PopulationWeight, volumetricPopulationWeight)
	cfg.BurstThreshold = orDefault(cfg.BurstThreshold, 30)
	cfg.BurstWindow = orDefault(cfg.BurstWindow, time.Second)
	cfg.BurstWeight = orDefault(cfg.BurstWeight, volumetricBurstWeight)
	idle := volumetricIdleBuckets * cfg.Bucket
	d := &Volumetric{
		cfg:      cfg,
		h:        h,
		entities: NewTable[volumetricEntity](max(64, cfg.MaxEntities/2), idle),
		routes:   NewTable[volumetricRouteCount](max(64, cfg.MaxEntities*3/8), idle),
		// Burst state is worthless after its Bucket-long memory of queries.
		bursts: NewTable[volumetricBurst](max(64, cfg.MaxEntities/8), 2*cfg.Bucket),
	}
	d.unmatched.name, d.overflow.name = "unmatched", "other"
	return d
}

// Name returns "volumetric".
func (d *Volumetric) Name() string { return "volumetric" }

// volumetricFound is what one request's updates found, computed under
// the table locks and emitted after them.
type volumetricFound struct {
	count             float64 // the entity's requests in the bucket
	warm              bool
	mean, std, limit  float64
	base, baseSteps   int
	flood, floodSteps int

	routeCount    float64 // the entity's requests on the route in the bucket
	pop           bool
	median, scale float64
	popThreshold  float64
	finished      uint32 // a finished entity-route bucket's count, for the population
	finishedAt    int64

	fresh             float64 // new queries on the path within the burst window
	burst, burstSteps int
}

// Request counts the request for its entity and its entity's route, and
// checks the bucket so far against the entity's baseline, the flood
// ceiling and the route's population.
func (d *Volumetric) Request(v *request.View, s Sink) {
	now := v.Time.UnixNano()
	bucket := int64(d.cfg.Bucket)
	b := now - now%bucket
	cfg := &d.cfg
	ek := subjectTableKey(d.h, v)
	var f volumetricFound

	d.entities.Update(ek, now, func(st *volumetricEntity) {
		if b > st.start || b < st.start-bucket { // a new bucket, or the clock went back (a replay restarted)
			if st.count > 0 && b > st.start {
				st.ewma.Observe(float64(st.count), cfg.Alpha)
			}
			st.start, st.count, st.base, st.flood = b, 0, 0, 0
		}
		st.count++
		f.count = float64(st.count)
		if cfg.FloodRate > 0 {
			f.flood = st.flood.Cross(f.count, cfg.FloodRate)
			f.floodSteps = int(st.flood)
		}
		if int(st.ewma.N()) >= cfg.Warmup {
			f.warm = true
			f.mean, f.std = st.ewma.Mean(), st.ewma.Std()
			f.limit = max(cfg.MinRate, f.mean+cfg.K*max(f.std, math.Sqrt(f.mean)))
			f.base = st.base.Cross(f.count, f.limit)
			f.baseSteps = int(st.base)
		}
	})

	if cfg.ZThreshold > 0 {
		pop := d.population(v.Route)
		f.median, f.scale = pop.stats()
		ready := f.scale > 0
		if ready {
			f.popThreshold = max(cfg.MinRate, f.median+cfg.ZThreshold*f.scale)
		}
		d.routes.Update(volumetricRouteKey(ek, v.Route), now, func(st *volumetricRouteCount) {
			if b > st.start || b < st.start-bucket {
				if st.count > 0 && b > st.start {
					f.finished, f.finishedAt = st.count, st.start
				}
				st.start, st.count = b, 0
			}
			st.count++
			f.routeCount = float64(st.count)
			// Only entities without a baseline of their own, once; never
			// a key held to account (declared, or a known client's): it
			// is no newcomer, and its volume is its plan's business.
			if ready && !f.warm && !st.noted && !v.IdentifiedKey() && f.routeCount >= f.popThreshold {
				f.pop, st.noted = true, true
			}
		})
		if f.finished > 0 {
			pop.add(f.finished, f.finishedAt)
		}
	}

	if v.Query != "" && cfg.BurstThreshold > 0 {
		d.burst(v, ek, now, &f)
	}

	if f.flood+f.base+f.burst > 0 || f.pop {
		d.emit(s, v, &f)
	}
}

// burst counts v's query against its entity's latest path, and records in
// f the burst steps it crossed.
func (d *Volumetric) burst(v *request.View, ek uint64, now int64, f *volumetricFound) {
	cfg := &d.cfg
	ph, qh := d.h.String('p', v.Path), d.h.String('q', v.Query)
	d.bursts.Update(ek, now, func(st *volumetricBurst) {
		if st.path != ph {
			*st = volumetricBurst{path: ph}
		}
		if !st.seen.Has(now, cfg.Bucket, qh) {
			st.seen.Add(now, cfg.Bucket, qh)
			st.fresh.Add(now, cfg.BurstWindow, qh)
		}
		f.fresh = st.fresh.Count(now, cfg.BurstWindow)
		f.burst = st.steps.Cross(f.fresh, cfg.BurstThreshold)
		f.burstSteps = int(st.steps)
	})
}

func (d *Volumetric) emit(s Sink, v *request.View, f *volumetricFound) {
	e := Subject(v)
	w := d.cfg.Bucket
	for step := f.floodSteps - f.flood + 1; step <= f.floodSteps; step++ {
		thr := d.cfg.FloodRate * float64(step)
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: d.cfg.FloodWeight, Severity: High, Evidence: Evidence{
			Summary:   fmt.Sprintf("%.0f requests in %s, flood ceiling %.0f", f.count, w, thr),
			Count:     f.count,
			Threshold: thr,
			Window:    w,
			RequestID: v.ID,
		}})
	}
	for step := f.baseSteps - f.base + 1; step <= f.baseSteps; step++ {
		thr := f.limit * float64(step)
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: d.cfg.Weight, Severity: Medium, Evidence: Evidence{
			Summary:   fmt.Sprintf("%.0f requests in %s against a baseline of %.1f ± %.1f (limit %.0f)", f.count, w, f.mean, f.std, thr),
			Count:     f.count,
			Threshold: thr,
			Window:    w,
			RequestID: v.ID,
		}})
	}
	for step := f.burstSteps - f.burst + 1; step <= f.burstSteps; step++ {
		thr := d.cfg.BurstThreshold * float64(step)
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: d.cfg.BurstWeight, Severity: Medium, Evidence: Evidence{
			Summary: fmt.Sprintf("burst: %.0f new query strings on %q within %s (threshold %.0f)",
				f.fresh, evidenceClip(v.Path, 200), d.cfg.BurstWindow, thr),
			Count:     f.fresh,
			Threshold: thr,
			Window:    d.cfg.BurstWindow,
			RequestID: v.ID,
		}})
	}
	if f.pop {
		route := "unmatched"
		if v.Route != nil {
			route = v.Route.Name
		}
		z := (f.routeCount - f.median) / f.scale
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: d.cfg.PopulationWeight, Severity: Medium, Evidence: Evidence{
			Summary: fmt.Sprintf("%.0f requests in %s on route %s, z %.1f against the route's median %.1f (scale %.1f)",
				f.routeCount, w, route, z, f.median, f.scale),
			Count:     f.routeCount,
			Threshold: f.popThreshold,
			Window:    w,
			RequestID: v.ID,
		}})
	}
}

// Response does nothing: volume is counted on requests.
func (d *Volumetric) Response(*request.View, verdict.Outcome, Sink) {}

// Sweep drops entities, entity-route pairs and bursts idle at now.
func (d *Volumetric) Sweep(now int64) {
	d.entities.Sweep(now)
	d.routes.Sweep(now)
	d.bursts.Sweep(now)
}

// Stats returns the combined size and churn of the three tables.
func (d *Volumetric) Stats() TableStats {
	return tableStatsSum(tableStatsSum(d.entities.Stats(), d.routes.Stats()), d.bursts.Stats())
}

// population returns the population of route r; it allocates only the
// first time a route is seen (or after a reload renamed its index).
func (d *Volumetric) population(r *request.Route) *volumetricPopulation {
	switch {
	case r == nil:
		return &d.unmatched
	case r.Index < 0 || r.Index >= volumetricMaxRoutes:
		return &d.overflow
	}
	if ps := d.pops.Load(); ps != nil && r.Index < len(*ps) {
		if p := (*ps)[r.Index]; p != nil && p.name == r.Name {
			return p
		}
	}
	d.popsMu.Lock()
	defer d.popsMu.Unlock()
	var old []*volumetricPopulation
	if ps := d.pops.Load(); ps != nil {
		old = *ps
	}
	if r.Index < len(old) && old[r.Index] != nil && old[r.Index].name == r.Name {
		return old[r.Index]
	}
	ps := make([]*volumetricPopulation, max(len(old), r.Index+1))
	copy(ps, old)
	p := &volumetricPopulation{name: r.Name}
	ps[r.Index] = p
	d.pops.Store(&ps)
	return p
}

// volumetricPopulation is one route's recent per-entity bucket counts and
// their robust statistics. Readers load the statistics atomically; the
// ring is behind a mutex taken once per finished entity-route bucket.
type volumetricPopulation struct {
	name          string
	median, scale atomic.Uint64 // float64 bits; scale 0: too few samples yet

	mu       sync.Mutex
	ring     [volumetricSamples]uint32
	n, next  int
	computed int64 // the newest bucket start included at the last computation
}

// stats returns the route's median and scale; scale is 0 until the ring
// holds volumetricMinSamples counts.
func (p *volumetricPopulation) stats() (median, scale float64) {
	return math.Float64frombits(p.median.Load()), math.Float64frombits(p.scale.Load())
}

// add records a finished entity bucket of count requests that began at
// start, and recomputes the statistics when it is the first count of a
// newer bucket (or while they are not yet ready).
func (p *volumetricPopulation) add(count uint32, start int64) {
	p.mu.Lock()
	p.ring[p.next] = count
	p.next = (p.next + 1) % volumetricSamples
	p.n = min(p.n+1, volumetricSamples)
	if p.n >= volumetricMinSamples && (start > p.computed || p.scale.Load() == 0) {
		p.computed = max(p.computed, start)
		med, scale := volumetricRobust(p.ring[:p.n])
		p.median.Store(math.Float64bits(med))
		p.scale.Store(math.Float64bits(scale))
	}
	p.mu.Unlock()
}

// volumetricRobust returns the median of counts and a robust scale:
// 1.4826 x MAD, or when that is under one request 1.2533 x the mean
// absolute deviation from the median, and never less than one request.
func volumetricRobust(counts []uint32) (median, scale float64) {
	var buf [volumetricSamples]float64
	xs := buf[:0]
	for _, c := range counts[:min(len(counts), volumetricSamples)] {
		xs = append(xs, float64(c))
	}
	if len(xs) == 0 {
		return 0, 1
	}
	slices.Sort(xs)
	median = volumetricMedian(xs)
	var dev [volumetricSamples]float64
	ds := dev[:len(xs)]
	sum := 0.0
	for i, x := range xs {
		ds[i] = math.Abs(x - median)
		sum += ds[i]
	}
	slices.Sort(ds)
	scale = 1.4826 * volumetricMedian(ds)
	if scale < 1 {
		scale = 1.2533 * sum / float64(len(ds))
	}
	return median, max(scale, 1)
}

// volumetricMedian returns the median of sorted xs.
func volumetricMedian(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// volumetricRouteKey mixes an entity's key with its route's index into a
// well-spread key for the entity-route table.
func volumetricRouteKey(ek uint64, r *request.Route) uint64 {
	i := uint64(0)
	if r != nil {
		i = uint64(r.Index) + 1
	}
	x := ek ^ i*0x9E3779B97F4A7C15
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	return x ^ x>>31
}

var (
	_ Detector = (*Volumetric)(nil)
	_ Stateful = (*Volumetric)(nil)
)
