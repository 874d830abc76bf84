package detect

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
	"github.com/abuseguard/abuseguard/internal/verdict"
)

func init() {
	Register(Registration{Name: "automation", Order: 30, Settings: func() Settings { return &AutomationConfig{} },
		New: func(s Settings, env Env) Detector {
			return NewAutomation(*s.(*AutomationConfig), env.Hasher)
		}})
}

// AutomationConfig configures the automation detector. Zero fields get the
// defaults named on each field. Weight is the weight of the cadence signal
// (default 25).
type AutomationConfig struct {
	Common `yaml:",inline"`
	// Window is the window min_requests are counted over, and how often at
	// most each kind of signal repeats for one entity (default 5m).
	Window time.Duration `yaml:"window"`
	// MinRequests is how many requests an entity must make in Window
	// before its cadence is judged (default 30).
	MinRequests int `yaml:"min_requests"`
	// MaxCV is the coefficient of variation (std/mean) of the gaps between
	// requests below which a cadence is machine-regular (default 0.1).
	MaxCV float64 `yaml:"max_cv"`
	// MaxGap is the mean gap under which a regular cadence signals; slower
	// regular clients (monitors, cron jobs) are ignored (default 10s).
	MaxGap time.Duration `yaml:"max_gap"`
	// ToolUserAgents are User-Agent substrings of HTTP libraries and
	// automation tools, matched case-insensitively (default:
	// DefaultToolUserAgents). A list replaces the defaults.
	ToolUserAgents []string `yaml:"tool_user_agents"`
	// ToolWeight is the weight of a tool User-Agent, once per Window per
	// entity, and of an empty User-Agent with other evidence: no
	// Accept-Encoding either, or a machine cadence (default 10). An empty
	// User-Agent alone is no signal.
	ToolWeight float64 `yaml:"tool_weight"`
	// ScannerUserAgents are User-Agent substrings of attack and scanning
	// tools, matched case-insensitively (default:
	// DefaultScannerUserAgents). A list replaces the defaults.
	ScannerUserAgents []string `yaml:"scanner_user_agents"`
	// ScannerWeight is the weight of a scanner User-Agent, once per Window
	// per entity (default 45).
	ScannerWeight float64 `yaml:"scanner_weight"`
	// BrowserWeight is the weight of a User-Agent that claims a browser
	// while sending neither Accept-Language nor Accept-Encoding, once per
	// Window per entity (default 15).
	BrowserWeight float64 `yaml:"browser_weight"`
	// UAThreshold is the distinct User-Agents an entity must send in
	// Window (one to two Windows of history) for the rotating User-Agent
	// check, which also needs UARatio of its requests over the same span
	// to carry distinct User-Agents (default 10; negative turns it off).
	UAThreshold float64 `yaml:"ua_threshold" off:"negative"`
	// UARatio is the share (0-1) of an entity's requests that must carry
	// distinct User-Agents for the rotating User-Agent check (default 0.8).
	UARatio float64 `yaml:"ua_ratio"`
	// UAWeight is the weight of a rotating User-Agent, once per Window per
	// entity (default 20).
	UAWeight float64 `yaml:"ua_weight"`
}

// DefaultToolUserAgents are User-Agent substrings of HTTP client
// libraries, headless browsers, automation frameworks and load testers.
var DefaultToolUserAgents = []string{
	"curl/", "wget/", "python-requests", "python-urllib", "go-http-client",
	"java/", "okhttp", "libwww-perl", "scrapy", "httpclient", "node-fetch",
	"axios/", "aiohttp", "headlesschrome", "phantomjs", "selenium",
	"puppeteer", "playwright", "k6/", "locust/", "apachebench/", "apache-jmeter", "gatling", "vegeta",
}

// DefaultScannerUserAgents are User-Agent substrings of vulnerability,
// port and content-discovery scanners, which no legitimate client of an
// API sends.
var DefaultScannerUserAgents = []string{
	"sqlmap", "nikto", "nuclei", "zgrab", "masscan", "nmap",
	"gobuster", "ffuf", "dirbuster", "feroxbuster", "wfuzz", "wpscan", "whatweb", "acunetix", "netsparker",
}

