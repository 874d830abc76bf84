package detect

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "scraping", Order: 40, Settings: func() Settings { return &ScrapingConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewScraping(*s.(*ScrapingConfig), env.Hasher)
		}})
}

// ScrapingConfig configures the scraping detector. Zero fields get the
// defaults named on each field; a negative threshold turns its check off.
type ScrapingConfig struct {
	Common `yaml:",inline"`
	// Window is the sliding window every count is measured over (default 10m).
	Window time.Duration `yaml:"window"`
	// Threshold is the distinct resource ids (the last path parameter of a
	// matched, non-static route) one entity may read in Window before the
	// distinct-ids signal, weighted by Weight (default 300; weight 35).
	Threshold float64 `yaml:"threshold" off:"negative"`
	// MinRequests is the requests in Window from which an entity's share of
	// static assets is judged (default 100).
	MinRequests float64 `yaml:"min_requests" off:"negative"`
	// StaticShare is the share of static assets (0-1) below which an entity
	// of MinRequests page requests looks like a crawler (default 0.02). The
	// check is inert until the deployment has served a static asset.
	StaticShare float64 `yaml:"static_share"`
	// StaticWeight is the risk points of the static-share signal (default 15).
	StaticWeight float64 `yaml:"static_weight"`
	// APIPrefixes are path prefixes of API (not page) endpoints, which the
	// static-share check ignores (default ["/api/", "/graphql"]); a path
	// under a version segment (/v1/, /v2/ ...) is one too.
	APIPrefixes []string `yaml:"api_prefixes"`
	// SequentialRun is the numeric ids in a row, each within SequentialStep
	// of the one before and extending the range walked, that make a
	// sequential walk (default 25).
	SequentialRun int `yaml:"sequential_run" off:"negative"`
	// SequentialStep is the largest difference between two consecutive ids
	// of a walk (default 2).
	SequentialStep int `yaml:"sequential_step"`
	// SequentialWeight is the risk points of the sequential-walk signal
	// (default 40).
	SequentialWeight float64 `yaml:"sequential_weight"`
	// PageParams are the query parameters that page through lists
	// (default [page, offset, cursor, p, start]).
	PageParams []string `yaml:"page_params"`
	// PageThreshold is the distinct page-parameter values one entity may
	// request in Window before the pagination signal (default 50).
	PageThreshold float64 `yaml:"page_threshold" off:"negative"`
	// PageWeight is the risk points of the pagination signal (default 30).
	PageWeight float64 `yaml:"page_weight"`
	// HarvestWindow is the short window of the item-harvest check
	// (default 5s): the distinct ids are counted over one to two of
	// its tumbling windows, so 30 ids in it are a pace of 3 to 6 items
	// a second, which no person reading items keeps up.
	HarvestWindow time.Duration `yaml:"harvest_window"`
	// HarvestThreshold is the distinct resource ids one entity may read
	// in HarvestWindow, when they are nearly all it reads (HarvestShare),
	// before the item-harvest signal (default 30): ids in any order, so
	// random ids (UUIDs) count as numbers do.
	HarvestThreshold float64 `yaml:"harvest_threshold" off:"negative"`
	// HarvestShare is the least share (0-1) of the entity's reads in
	// HarvestWindow that are distinct ids for the item-harvest check
	// (default 0.9): a client that only ever fetches item pages, never a
	// listing, a search, its account or an asset.
	HarvestShare float64 `yaml:"harvest_share"`
	// HarvestWeight is the risk points of the item-harvest signal
	// (default 40).
	HarvestWeight float64 `yaml:"harvest_weight"`
}

// Scraping detects catalog scraping and crawling by one entity
// (detect.Subject): reading many distinct resource ids, walking numeric ids
// in sequence, sweeping through pagination, and fetching pages without the
// assets a browser loads with them. It watches GET and HEAD requests only.
//
// Known traps: a partner job that legitimately syncs a large catalog
// (raise Threshold, or exempt its key in policy); users who keep assets in
// cache or load them from a CDN on another host (the static-share check
// then sees pages only; it is weak by design, weight 15); infinite-scroll
// feeds whose every load has a new cursor (PageThreshold); galleries whose
// "next" link walks sequential ids (SequentialRun).
type Scraping struct {
	cfg   ScrapingConfig
	h     Hasher
	state *Table[scrapingState]
	// assets is set once any static asset has been served with a 2xx or
	// 3xx: only then does a missing asset share mean anything.
	assets atomic.Bool
}

