// Command crowdsec-eval measures abuseguard's default detectors against the
// HTTP scenario tests of the CrowdSec hub: it replays each test's access log
// through the replay package with config.Default() (no per-test rules, no
// tuning) and checks that every source IP CrowdSec alerts on is flagged (a
// detector signal or a decision on ip:SOURCE), and that nothing at all is
// flagged on the negative (whitelist) tests. A test whose log holds no HTTP
// request the replay can read (application events, WAF verdicts) is not
// replayable and counted outside the target, detection and negative tests
// alike.
//
//	go run ./tools/crowdsec-eval --data DIR [--out FILE]
//
// DIR is a copy of the hub's tests with labels.csv (see
// /work/shared/eval-data/crowdsec-hub/SOURCES.md); the data is never copied
// into this repository. When DIR does not exist the tool prints
// "crowdsec-eval: skipped: DIR not found" and exits 0.
//
// Each test's scenarios are put in a class by a small table
// (scenarioClasses): behavioural classes are measured, single-CVE and
// product-exploit signatures are listed as skipped with the reason, and
// parser-only tests are skipped. Log lines the replay parsers read natively
// are replayed as they are; other access-log layouts (virtual-host or
// syslog prefixes, bunkerweb, zoraxy, AWS ALB, HAProxy, IIS event XML,
// containerd-wrapped Envoy JSON, Caddy and Traefik JSON, nginx error-log
// auth failures) are rewritten into combined lines by adapters in this tool
// and replayed from a temporary file. Adapters live here, not in the product.
//
// It prints a Markdown report (per class, per test, negatives, skipped
// tests, log types, misses with their diagnosis) and writes it to --out.
// A missed target is a result, not an error: the exit status is non-zero
// only when the data cannot be read or a replay fails.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/abuseguard/abuseguard/internal/config"
	"github.com/abuseguard/abuseguard/internal/detect"
	"github.com/abuseguard/abuseguard/internal/replay"
	"github.com/abuseguard/abuseguard/internal/request"
)

// Targets: the share of behavioural detection tests matched, and the
// negative tests flagged.
const (
	targetMatched   = 0.90
	targetNegatives = 0
)

func main() {
	data := flag.String("data", "", "the crowdsec-hub folder (labels.csv, tests/)")
	out := flag.String("out", "", "also write the Markdown report to this file")
	flag.Parse()
	if *data == "" {
		fmt.Fprintln(os.Stderr, "crowdsec-eval: --data DIR is required")
		os.Exit(2)
	}
	if _, err := os.Stat(*data); errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("crowdsec-eval: skipped: %s not found\n", *data)
		return
	}
	rep, err := evaluate(context.Background(), *data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crowdsec-eval:", err)
		os.Exit(1)
	}
	var b bytes.Buffer
	rep.write(&b, commandLine())
	os.Stdout.Write(b.Bytes())
	if *out != "" {
		if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "crowdsec-eval:", err)
			os.Exit(1)
		}
	}
}

// commandLine is the command that produced the report, as a reader would
// type it from the module root.
func commandLine() string {
	args := []string{"go run ./tools/crowdsec-eval"}
	flag.Visit(func(f *flag.Flag) { args = append(args, "--"+f.Name+" "+f.Value.String()) })
	return strings.Join(args, " ")
}

// ---------------------------------------------------------------------------
// Labels and classes

// label is one row of labels.csv.
type label struct {
	Test, Kind, LogType, LogFile string
	LogLines                     int
	Scenarios                    []string // scenarios under test, as written
	Expected                     []alert
}

// alert is one alert CrowdSec expects.
type alert struct {
	Scenario, Source string
	Events           int
}

// readLabels reads labels.csv.
func readLabels(path string) ([]label, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseLabels(f)
}

func parseLabels(r io.Reader) ([]label, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("labels.csv: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("labels.csv: empty")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.SplitN(h, "(", 2)[0]] = i
	}
	for _, h := range []string{"test", "kind", "log_type", "log_file", "log_lines", "scenarios_under_test", "expected_alerts"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("labels.csv: no column %q", h)
		}
	}
	var ls []label
	for n, row := range rows[1:] {
		if len(row) != len(rows[0]) {
			return nil, fmt.Errorf("labels.csv:%d: %d fields, want %d", n+2, len(row), len(rows[0]))
		}
		l := label{Test: row[col["test"]], Kind: row[col["kind"]], LogType: row[col["log_type"]], LogFile: row[col["log_file"]]}
		l.LogLines, _ = strconv.Atoi(row[col["log_lines"]])
		for s := range strings.SplitSeq(row[col["scenarios_under_test"]], ";") {
			if s = strings.TrimSpace(s); s != "" {
				l.Scenarios = append(l.Scenarios, s)
			}
		}
		for a := range strings.SplitSeq(row[col["expected_alerts"]], ";") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			p := strings.Split(a, "|")
			if len(p) != 3 {
				return nil, fmt.Errorf("labels.csv:%d: alert %q is not scenario|source|events", n+2, a)
			}
			ev, _ := strconv.Atoi(p[2])
			l.Expected = append(l.Expected, alert{Scenario: p[0], Source: p[1], Events: ev})
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// scenarioClass maps a scenario name substring to a class. The first
// entry whose substring the lower-cased scenario name contains wins, so
// the exceptions come before the general rules.
type scenarioClass struct {
	Sub, Class string
	InScope    bool
	Reason     string // why an out-of-scope class is skipped
}

// scenarioClasses is the whole classification. Behavioural classes are
// measured; signatures of one CVE or one product's exploit are not what a
// behavioural detector is for, and are skipped with the reason.
var scenarioClasses = []scenarioClass{
	// Behavioural patterns whose names would otherwise match a rule below.
	{Sub: "http-cve-probing", Class: "probing", InScope: true},      // probing for many CVEs' paths
	{Sub: "sap-interface-probing", Class: "probing", InScope: true}, // technology probing
	{Sub: "http-cve-2021-41773", Class: "cve", Reason: "single-CVE signature (Apache path traversal CVE-2021-41773)"},
	{Sub: "http-cve-2021-42013", Class: "cve", Reason: "single-CVE signature (Apache path traversal CVE-2021-42013)"},
	// Signatures: one CVE or one product's exploit.
	{Sub: "cve-", Class: "cve", Reason: "single-CVE signature"},
	{Sub: "vmware-", Class: "cve", Reason: "product exploit signature (VMware)"},
	{Sub: "f5-big-ip", Class: "cve", Reason: "product exploit signature (F5 BIG-IP)"},
	{Sub: "fortinet", Class: "cve", Reason: "product exploit signature (Fortinet)"},
	{Sub: "pulse-secure", Class: "cve", Reason: "product exploit signature (Pulse Secure)"},
	{Sub: "thinkphp", Class: "cve", Reason: "product exploit signature (ThinkPHP)"},
	{Sub: "netgear_rce", Class: "cve", Reason: "product exploit signature (Netgear RCE)"},
	{Sub: "zoneminder", Class: "cve", Reason: "product exploit signature (ZoneMinder)"},
	{Sub: "grafana", Class: "cve", Reason: "product exploit signature (Grafana)"},
	// Not behaviour at all.
	{Sub: "http-generic-test", Class: "self-test", Reason: "CrowdSec's own self-test canary (one request to /crowdsec-test-<random>), not an attack behaviour"},
	{Sub: "openappsec/", Class: "waf-verdict", Reason: "relays open-appsec WAF verdicts (the log is the WAF's decision, not traffic); nothing behavioural to detect"},
	// Behavioural classes.
	{Sub: "http-technology-probing", Class: "probing", InScope: true},
	{Sub: "http-probing", Class: "probing", InScope: true},
	{Sub: "w00tw00t", Class: "probing", InScope: true},
	{Sub: "http-crawl-non_statics", Class: "crawling", InScope: true},
	{Sub: "-bf", Class: "brute force", InScope: true},
	{Sub: "http-sensitive-files", Class: "sensitive files", InScope: true},
	{Sub: "wordpress_wpconfig", Class: "sensitive files", InScope: true},
	{Sub: "backdoors-attempts", Class: "sensitive files", InScope: true},
	{Sub: "http-bad-user-agent", Class: "bad user agent", InScope: true},
	{Sub: "path-traversal", Class: "path traversal", InScope: true},
	{Sub: "http-dos-", Class: "dos", InScope: true},
	{Sub: "sqli-prob", Class: "injection probing", InScope: true},
	{Sub: "xss-prob", Class: "injection probing", InScope: true},
	{Sub: "open-proxy", Class: "open proxy", InScope: true},
	{Sub: "wordpress_user-enum", Class: "enumeration", InScope: true},
}

// classOf returns the class of one scenario name, or ok false when the
// table does not know it.
func classOf(scenario string) (scenarioClass, bool) {
	s := strings.ToLower(scenario)
	for _, c := range scenarioClasses {
		if strings.Contains(s, c.Sub) {
			return c, true
		}
	}
	return scenarioClass{}, false
}

// classify returns a detection test's class and whether it is measured.
// A test whose scenarios fall in several behavioural classes is "mixed";
// one with any out-of-scope scenario is skipped for that scenario's reason.
func classify(l label) (class string, inScope bool, reason string) {
	names := l.Scenarios
	for _, a := range l.Expected {
		names = append(names, a.Scenario)
	}
	var classes []string
	for _, n := range names {
		c, ok := classOf(n)
		if !ok {
			return "unknown", false, "scenario " + n + " is not in the class table"
		}
		if !c.InScope {
			return c.Class, false, c.Reason
		}
		if !slices.Contains(classes, c.Class) {
			classes = append(classes, c.Class)
		}
	}
	switch len(classes) {
	case 0:
		return "unknown", false, "no scenario"
	case 1:
		return classes[0], true, ""
	}
	return "mixed (" + strings.Join(classes, ", ") + ")", true, ""
}

// ---------------------------------------------------------------------------
// Reading a test: config.yaml, then every line into segments to replay

// testConfig is what the tool reads of a test's config.yaml.
type testConfig struct {
	LogFile string `yaml:"log_file"`
	LogType string `yaml:"log_type"`
}

func readTestConfig(dir string) (testConfig, error) {
	var c testConfig
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return c, err
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, "config.yaml"), err)
	}
	if c.LogFile == "" {
		return c, fmt.Errorf("%s: no log_file", filepath.Join(dir, "config.yaml"))
	}
	return c, nil
}