const (
	automationWeight        = 25
	automationToolWeight    = 10
	automationScannerWeight = 45
	automationBrowserWeight = 15
	automationUAWeight      = 20
	// automationAlpha is the EWMA weight of one gap: about the last 20
	// gaps make up the mean and spread.
	automationAlpha = 0.1
)

// User-Agent classes.
const (
	uaOther uint64 = iota
	uaEmpty
	uaTool
	uaScanner
)

// Automation detects clients driven by a program rather than a person,
// per subject (key, else user, else IP): a metronome cadence (at least
// min_requests in the window, gaps with a coefficient of variation under
// max_cv and a mean under max_gap), a User-Agent of an HTTP library,
// automation framework or scanner, a User-Agent that claims a browser
// without the headers every browser sends, and a User-Agent that changes
// with nearly every request (ua_threshold distinct ones, on at least
// ua_ratio of the requests).
//
// Most of these are weak on their own: many legitimate API clients are
// programs. Tool User-Agents weigh little and signal once per window;
// only scanner User-Agents weigh enough to matter alone. An empty
// User-Agent is no signal on its own (media players, IoT devices and
// internal services often send none); it weighs tool_weight with other
// evidence about the client: no Accept-Encoding either (which browsers and
// common HTTP libraries send; replay assumes it, as logs do not record
// it), or a machine cadence. False-positive traps: a partner batch job or a polling mobile
// app has a machine cadence (allowlist partner keys, raise min_requests,
// lower max_gap); SDKs send curl, Go or Java User-Agents; many requests
// from one NAT IP without identities mix many people, which looks
// irregular and so does not trap, but also hides a bot among them; and
// many different devices behind one address each making a single request
// look like a rotating User-Agent (people make several requests each, so
// an office stays far under ua_ratio).
type Automation struct {
	cfg     AutomationConfig
	h       Hasher
	tools   []string
	scanner []string
	state   *Table[automationState]
	agents  *Table[automationAgents]
	// uaClass caches User-Agent classes by hash, direct-mapped: a slot
	// holds the hash with its low two bits replaced by the class.
	uaClass [1024]atomic.Uint64
}

type automationState struct {
	last int64 // unix nanoseconds of the latest request
	gaps EWMA  // nanoseconds between requests
	reqs Window
	// lastUA is the hash of the latest User-Agent: a client that keeps
	// its User-Agent costs one comparison, and only one that changes it
	// touches the agents table.
	lastUA uint64
	// when each kind of signal last fired
	regularAt, toolAt, scannerAt, browserAt int64
}

// automationAgents is the User-Agents of an entity that has changed its
// User-Agent: distinct ones over the same tumbling windows as its reqs.
type automationAgents struct {
	uas      Distinct
	rotateAt int64 // when the rotating User-Agent signal last fired
}

// NewAutomation returns an Automation detector for cfg with defaults applied.
func NewAutomation(cfg AutomationConfig, h Hasher) *Automation {
	cfg.Common = cfg.Common.Defaults(automationWeight)
	cfg.Window = orDefault(cfg.Window, 5*time.Minute)
	cfg.MinRequests = orDefault(cfg.MinRequests, 30)
	cfg.MaxCV = orDefault(cfg.MaxCV, 0.1)
	cfg.MaxGap = orDefault(cfg.MaxGap, 10*time.Second)
	cfg.ToolWeight = orDefault(cfg.ToolWeight, automationToolWeight)
	cfg.ScannerWeight = orDefault(cfg.ScannerWeight, automationScannerWeight)
	cfg.BrowserWeight = orDefault(cfg.BrowserWeight, automationBrowserWeight)
	cfg.UAThreshold = orDefault(cfg.UAThreshold, 10)
	cfg.UARatio = orDefault(cfg.UARatio, 0.8)
	cfg.UAWeight = orDefault(cfg.UAWeight, automationUAWeight)
	if cfg.ToolUserAgents == nil {
		cfg.ToolUserAgents = DefaultToolUserAgents
	}
	if cfg.ScannerUserAgents == nil {
		cfg.ScannerUserAgents = DefaultScannerUserAgents
	}
	// An eighth of the entities for those that change User-Agents, in
	// whole table shards.
	agents := max(64, cfg.MaxEntities/8/64*64)
	d := &Automation{cfg: cfg, h: h, state: NewTable[automationState](max(64, cfg.MaxEntities-agents), 3*cfg.Window),
		agents: NewTable[automationAgents](agents, 3*cfg.Window)}
	for _, s := range cfg.ToolUserAgents {
		d.tools = append(d.tools, asciiLower(s))
	}
	for _, s := range cfg.ScannerUserAgents {
		d.scanner = append(d.scanner, asciiLower(s))
	}
	return d
}