type scrapingState struct {
	ids, pages                                Distinct
	total, static, html                       Window
	harvestIDs                                Distinct // ids in HarvestWindow
	harvestReads                              Window   // reads in HarvestWindow
	harvestSteps                              Steps
	last, lo, hi                              uint64 // the last numeric id and the range the walk covers
	lastAt, runAt                             int64  // the last id's time and the walk's start
	run                                       uint32
	route                                     int32
	idSteps, staticSteps, runSteps, pageSteps Steps
}

// scrapingFired is what one request's update crossed, for emitting after
// the table lock is released.
type scrapingFired struct {
	ids, static, run, pages, harvest    int
	nIDs, total, assets, pagesN, runLen float64
	harvested, reads                    float64
	lo, hi                              uint64
}

// inferredWalkPace is the average time per id under which a sequential
// walk over an inferred template (a path no declared route matched) counts:
// people paging through a catalogue take seconds per item, a script
// milliseconds. Declared routes have no such floor.
const inferredWalkPace = time.Second

// Hash namespaces of the scraping detector's sketches.
const (
	nsScrapeID   = 's'
	nsScrapePage = 'p'
)

// NewScraping returns a Scraping detector with defaults applied to cfg.
func NewScraping(cfg ScrapingConfig, h Hasher) *Scraping {
	cfg.Common = cfg.Common.Defaults(35)
	cfg.Window = orDefault(cfg.Window, 10*time.Minute)
	cfg.Threshold = orDefault(cfg.Threshold, 300)
	cfg.MinRequests = orDefault(cfg.MinRequests, 100)
	cfg.StaticShare = orDefault(cfg.StaticShare, 0.02)
	cfg.StaticWeight = orDefault(cfg.StaticWeight, 15)
	if cfg.APIPrefixes == nil {
		cfg.APIPrefixes = []string{"/api/", "/graphql"}
	}
	cfg.SequentialRun = orDefault(cfg.SequentialRun, 25)
	cfg.SequentialStep = orDefault(cfg.SequentialStep, 2)
	cfg.SequentialWeight = orDefault(cfg.SequentialWeight, 40)
	if cfg.PageParams == nil {
		cfg.PageParams = []string{"page", "offset", "cursor", "p", "start"}
	}
	cfg.PageThreshold = orDefault(cfg.PageThreshold, 50)
	cfg.PageWeight = orDefault(cfg.PageWeight, 30)
	cfg.HarvestWindow = orDefault(cfg.HarvestWindow, 5*time.Second)
	cfg.HarvestThreshold = orDefault(cfg.HarvestThreshold, 30)
	cfg.HarvestShare = orDefault(cfg.HarvestShare, 0.9)
	cfg.HarvestWeight = orDefault(cfg.HarvestWeight, 40)
	return &Scraping{cfg: cfg, h: h, state: NewTable[scrapingState](cfg.MaxEntities, 3*cfg.Window)}
}

// Name returns "scraping".
func (d *Scraping) Name() string { return "scraping" }