// segment is a run of consecutive lines replayed with one format.
type segment struct {
	Format  string
	Mapping replay.JSONMapping
	Lines   []string
}

// readerNote says how the lines of one test were read: "combined
// (native)", "bunkerweb adapter -> combined", "unsupported: ...".
type readerNote struct {
	How   string
	Lines int
}

// plan is how one test's log is replayed.
type plan struct {
	Segments []segment
	Native   bool         // every line is replayed as it is, from the original file
	How      []readerNote // by how lines were read, in first-seen order
	// NoUA holds client IPs with a line whose log format records no
	// User-Agent: replay sees those as empty User-Agents, so an "empty
	// User-Agent" signal on them is an artefact of the log, not evidence.
	NoUA map[string]bool
}

func (p *plan) note(how string) {
	for i := range p.How {
		if p.How[i].How == how {
			p.How[i].Lines++
			return
		}
	}
	p.How = append(p.How, readerNote{How: how, Lines: 1})
}

func (p *plan) add(format string, m replay.JSONMapping, line string) {
	if n := len(p.Segments); n > 0 && p.Segments[n-1].Format == format && p.Segments[n-1].Mapping == m {
		p.Segments[n-1].Lines = append(p.Segments[n-1].Lines, line)
		return
	}
	p.Segments = append(p.Segments, segment{Format: format, Mapping: m, Lines: []string{line}})
}

// native is a replay format (with a JSON mapping for json) a line is
// tried with as it is; jsonKind, when set, limits it to one JSON log.
type native struct {
	format   string
	mapping  replay.JSONMapping
	jsonKind string
}

// Mappings for the JSON logs replayed natively. Caddy's fields are among
// the json format's defaults; Traefik's "time" (whole seconds) comes before
// StartUTC among them, so Time is named; Envoy's path, User-Agent and
// authority are not defaults, and its duration is in milliseconds.
var (
	traefikJSON = native{"json", replay.JSONMapping{Time: "StartUTC", ClientIP: "ClientHost"}, "traefik"}
	caddyJSON   = native{"json", replay.JSONMapping{}, "caddy"}
	envoyJSON   = native{"json", replay.JSONMapping{Path: "x-envoy-origin-path", UserAgent: "user-agent", Host: ":authority", Latency: "duration:ms"}, "envoy"}
)

// nativeFormats are what is tried on a line as it is, by log type, before
// any adapter. Bunkerweb writes a request id where combined has the user,
// which the combined parser would take for an authenticated user, and
// zoraxy, HAProxy, AWS ALB, IIS and Upsun write layouts no replay format
// reads: those go to adapters.
var nativeFormats = map[string][]native{
	"nginx":               {{format: "combined"}},
	"apache2":             {{format: "combined"}, {format: "apache"}},
	"litespeed":           {{format: "combined"}},
	"nginx-proxy-manager": {{format: "combined"}},
	"npmplus":             {{format: "combined"}},
	"traefik":             {{format: "combined"}, traefikJSON},
	"caddy":               {caddyJSON},
	"containerd":          {{format: "envoy"}, envoyJSON},
}

// planLines decides, line by line, how each line of a test is replayed:
// as it is with a replay format the product parses it with, else through
// an adapter into a combined line, else not at all (counted, with why).
func planLines(logType string, lines []string) (*plan, error) {
	p := &plan{NoUA: map[string]bool{}}
	var natives []nativeParser
	for _, n := range nativeFormats[logType] {
		np, err := newNativeParser(n.format, n.mapping)
		if err != nil {
			return nil, fmt.Errorf("log type %s: %w", logType, err)
		}
		np.jsonKind = n.jsonKind
		natives = append(natives, np)
	}
	combined, err := newNativeParser("combined", replay.JSONMapping{})
	if err != nil {
		return nil, err
	}
	native := true
	for _, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		// Container runtimes wrap each line in a CRI header: the tool
		// strips it, as a log shipper would, and reads what it wrapped.
		if m := criPrefix.FindString(line); m != "" {
			line, native = line[len(m):], false
		}
		if np, e, ok := firstNative(natives, line); ok {
			p.add(np.format, np.mapping, line)
			p.note(np.describe() + " (native)")
			if !recordsUA(line) {
				p.NoUA[e.ClientIP.String()] = true
			}
			continue
		}
		native = false
		rec, how, err := adapt(line)
		if err != nil {
			p.note("not replayed: " + err.Error())
			continue
		}
		if !rec.HasUA {
			p.NoUA[rec.IP.String()] = true
		}
		out := rec.combined()
		if err := combined.parse(out); err != nil {
			// An adapter line the product does not read (a malformed
			// request line, say) is reported, not replayed.
			p.note(fmt.Sprintf("not replayed: %s adapter -> combined, which the replay parser refuses (%v)", how, err))
			continue
		}
		p.add("combined", replay.JSONMapping{}, out)
		p.note(how + " adapter -> combined")
	}
	p.Native = native && len(p.Segments) == 1
	return p, nil
}

// nativeParser is one replay format (and JSON mapping) a line may be read
// with as it is.
type nativeParser struct {
	format   string
	mapping  replay.JSONMapping
	jsonKind string // the log a JSON mapping is for
	p        replay.Parser
}

func newNativeParser(format string, m replay.JSONMapping) (nativeParser, error) {
	p, err := replay.NewParser(format, m)
	return nativeParser{format: format, mapping: m, p: p}, err
}

func (n nativeParser) describe() string {
	if n.jsonKind != "" {
		return "json (" + n.jsonKind + " mapping)"
	}
	return n.format
}

func (n nativeParser) parse(line string) error {
	_, err := n.entry(line)
	return err
}

func (n nativeParser) entry(line string) (replay.Entry, error) {
	var e replay.Entry
	if err := n.p.Parse(line, &e); err != nil {
		return e, err
	}
	if !e.ClientIP.IsValid() || e.Time.IsZero() {
		return e, errors.New("no client IP or time")
	}
	return e, nil
}

func firstNative(ps []nativeParser, line string) (nativeParser, replay.Entry, bool) {
	for _, np := range ps {
		if np.jsonKind != "" && !jsonKindIs(line, np.jsonKind) {
			continue
		}
		if e, err := np.entry(line); err == nil {
			return np, e, true
		}
	}
	return nativeParser{}, replay.Entry{}, false
}

// recordsUA reports whether a line's layout has a User-Agent field at all
// (the common log format, say, has none), reading it with the adapters.
func recordsUA(line string) bool {
	if strings.HasPrefix(line, "{") {
		r, _, err := adaptJSON(line)
		return err != nil || r.HasUA
	}
	if r, ok := adaptCLF(line); ok {
		return r.HasUA
	}
	return true
}

// ---------------------------------------------------------------------------
// Adapters: log layouts the replay formats do not read, rewritten into
// combined lines.

// record is one request as an adapter read it.
type record struct {
	Time    time.Time
	IP      netip.Addr
	Request string // the request line as logged, quotes escaped
	Status  string // "404", or "-" when the log has none
	Bytes   int64
	Referer string
	UA      string
	HasUA   bool // the log records a User-Agent (maybe "-")
}

// combined writes r as a combined log line.
func (r record) combined() string {
	ua, ref := r.UA, r.Referer
	if ua == "" {
		ua = "-"
	}
	if ref == "" {
		ref = "-"
	}
	st := r.Status
	if st == "" || st == "-" {
		st = "000" // the log has no status: nothing answered
	}
	return fmt.Sprintf(`%s - - [%s] "%s" %s %d "%s" "%s"`, r.IP, r.Time.Format(clfTime), r.Request, st, r.Bytes, ref, ua)
}

const clfTime = "02/Jan/2006:15:04:05 -0700"

