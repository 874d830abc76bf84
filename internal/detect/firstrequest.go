package detect

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "firstrequest", Order: 15, Settings: func() Settings { return &FirstRequestConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewFirstRequest(*s.(*FirstRequestConfig), env.Hasher)
		}})
}

// FirstRequestConfig configures the firstrequest detector. Zero fields get
// the defaults named on each field. Weight is the weight of a GET or HEAD
// first request to a route new clients do not start with (default 10).
type FirstRequestConfig struct {
	Common `yaml:",inline"`
	// WriteWeight is the weight of a first request with any other method
	// (POST, PUT, PATCH, DELETE) to such a route: people arrive by
	// reading, and a script that knows the API starts by writing
	// (default 25).
	WriteWeight float64 `yaml:"write_weight"`
	// NewRequests is how many requests a client counts as new for; from
	// then on it is established (default 20).
	NewRequests int `yaml:"new_requests"`
	// Window is how long a client is remembered after its last request,
	// and the window the first-route shares are counted over (default 1h).
	Window time.Duration `yaml:"window"`
	// MinClients is how many new anonymous clients must have arrived in
	// Window before a route's share of first requests is judged (default
	// 100).
	MinClients int `yaml:"min_clients"`
	// MaxShare is the share (0-1) of new anonymous clients' first
	// requests under which a route is one clients do not start with
	// (default 0.01).
	MaxShare float64 `yaml:"max_share"`
	// HeaderWeight is the weight of a header set no browser sends with
	// the User-Agent it came with, once per client (default 15).
	HeaderWeight float64 `yaml:"header_weight"`
	// DecoyWords are the path words that make an unlinked path look like
	// a decoy: one of the path's first three segments whose words (split
	// at '-', '_' and '.') include one, matched case-insensitively (default:
	// DefaultDecoyWords). A list replaces the defaults; an empty list
	// turns the check off.
	DecoyWords []string `yaml:"decoy_words"`
	// DecoyWeight is the weight of a new client's request to a
	// decoy-looking path no established client has requested, once per
	// path per client (default 60: the challenge band).
	DecoyWeight float64 `yaml:"decoy_weight"`
	// KnownFor is how long a decoy-looking path an established client
	// requested stays known as one real clients use (default 168h).
	KnownFor time.Duration `yaml:"known_for"`
}

// DefaultDecoyWords are words of paths meant for the people who run an
// API rather than its clients: admin panels, internal and private
// endpoints, backups, dumps, exports and debug handlers.
var DefaultDecoyWords = []string{
	"admin", "administrator", "internal", "private", "backup", "backups", "bak", "dump",
	"export", "debug", "secret", "secrets", "hidden", "staff", "superuser", "sysadmin",
}

const (
	firstRequestWeight       = 10
	firstRequestWriteWeight  = 25
	firstRequestHeaderWeight = 15
	firstRequestDecoyWeight  = 60
	// firstRequestRoutes bounds the routes whose first-request counts are
	// kept, and the decoy-looking paths known to be used.
	firstRequestRoutes = 4096
)

// Flags of what has been signalled for a client.
const (
	firstHeaderSignalled uint8 = 1 << iota
	firstRouteSignalled
)

