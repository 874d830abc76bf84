package replay

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/abuseguard/abuseguard/internal/clock"
	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/decision"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/engine"
	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/store"
	"github.com/abuseguard/abuseguard/internal/telemetry"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

// maxOffenders bounds the entities a Replayer counts refusals for.
const maxOffenders = 100_000

// Replayer runs entries through one compiled policy in event time: the
// clock is the latest entry time seen, so decisions expire and scores
// decay as they would have. Decisions live in memory only. It is not safe
// for concurrent use.
type Replayer struct {
	policy *engine.Policy
	shared *engine.Shared
	stores *store.Set
	clock  *clock.Fake
	input  request.Input
	header logHeader
	events *telemetry.Events
	view   request.View
	seq    int

	// Refused counts refused entries by the rule that refused them.
	Refused map[string]int
	// Signals counts scored signals by detector.
	Signals map[string]int
	// Decisions are all the decisions the replay made, in order.
	Decisions []decision.Decision
	// Flagged maps each entity ("ip:203.0.113.7") a detector signalled to
	// the detectors that did, for at most 100,000 entities.
	Flagged   map[string][]string
	offenders map[string]*Offender
}

// Offender is an entity the replayed config refused requests of.
type Offender struct {
	Entity    string
	Refused   int
	Decisions []string // "block probing", ...
}

// NewReplayer compiles cfg for replay; events, when not nil, receives the
// decisions, signals and would-acts as JSON lines (the schema serve writes).
func NewReplayer(ctx context.Context, cfg *config.Config, events io.Writer) (*Replayer, error) {
	r := &Replayer{clock: clock.NewFake(time.Unix(0, 0)), Refused: map[string]int{}, Signals: map[string]int{},
		Flagged: map[string][]string{}, offenders: map[string]*Offender{}}
	stores, err := store.Open(cfg, store.Options{Now: r.clock.Now, Ephemeral: true, Local: true})
	if err != nil {
		return nil, err
	}
	if events != nil {
		r.events = telemetry.NewEventsIn(events, telemetry.Schema(cfg.EventsSchema))
	}
	opts := engine.Options{
		Limits: stores.Limits, Decisions: stores.Decisions, Events: r.events, Repeatable: true, Getenv: os.Getenv,
		RiskEntities: stores.Sizes.RiskEntities, DetectorEntities: stores.Sizes.DetectorEntities,
	}
	opts.OnSignal = func(s detect.Signal) {
		r.Signals[s.Detector]++
		e := s.Entity.String()
		if ds, ok := r.Flagged[e]; ok || len(r.Flagged) < maxOffenders {
			if !slices.Contains(ds, s.Detector) {
				r.Flagged[e] = append(ds, s.Detector)
			}
		}
	}
	opts.OnDecision = func(d decision.Decision) {
		r.Decisions = append(r.Decisions, d)
		if o := r.offender(d.Entity().String()); o != nil && len(o.Decisions) < 8 {
			o.Decisions = append(o.Decisions, d.Action.String()+" "+d.Reason)
		}
	}
	r.shared, r.stores = engine.NewShared(opts), stores
	if r.policy, err = engine.Compile(cfg, r.shared); err != nil {
		r.shared.Close()
		stores.Close()
		return nil, err
	}
	return r, nil
}

// Close releases the policy and its state.
func (r *Replayer) Close() {
	r.policy.Close()
	r.shared.Close()
	r.stores.Close()
}

// Feed decides on e as serve would have when it arrived, and, when the
// decision lets it through, shows the detectors its logged outcome.
// Entries out of time order are taken as arriving at the latest time seen.
func (r *Replayer) Feed(e *Entry) {
	t := e.Time
	if now := r.clock.Now(); t.Before(now) {
		t = now
	}
	r.clock.Set(t)
	v := &r.view
	v.Reset()
	r.seq++
	v.ID = "L" + strconv.Itoa(r.seq)
	p := r.policy
	// The log line is the front: its client address is already resolved
	// (no forwarding headers), its headers are the few a log records.
	r.header = logHeader{userAgent: e.UserAgent, referer: e.Referer}
	r.input = request.Input{PeerAddr: e.ClientIP, Method: e.Method, Host: e.Host, Path: e.Path, RawQuery: e.Query, Header: &r.header}
	if e.Absolute {
		r.input.Target = "http://" + e.Host + e.Path
	}
	if prob := p.Parser.Parse(&r.input, t, v); prob != nil {
		r.Refused[prob.Reason]++
		return
	}
	// Logs do not record the headers that tell browsers from tools; assume
	// a browser's, so the missing headers are not held against anyone.
	v.Hints |= request.AcceptLanguage | request.AcceptEncoding
	v.Fingerprint = request.FingerprintOf(nil, e.UserAgent)
	switch {
	case e.KeyID != "":
		v.Identity.KeyID = e.KeyID
	case e.APIKey != "" && p.Parser.Identifier != nil:
		p.Parser.Identifier.IdentifyKey(e.APIKey, &v.Identity)
	}
	// A log's user on a 401 (or a proxy's 407) is the name a client tried
	// and failed to authenticate with (Apache's %u, nginx's $remote_user
	// come from the Authorization header whether it was accepted or not):
	// not an identity, or a brute-forcer rotating usernames would spread
	// its failures over many "users" instead of its address, and a decision
	// on the IP would not bind it. The request is the client IP's.
	if e.Status != 401 && e.Status != 407 {
		v.Identity.User = e.User
	}
	// A session id in a log may be the session's secret: it becomes an
	// HMAC id at this boundary, as an API key does. It is an identity of
	// its own (behaviour is attributed to it when there is no key or
	// user) but never a verified one: a client chooses it.
	if e.Session != "" && p.Parser.Identifier != nil {
		v.Identity.Session = p.Parser.Identifier.SessionID(e.Session)
	}
	if len(e.BodyFields) > 0 {
		v.BodyFields.SetNames(e.BodyFields) // a log has no body to peek at
	}
	vd := p.Decide(v)
	if vd.Action == verdict.Allow {
		p.Observe(v, verdict.Outcome{Status: e.Status, Latency: e.Latency, Bytes: e.Bytes, Guard: e.GuardRefused})
	} else {
		r.Refused[vd.Rule]++
		if o := r.offender(detect.Subject(v).String()); o != nil {
			o.Refused++
		}
	}
	vd.Finish(t)
}