// escapeField escapes a field for a quoted combined-log string as nginx
// does: quotes, backslashes and control bytes as \xHH.
func escapeField(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, `\x%02X`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// errNotAccessLog is a line no adapter reads as an HTTP request.
type errNotAccessLog struct{ what string }

func (e errNotAccessLog) Error() string { return e.what }

// adapt reads a line with the first adapter that knows its layout.
func adapt(line string) (record, string, error) {
	t := strings.TrimSpace(line)
	if strings.HasPrefix(t, "{") {
		return adaptJSON(t)
	}
	if strings.HasPrefix(t, "<Event") {
		r, err := adaptIISEvent(t)
		return r, "IIS event XML", err
	}
	for _, a := range lineAdapters {
		if r, ok := a.read(t); ok {
			return r, a.name, nil
		}
	}
	switch {
	case nginxErrorLine.MatchString(t):
		return record{}, "", errNotAccessLog{"nginx error-log line that records no response"}
	case litespeedEvent.MatchString(t):
		return record{}, "", errNotAccessLog{"LiteSpeed admin-console event (no HTTP request)"}
	case strings.Contains(t, "crowdsec-events."):
		return record{}, "", errNotAccessLog{"Magento extension event (no HTTP request)"}
	case haproxyNoRequest.MatchString(t):
		return record{}, "", errNotAccessLog{"HAProxy connection event (no HTTP request)"}
	}
	return record{}, "", errNotAccessLog{"layout no adapter reads"}
}

type lineAdapter struct {
	name string
	read func(string) (record, bool)
}

// lineAdapters are tried in order on text lines.
var lineAdapters = []lineAdapter{
	{"common/combined with prefix", adaptCLF},
	{"nginx error-log", adaptNginxError},
	{"zoraxy", adaptZoraxy},
	{"AWS ALB", adaptALB},
	{"HAProxy", adaptHAProxy},
}

var (
	clfDate          = regexp.MustCompile(`\[(\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2}) ([+-]\d{4})\] "`)
	criPrefix        = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) (?:stdout|stderr) [FP] `)
	nginxErrorLine   = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] `)
	nginxErrorAuth   = regexp.MustCompile(`^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[\w+\] \d+#\d+: (?:\*\d+ )?(.*?), client: ([^,]+), server: [^,]*, request: "((?:[^"\\]|\\.)*)"`)
	litespeedEvent   = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \[[A-Z]+\] `)
	zoraxyLine       = regexp.MustCompile(`^\S+ \S+ \[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\] \[router:[^\]]*\] \[origin:([^\]]*)\] \[client: ([^\]]+)\] \[useragent: (.*)\] (\S+) (\S+) (\d{3})$`)
	haproxyLine      = regexp.MustCompile(`^(?:[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d \S+ \S+: )?(\S+):\d+ \[(\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3})\] \S+ \S+ [-\d/+]+ (-?\d{1,3}) \+?(\d+) .*?"((?:[^"\\]|\\.)*)"$`)
	haproxyNoRequest = regexp.MustCompile(`^(?:[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d \S+ \S+: )?\S+:\d+ \[\d{2}/[A-Za-z]{3}/\d{4}:[\d:.]+\] [^"]*$`)
)

// quoted reads a double-quoted field at the start of s (backslash escapes
// are kept as they are), as the replay parsers read one, and returns its
// content and the rest after it.
func quoted(s string) (content, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, false
	}
	return replay.CutQuoted(s[1:])
}

// adaptCLF reads common and combined lines with anything before the client
// IP (a virtual host, a syslog header, bunkerweb's request id) and
// anything after the User-Agent (Traefik's extra fields, nginx's
// X-Forwarded-For). A line without referer and User-Agent fields (common
// log format) records no User-Agent.
func adaptCLF(line string) (record, bool) {
	loc := clfDate.FindStringSubmatchIndex(line)
	if loc == nil {
		return record{}, false
	}
	var r record
	pre := strings.Fields(line[:loc[0]])
	ok := false
	if len(pre) >= 3 {
		r.IP, ok = replay.ParseAddr(pre[len(pre)-3])
	}
	for i := len(pre) - 1; i >= 0 && !ok; i-- {
		r.IP, ok = replay.ParseAddr(pre[i])
	}
	if !ok {
		return record{}, false
	}
	if r.Time, ok = replay.ParseCLFTime(line[loc[2]:loc[5]]); !ok {
		return record{}, false
	}
	req, rest, ok := quoted(line[loc[1]-1:])
	if !ok {
		return record{}, false
	}
	r.Request = req
	f := strings.Fields(rest)
	if len(f) < 2 {
		return record{}, false
	}
	r.Status = f[0]
	if r.Status != "-" && !isStatus(r.Status) {
		return record{}, false
	}
	r.Bytes, _ = strconv.ParseInt(f[1], 10, 64)
	rest = strings.TrimLeft(rest, " ")
	rest = strings.TrimLeft(rest[len(f[0]):], " ")
	rest = strings.TrimLeft(rest[len(f[1]):], " ")
	if ref, after, ok := quoted(rest); ok {
		if ua, _, ok := quoted(strings.TrimLeft(after, " ")); ok {
			r.Referer, r.UA, r.HasUA = ref, ua, true
		}
	}
	return r, true
}

// adaptNginxError reads the nginx error-log lines that stand for a
// response: basic-auth failures (401) and missing files (404). Other error
// lines say nothing of the response and are not replayed. The error log
// records no User-Agent and no time zone (UTC is assumed).
func adaptNginxError(line string) (record, bool) {
	m := nginxErrorAuth.FindStringSubmatch(line)
	if m == nil {
		return record{}, false
	}
	status := ""
	switch msg := m[2]; {
	case strings.Contains(msg, "was not found in"), strings.Contains(msg, "password mismatch"):
		status = "401"
	case strings.Contains(msg, "failed (2: No such file or directory)"):
		status = "404"
	case strings.Contains(msg, "is forbidden"), strings.Contains(msg, "access forbidden by rule"):
		status = "403"
	default:
		return record{}, false
	}
	t, err := time.Parse("2006/01/02 15:04:05", m[1])
	ip, ok := replay.ParseAddr(m[3])
	if err != nil || !ok {
		return record{}, false
	}
	return record{Time: t, IP: ip, Request: m[4], Status: status}, true
}

// adaptZoraxy reads Zoraxy's access lines. They carry no time zone (UTC is
// assumed) and no byte count.
func adaptZoraxy(line string) (record, bool) {
	m := zoraxyLine.FindStringSubmatch(line)
	if m == nil {
		return record{}, false
	}
	ip, ok := replay.ParseAddr(m[3])
	t, err := time.Parse("2006-01-02 15:04:05.999999", m[1])
	if err != nil || !ok {
		return record{}, false
	}
	return record{Time: t, IP: ip, Request: escapeField(m[5] + " " + m[6] + " HTTP/1.1"), Status: m[7],
		UA: escapeField(m[4]), HasUA: true}, true
}

// adaptALB reads AWS Application Load Balancer access lines: type, time,
// ELB, client:port, target:port, three timings, ELB status, target status,
// bytes in and out, "request" with an absolute URL, "User-Agent", ...
func adaptALB(line string) (record, bool) {
	f, ok := splitQuoted(line, 14)
	if !ok || len(f) < 14 {
		return record{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, f[1])
	if err != nil {
		return record{}, false
	}
	ip, ok := replay.ParseAddr(f[3])
	if !ok || !isStatus(f[8]) {
		return record{}, false
	}
	method, target, proto, ok := splitRequest(f[12])
	if !ok {
		return record{}, false
	}
	bytesOut, _ := strconv.ParseInt(f[11], 10, 64)
	return record{Time: t, IP: ip, Request: escapeField(method + " " + originForm(target) + " " + proto),
		Status: f[8], Bytes: bytesOut, UA: escapeField(f[13]), HasUA: true}, true
}

// adaptHAProxy reads HAProxy's HTTP log format (optionally behind a syslog
// header). It records no User-Agent unless captured, and its time has no
// zone (UTC is assumed).
func adaptHAProxy(line string) (record, bool) {
	m := haproxyLine.FindStringSubmatch(line)
	if m == nil {
		return record{}, false
	}
	ip, ok := replay.ParseAddr(m[1])
	t, err := time.Parse("02/Jan/2006:15:04:05.000", m[2])
	if err != nil || !ok {
		return record{}, false
	}
	st := m[3]
	if !isStatus(st) {
		st = "-"
	}
	n, _ := strconv.ParseInt(m[4], 10, 64)
	return record{Time: t, IP: ip, Request: m[5], Status: st, Bytes: n}, true
}

// adaptIISEvent reads an IIS W3C log record delivered as a Windows event
// (Microsoft-Windows-IIS-Logging, event 6200). IIS logs its date and time
// in UTC.
func adaptIISEvent(line string) (record, error) {
	d := map[string]string{}
	for _, m := range iisData.FindAllStringSubmatch(line, -1) {
		d[m[1]] = xmlUnescape(m[2])
	}
	if d["c-ip"] == "" || d["cs-method"] == "" || d["date"] == "" {
		return record{}, errNotAccessLog{"Windows event without IIS request fields"}
	}
	t, err := time.Parse("2006-01-02 15:04:05", d["date"]+" "+d["time"])
	ip, ok := replay.ParseAddr(d["c-ip"])
	if err != nil || !ok {
		return record{}, errNotAccessLog{"IIS event with a bad time or client IP"}
	}
	target := d["cs-uri-stem"]
	if q := d["cs-uri-query"]; q != "" && q != "-" {
		target += "?" + q
	}
	n, _ := strconv.ParseInt(d["sc-bytes"], 10, 64)
	ua := strings.ReplaceAll(d["csUser-Agent"], "+", " ")
	_, hasUA := d["csUser-Agent"]
	return record{Time: t, IP: ip, Request: escapeField(d["cs-method"] + " " + target + " HTTP/1.1"),
		Status: d["sc-status"], Bytes: n, UA: escapeField(ua), Referer: escapeField(d["csReferer"]), HasUA: hasUA}, nil
}

var iisData = regexp.MustCompile(`<Data Name="([^"]+)">([^<]*)</Data>`)

func xmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'").Replace(s)
}

// jsonLogKinds are the JSON access logs the tool knows, by a key only they
// have.
var jsonLogKinds = []struct{ kind, key string }{
	{"traefik", "ClientHost"},
	{"caddy", "request"},
	{"envoy", "downstream_remote_address"},
	{"upsun", "container"},
	{"open-appsec", "eventData"},
}

// jsonKindIs reports whether a JSON line is a log of kind.
func jsonKindIs(line, kind string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(line), &m) != nil {
		return false
	}
	return jsonKind(m) == kind
}

func jsonKind(m map[string]json.RawMessage) string {
	if l, ok := m["logger"]; ok && strings.Contains(string(l), "http.handlers.waf") {
		return "coraza"
	}
	for _, k := range jsonLogKinds {
		if _, ok := m[k.key]; ok {
			return k.kind
		}
	}
	return ""
}