// Name returns "automation".
func (d *Automation) Name() string { return "automation" }

// automationFinding is what one update found, computed under the table
// lock and emitted after it.
type automationFinding struct {
	regular, tool, browser, empty, rotate bool
	n, mean, cv                           float64
	uas, uaReqs                           float64
}

// Request folds the request into its subject's cadence and checks its
// User-Agent and headers.
func (d *Automation) Request(v *request.View, s Sink) {
	now, w := v.Time.UnixNano(), d.cfg.Window
	class, uaHash := d.classify(v.UserAgent)
	spoof := v.Hints.Has(request.ClaimsBrowser) && v.Hints&(request.AcceptLanguage|request.AcceptEncoding) == 0
	var f automationFinding
	var changed bool
	var prevUA uint64
	key := subjectTableKey(d.h, v)
	d.state.Update(key, now, func(st *automationState) {
		first := st.last == 0
		st.reqs.Add(now, w, 1)
		if st.last != 0 {
			if gap := max(0, now-st.last); gap > int64(w) {
				st.gaps = EWMA{} // a new session
			} else {
				st.gaps.Observe(float64(gap), automationAlpha)
			}
		}
		st.last = max(st.last, now)
		n, mean := st.reqs.Count(now, w), st.gaps.Mean()
		if n >= float64(d.cfg.MinRequests) && int(st.gaps.N()) >= d.cfg.MinRequests-1 &&
			mean > 0 && mean < float64(d.cfg.MaxGap) && st.gaps.Std()/mean < d.cfg.MaxCV && automationDue(st.regularAt, now, w) {
			st.regularAt = now
			f.regular, f.n, f.mean, f.cv = true, n, mean, st.gaps.Std()/mean
			if class == uaEmpty && automationDue(st.toolAt, now, w) {
				st.toolAt, f.empty = now, true
			}
		}
		switch {
		case class == uaScanner && automationDue(st.scannerAt, now, w):
			st.scannerAt, f.tool = now, true
		case class == uaTool && automationDue(st.toolAt, now, w),
			class == uaEmpty && v.Hints&request.AcceptEncoding == 0 && automationDue(st.toolAt, now, w):
			st.toolAt, f.tool = now, true
		}
		if spoof && automationDue(st.browserAt, now, w) {
			st.browserAt, f.browser = now, true
		}
		if uaHash != st.lastUA {
			if !first {
				changed, prevUA = true, st.lastUA
				// Requests over the same tumbling windows the agents'
				// sketch spans.
				r := st.reqs
				r.roll(now, int64(w))
				f.uaReqs = float64(r.cur + r.prev)
			}
			st.lastUA = uaHash
		}
	})
	if changed && d.cfg.UAThreshold > 0 {
		d.rotation(key, now, prevUA, uaHash, &f)
	}
	if !f.regular && !f.tool && !f.browser && !f.rotate {
		return
	}
	d.emit(v, f, class, s)
}

// rotation counts the User-Agents of an entity that has just changed its
// own (prev to ua), and records in f whether they are many, on nearly
// every request.
func (d *Automation) rotation(key uint64, now int64, prev, ua uint64, f *automationFinding) {
	w := d.cfg.Window
	d.agents.Update(key, now, func(st *automationAgents) {
		st.uas.Add(now, w, prev) // a no-op unless it is the entity's first change
		st.uas.Add(now, w, ua)
		u := st.uas.Count(now, w)
		if u >= d.cfg.UAThreshold && u >= d.cfg.UARatio*f.uaReqs && automationDue(st.rotateAt, now, w) {
			st.rotateAt, f.rotate, f.uas = now, true, u
		}
	})
}

// automationDue reports whether a signal last fired at is due again at now.
func automationDue(at, now int64, w time.Duration) bool { return at == 0 || now-at >= int64(w) }

