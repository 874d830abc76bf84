// Package routelearn learns an API's routes from its traffic: from observed
// requests and their responses (method, canonical path, query and body
// field names, status codes) it infers route templates (identifier-looking
// segments become {id}, by detect.LooksLikeID, the rule the detectors use)
// and the likely kind of each endpoint (login, reset, signup, verify,
// search, GraphQL, decoy candidates), each with a confidence and the
// evidence counts behind it. Suggest turns what was learned into a
// `routes:` section an operator can review and accept; declared routes
// always win and are shown as kept.
//
// Memory is bounded: at most Options.MaxTemplates templates, and at most
// Options.MaxNames field and query names per template; what does not fit
// is counted, never silently dropped.
package routelearn

import (
	"hash/maphash"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// Observation is one request and the status it was answered with.
type Observation struct {
	Method string
	Path   string // the canonical path, without the query
	Query  string // the raw query, without '?'
	Status int
	// Fields are the names of the body's fields (JSON object keys or form
	// names), when the observer saw the body; nil otherwise.
	Fields []string
	// GraphQL is set when the request carried a document that parsed as
	// GraphQL (request.GraphQLShape.Parsed).
	GraphQL bool
}

// Options bounds a Learner. Zero fields get the defaults.
type Options struct {
	// MaxTemplates caps the templates remembered (default 1000);
	// requests to further templates are counted in Stats.Dropped.
	MaxTemplates int
	// MaxNames caps the field and the query names remembered per
	// template (default 16 each).
	MaxNames int
}

// Limits on what one observation contributes.
const (
	maxSegments   = 16 // a deeper path is cut here (its template ends in {rest...})
	defaultMaxTpl = 1000
	defaultNames  = 16
)

// Learner accumulates observations. It is safe for concurrent use.
type Learner struct {
	opts Options
	seed maphash.Seed

	mu        sync.Mutex
	templates map[uint64]*template

	observed, dropped, busy, unlearnable atomic.Uint64
}

// template is what is known about one method and path template.
type template struct {
	method, path string // path: the template, "/shop/products/{id}"
	sample       string // one concrete path, to match against declared routes
	hasID        bool
	n            uint64
	graphql      uint64 // requests carrying a GraphQL document
	status       detect.KindStatus
	fields       names
	query        names
}

// names counts names up to a cap; overflow counts the names that did not fit.
type names struct {
	counts   map[string]uint64
	overflow uint64
}

func (ns *names) add(name string, max int) {
	if name == "" {
		return
	}
	if _, ok := ns.counts[name]; !ok {
		if len(ns.counts) >= max {
			ns.overflow++
			return
		}
		if ns.counts == nil {
			ns.counts = map[string]uint64{}
		}
		name = strings.Clone(name) // may point into a reused buffer
	}
	ns.counts[name]++
}

// top returns up to k names, the most counted first (ties by name).
func (ns *names) top(k int) []string {
	if len(ns.counts) == 0 {
		return nil
	}
	out := make([]string, 0, len(ns.counts))
	for n := range ns.counts {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if ci, cj := ns.counts[out[i]], ns.counts[out[j]]; ci != cj {
			return ci > cj
		}
		return out[i] < out[j]
	})
	return out[:min(k, len(out))]
}

// New returns an empty Learner.
func New(opts Options) *Learner {
	if opts.MaxTemplates <= 0 {
		opts.MaxTemplates = defaultMaxTpl
	}
	if opts.MaxNames <= 0 {
		opts.MaxNames = defaultNames
	}
	return &Learner{opts: opts, seed: maphash.MakeSeed(), templates: map[uint64]*template{}}
}

// Stats says how much a Learner has seen.
type Stats struct {
	Observed  uint64 `json:"observed"`  // observations counted
	Templates int    `json:"templates"` // templates remembered
	Dropped   uint64 `json:"dropped"`   // observations of templates beyond MaxTemplates
	Busy      uint64 `json:"busy"`      // live observations skipped because another held the learner
	// Unlearnable counts observations whose path no template can spell:
	// not starting with '/', or with an empty segment ("/a//b").
	Unlearnable uint64 `json:"unlearnable"`
}

// Stats returns the counts so far.
func (l *Learner) Stats() Stats {
	l.mu.Lock()
	n := len(l.templates)
	l.mu.Unlock()
	return Stats{Observed: l.observed.Load(), Templates: n, Dropped: l.dropped.Load(), Busy: l.busy.Load(), Unlearnable: l.unlearnable.Load()}
}

// Observe counts o, waiting for the learner if another goroutine holds it.
func (l *Learner) Observe(o Observation) {
	l.mu.Lock()
	l.observeLocked(o, nil)
	l.mu.Unlock()
}