// adaptJSON reads the JSON access logs of Traefik, Caddy, Envoy and Upsun
// (whose message is an nginx line).
func adaptJSON(line string) (record, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return record{}, "", errNotAccessLog{"JSON that does not parse"}
	}
	kind := jsonKind(m)
	str := func(o map[string]json.RawMessage, k string) string {
		var s string
		_ = json.Unmarshal(o[k], &s)
		return s
	}
	num := func(o map[string]json.RawMessage, k string) float64 {
		var f float64
		_ = json.Unmarshal(o[k], &f)
		return f
	}
	switch kind {
	case "traefik":
		t, err := time.Parse(time.RFC3339Nano, str(m, "StartUTC"))
		ip, ok := firstAddr(str(m, "ClientHost"))
		if err != nil || !ok {
			return record{}, "", errNotAccessLog{"Traefik JSON without StartUTC or ClientHost"}
		}
		// Traefik logs request headers only when configured to: any
		// request_ field says they are kept, and a missing User-Agent is
		// then the client's.
		hasUA := false
		for k := range m {
			hasUA = hasUA || strings.HasPrefix(k, "request_")
		}
		proto := cmp.Or(str(m, "RequestProtocol"), "HTTP/1.1")
		return record{Time: t, IP: ip, Request: escapeField(str(m, "RequestMethod") + " " + str(m, "RequestPath") + " " + proto),
			Status: strconv.Itoa(int(num(m, "DownstreamStatus"))), Bytes: int64(num(m, "DownstreamContentSize")),
			UA: escapeField(str(m, "request_User-Agent")), Referer: escapeField(str(m, "request_Referer")), HasUA: hasUA}, "Traefik JSON", nil
	case "caddy":
		var req struct {
			ClientIP string              `json:"client_ip"`
			RemoteIP string              `json:"remote_ip"`
			Proto    string              `json:"proto"`
			Method   string              `json:"method"`
			URI      string              `json:"uri"`
			Headers  map[string][]string `json:"headers"`
		}
		if err := json.Unmarshal(m["request"], &req); err != nil || req.Method == "" {
			return record{}, "", errNotAccessLog{"Caddy JSON without a request"}
		}
		ts := num(m, "ts")
		sec, frac := math.Modf(ts)
		ip, ok := replay.ParseAddr(cmp.Or(req.ClientIP, req.RemoteIP))
		if !ok || ts == 0 {
			return record{}, "", errNotAccessLog{"Caddy JSON without ts or client IP"}
		}
		ua, hasUA := headerValue(req.Headers, "User-Agent")
		ref, _ := headerValue(req.Headers, "Referer")
		return record{Time: time.Unix(int64(sec), int64(frac*1e9)).UTC(), IP: ip,
			Request: escapeField(req.Method + " " + req.URI + " " + cmp.Or(req.Proto, "HTTP/1.1")),
			Status:  strconv.Itoa(int(num(m, "status"))), Bytes: int64(num(m, "size")),
			UA: escapeField(ua), Referer: escapeField(ref), HasUA: hasUA || req.Headers != nil}, "Caddy JSON", nil
	case "envoy":
		t, err := time.Parse(time.RFC3339Nano, str(m, "start_time"))
		if err != nil {
			return record{}, "", errNotAccessLog{"Envoy JSON without start_time"}
		}
		ip, ok := firstAddr(str(m, "x-forwarded-for"))
		if !ok {
			if ip, ok = replay.ParseAddr(str(m, "downstream_remote_address")); !ok {
				return record{}, "", errNotAccessLog{"Envoy JSON without a client address"}
			}
		}
		path := cmp.Or(str(m, "x-envoy-origin-path"), str(m, "path"))
		_, hasUA := m["user-agent"]
		proto := cmp.Or(str(m, "protocol"), "HTTP/1.1")
		return record{Time: t, IP: ip, Request: escapeField(str(m, "method") + " " + path + " " + proto),
			Status: strconv.Itoa(int(num(m, "response_code"))), Bytes: int64(num(m, "bytes_sent")),
			UA: escapeField(str(m, "user-agent")), Referer: escapeField(str(m, "referer")), HasUA: hasUA}, "Envoy JSON", nil
	case "upsun":
		msg := str(m, "message")
		if r, ok := adaptCLF(msg); ok {
			return r, "Upsun JSON (nginx message)", nil
		}
		return record{}, "", errNotAccessLog{"Upsun JSON whose message is not an access line"}
	case "open-appsec":
		return record{}, "", errNotAccessLog{"open-appsec WAF verdict (not an access log)"}
	case "coraza":
		return record{}, "", errNotAccessLog{"Coraza WAF warning (not an access log)"}
	}
	return record{}, "", errNotAccessLog{"JSON of an unknown log"}
}

func headerValue(h map[string][]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// splitQuoted splits s on spaces, keeping double-quoted fields whole
// (without their quotes), up to at least n fields.
func splitQuoted(s string, n int) ([]string, bool) {
	var f []string
	for s = strings.TrimLeft(s, " "); s != ""; s = strings.TrimLeft(s, " ") {
		if s[0] == '"' {
			q, rest, ok := quoted(s)
			if !ok {
				return nil, false
			}
			f, s = append(f, q), rest
			continue
		}
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			i = len(s)
		}
		f, s = append(f, s[:i]), s[i:]
	}
	return f, len(f) >= n
}

// splitRequest splits a request line "METHOD TARGET PROTO".
func splitRequest(req string) (method, target, proto string, ok bool) {
	p := strings.Split(req, " ")
	if len(p) != 3 {
		return "", "", "", false
	}
	return p[0], p[1], p[2], true
}

// originForm turns an absolute URL target (http://host:port/path?q) into
// its path and query.
func originForm(target string) string {
	for _, s := range []string{"http://", "https://"} {
		if strings.HasPrefix(target, s) {
			rest := target[len(s):]
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				return rest[i:]
			}
			return "/"
		}
	}
	return target
}

func isStatus(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && len(s) == 3 && n >= 100 && n < 600
}

// firstAddr returns the first address in a comma-separated list ("a, b")
// that replay.ParseAddr reads, ports and brackets included.
func firstAddr(s string) (netip.Addr, bool) {
	for p := range strings.SplitSeq(s, ",") {
		if a, ok := replay.ParseAddr(strings.TrimSpace(p)); ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// ---------------------------------------------------------------------------
// Replaying a test

// finding is one signal an entity got: the detector and what it saw.
type finding struct {
	Detector, Kind, Summary string
	Weight                  float64
}

// sourceResult is what happened to one source IP CrowdSec alerts on.
type sourceResult struct {
	IP        string
	Findings  []finding // signals, artefacts left out
	Artefacts []finding // empty User-Agent signals from logs that record none
	Decisions []string  // "block probing"
	Facts     facts
}

// Flagged reports whether the source got a signal or a decision.
func (s sourceResult) Flagged() bool { return len(s.Findings) > 0 || len(s.Decisions) > 0 }

// facts summarise one client's requests in the replayed log.
type facts struct {
	Requests, Paths, UAs int
	Statuses             map[int]int
	First, Last          time.Time
}

// testResult is one test's outcome.
type testResult struct {
	label
	Class     string
	InScope   bool
	Skip      string // why the test is not measured
	Plan      *plan
	Replayed  int // lines the replay parsed
	Sources   []sourceResult
	Flagged   map[string][]finding // negatives: every entity flagged, with why
	Decisions []string             // negatives: every decision
	Matched   bool
}

// Evaluated reports whether any line of the test could be replayed.
func (t *testResult) Evaluated() bool { return t.Replayed > 0 }

// eventLine is the part of an events line (docs/events.md) the tool reads.
type eventLine struct {
	Event struct {
		Action string `json:"action"`
	} `json:"event"`
	Labels struct {
		Scope    string `json:"scope"`
		Entity   string `json:"entity"`
		Detector string `json:"detector"`
		Action   string `json:"action"`
	} `json:"labels"`
	AG struct {
		Evidence struct {
			Summary string `json:"summary"`
		} `json:"evidence"`
	} `json:"abuseguard"`
}

// evaluate runs every labelled test under dir.
func evaluate(ctx context.Context, dir string) (*report, error) {
	labels, err := readLabels(filepath.Join(dir, "labels.csv"))
	if err != nil {
		return nil, err
	}
	folders, _ := os.ReadDir(filepath.Join(dir, "tests"))
	rep := &report{Data: dir, Folders: len(folders), Date: time.Now().UTC()}
	for _, l := range labels {
		t := &testResult{label: l}
		rep.Tests = append(rep.Tests, t)
		switch l.Kind {
		case "parser-only":
			t.Class, t.Skip = "parser-only", "parser test: no scenario, nothing to detect"
			continue
		case "detection":
			t.Class, t.InScope, t.Skip = classify(l)
			if !t.InScope {
				continue
			}
		case "negative/whitelist":
			t.Class = "negative"
		default:
			t.Class, t.Skip = l.Kind, "unknown kind "+l.Kind
			continue
		}
		if err := runTest(ctx, filepath.Join(dir, "tests", l.Test), t); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Test, err)
		}
	}
	return rep, nil
}