// FirstRequest judges what a client shows on its first requests, before
// any behaviour has built up: header sets no browser sends with the
// User-Agent they came with, a first request to a route new clients do
// not start with, and a request to a path that looks like a decoy no
// established client has ever asked for. Each adds risk with evidence;
// only the decoy check weighs enough to act alone (a challenge, which a
// person in a browser passes), the others count once per client and make
// the behavioural detectors act sooner.
//
//   - Headers: a User-Agent of a major browser (ParseAgent: Chromium,
//     Firefox, Safari) that sends Accept-Language but no Accept-Encoding,
//     or Accept-Encoding but no Accept-Language (every browser sends
//     both; neither is the automation detector's check), User-Agent
//     client hints that contradict the User-Agent
//     (request.ClientHintsContradict), or HTTP/1.0 straight from the
//     client (request.HTTP10).
//   - First route: per route (declared, else the template inferred from
//     the path), the share of new anonymous clients (no key, user or
//     session: a signed-in client's first request continues a visit that
//     began anonymously) whose first request it was, over Window. Once
//     min_clients have arrived, a first request to a route under
//     max_share signals. Only anonymous clients are judged.
//   - Decoys: a path with one of its first three segments' words a
//     decoy word (admin, internal, backup, export, ...; further down are
//     the names of users' files and folders), that matched no declared
//     route, from a client still on its first new_requests requests,
//     without an API key (an integration's export or admin call) and
//     not signed in (no user: a verified token's, or a log's on an
//     accepted request), when no established client (one past
//     new_requests, or signed in) has requested that route template in
//     known_for. It signals against the address and
//     the subject, as the honeypot does.
//
// False-positive traps: a browser behind a proxy that strips
// Accept-Encoding or Accept-Language (rare; 20 points alone act on no
// one); a deep link to a page few visitors land on (15 points); attackers
// from many addresses raise the share of the route they start on, which
// only makes the check quieter. The decoy check challenges the first
// visit of an operator, from a new address and before signing in, to an
// admin path no established client has used since the guard started (a
// browser solves it and goes on), and a new internal service calling an
// export endpoint for the first time: declare such routes (a declared
// route is never a decoy unless its kind says so), give the service a
// key, or set decoy_words to [].
type FirstRequest struct {
	cfg   FirstRequestConfig
	h     Hasher
	words []string
	state *Table[firstRequestState]
	// routes holds the first-request counts per route; total counts new
	// anonymous clients over the same windows.
	routes  *Table[Window]
	totalMu sync.Mutex
	total   Window
	// known holds the decoy-looking routes established clients use.
	known *Table[struct{}]
}

type firstRequestState struct {
	n         uint16 // requests seen, up to NewRequests
	signalled uint8
	decoys    [2]uint64 // the latest decoy-looking routes signalled, by hash
	// pending is the decoy-looking route a new keyed client requested,
	// by hash, judged when its answer comes (Response); 0 for none.
	pending uint64
}

// NewFirstRequest returns a FirstRequest detector for cfg with defaults
// applied.
func NewFirstRequest(cfg FirstRequestConfig, h Hasher) *FirstRequest {
	cfg.Common = cfg.Common.Defaults(firstRequestWeight)
	cfg.NewRequests = min(orDefault(cfg.NewRequests, 20), 1<<15)
	cfg.Window = orDefault(cfg.Window, time.Hour)
	cfg.MinClients = orDefault(cfg.MinClients, 100)
	cfg.MaxShare = orDefault(cfg.MaxShare, 0.01)
	cfg.WriteWeight = orDefault(cfg.WriteWeight, firstRequestWriteWeight)
	cfg.HeaderWeight = orDefault(cfg.HeaderWeight, firstRequestHeaderWeight)
	cfg.DecoyWeight = orDefault(cfg.DecoyWeight, firstRequestDecoyWeight)
	cfg.KnownFor = orDefault(cfg.KnownFor, 168*time.Hour)
	if cfg.DecoyWords == nil {
		cfg.DecoyWords = DefaultDecoyWords
	}
	d := &FirstRequest{cfg: cfg, h: h,
		state:  NewTable[firstRequestState](cfg.MaxEntities, cfg.Window),
		routes: NewTable[Window](firstRequestRoutes, 2*cfg.Window),
		known:  NewTable[struct{}](firstRequestRoutes, cfg.KnownFor)}
	for _, w := range cfg.DecoyWords {
		d.words = append(d.words, asciiLower(w))
	}
	return d
}

// Name returns "firstrequest".
func (d *FirstRequest) Name() string { return "firstrequest" }

// firstFinding is what one request showed, computed under the table lock
// and emitted after it.
type firstFinding struct {
	header, route, decoy bool
	share, clients       float64
	word                 string
}