func (r *Replayer) offender(entity string) *Offender {
	o := r.offenders[entity]
	if o == nil && len(r.offenders) < maxOffenders {
		o = &Offender{Entity: entity}
		r.offenders[entity] = o
	}
	return o
}

// Offenders returns up to n entities with the most refused requests.
func (r *Replayer) Offenders(n int) []Offender {
	out := make([]Offender, 0, len(r.offenders))
	for _, o := range r.offenders {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Refused != out[j].Refused {
			return out[i].Refused > out[j].Refused
		}
		return out[i].Entity < out[j].Entity
	})
	return out[:min(n, len(out))]
}

// EventErrors returns how many events could not be written.
func (r *Replayer) EventErrors() uint64 {
	if r.events == nil {
		return 0
	}
	return r.events.Errors()
}

// Stats is what a replay read.
type Stats struct {
	Lines, Parsed, Bad int
	First, Last        time.Time
	BadLines           []*LineError // the first few
}

// Options configures Run.
type Options struct {
	Format  string
	Mapping JSONMapping
	// MaxBadReported is how many bad lines Stats keeps (default 10).
	MaxBadReported int
	Stdin          io.Reader
}

// Run reads the inputs (paths, "-" for stdin, .gz gunzipped), parses each
// line and feeds every replayer the same entries in order. Bad lines are
// counted and skipped, never fatal; Run fails only when an input cannot be
// read.
func Run(ctx context.Context, opts Options, paths []string, replayers ...*Replayer) (Stats, error) {
	var st Stats
	if opts.MaxBadReported == 0 {
		opts.MaxBadReported = 10
	}
	parser, err := NewParser(opts.Format, opts.Mapping)
	if err != nil {
		return st, err
	}
	rd, err := Open(paths, opts.Stdin)
	if err != nil {
		return st, err
	}
	defer rd.Close()
	var e Entry
	for {
		line, file, n, ok := rd.Next()
		if !ok {
			break
		}
		st.Lines++
		if st.Lines%4096 == 0 && ctx.Err() != nil {
			return st, ctx.Err()
		}
		e = Entry{}
		if err := parser.Parse(line, &e); err != nil {
			st.Bad++
			if len(st.BadLines) < opts.MaxBadReported {
				st.BadLines = append(st.BadLines, &LineError{File: file, Line: n, Err: err})
			}
			continue
		}
		st.Parsed++
		if st.First.IsZero() {
			st.First = e.Time
		}
		st.Last = e.Time
		for _, r := range replayers {
			r.Feed(&e)
		}
	}
	empty, long, skipped := rd.Skipped()
	st.Lines += empty + long
	st.Bad += long
	for _, le := range skipped {
		if len(st.BadLines) < opts.MaxBadReported {
			st.BadLines = append(st.BadLines, le)
		}
	}
	if err := rd.Err(); err != nil {
		return st, fmt.Errorf("reading: %w", err)
	}
	return st, nil
}

// logHeader is the request headers an access log records.
type logHeader struct{ userAgent, referer string }

func (h *logHeader) Get(name string) string {
	switch name {
	case "User-Agent":
		return h.userAgent
	case "Referer":
		return h.referer
	}
	return ""
}

func (h *logHeader) Values(name string) []string {
	if v := h.Get(name); v != "" {
		return []string{v}
	}
	return nil
}

func (h *logHeader) Names(f func(string)) {
	if h.userAgent != "" {
		f("User-Agent")
	}
	if h.referer != "" {
		f("Referer")
	}
}

var _ request.Header = (*logHeader)(nil)