// runTest replays one test's log with the default config and records who
// was flagged.
func runTest(ctx context.Context, dir string, t *testResult) error {
	tc, err := readTestConfig(dir)
	if err != nil {
		return err
	}
	if tc.LogType != "" {
		t.LogType = tc.LogType
	}
	logPath := filepath.Join(dir, tc.LogFile)
	lines, err := readLines(logPath)
	if err != nil {
		return err
	}
	p, err := planLines(t.LogType, lines)
	if err != nil {
		return err
	}
	t.Plan = p
	cfg, err := config.Default()
	if err != nil {
		return err
	}
	var events bytes.Buffer
	r, err := replay.NewReplayer(ctx, cfg, &events)
	if err != nil {
		return err
	}
	defer r.Close()
	if p.Native {
		st, err := replay.Run(ctx, replay.Options{Format: p.Segments[0].Format, Mapping: p.Segments[0].Mapping}, []string{logPath}, r)
		if err != nil {
			return err
		}
		t.Replayed += st.Parsed
	} else {
		for _, seg := range p.Segments {
			n, err := replaySegment(ctx, seg, r)
			if err != nil {
				return err
			}
			t.Replayed += n
		}
	}
	found, err := readEvents(&events)
	if err != nil {
		return err
	}
	factsBy := factsOf(p)
	artefact := func(ip string, f finding) bool { return f.Kind == "empty UA" && p.NoUA[ip] }
	// Every entity flagged, from the replayer's own record, explained by
	// the events; an entity whose only signals are artefacts is not.
	flagged := map[string][]finding{}
	for entity, detectors := range r.Flagged {
		ip, _ := strings.CutPrefix(entity, "ip:")
		for _, d := range detectors {
			fs := found[entity][d]
			if len(fs) == 0 {
				fs = []finding{{Detector: d, Kind: d}}
			}
			for _, f := range fs {
				if strings.HasPrefix(entity, "ip:") && artefact(ip, f) {
					continue
				}
				flagged[entity] = append(flagged[entity], f)
			}
		}
	}
	decided := map[string][]string{}
	for _, d := range r.Decisions {
		e := d.Entity().String()
		decided[e] = append(decided[e], d.Action.String()+" "+d.Reason)
	}
	t.Flagged = flagged
	if t.Kind == "negative/whitelist" {
		for e, ds := range decided {
			for _, d := range ds {
				t.Decisions = append(t.Decisions, e+" "+d)
			}
		}
		slices.Sort(t.Decisions)
		t.Matched = t.Evaluated() && len(flagged) == 0 && len(t.Decisions) == 0
		return nil
	}
	t.Matched = t.Evaluated()
	var seen []string
	for _, a := range t.Expected {
		ip := canonicalIP(a.Source)
		if slices.Contains(seen, ip) {
			continue
		}
		seen = append(seen, ip)
		s := sourceResult{IP: ip, Findings: flagged["ip:"+ip], Decisions: decided["ip:"+ip], Facts: factsBy[ip]}
		for _, fs := range found["ip:"+ip] {
			for _, f := range fs {
				if artefact(ip, f) {
					s.Artefacts = append(s.Artefacts, f)
				}
			}
		}
		if !s.Flagged() {
			t.Matched = false
		}
		t.Sources = append(t.Sources, s)
	}
	return nil
}

// replaySegment writes one segment to a temporary file and replays it.
func replaySegment(ctx context.Context, seg segment, r *replay.Replayer) (int, error) {
	f, err := os.CreateTemp("", "crowdsec-eval-*.log")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriter(f)
	for _, l := range seg.Lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	st, err := replay.Run(ctx, replay.Options{Format: seg.Format, Mapping: seg.Mapping}, []string{f.Name()}, r)
	return st.Parsed, err
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n"), nil
}

// readEvents returns the signals in an events stream by entity and
// detector.
func readEvents(r io.Reader) (map[string]map[string][]finding, error) {
	out := map[string]map[string][]finding{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var ev eventLine
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		if ev.Event.Action != "signal" {
			continue
		}
		e := ev.Labels.Scope + ":" + ev.Labels.Entity
		if out[e] == nil {
			out[e] = map[string][]finding{}
		}
		f := finding{Detector: ev.Labels.Detector, Summary: ev.AG.Evidence.Summary}
		f.Kind = kindOf(f.Detector, f.Summary)
		out[e][f.Detector] = append(out[e][f.Detector], f)
	}
	return out, sc.Err()
}

// signalKinds name a signal by its detector and the start of its evidence
// summary, for the tables.
var signalKinds = []struct{ detector, prefix, kind string }{
	{"automation", "tool User-Agent", "tool UA"},
	{"automation", "scanner User-Agent", "scanner UA"},
	{"automation", "empty User-Agent", "empty UA"},
	{"automation", "machine cadence", "machine cadence"},
	{"automation", "rotating User-Agent", "rotating UA"},
	{"automation", "User-Agent", "browser UA without browser headers"},
	{"probing", "sensitive path", "sensitive path"},
	{"probing", "injection probe", "injection probe"},
	{"probing", "proxy request", "proxy request"},
	{"probing", "request line with no path", "not an HTTP request"},
	{"probing", "", "404/403/400 misses"},
	{"credentials", "authentication failures", "401s on any path"},
	{"volumetric", "burst", "cache-busting burst"},
}

// weakKinds are signals too weak to act on alone (10 points against a
// throttle band of 40).
var weakKinds = []string{"tool UA", "empty UA"}

func kindOf(detector, summary string) string {
	for _, k := range signalKinds {
		if k.detector == detector && strings.HasPrefix(summary, k.prefix) {
			return k.kind
		}
	}
	return detector
}

// factsOf parses every replayed line again, with the product's parsers,
// and summarises each client's requests.
func factsOf(p *plan) map[string]facts {
	out := map[string]facts{}
	paths := map[string]map[string]bool{}
	uas := map[string]map[string]bool{}
	for _, seg := range p.Segments {
		parser, err := replay.NewParser(seg.Format, seg.Mapping)
		if err != nil {
			continue
		}
		for _, l := range seg.Lines {
			var e replay.Entry
			if parser.Parse(l, &e) != nil || !e.ClientIP.IsValid() {
				continue
			}
			ip := e.ClientIP.String()
			f := out[ip]
			if f.Statuses == nil {
				f.Statuses = map[int]int{}
				paths[ip], uas[ip] = map[string]bool{}, map[string]bool{}
			}
			f.Requests++
			f.Statuses[e.Status]++
			paths[ip][e.Path] = true
			uas[ip][e.UserAgent] = true
			if f.First.IsZero() || e.Time.Before(f.First) {
				f.First = e.Time
			}
			if e.Time.After(f.Last) {
				f.Last = e.Time
			}
			f.Paths, f.UAs = len(paths[ip]), len(uas[ip])
			out[ip] = f
		}
	}
	return out
}

// injectionCoverage counts the distinct queries of a test's log and how
// many of them the default probing detector takes for an injection probe.
// Each query is shown to a fresh detector as its own client's request, so a
// decision on the real client (which stops its later requests reaching the
// detectors) does not hide the rest.
func injectionCoverage(p *plan) (recognised, total int) {
	seen := map[string]bool{}
	for _, seg := range p.Segments {
		parser, err := replay.NewParser(seg.Format, seg.Mapping)
		if err != nil {
			continue
		}
		for _, l := range seg.Lines {
			var e replay.Entry
			if parser.Parse(l, &e) != nil || e.Query == "" || seen[e.Query] {
				continue
			}
			seen[e.Query] = true
			total++
			d := detect.NewProbing(detect.ProbingConfig{}, detect.NewHasher())
			var sink signalSink
			d.Request(&request.View{Time: e.Time, ClientIP: e.ClientIP, Method: e.Method, Path: "/", Query: e.Query}, &sink)
			for _, sig := range sink {
				if strings.HasPrefix(sig.Evidence.Summary, "injection probe") {
					recognised++
					break
				}
			}
		}
	}
	return recognised, total
}

// signalSink keeps the signals emitted to it.
type signalSink []detect.Signal

func (s *signalSink) Emit(sig detect.Signal) { *s = append(*s, sig) }

// canonicalIP writes an IP as the replay parsers read it (IPv6
// compressed, IPv4-mapped as IPv4), as entities are.
func canonicalIP(s string) string {
	if a, ok := replay.ParseAddr(s); ok {
		return a.String()
	}
	return s
}

// ---------------------------------------------------------------------------
// Report

// report is every test's outcome.
type report struct {
	Data    string
	Folders int
	Date    time.Time
	Tests   []*testResult
}

// measured returns the behavioural detection tests.
func (r *report) measured() []*testResult {
	var out []*testResult
	for _, t := range r.Tests {
		if t.Kind == "detection" && t.InScope {
			out = append(out, t)
		}
	}
	return out
}

func (r *report) negatives() []*testResult {
	var out []*testResult
	for _, t := range r.Tests {
		if t.Kind == "negative/whitelist" {
			out = append(out, t)
		}
	}
	return out
}