// Request counts the request against its entity and signals each threshold
// multiple a measure crosses.
func (d *Scraping) Request(v *request.View, s Sink) {
	if v.Method != "GET" && v.Method != "HEAD" {
		return
	}
	now, w, cfg := v.Time.UnixNano(), d.cfg.Window, &d.cfg
	static := scrapingStatic(v)
	var idHash, pageHash uint64
	var id uint64
	hasID, numeric, hasPage, inferred := false, false, false, false
	route := int32(-1)
	if !static && v.Route != nil && v.Param != "" {
		hasID, route = true, int32(v.Route.Index)
		idHash = d.h.String(nsScrapeID, v.Param) + uint64(v.Route.Index+1)*0x9E3779B97F4A7C15
		id, numeric = scrapingNumericID(v.Param)
	} else if !static && v.Route == nil {
		if param, tmpl, ok := inferredResource(d.h, v.Path); ok {
			hasID, route, inferred = true, int32(tmpl>>33)|1<<30, true // never a declared route's index
			idHash = d.h.String(nsScrapeID, param) + tmpl*0x9E3779B97F4A7C15
			id, numeric = scrapingNumericID(param)
		}
	}
	if !static {
		if pair, ok := scrapingPageParam(v.Query, cfg.PageParams); ok {
			hasPage, pageHash = true, d.h.String(nsScrapePage, pair)
		}
	}
	html := !static && v.Identity.KeyID == "" && (v.Route == nil || v.Route.Kind == "") && !d.api(v.Path)
	assets := d.assets.Load() && cfg.MinRequests > 0
	step := uint64(max(cfg.SequentialStep, 0))

	var r scrapingFired
	d.state.Update(subjectTableKey(d.h, v), now, func(st *scrapingState) {
		st.total.Add(now, w, 1)
		if static {
			st.static.Add(now, w, 1)
		} else if html {
			st.html.Add(now, w, 1)
		}
		if assets {
			tot := st.total.Count(now, w)
			sc, hs := st.static.Count(now, w), st.html.Count(now, w)
			bare := tot >= cfg.MinRequests && sc < cfg.StaticShare*tot && hs >= tot/2
			r.static, r.total, r.assets = crossWhile(&st.staticSteps, bare, tot, cfg.MinRequests), tot, sc
		}
		if hasID {
			st.ids.Add(now, w, idHash)
			r.nIDs = st.ids.Count(now, w)
			r.ids = st.idSteps.Cross(r.nIDs, cfg.Threshold)
		}
		if cfg.HarvestThreshold > 0 {
			// Item harvest: many distinct ids in a short window, and
			// nearly nothing else. Distinct covers one to two tumbling
			// windows, so the reads are counted over the same span.
			hw := cfg.HarvestWindow
			st.harvestReads.Add(now, hw, 1)
			if hasID {
				st.harvestIDs.Add(now, hw, idHash)
			}
			r.harvested, r.reads = st.harvestIDs.Count(now, hw), st.harvestReads.Span(now, hw)
			r.harvest = crossWhile(&st.harvestSteps, r.harvested >= cfg.HarvestShare*r.reads, r.harvested, cfg.HarvestThreshold)
		}
		if numeric {
			diff := id - st.last
			if id < st.last {
				diff = st.last - id
			}
			switch {
			case st.run == 0 || route != st.route || now-st.lastAt > int64(w) || diff > step:
				st.run, st.lo, st.hi, st.runAt = 1, id, id, now
			case id < st.lo:
				st.run, st.lo = st.run+1, id
			case id > st.hi:
				st.run, st.hi = st.run+1, id
			}
			st.last, st.lastAt, st.route = id, now, route
			// On an inferred template (no declared route) a walk must also
			// be faster than a person paging through: under
			// inferredWalkPace per id on average.
			if cfg.SequentialRun > 0 && (!inferred || now-st.runAt < int64(st.run)*int64(inferredWalkPace)) {
				r.run = st.runSteps.Cross(float64(st.run), float64(cfg.SequentialRun))
			}
			r.runLen, r.lo, r.hi = float64(st.run), st.lo, st.hi
		}
		if hasPage {
			st.pages.Add(now, w, pageHash)
			r.pagesN = st.pages.Count(now, w)
			r.pages = st.pageSteps.Cross(r.pagesN, cfg.PageThreshold)
		}
	})
	if r.ids+r.static+r.run+r.pages+r.harvest == 0 {
		return
	}
	e := Subject(v)
	if r.ids > 0 {
		d.emit(s, v, e, cfg.Weight, Medium, r.nIDs, cfg.Threshold,
			fmt.Sprintf("%.0f distinct resource ids in %v", r.nIDs, w))
	}
	if r.harvest > 0 {
		s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: cfg.HarvestWeight, Severity: High, Evidence: Evidence{
			Summary: fmt.Sprintf("%.0f distinct resource ids in %v, %.0f%% of its %.0f reads: item pages and nothing else",
				r.harvested, cfg.HarvestWindow, 100*min(1, r.harvested/r.reads), r.reads),
			Count: r.harvested, Threshold: cfg.HarvestThreshold, Window: cfg.HarvestWindow, RequestID: v.ID}})
	}
	if r.static > 0 {
		d.emit(s, v, e, cfg.StaticWeight, Low, r.total, cfg.MinRequests,
			fmt.Sprintf("%.0f requests in %v with %.1f%% static assets (below %.1f%%), mostly pages",
				r.total, w, 100*r.assets/r.total, 100*cfg.StaticShare))
	}
	if r.run > 0 {
		d.emit(s, v, e, cfg.SequentialWeight, High, r.runLen, float64(cfg.SequentialRun),
			fmt.Sprintf("%.0f sequential ids in a row (step <= %d), %d to %d", r.runLen, step, r.lo, r.hi))
	}
	if r.pages > 0 {
		d.emit(s, v, e, cfg.PageWeight, Medium, r.pagesN, cfg.PageThreshold,
			fmt.Sprintf("%.0f distinct pagination values in %v", r.pagesN, w))
	}
}