// ObserveRoute counts a request the engine has seen answered (the
// engine's route observer). It never waits: when another goroutine holds
// the learner it skips the request and counts it in Stats.Busy, so the
// request path never queues behind learning. Refusals by the guard
// itself (o.Guard) say nothing about the API and are not counted. The
// body's field names come from v.BodyFields (the Parser reads them when
// its BodyFields is set, as the engine does when it has a route
// observer).
func (l *Learner) ObserveRoute(v *request.View, o verdict.Outcome) {
	if o.Guard || v.Path == "" {
		return
	}
	if !l.mu.TryLock() {
		l.busy.Add(1)
		return
	}
	l.observeLocked(Observation{Method: v.Method, Path: v.Path, Query: v.Query, Status: o.Status, GraphQL: v.GraphQL.Parsed}, &v.BodyFields)
	l.mu.Unlock()
}

// observeLocked counts o, with the body field names of o.Fields and of
// bf (a live request's, nil for none).
func (l *Learner) observeLocked(o Observation, bf *request.BodyFields) {
	l.observed.Add(1)
	if o.Path == "" || o.Path[0] != '/' || strings.Contains(o.Path, "//") {
		l.unlearnable.Add(1) // no template can spell an empty segment
		return
	}
	h := l.hash(o.Method, o.Path)
	t := l.templates[h]
	if t == nil {
		if len(l.templates) >= l.opts.MaxTemplates {
			l.dropped.Add(1)
			return
		}
		path, hasID := Template(o.Path)
		t = &template{method: strings.Clone(o.Method), path: path, sample: strings.Clone(o.Path), hasID: hasID}
		l.templates[h] = t
	}
	t.n++
	if o.GraphQL {
		t.graphql++
	}
	t.status.Add(o.Status)
	for _, f := range o.Fields {
		t.fields.add(f, l.opts.MaxNames)
	}
	if bf != nil {
		bf.Each(func(f string) { t.fields.add(f, l.opts.MaxNames) })
	}
	for q := o.Query; q != "" && len(t.query.counts) <= l.opts.MaxNames; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		name, _, _ := strings.Cut(pair, "=")
		t.query.add(name, l.opts.MaxNames)
	}
}

// hash hashes method and path's template without building the template.
func (l *Learner) hash(method, path string) uint64 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(method)
	h.WriteByte(' ')
	forSegments(path, func(seg string, k segKind) {
		h.WriteByte('/')
		switch k {
		case literal:
			h.WriteString(seg)
		case param:
			h.WriteString("{id}")
		case rest:
			h.WriteString("{rest...}")
		}
	})
	return h.Sum64()
}

// segKind is what a path segment becomes in a template.
type segKind uint8

const (
	literal segKind = iota
	param           // an identifier, or a segment no template can spell
	rest            // the remainder of a path deeper than maxSegments
)

// maxLiteral is the longest segment kept literally in a template.
const maxLiteral = 64

// forSegments calls f for each of path's segments, saying what it
// becomes: the maxSegments-th stands for the rest of the path.
func forSegments(path string, f func(seg string, k segKind)) {
	remaining := strings.TrimPrefix(path, "/")
	for i := 1; ; i++ {
		seg, more, found := strings.Cut(remaining, "/")
		switch {
		case i == maxSegments && found:
			f(remaining, rest)
			return
		case detect.LooksLikeID(seg) || !spellable(seg):
			f(seg, param)
		default:
			f(seg, literal)
		}
		if !found {
			return
		}
		remaining = more
	}
}

// spellable reports whether seg can be a literal segment of a template
// in a config: at most 64 bytes of valid UTF-8 without braces, spaces or
// control characters.
func spellable(seg string) bool {
	if len(seg) > maxLiteral || !utf8.ValidString(seg) {
		return false
	}
	for _, c := range seg {
		if c <= ' ' || c == 0x7f || c == '{' || c == '}' || unicode.IsSpace(c) || unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// Template returns path's template: each identifier-looking segment (see
// detect.LooksLikeID), or one a config cannot spell (see spellable), is
// a parameter, {id} for the first, {id2}, {id3} for later ones; a path
// deeper than 16 segments ends in {rest...}. hasID reports whether any
// segment was a parameter.
func Template(path string) (tpl string, hasID bool) {
	var b strings.Builder
	n := 0
	forSegments(path, func(seg string, k segKind) {
		b.WriteByte('/')
		switch k {
		case literal:
			b.WriteString(seg)
		case param:
			n++
			hasID = true
			b.WriteString("{id")
			if n > 1 {
				b.WriteString(strconv.Itoa(n))
			}
			b.WriteByte('}')
		case rest:
			b.WriteString("{rest...}")
		}
	})
	return b.String(), hasID
}