// Request counts the request against its client and judges it while the
// client is new.
func (d *FirstRequest) Request(v *request.View, s Sink) {
	now := v.Time.UnixNano()
	verified := v.Identity.Verified
	// A signed-in user (a verified token, or a log's user on an accepted
	// request) is no intruder by default; a key or session is
	// client-chosen.
	signedIn := verified || v.Identity.User != ""
	// A client with an API key may be an integration, and export and
	// admin endpoints are where integrations call: its decoy check waits
	// for the upstream's answer (Response).
	keyed := v.Identity.KeyID != ""
	anonymous := v.Identity.KeyID == "" && v.Identity.User == "" && v.Identity.Session == ""
	// A decoy-looking path matched by no declared route; its template's
	// hash is 0 when the path is no decoy.
	var decoy uint64
	var word string
	if v.Route == nil && len(d.words) > 0 {
		if word = d.decoyWord(v.Path); word != "" {
			_, decoy, _ = inferredResource(d.h, v.Path)
		}
	}
	header := !verified && d.headerAnomaly(v) != ""
	var f firstFinding
	var first, established bool
	d.state.Update(subjectTableKey(d.h, v), now, func(st *firstRequestState) {
		first = st.n == 0
		if int(st.n) >= d.cfg.NewRequests {
			established = true
			return
		}
		st.n++
		if header && st.signalled&firstHeaderSignalled == 0 {
			st.signalled |= firstHeaderSignalled
			f.header = true
		}
		if decoy != 0 && !signedIn && st.decoys[0] != decoy && st.decoys[1] != decoy {
			if keyed {
				st.pending = decoy
				return
			}
			st.decoys[1], st.decoys[0] = st.decoys[0], decoy
			f.decoy = true
		}
	})
	if decoy != 0 && (established || signedIn) {
		d.known.Update(decoy, now, func(*struct{}) {})
		f.decoy = false
	}
	if f.decoy {
		if _, ok := d.known.Get(decoy); ok {
			f.decoy = false
		} else {
			f.word = word
		}
	}
	if first && anonymous {
		f.route, f.share, f.clients = d.firstRoute(v, now)
	}
	if f.header || f.route || f.decoy {
		d.emit(v, f, s)
	}
}

// firstRoute counts v's route as a new anonymous client's first and
// reports whether, before it, the route's share of first requests was
// under max_share with at least min_clients counted.
func (d *FirstRequest) firstRoute(v *request.View, now int64) (rare bool, share, clients float64) {
	w := d.cfg.Window
	d.totalMu.Lock()
	clients = d.total.Count(now, w)
	d.total.Add(now, w, 1)
	d.totalMu.Unlock()
	var n float64
	d.routes.Update(RouteOf(d.h, v), now, func(c *Window) {
		n = c.Count(now, w)
		c.Add(now, w, 1)
	})
	if clients < float64(d.cfg.MinClients) {
		return false, 0, clients
	}
	share = n / clients
	return share < d.cfg.MaxShare, share, clients
}

// headerAnomaly returns what about v's headers no browser would send
// with its User-Agent, or "".
func (d *FirstRequest) headerAnomaly(v *request.View) string {
	const lang, enc = request.AcceptLanguage, request.AcceptEncoding
	hs := v.Hints
	missing := hs&(lang|enc) == lang || hs&(lang|enc) == enc // exactly one of the two
	if !hs.Has(request.ClaimsBrowser) || !missing && hs&(request.ClientHintsContradict|request.HTTP10) == 0 {
		return ""
	}
	a := request.ParseAgent(v.UserAgent)
	switch {
	case a.Family == request.AgentOther:
		return ""
	case hs.Has(request.ClientHintsContradict):
		return "client hints that contradict it"
	case hs.Has(request.HTTP10):
		return "HTTP/1.0"
	case !hs.Has(enc):
		return "no Accept-Encoding"
	}
	return "no Accept-Language"
}

// decoySegments is how many leading path segments the decoy check reads:
// an API's own vocabulary (/admin, /api/internal, /v1/admin/...), not
// the names of files and folders further down, which are its users'
// (a WebDAV path through someone's "Backup" folder).
const decoySegments = 3

// decoyWord returns the first decoy word among the words of path's first
// decoySegments segments, or "".
func (d *FirstRequest) decoyWord(path string) string {
	segs := 0
	for i := 0; i < len(path); {
		for i < len(path) && !isWordByte(path[i]) {
			if path[i] == '/' {
				if segs++; segs > decoySegments {
					return ""
				}
			}
			i++
		}
		j := i
		for j < len(path) && isWordByte(path[j]) {
			j++
		}
		if j > i {
			for _, w := range d.words {
				if len(w) == j-i && strings.EqualFold(path[i:j], w) {
					return w
				}
			}
		}
		i = j
	}
	return ""
}

