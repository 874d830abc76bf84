package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/replay"
)

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