func (d *Scraping) emit(s Sink, v *request.View, e verdict.Entity, weight float64, sev Severity, count, threshold float64, summary string) {
	s.Emit(Signal{Detector: d.Name(), Entity: e, Weight: weight, Severity: sev, Evidence: Evidence{
		Summary: summary, Count: count, Threshold: threshold, Window: d.cfg.Window, RequestID: v.ID,
	}})
}

// Response notes that the deployment serves static assets, which arms the
// static-share check.
func (d *Scraping) Response(v *request.View, o verdict.Outcome, _ Sink) {
	if o.Status >= 200 && o.Status < 400 && !o.UpstreamError && !d.assets.Load() && scrapingStatic(v) {
		d.assets.Store(true)
	}
}

// Sweep drops entities idle for three windows.
func (d *Scraping) Sweep(now int64) { d.state.Sweep(now) }

// Stats returns the size and churn of the per-entity state.
func (d *Scraping) Stats() TableStats { return d.state.Stats() }

// api reports whether path is an API endpoint rather than a page: under
// one of APIPrefixes, or under a version segment (/v1/..., /v2/...), the
// common way APIs are spelled.
func (d *Scraping) api(path string) bool {
	for _, p := range d.cfg.APIPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	seg, _, nested := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !nested || len(seg) < 2 || len(seg) > 4 || seg[0] != 'v' {
		return false
	}
	for i := 1; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return true
}

// scrapingStatic reports whether v asks for a static asset: a route of kind
// static, or an unrouted (or kindless) path with an asset extension.
func scrapingStatic(v *request.View) bool {
	if v.Route != nil && v.Route.Kind != "" {
		return v.Route.Kind == "static"
	}
	p := v.Path
	dot := strings.LastIndexByte(p, '.')
	if dot < 0 || strings.IndexByte(p[dot:], '/') >= 0 {
		return false
	}
	ext := p[dot+1:]
	for _, e := range scrapingAssetExts {
		if strings.EqualFold(ext, e) {
			return true
		}
	}
	return false
}

var scrapingAssetExts = [...]string{"css", "js", "mjs", "png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "ico", "woff", "woff2", "ttf", "otf", "map"}

// scrapingNumericID parses a decimal id of up to 19 digits, or a slug of
// a word of up to 16 letters, a - or _ and such an id, without allocating.
func scrapingNumericID(s string) (uint64, bool) {
	// A slug of a word and a number ("lst-00123", "item_42") is its number.
	if i := strings.LastIndexAny(s, "-_"); i > 0 && i <= 16 {
		for j := 0; j < i; j++ {
			if c := s[j] | 0x20; c < 'a' || c > 'z' {
				return 0, false
			}
		}
		s = s[i+1:]
	}
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// scrapingPageParam returns the first "name=value" pair of the raw query
// whose name is one of names and whose value is not empty.
func scrapingPageParam(query string, names []string) (string, bool) {
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		name, val, _ := strings.Cut(pair, "=")
		if val == "" {
			continue
		}
		for _, n := range names {
			if name == n {
				return pair, true
			}
		}
	}
	return "", false
}

// crossWhile is Steps.Cross for a measure that only counts while a
// condition holds (a ratio, a share): while ok is false the steps may fall
// with the measure but not rise, so a condition that flickers does not
// signal the same step again and again.
func crossWhile(s *Steps, ok bool, measure, threshold float64) int {
	if ok {
		return s.Cross(measure, threshold)
	}
	if measure < float64(*s)*threshold {
		s.Cross(measure, threshold)
	}
	return 0
}

var (
	_ Detector = (*Scraping)(nil)
	_ Stateful = (*Scraping)(nil)
)