func (d *Automation) emit(v *request.View, f automationFinding, class uint64, s Sink) {
	e := Subject(v)
	sig := Signal{Detector: d.Name(), Entity: e, Evidence: Evidence{Window: d.cfg.Window, RequestID: v.ID}}
	if f.regular {
		sig.Weight, sig.Severity = d.cfg.Weight, Medium
		sig.Evidence.Summary = fmt.Sprintf("machine cadence: %.0f requests in %s, mean gap %s, variation %.3f < %.3f",
			f.n, d.cfg.Window, time.Duration(f.mean).Round(time.Millisecond), f.cv, d.cfg.MaxCV)
		sig.Evidence.Count, sig.Evidence.Threshold = f.cv, d.cfg.MaxCV
		s.Emit(sig)
	}
	if f.empty {
		sig.Weight, sig.Severity = d.cfg.ToolWeight, Low
		sig.Evidence.Count, sig.Evidence.Threshold = 1, 1
		sig.Evidence.Summary = "empty User-Agent on a machine cadence"
		s.Emit(sig)
	}
	if f.tool {
		sig.Weight, sig.Severity = d.cfg.ToolWeight, Low
		sig.Evidence.Count, sig.Evidence.Threshold = 1, 1
		switch class {
		case uaEmpty:
			sig.Evidence.Summary = "empty User-Agent and no Accept-Encoding"
		case uaScanner:
			sig.Weight, sig.Severity = d.cfg.ScannerWeight, High
			sig.Evidence.Summary = "scanner User-Agent " + strconv.Quote(evidenceClip(v.UserAgent, 200)) + " matches " + strconv.Quote(uaMatch(v.UserAgent, d.scanner))
		default:
			sig.Evidence.Summary = "tool User-Agent " + strconv.Quote(evidenceClip(v.UserAgent, 200)) + " matches " + strconv.Quote(uaMatch(v.UserAgent, d.tools))
		}
		s.Emit(sig)
	}
	if f.browser {
		sig.Weight, sig.Severity = d.cfg.BrowserWeight, Medium
		sig.Evidence.Count, sig.Evidence.Threshold = 1, 1
		sig.Evidence.Summary = "User-Agent " + strconv.Quote(evidenceClip(v.UserAgent, 200)) + " claims a browser but sends neither Accept-Language nor Accept-Encoding"
		s.Emit(sig)
	}
	if f.rotate {
		sig.Weight, sig.Severity = d.cfg.UAWeight, Medium
		sig.Evidence.Count, sig.Evidence.Threshold = f.uas, d.cfg.UAThreshold
		sig.Evidence.Summary = fmt.Sprintf("rotating User-Agent: %.0f distinct User-Agents on %.0f requests in %s (at least %.0f, on %.0f%% of requests)",
			f.uas, f.uaReqs, d.cfg.Window, d.cfg.UAThreshold, 100*d.cfg.UARatio)
		s.Emit(sig)
	}
}

// classify returns the class of a User-Agent, from the cache when it can,
// and its hash (0 for an empty one).
func (d *Automation) classify(ua string) (uint64, uint64) {
	if ua == "" {
		return uaEmpty, 0
	}
	h := d.h.String('a', ua)
	slot := &d.uaClass[h%uint64(len(d.uaClass))]
	if c := slot.Load(); c != 0 && c&^3 == h&^3 {
		return c & 3, h
	}
	class := uaOther
	switch {
	case uaMatch(ua, d.scanner) != "":
		class = uaScanner
	case uaMatch(ua, d.tools) != "":
		class = uaTool
	}
	slot.Store(h&^3 | class)
	return class, h
}

// uaMatch returns the first of subs (lower case) that ua contains ignoring
// ASCII case, or "".
func uaMatch(ua string, subs []string) string {
	for _, s := range subs {
		if foldIndex(ua, s) >= 0 {
			return s
		}
	}
	return ""
}

// Response does nothing: automation is judged on requests alone.
func (d *Automation) Response(*request.View, verdict.Outcome, Sink) {}

// Sweep drops state idle at now.
func (d *Automation) Sweep(now int64) {
	d.state.Sweep(now)
	d.agents.Sweep(now)
}

// Stats returns the size and churn of the detector's state.
func (d *Automation) Stats() TableStats { return tableStatsSum(d.state.Stats(), d.agents.Stats()) }

var (
	_ Detector = (*Automation)(nil)
	_ Stateful = (*Automation)(nil)
)