func pct(n, d int) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(d))
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// cell makes s safe inside a Markdown table cell: pipes escaped, newlines
// made spaces, and outside code spans '<' written as &lt; so that it never
// opens an HTML tag.
func cell(s string) string {
	var b strings.Builder
	code := false
	for _, r := range s {
		switch {
		case r == '`':
			code = !code
		case r == '|':
			b.WriteString(`\|`)
			continue
		case r == '\n':
			r = ' '
		case r == '<' && !code:
			b.WriteString("&lt;")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// findingsText lists findings as "detector: kind" once each, weak ones marked.
func findingsText(fs []finding) string {
	var parts []string
	for _, f := range fs {
		s := f.Detector
		if f.Kind != f.Detector {
			s += ": " + f.Kind
		}
		if slices.Contains(weakKinds, f.Kind) {
			s += " (weak)"
		}
		if !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// onlyWeak reports whether a source was flagged by weak signals only and
// got no decision.
func (s sourceResult) onlyWeak() bool {
	if len(s.Decisions) > 0 || len(s.Findings) == 0 {
		return false
	}
	for _, f := range s.Findings {
		if !slices.Contains(weakKinds, f.Kind) {
			return false
		}
	}
	return true
}

func uniq(ss []string) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// readAs says how a test's lines were read, with line counts when mixed.
func readAs(p *plan) string {
	if p == nil {
		return "-"
	}
	var parts []string
	for _, h := range p.How {
		if len(p.How) == 1 {
			parts = append(parts, h.How)
		} else {
			parts = append(parts, fmt.Sprintf("%s (%d)", h.How, h.Lines))
		}
	}
	return strings.Join(parts, "; ")
}

// meetsTarget reports whether matched of n is at least targetMatched, in
// integer percent so that 27 of 30 is 90%.
func meetsTarget(matched, n int) bool {
	return n > 0 && 100*matched >= int(math.Round(100*targetMatched))*n
}

func (r *report) write(w io.Writer, command string) {
	ms, negs := r.measured(), r.negatives()
	var replayable, notReplayable []*testResult
	for _, t := range ms {
		if t.Evaluated() {
			replayable = append(replayable, t)
		} else {
			notReplayable = append(notReplayable, t)
		}
	}
	matched, decided, weakOnly := 0, 0, 0
	for _, t := range replayable {
		if t.Matched {
			matched++
			all, weak := true, false
			for _, s := range t.Sources {
				all = all && len(s.Decisions) > 0
				weak = weak || s.onlyWeak()
			}
			if all {
				decided++
			}
			if weak {
				weakOnly++
			}
		}
	}
	negEval, negFlagged, negDecided, negClean, negCleanFlagged := 0, 0, 0, 0, 0
	for _, t := range negs {
		if !t.Evaluated() {
			continue
		}
		negEval++
		_, conflict := labelConflicts[t.Test]
		if !conflict {
			negClean++
		}
		if len(t.Flagged) > 0 || len(t.Decisions) > 0 {
			negFlagged++
			if !conflict {
				negCleanFlagged++
			}
		}
		if len(t.Decisions) > 0 {
			negDecided++
		}
	}
	fmt.Fprintf(w, "# abuseguard against the CrowdSec hub HTTP scenario tests\n\n")
	fmt.Fprintf(w, "Generated by `%s` on %s from %d labelled tests (%d test folders) in `%s`.\n",
		command, r.Date.Format("2006-01-02"), len(r.Tests), r.Folders, r.Data)
	fmt.Fprintf(w, "Every test is replayed through `internal/replay` with `config.Default()`: no rules, no routes, no per-test settings. ")
	fmt.Fprintf(w, "The hub data is not in this repository; the tool reads it from `--data`.\n\n")
	fmt.Fprintf(w, "A behavioural test is **matched** when every source IP CrowdSec alerts on got a detector signal or a decision on `ip:SOURCE`; ")
	fmt.Fprintf(w, "a negative test passes when nothing at all is flagged (no signal on any entity, no decision). ")
	fmt.Fprintf(w, "Weak signals count as flags both ways: a tool User-Agent (10 points, `(weak)` below) matches a detection test and fails a negative one. ")
	fmt.Fprintf(w, "An *empty User-Agent* signal (which in replay needs a machine cadence besides: logs do not record the Accept-Encoding header it also weighs) on a client whose log format records no User-Agent (common log format, HAProxy, nginx error log) is an artefact of the log and is not counted.\n\n")
	fmt.Fprintf(w, "A test is **not replayable** when no line of its log is an HTTP request the replay can read (application events such as failed-login records, WAF verdicts): "+
		"there is nothing to put through the engine, so it counts neither for nor against the target. The rule is the same for detection and negative tests; "+
		"the tables below list every such test, and the first result is also given counting them as misses.\n\n")

	fmt.Fprintf(w, "## Result\n\n| target | result | |\n|---|---|---|\n")
	fmt.Fprintf(w, "| behavioural detection tests matched >= %.0f%% | %d of %d replayable (%s); %d not replayable (no HTTP request in the log) | %s |\n",
		100*targetMatched, matched, len(replayable), pct(matched, len(replayable)), len(notReplayable), passMiss(meetsTarget(matched, len(replayable))))
	fmt.Fprintf(w, "| negative tests flagged = %d | %d of %d replayable (%d not replayable) | %s |\n",
		targetNegatives, negFlagged, negEval, len(negs)-negEval, passMiss(negFlagged == targetNegatives))
	fmt.Fprintf(w, "| negatives flagged, excluding those whose log holds scanner traffic (label conflict, below) | %d of %d | %s |\n",
		negCleanFlagged, negClean, passMiss(negCleanFlagged == targetNegatives))
	fmt.Fprintf(w, "\nCounting the %d not-replayable detection tests as misses: %d of %d (%s). ", len(notReplayable), matched, len(ms), pct(matched, len(ms)))
	fmt.Fprintf(w, "Stricter views, for reading the result: %d of the %d matched tests gave every source a decision (throttle, challenge or block), "+
		"and %d were matched only through a weak signal on some source. On the negatives, %d replayable tests got a decision.\n\n",
		decided, matched, weakOnly, negDecided)
	if len(labelConflicts) > 0 {
		fmt.Fprintf(w, "**Label conflict.** %d negative tests are labelled negative only because the hub test loads no scenario (a parser test), "+
			"while their logs hold scanner traffic; abuseguard flags it, and detection was not weakened to pass them. "+
			"See \"Flagged negatives and why\" for what each holds and whether CrowdSec's own scenarios, at their thresholds, would alert on it.\n\n", len(labelConflicts))
	}

	// Per class.
	type tally struct{ tests, matched, decided, unreplayable int }
	byClass := map[string]*tally{}
	var classes []string
	for _, t := range ms {
		c := byClass[t.Class]
		if c == nil {
			c = &tally{}
			byClass[t.Class] = c
			classes = append(classes, t.Class)
		}
		if !t.Evaluated() {
			c.unreplayable++
			continue
		}
		c.tests++
		if t.Matched {
			c.matched++
			all := true
			for _, s := range t.Sources {
				all = all && len(s.Decisions) > 0
			}
			if all {
				c.decided++
			}
		}
	}
	slices.Sort(classes)
	fmt.Fprintf(w, "## Per class\n\n| class | replayable tests | matched | %% | every source decided | not replayable |\n|---|---:|---:|---:|---:|---:|\n")
	for _, c := range classes {
		x := byClass[c]
		fmt.Fprintf(w, "| %s | %d | %d | %s | %d | %d |\n", c, x.tests, x.matched, pct(x.matched, x.tests), x.decided, x.unreplayable)
	}
	fmt.Fprintf(w, "| **all** | **%d** | **%d** | **%s** | **%d** | **%d** |\n\n", len(replayable), matched, pct(matched, len(replayable)), decided, len(notReplayable))

	// Per test.
	fmt.Fprintf(w, "## Behavioural detection tests\n\n")
	fmt.Fprintf(w, "| test | class | log type | read as | expected sources | flagged by | decision | result |\n|---|---|---|---|---|---|---|---|\n")
	for _, t := range ms {
		var srcs, by, dec []string
		for _, s := range t.Sources {
			srcs = append(srcs, s.IP)
			switch {
			case len(s.Findings) > 0:
				by = append(by, s.IP+": "+findingsText(s.Findings))
			case len(s.Decisions) > 0:
				by = append(by, s.IP+": decision only")
			default:
				by = append(by, s.IP+": not flagged")
			}
			if len(s.Decisions) > 0 {
				dec = append(dec, s.IP+": "+strings.Join(uniq(s.Decisions), ", "))
			}
		}
		res := "MISS"
		switch {
		case !t.Evaluated():
			by, res = []string{"no HTTP request to replay"}, "not replayable"
		case t.Matched:
			res = "MATCH"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", t.Test, t.Class, t.LogType, cell(readAs(t.Plan)),
			strings.Join(srcs, ", "), cell(strings.Join(by, "; ")), cell(cmp.Or(strings.Join(dec, "; "), "-")), res)
	}

	// Negatives.
	fmt.Fprintf(w, "\n## Negative (whitelist) tests\n\n")
	fmt.Fprintf(w, "These are the hub's whitelist and parser tests that load no scenario, so CrowdSec raises nothing on them by construction; some contain scanner traffic (see the notes).\n\n")
	fmt.Fprintf(w, "| test | log type | read as | lines replayed | flagged | decisions | result |\n|---|---|---|---:|---|---|---|\n")
	for _, t := range negs {
		var fl []string
		ents := make([]string, 0, len(t.Flagged))
		for e := range t.Flagged {
			ents = append(ents, e)
		}
		slices.Sort(ents)
		for _, e := range ents {
			fl = append(fl, e+": "+findingsText(t.Flagged[e]))
		}
		res := "PASS"
		switch {
		case !t.Evaluated():
			res = "not replayable"
		case !t.Matched && labelConflicts[t.Test] != "":
			res = "FLAGGED (label conflict: scanner traffic)"
		case !t.Matched:
			res = "FLAGGED"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %s | %s |\n", t.Test, t.LogType, cell(readAs(t.Plan)), t.Replayed,
			cell(cmp.Or(strings.Join(fl, "; "), "nothing")), cell(cmp.Or(strings.Join(t.Decisions, "; "), "-")), res)
	}

	// Skipped.
	fmt.Fprintf(w, "\n## Skipped tests\n\n| test | kind | class | log type | reason |\n|---|---|---|---|---|\n")
	for _, t := range r.Tests {
		if t.Skip == "" {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", t.Test, t.Kind, t.Class, t.LogType, cell(t.Skip))
	}

	// Log types.
	fmt.Fprintf(w, "\n## Log types: how each was read\n\n")
	fmt.Fprintf(w, "Lines a replay format reads as they are are replayed from the original file (or, in a mixed file, as they are from a temporary copy); ")
	fmt.Fprintf(w, "other layouts go through an adapter in this tool that rewrites them into combined lines. ")
	fmt.Fprintf(w, "Lines are counted over the replayed tests (measured and negative) of each type.\n\n")
	fmt.Fprintf(w, "| log type | tests | lines read as | notes |\n|---|---:|---|---|\n")
	byType := map[string][]*testResult{}
	var types []string
	for _, t := range r.Tests {
		if _, ok := byType[t.LogType]; !ok {
			types = append(types, t.LogType)
			byType[t.LogType] = nil
		}
		if t.Plan != nil {
			byType[t.LogType] = append(byType[t.LogType], t)
		}
	}
	slices.Sort(types)
	for _, lt := range types {
		if len(byType[lt]) == 0 {
			fmt.Fprintf(w, "| %s | 0 | not replayed: only in skipped tests | %s |\n", lt, cell(logTypeNotes[lt]))
			continue
		}
		var notes []readerNote
		for _, t := range byType[lt] {
			for _, h := range t.Plan.How {
				i := slices.IndexFunc(notes, func(n readerNote) bool { return n.How == h.How })
				if i < 0 {
					notes = append(notes, h)
				} else {
					notes[i].Lines += h.Lines
				}
			}
		}
		var parts []string
		for _, n := range notes {
			parts = append(parts, fmt.Sprintf("%s: %d", n.How, n.Lines))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s |\n", lt, len(byType[lt]), cell(strings.Join(parts, "; ")), cell(logTypeNotes[lt]))
	}

	// Misses.
	fmt.Fprintf(w, "\n## Misses and why\n\n")
	any := false
	for _, t := range replayable {
		if t.Matched {
			continue
		}
		any = true
		fmt.Fprintf(w, "- **%s** (%s, %s).", t.Test, t.Class, t.LogType)
		for _, s := range t.Sources {
			if s.Flagged() {
				continue
			}
			f := s.Facts
			if f.Requests > 0 {
				fmt.Fprintf(w, " %s: %d requests over %s, %d distinct paths, %d User-Agents, statuses %s; no signal.",
					s.IP, f.Requests, f.Last.Sub(f.First).Round(time.Second), f.Paths, f.UAs, statusText(f.Statuses))
			} else {
				fmt.Fprintf(w, " %s: no replayed request.", s.IP)
			}
			if len(s.Artefacts) > 0 {
				fmt.Fprintf(w, " (Its only signal, an empty User-Agent, comes from a log that records none and is not counted.)")
			}
		}
		var others []string
		for e, fs := range t.Flagged {
			if !slices.ContainsFunc(t.Sources, func(s sourceResult) bool { return "ip:"+s.IP == e }) {
				others = append(others, e+" ("+findingsText(fs)+")")
			}
		}
		if len(others) > 0 {
			slices.Sort(others)
			fmt.Fprintf(w, " Flagged instead: %s.", strings.Join(others, "; "))
		}
		if d := diagnoses[t.Test]; d != "" {
			fmt.Fprintf(w, " %s", d)
		}
		fmt.Fprintln(w)
	}
	if !any {
		fmt.Fprintf(w, "None.\n")
	}
	if len(notReplayable) > 0 {
		fmt.Fprintf(w, "\n## Not replayable (outside the target)\n\n")
		fmt.Fprintf(w, "Detection tests whose log holds no HTTP request: as with the negatives caddy-coraza and magento-extension-logs, there is nothing to replay. "+
			"They are listed here, not hidden: counted as misses they make the result above %d of %d.\n\n", matched, len(ms))
		for _, t := range notReplayable {
			fmt.Fprintf(w, "- **%s** (%s, %s). Lines: %s.", t.Test, t.Class, t.LogType, readAs(t.Plan))
			if d := diagnoses[t.Test]; d != "" {
				fmt.Fprintf(w, " %s", d)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\n## Matched only through a weak signal\n\n")
	fmt.Fprintf(w, "These count as matched by the rule above, but what flagged the source would not, alone, act on it.\n\n")
	any = false
	for _, t := range ms {
		if !t.Matched || !slices.ContainsFunc(t.Sources, sourceResult.onlyWeak) {
			continue
		}
		any = true
		fmt.Fprintf(w, "- **%s** (%s).", t.Test, t.Class)
		if d := weakNotes[t.Test]; d != "" {
			fmt.Fprintf(w, " %s", d)
		}
		fmt.Fprintln(w)
	}
	if !any {
		fmt.Fprintf(w, "None.\n")
	}
	fmt.Fprintf(w, "\n## Flagged negatives and why\n\n")
	any = false
	for _, t := range negs {
		if !t.Evaluated() || t.Matched {
			continue
		}
		any = true
		fmt.Fprintf(w, "- **%s** (%s).", t.Test, t.LogType)
		if c := labelConflicts[t.Test]; c != "" {
			fmt.Fprintf(w, " **Label conflict:** %s", c)
		}
		if d := negativeNotes[t.Test]; d != "" {
			fmt.Fprintf(w, " %s", d)
		}
		fmt.Fprintln(w)
	}
	if !any {
		fmt.Fprintf(w, "None.\n")
	}
	fmt.Fprintf(w, "\n## Detector changes made with this evaluation\n\n%s\n", detectorChanges)
	var cov []string
	for _, t := range ms {
		if t.Class == "injection probing" && t.Plan != nil {
			n, total := injectionCoverage(t.Plan)
			cov = append(cov, fmt.Sprintf("%s: %d of %d distinct queries", t.Test, n, total))
		}
	}
	if len(cov) > 0 {
		fmt.Fprintf(w, "\nQueries the injection check recognises in the hub's injection tests (measured, each query on its own; "+
			"no pattern was added from them): %s. The rest are fragments (`md5(`, `upper(`, `hex(`, `<br`, `<p`, `<table`, `<input`) "+
			"that CrowdSec's lists match and ordinary text or HTML-bearing parameters also hold; the check leaves them out on purpose.\n", strings.Join(cov, "; "))
	}
}

func statusText(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d x%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// ---------------------------------------------------------------------------
// Diagnosis: why a test is missed. Written by reading the test's log and
// the detectors; printed only while the test misses, so a fixed miss drops
// its stale note.

var diagnoses = map[string]string{
	"apiscp-bf": "Seven `POST` requests to one login path in three seconds, each answered 200. The credentials detector counts failed logins on routes of kind login " +
		"(none are declared by default) and, on any path, responses answered 401; ApisCP answers a failed login with 200, so nothing in the log says " +
		"the attempts failed, and a handful of successful POSTs to one path is what every login form receives. CrowdSec's scenario names the product's " +
		"path and status. Declaring the path as a login route with the status ApisCP uses for failures would catch it; a general check cannot.",
	"http-magento-bf": "The log holds events of CrowdSec's Magento extension (`ADMIN_LOGIN_FAILED`), not HTTP requests: nothing to replay. " +
		"In front of Magento abuseguard would see the admin login POSTs, and would count them with that path declared as a login route " +
		"(10 failures in 10 minutes), or, if Magento answered them 401, with the auth-failure check on any path (5).",
	"litespeed-admin-bf": "The log holds LiteSpeed WebAdmin console events (`Failed Login Attempt`), not HTTP requests: nothing to replay. " +
		"As for Magento, catching it needs the console's login path declared as a login route, or 401 answers.",
	"http-wordpress_user-enum": "Six requests for `/?author=N` in one second (WordPress author enumeration). The enumeration detector watches signup and reset routes only " +
		"(none configured); the scraping detector's pagination check knows page, offset, cursor, p and start (50 distinct values) and its sequential-walk check " +
		"needs 25 ids in a row on a route; the volumetric burst check needs 30 new query strings on one path within a second or two; probing counts the 404s as one path. " +
		"No general check fits six requests without keying on WordPress's parameter.",
}

// weakNotes say why a test is matched only through a weak signal; printed
// only while it is.
var weakNotes = map[string]string{
	"http-cve-probing": "Three requests with curl for paths of known CVEs, answered 404: the probing threshold is 10 distinct misses, and the sensitive list holds " +
		"only paths no deployment serves, not product or CVE paths (CrowdSec's approach is a list of them).",
	"http-technology-probing": "One or two requests per source, with curl, for paths of specific products (a camera CGI, an AEM package manager): as for http-cve-probing.",
	"sap-probing":             "Two requests with curl for SAP interface paths: as for http-cve-probing.",
	"nginx-http-w00twoot":     "Two requests (the DFind `w00tw00t` path, with curl, and a Skin/Login.aspx probe): as for http-cve-probing.",
}

// labelConflicts are negative tests whose logs hold scanner traffic: the
// hub labels them negative because they load no scenario (parser tests),
// not because the traffic is benign. Detection is not weakened for them.
var labelConflicts = map[string]string{
	"envoy-logs": "one client sends `HEAD /.env` with curl (answered 404), a secrets probe. CrowdSec's own http-sensitive-files scenario alerts only at " +
		"the fifth sensitive-file request within seconds, so at CrowdSec's thresholds this single probe would stay quiet even with the scenario loaded; " +
		"abuseguard signals a single one by design (45 points: throttled), since a request for `/.env` has no innocent reading.",
	"traefik_clf": "three clients send the Nikto scanner's User-Agent. One of them (172.17.0.1) sends it twice in one second, which CrowdSec's own " +
		"http-bad-user-agent scenario (an alert at the second bad-User-Agent request within a minute) would flag had the test loaded it; the other two " +
		"send it once each, which that scenario would not. abuseguard signals any scanner User-Agent (45 points: throttled).",
	"traefik_json": "one client sends the Nikto User-Agent twice within two milliseconds: CrowdSec's http-bad-user-agent would flag it had the test loaded it; " +
		"abuseguard throttles it.",
}

// negativeNotes add what else a flagged negative test raised.
var negativeNotes = map[string]string{
	"envoy-logs":  "The other flags are curl User-Agents (weak, no decision).",
	"traefik_clf": "A fourth client uses curl (weak, no decision).",
}

// logTypeNotes add what the table cannot say about a log type.
var logTypeNotes = map[string]string{
	"apache2": "The combined parser reads common-format lines (no referer, no User-Agent) too; apache (vhost_combined) is tried second, for lines " +
		"that begin with a virtual host.",
	"aws-alb": "ALB lines (client:port, ELB status, absolute-URL request, User-Agent) rewritten into combined.",
	"bunkerweb": "Bunkerweb writes `host client - request-id - [time] ...`; the combined and apache parsers would take the request id for an authenticated " +
		"user, so the adapter reads the client and drops the id.",
	"caddy": "Caddy JSON through json with the format's defaults (ts, request.client_ip, request.uri, request.headers.User-Agent). " +
		"caddy-coraza holds Coraza WAF warnings only, no access lines: not replayable.",
	"containerd": "The CRI header (`<time> stdout F `) is stripped by the tool; Envoy JSON then goes through json (path from x-envoy-origin-path, " +
		"User-Agent from user-agent, host from :authority, duration in ms) and Envoy's default text format through envoy.",
	"haproxy": "HAProxy's HTTP log (behind a syslog header) rewritten into combined; it records no User-Agent unless captured, and its time has no zone (read as UTC). " +
		"Connection events (SSL handshake failures) are not requests.",
	"iis":               "A Windows event (Microsoft-Windows-IIS-Logging, event 6200) whose Data fields are the W3C fields, rewritten into combined; IIS logs UTC.",
	"litespeed":         "Access lines are combined; LiteSpeed admin-console events (`Failed Login Attempt`, `failed to authenticate`) are not HTTP requests.",
	"magento-extension": "Events of CrowdSec's Magento extension (`ADMIN_LOGIN_FAILED`, `CUSTOMER_LOGIN_SUCCESS`): not HTTP requests, not replayable.",
	"nginx": "Combined, with syslog headers and trailing fields ($http_x_forwarded_for) read natively. nginx error-log lines that stand for a response " +
		"(basic-auth failures: 401; missing files: 404) are rewritten into combined; other error-log lines say nothing of the response. Error-log times " +
		"have no zone (read as UTC) and no User-Agent.",
	"nginx-proxy-manager": "The scored test uses plain combined lines. NPM's own proxy-host layout appears only in a parser-only test; no adapter was written for it.",
	"npmplus":             "Appears only in a parser-only test; not replayed.",
	"openappsec":          "open-appsec WAF verdicts (JSON security events), not traffic; the only test is skipped.",
	"traefik": "Traefik's CLF lines (with its trailing fields) are combined; a line whose status is `-` (no response) goes through the adapter, " +
		"which writes status 000. Traefik JSON goes through json with Time named StartUTC (the `time` field has whole seconds) and ClientHost " +
		"(the leftmost of a list). A bouncer-plugin DEBUG line is not a request.",
	"upsun-httplog": "Upsun's JSON wraps an nginx line in `message`; the adapter reads it. The only scored test using it is CrowdSec's self-test, skipped.",
	"zoraxy":        "Zoraxy's lines (`[client: IP] [useragent: UA] METHOD PATH STATUS`) rewritten into combined; no byte count, and the time has no zone (read as UTC).",
}

// detectorChanges lists the changes to detector defaults made with this
// evaluation, with their justification.
const detectorChanges = "Each with unit tests on requests and log lines written for them (none from the hub data). " +
	"The default policy still makes no decision on ordinary browsing (engine TestOrdinaryBrowsingIsNotFlagged), and the detectors' request paths still " +
	"allocate nothing (benchmarks in docs/detectors.md).\n\n" +
	"First round (internal/detect/probing.go):\n\n" +
	"1. **Injection probes in query strings** (a new check, `injection_patterns` and `injection_weight`). A query that, percent-decoded twice, " +
	"lower-cased and with whitespace and SQL comments folded, holds a mark of an SQL-injection or XSS probe (`union select`, `information_schema`, " +
	"`sleep(`, `waitfor delay`, `or 1=1`, `@@version`, `<script`, `javascript:`, `onerror=`, `<svg`, `alert(`, `document.cookie`, ...) signals once per " +
	"distinct query per window, at 30 points (Medium): one is noted, two distinct ones reach the challenge band, three a block. Why general: no ordinary " +
	"API parameter holds these, every scanner sends them, and the probing detector looked at paths only. " +
	"False-positive trap: a search or snippet API whose users type SQL or HTML (one query stays below the throttle band; an empty list turns the check off). " +
	"Cost: about 0.3 µs per request with a 70-byte query, no allocation " +
	"(`go test -run '^$' -bench ProbingRequest -benchmem ./internal/detect`).\n" +
	"2. **Web-shell paths** added to the default sensitive paths: `*shell.php`, `*/c99.php`, `*/r57.php`, `*/wso.php`. Why general: scanners probe " +
	"every host for left-behind web shells by these names, and no API serves them.\n\n" +
	"Second round:\n\n" +
	"3. **Authentication failures on any path** (credentials detector: `auth_threshold` 5, `auth_weight` 15). Responses answered 401 outside login and " +
	"verify routes, counted per client over the detector's 10-minute window, signal at 5, 10, 15 ... (15 points each: throttled by the 15th failure, " +
	"blocked by the 30th), while at least half of the client's responses since its first 401 are 401s. Why general: 401 means \"authentication failed\" " +
	"whatever the path (HTTP basic auth, an API checking its own tokens), so brute force is seen without declaring routes. False-positive traps: " +
	"an office whose browsers each meet one basic-auth challenge and then browse (kept quiet by the failure share), a single-page app whose expired " +
	"token fails a few parallel calls (below 5), and a monitor probing a protected URL without credentials (signalled: every request of it fails anyway). " +
	"Cost on responses outside login routes: about 5 ns while no client has failed lately, about 55 ns for a client that never failed, no allocation. Matches caddy-basic-auth-bf and nginx-http-generic-bf.\n" +
	"4. **Cache-busting bursts** (volumetric detector: `burst_threshold` 30, `burst_window` 1s, `burst_weight` 25). Per client, the distinct query strings " +
	"it sends to the latest path it queried, counted only when new (not sent there in the last one to two minutes), over one to two seconds; " +
	"30 signal, again at 60, 90 ... Whole-second log timestamps still fall within the window. Why general: a flood that varies the query to defeat " +
	"caches is dozens of never-repeated queries on one path a second, on any product; a person typing into a search box sends a few a second, a " +
	"reader paging one every second or so, a dashboard re-polling a fixed set of panels nothing new. False-positive trap: a dashboard whose many " +
	"panels query one endpoint with a moving time range, or a batch lookup by query parameter, sends 30+ new queries at once: one 25-point signal " +
	"per burst. Cost: about 0.2 µs per request with a query (none without). Matches http-dos-bypass-cache.\n" +
	"5. **Rotating User-Agent** (automation detector: `ua_threshold` 10, `ua_ratio` 0.8, `ua_weight` 20). A client that sends at least 10 distinct " +
	"User-Agents in its 5-minute window, distinct on at least 80% of its requests, signals once per window. Why general: rotating the User-Agent on " +
	"every request is how DoS tools and scrapers dodge per-agent rules, on any product. False-positive trap: many devices behind one carrier NAT " +
	"each making a single request (pinned in a test); people make several requests each, so an office stays far under the ratio. Cost: nothing for a " +
	"client that keeps its User-Agent (one comparison); a table update when it changes. Matches http-dos-switching-ua.\n" +
	"6. **An empty User-Agent is no signal on its own** (automation detector). It now weighs its 10 points only with other evidence about the client: " +
	"no Accept-Encoding either (browsers and common HTTP libraries send it; logs do not record it, so replay assumes it), or a machine cadence. " +
	"Why: media players, home-automation and internal services poll without one (jellyfin-whitelist, jellyseerr-whitelist and overseerr-whitelist " +
	"were flagged by it alone and now pass).\n" +
	"7. **Requests an API never serves** (probing detector: `protocol_weight` 30). A `CONNECT` or an absolute-form target (`GET http://other-host/`; " +
	"a client taking the host for a forward proxy: the request view's AbsoluteTarget hint, set by serve's parser and by replay), or a " +
	"request line with no path (a bare word, or the bytes of another protocol such as a TLS handshake sent to a plain-HTTP port), signals once per " +
	"kind per window. serve's HTTP server refuses malformed request lines itself, so that half works on replayed logs, which record them. " +
	"False-positive trap: a client talking TLS to the plain port, or with its proxy setting pointed at the API; every such request fails anyway. " +
	"Matches apache2-malformed, nginx-http-malformed, nginx-proxy-manager-malformed and both sources of nginx-http-open-proxy (before: only the empty User-Agent signal).\n" +
	"8. **Replay** (internal/replay): a logged request line that is not HTTP keeps its first word as the method, with no path (it used to become " +
	"an empty request, like `-`, a connection that sent nothing, which stays empty); and the user a log names on a 407 is, like that on a 401 (so since the previous round), the name a " +
	"client tried, not an identity, so those requests are the client IP's (tested end to end: a basic-auth guesser is signalled and decided on ip:...).\n" +
	"9. **This tool**: detection tests with no HTTP request in their log (http-magento-bf, litespeed-admin-bf) are not replayable and counted " +
	"outside the target, as negatives without one already were; the result is also given counting them as misses."