// isWordByte reports whether c is part of a path word: an ASCII letter or
// digit. Everything else ('/', '-', '_', '.', ...) separates words.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (d *FirstRequest) emit(v *request.View, f firstFinding, s Sink) {
	sig := Signal{Detector: d.Name(), Entity: Subject(v), Evidence: Evidence{Count: 1, Threshold: 1, RequestID: v.ID}}
	if f.header {
		sig.Weight, sig.Severity = d.cfg.HeaderWeight, Medium
		sig.Evidence.Summary = "User-Agent " + strconv.Quote(evidenceClip(v.UserAgent, 200)) + " claims a browser, with " + d.headerAnomaly(v) +
			", which that browser never sends"
		s.Emit(sig)
	}
	if f.route {
		where := "path " + strconv.Quote(evidenceClip(v.Path, 200))
		if v.Route != nil {
			where = "route " + strconv.Quote(v.Route.Name)
		}
		sig.Weight, sig.Severity = d.cfg.Weight, Low
		if v.Method != "GET" && v.Method != "HEAD" {
			sig.Weight = d.cfg.WriteWeight
		}
		sig.Evidence.Count, sig.Evidence.Threshold, sig.Evidence.Window = f.share, d.cfg.MaxShare, d.cfg.Window
		sig.Evidence.Summary = fmt.Sprintf("first request (%s) to %s, where %.1f%% of %.0f new clients started (under %.1f%%)",
			evidenceClip(v.Method, 16), where, 100*f.share, f.clients, 100*d.cfg.MaxShare)
		s.Emit(sig)
	}
	if f.decoy {
		sig.Weight, sig.Severity = d.cfg.DecoyWeight, High
		sig.Evidence.Count, sig.Evidence.Threshold, sig.Evidence.Window = 1, 1, d.cfg.KnownFor
		sig.Evidence.Summary = "decoy-looking path " + strconv.Quote(evidenceClip(v.Path, 200)) + " (the word " + strconv.Quote(f.word) +
			") that no established client has requested, from a new client"
		var ip verdict.Entity
		if v.ClientIP.IsValid() {
			ip = verdict.Entity{Scope: verdict.ScopeIP, Value: v.ClientIP.String()}
			if sig.Entity != ip {
				e := sig.Entity
				sig.Entity = ip
				s.Emit(sig)
				sig.Entity = e
			}
		}
		s.Emit(sig)
	}
}

// Response does nothing: first requests are judged as they arrive.
// Response judges a new keyed client's request to a decoy-looking path
// by its answer: the upstream refusing it (a 4xx) makes it a decoy
// touch, as for a client without a key; an answer it served is an
// integration at work.
func (d *FirstRequest) Response(v *request.View, o verdict.Outcome, s Sink) {
	if v.Identity.KeyID == "" || v.Route != nil || len(d.words) == 0 {
		return
	}
	refused := o.Status >= 400 && o.Status < 500
	var f firstFinding
	var decoy uint64
	d.state.Update(subjectTableKey(d.h, v), v.Time.UnixNano(), func(st *firstRequestState) {
		if st.pending == 0 {
			return
		}
		decoy, st.pending = st.pending, 0
		if refused {
			st.decoys[1], st.decoys[0] = st.decoys[0], decoy
			f.decoy = true
		}
	})
	if !f.decoy {
		return
	}
	if _, ok := d.known.Get(decoy); ok {
		return
	}
	f.word = d.decoyWord(v.Path)
	d.emit(v, f, s)
}

// Sweep drops state idle at now.
func (d *FirstRequest) Sweep(now int64) {
	d.state.Sweep(now)
	d.routes.Sweep(now)
	d.known.Sweep(now)
}

// Stats returns the size and churn of the detector's state.
func (d *FirstRequest) Stats() TableStats {
	return tableStatsSum(tableStatsSum(d.state.Stats(), d.routes.Stats()), d.known.Stats())
}

var (
	_ Detector = (*FirstRequest)(nil)
	_ Stateful = (*FirstRequest)(nil)
)
