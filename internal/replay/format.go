package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Formats lists the accepted --format names.
var Formats = []string{"combined", "nginx", "apache", "envoy", "json"}

// NewParser returns a Parser for format, one of Formats:
//
//   - combined (and its alias nginx): the NCSA combined log format nginx and
//     Apache write by default, `%h %l %u [%t] "%r" %>s %b "%{Referer}i"
//     "%{User-agent}i"`. The common log format (no referer and user agent)
//     and extra trailing fields (nginx's "$http_x_forwarded_for", a request
//     time) are accepted; the trailing fields are ignored, so the client is
//     always %h. Quoted fields may hold escapes (\" \\ \xHH). A request line
//     that is not an HTTP request ("-", a TLS handshake sent to a plain-HTTP
//     port) is kept with an empty Method and Path: it is still a request the
//     server answered, and probing detection wants to see it. An absolute-URI
//     target sets Host. Latency is 0.
//   - apache: combined, plus vhost_combined (`%v:%p %h %l %u ...`), whose
//     first field, without its port, sets Host.
//   - envoy: Envoy's default format (see envoyParser), with or without the
//     fields later versions and Istio add.
//   - json: one JSON object per line, its fields named by m (see JSONMapping).
//
// Text formats may be wrapped in a syslog header (RFC 3164 or RFC 5424),
// which is stripped. Every Time is in UTC. m must be empty unless format is
// json.
func NewParser(format string, m JSONMapping) (Parser, error) {
	format = strings.ToLower(format)
	if format != "json" && m != (JSONMapping{}) {
		return nil, fmt.Errorf("a JSON field mapping applies to --format json only, not %q", format)
	}
	switch format {
	case "combined", "nginx":
		return &combinedParser{}, nil
	case "apache":
		return &combinedParser{vhost: true}, nil
	case "envoy":
		return &envoyParser{}, nil
	case "json":
		return newJSONParser(m)
	}
	return nil, fmt.Errorf("unknown log format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// combinedParser parses the NCSA combined and common log formats, and with
// vhost Apache's vhost_combined. It allocates nothing for a well-formed
// line without escapes or percent-encoding.
type combinedParser struct {
	vhost bool
	clock clfClock
}

func (p *combinedParser) Parse(line string, e *Entry) error {
	*e = Entry{}
	s := stripSyslog(line)
	first, s, ok := strings.Cut(s, " ")
	if !ok || first == "" {
		return errors.New(`truncated line: want HOST IDENT USER [TIME] "REQUEST" STATUS BYTES`)
	}
	i := strings.Index(s, " [")
	if i < 0 {
		return errors.New("no [timestamp] after the client address, ident and user")
	}
	idUser, s := s[:i], s[i+2:]
	addr, ok := parseAddr(first)
	if !ok && p.vhost {
		// vhost_combined: "%v:%p %h %l %u [%t] ..."
		if client, rest, found := strings.Cut(idUser, " "); found {
			if addr, ok = parseAddr(client); ok {
				e.Host, idUser = stripPort(first), rest
			}
		}
	}
	if !ok {
		return fmt.Errorf("bad client address %s", quote(first))
	}
	e.ClientIP = addr
	_, user, ok := strings.Cut(idUser, " ")
	if !ok {
		return fmt.Errorf("want IDENT and USER between the client address and the timestamp, got %s", quote(idUser))
	}
	if user != "-" {
		e.User = user
	}
	if len(s) < clfTimeLen+1 || s[clfTimeLen] != ']' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			end = len(s)
		}
		return fmt.Errorf("bad timestamp %s: want [02/Jan/2006:15:04:05 -0700]", quote(s[:end]))
	}
	if e.Time, ok = p.clock.parse(s[:clfTimeLen]); !ok {
		return fmt.Errorf("bad timestamp %s: want [02/Jan/2006:15:04:05 -0700]", quote(s[:clfTimeLen]))
	}
	s = s[clfTimeLen+1:]
	if len(s) < 2 || s[0] != ' ' || s[1] != '"' {
		return errors.New("no quoted request line after the timestamp")
	}
	req, s, ok := cutQuoted(s[2:])
	if !ok {
		return errors.New("unterminated request line")
	}
	setRequest(e, req)
	status, s := cutToken(s)
	if status == "" {
		return errors.New("missing status")
	}
	if e.Status, ok = parseStatus(status); !ok {
		return fmt.Errorf("bad status %s", quote(status))
	}
	size, s := cutToken(s)
	if size == "" {
		return errors.New("missing bytes")
	}
	if e.Bytes, ok = parseBytes(size); !ok {
		return fmt.Errorf("bad bytes %s", quote(size))
	}
	// The referer and the user agent are absent in the common log format;
	// fields after them are ignored.
	if len(s) >= 2 && s[0] == ' ' && s[1] == '"' {
		var ref string
		if ref, s, ok = cutQuoted(s[2:]); !ok {
			return errors.New("unterminated referer")
		}
		e.Referer = optional(ref)
		if len(s) >= 2 && s[0] == ' ' && s[1] == '"' {
			var ua string
			if ua, _, ok = cutQuoted(s[2:]); !ok {
				return errors.New("unterminated user agent")
			}
			e.UserAgent = optional(ua)
		}
	}
	return nil
}

// clfTimeLen is the length of a CLF timestamp, "02/Jan/2006:15:04:05 -0700".
const clfTimeLen = 26

// clfClock parses CLF timestamps, remembering the last one: busy logs hold
// many lines a second, and comparing 26 bytes is cheaper than parsing them.
type clfClock struct {
	key [clfTimeLen]byte
	t   time.Time
}

// parse returns the UTC time of s, a CLF timestamp without brackets.
func (c *clfClock) parse(s string) (time.Time, bool) {
	if !c.t.IsZero() && string(c.key[:]) == s {
		return c.t, true
	}
	t, ok := parseCLFTime(s)
	if ok {
		copy(c.key[:], s)
		c.t = t
	}
	return t, ok
}

// parseCLFTime parses "02/Jan/2006:15:04:05 -0700" by hand, rejecting
// out-of-range fields rather than normalising them, and returns it in UTC.
func parseCLFTime(s string) (time.Time, bool) {
	if len(s) != clfTimeLen || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ' {
		return time.Time{}, false
	}
	day, ok1 := digits2(s[0:2])
	hi, ok2 := digits2(s[7:9])
	lo, ok3 := digits2(s[9:11])
	hour, ok4 := digits2(s[12:14])
	minute, ok5 := digits2(s[15:17])
	sec, ok6 := digits2(s[18:20])
	zh, ok7 := digits2(s[22:24])
	zm, ok8 := digits2(s[24:26])
	month := monthOf(s[3:6])
	year := hi*100 + lo
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) || month == 0 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 || zm > 59 || (s[21] != '+' && s[21] != '-') {
		return time.Time{}, false
	}
	off := time.Duration(zh*60+zm) * time.Minute
	if s[21] == '-' {
		off = -off
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.UTC).Add(-off)
	return t, inRange(t)
}

func digits2(s string) (int, bool) {
	a, b := s[0]-'0', s[1]-'0'
	return int(a)*10 + int(b), a <= 9 && b <= 9
}

func monthOf(s string) time.Month {
	switch s {
	case "Jan":
		return time.January
	case "Feb":
		return time.February
	case "Mar":
		return time.March
	case "Apr":
		return time.April
	case "May":
		return time.May
	case "Jun":
		return time.June
	case "Jul":
		return time.July
	case "Aug":
		return time.August
	case "Sep":
		return time.September
	case "Oct":
		return time.October
	case "Nov":
		return time.November
	case "Dec":
		return time.December
	}
	return 0
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// inRange reports whether t is a plausible access log time: from 1970 to
// 9999. It keeps the zero time (and times near it) out of entries.
func inRange(t time.Time) bool {
	y := t.Year()
	return y >= 1970 && y <= 9999
}

// envoyParser parses Envoy's default access log format:
//
//	[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//	%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//	%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//	"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//
// Up to three fields between %RESPONSE_FLAGS% and %BYTES_RECEIVED% (Istio
// adds %RESPONSE_CODE_DETAILS%, %CONNECTION_TERMINATION_DETAILS% and
// "%UPSTREAM_TRANSPORT_FAILURE_REASON%") are skipped, found by the shape of
// the fields that follow them, and fields after "%UPSTREAM_HOST%" are
// accepted. The client is the leftmost X-Forwarded-For address; without
// one, %DOWNSTREAM_REMOTE_ADDRESS%: the fourth field after
// "%UPSTREAM_HOST%" when there are at least four (the layout Istio and most
// gateways append: cluster, upstream local, downstream local, downstream
// remote), else the last of them that is an address. An X-Forwarded-For
// whose leftmost entry is not an address falls back the same way. Latency is %DURATION%
// (milliseconds), Bytes %BYTES_SENT%, Host :AUTHORITY.
type envoyParser struct {
	f      [maxEnvoyFields]string
	quoted uint64 // bit i: f[i] was quoted
}

const maxEnvoyFields = 40

func (p *envoyParser) Parse(line string, e *Entry) error {
	*e = Entry{}
	s := stripSyslog(line)
	if len(s) == 0 || s[0] != '[' {
		return errors.New("want [START_TIME] first")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return errors.New("unterminated [START_TIME]")
	}
	var ok bool
	if e.Time, ok = parseRFC3339(s[1:end]); !ok {
		return fmt.Errorf("bad timestamp %s: want RFC 3339", quote(s[1:end]))
	}
	s = s[end+1:]
	if len(s) < 2 || s[0] != ' ' || s[1] != '"' {
		return errors.New("no quoted request line after the timestamp")
	}
	req, s, ok := cutQuoted(s[2:])
	if !ok {
		return errors.New("unterminated request line")
	}
	setRequest(e, req)
	n := p.split(s)
	if n == 0 || p.isQuoted(0) {
		return errors.New("missing status")
	}
	if e.Status, ok = parseStatus(p.f[0]); !ok {
		return fmt.Errorf("bad status %s", quote(p.f[0]))
	}
	k := p.layout(n)
	if k < 0 {
		return errors.New(`want Envoy's default format after the status: FLAGS BYTES_RECEIVED BYTES_SENT DURATION UPSTREAM_TIME "XFF" "USER-AGENT" "REQUEST-ID" "AUTHORITY"`)
	}
	if e.Bytes, ok = parseBytes(p.f[k+1]); !ok {
		return fmt.Errorf("bad bytes sent %s", quote(p.f[k+1]))
	}
	if d := p.f[k+2]; d != "-" {
		ms, ok := parseBytes(d)
		if !ok || ms > math.MaxInt64/int64(time.Millisecond) {
			return fmt.Errorf("bad duration %s", quote(d))
		}
		e.Latency = time.Duration(ms) * time.Millisecond
	}
	e.UserAgent = optional(unescape(p.f[k+5]))
	if a := p.f[k+7]; a != "-" && a != "" {
		e.Host = a
	}
	xff := p.f[k+4]
	if xff != "-" && xff != "" {
		if e.ClientIP, ok = leftmostAddr(xff); ok {
			return nil
		}
	}
	extra := p.f[min(k+9, n):n]
	if len(extra) >= 4 {
		if e.ClientIP, ok = parseAddr(extra[3]); ok {
			return nil
		}
	}
	for i := len(extra) - 1; i >= 0; i-- {
		if e.ClientIP, ok = parseAddr(extra[i]); ok {
			return nil
		}
	}
	if xff != "-" && xff != "" {
		return fmt.Errorf("bad X-Forwarded-For %s and no downstream remote address", quote(xff))
	}
	return errors.New("no client address: X-Forwarded-For is empty and no field holds the downstream remote address")
}

// split cuts s into space-separated fields, bare or quoted, up to
// maxEnvoyFields, and returns how many there are. A quoted field is stored
// without its quotes and escapes.
func (p *envoyParser) split(s string) int {
	p.quoted = 0
	n := 0
	for n < maxEnvoyFields {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if s[0] == '"' {
			f, rest, ok := cutQuoted(s[1:])
			if !ok {
				f, rest = s[1:], ""
			}
			p.f[n], s = f, rest
			p.quoted |= 1 << n
		} else {
			i := strings.IndexByte(s, ' ')
			if i < 0 {
				i = len(s)
			}
			p.f[n], s = s[:i], s[i:]
		}
		n++
	}
	return n
}

func (p *envoyParser) isQuoted(i int) bool { return p.quoted&(1<<i) != 0 }

// layout returns the index of %BYTES_RECEIVED% among the n fields after the
// request line, or -1 when they are not Envoy's default layout: three bare
// numbers (or "-") and a bare upstream time, then at least four quoted
// fields.
func (p *envoyParser) layout(n int) int {
	for k := 2; k <= 5 && k+7 < n; k++ {
		if p.isQuoted(k) || p.isQuoted(k+1) || p.isQuoted(k+2) || p.isQuoted(k+3) ||
			!numberOrDash(p.f[k]) || !numberOrDash(p.f[k+1]) || !numberOrDash(p.f[k+2]) {
			continue
		}
		if p.isQuoted(k+4) && p.isQuoted(k+5) && p.isQuoted(k+6) && p.isQuoted(k+7) {
			return k
		}
	}
	return -1
}

func numberOrDash(s string) bool {
	if s == "-" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseRFC3339 parses an RFC 3339 time and returns it in UTC.
func parseRFC3339(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	return t, inRange(t)
}

// maxJunkMethod bounds the first word of a request line that is not HTTP,
// kept as Method.
const maxJunkMethod = 32

// setRequest sets e's Method, Host, Path and Query from an HTTP request
// line ("GET /a?b HTTP/1.1"). No request line at all ("-", "", Envoy's
// "- - -": a connection closed before sending one) leaves them empty. A
// line that is not an HTTP request (a TLS handshake or other bytes sent to
// a plain-HTTP port, a bare word) sets Method to its first word (at most
// maxJunkMethod bytes, possibly not an HTTP token) and leaves Path empty:
// the client sent something, and what it sent was not HTTP.
func setRequest(e *Entry, r string) {
	r = unescape(r)
	method, target, ok := strings.Cut(r, " ")
	if method == "" || method == "-" {
		return
	}
	if !ok || !isToken(method) {
		e.Method = method[:min(len(method), maxJunkMethod)]
		return
	}
	e.Method = method
	proto := false
	if i := strings.LastIndexByte(target, ' '); i >= 0 && strings.HasPrefix(target[i+1:], "HTTP/") {
		target, proto = target[:i], true
	}
	target = strings.Trim(target, " ")
	switch {
	case target == "":
	case target[0] == '/':
		setTarget(e, target)
	case method == "CONNECT" && proto:
		e.Host = target
	default:
		if host, rest, ok := cutAbsoluteURI(target); ok {
			e.Host, e.Absolute = host, true
			setTarget(e, rest)
		} else if proto {
			// "*" for OPTIONS, or a target no server would take: keep what
			// the client sent.
			setTarget(e, target)
		}
	}
}

// setTarget sets e's Path, percent-decoded when it decodes, and Query from
// an origin-form request target.
func setTarget(e *Entry, t string) {
	if t == "" {
		e.Path = "/"
		return
	}
	if t[0] == '?' {
		e.Path, e.Query = "/", t[1:]
		return
	}
	path, query, _ := strings.Cut(t, "?")
	e.Path, e.Query = decodePath(path), query
}

// decodePath percent-decodes p, or returns it as it is when it has no
// escapes or a malformed one.
func decodePath(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	if d, err := url.PathUnescape(p); err == nil {
		return d
	}
	return p
}

// cutAbsoluteURI splits "scheme://[userinfo@]authority/rest" into the
// authority, without userinfo, and the rest (which may be "" or start with
// '?').
func cutAbsoluteURI(t string) (host, rest string, ok bool) {
	i := strings.Index(t, "://")
	if i <= 0 || i > 16 || !isScheme(t[:i]) {
		return "", "", false
	}
	auth := t[i+3:]
	j := strings.IndexAny(auth, "/?#")
	if j < 0 {
		j = len(auth)
	}
	auth, rest = auth[:j], auth[j:]
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		auth = auth[at+1:]
	}
	if k := strings.IndexByte(rest, '#'); k >= 0 {
		rest = rest[:k]
	}
	return auth, rest, auth != ""
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= 'a' && c <= 'z') && !(i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.')) {
			return false
		}
	}
	return true
}

// isToken reports whether s is an HTTP token (RFC 9110 tchar), as a method is.
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// cutQuoted returns the quoted field s starts with (s starts after the
// opening quote) up to the closing quote, and what follows the closing
// quote. A quote after an odd number of backslashes is escaped.
func cutQuoted(s string) (field, rest string, ok bool) {
	for off := 0; ; {
		i := strings.IndexByte(s[off:], '"')
		if i < 0 {
			return "", "", false
		}
		i += off
		n := 0
		for k := i - 1; k >= 0 && s[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return s[:i], s[i+1:], true
		}
		off = i + 1
	}
}

// cutToken returns the space-separated field s starts with, after one space,
// and the rest of s from the space after it.
func cutToken(s string) (tok, rest string) {
	if s == "" || s[0] != ' ' {
		return "", s
	}
	s = s[1:]
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// unescape undoes the escapes Apache (\" \\ \n \t \xHH ...) and nginx (\xHH)
// write in quoted fields. It allocates only when s has a backslash.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		switch n := s[i+1]; n {
		case '"', '\\':
			b = append(b, n)
			i++
		case 'n':
			b = append(b, '\n')
			i++
		case 'r':
			b = append(b, '\r')
			i++
		case 't':
			b = append(b, '\t')
			i++
		case 'b':
			b = append(b, '\b')
			i++
		case 'v':
			b = append(b, '\v')
			i++
		case 'x':
			if i+3 < len(s) {
				if h, ok := unhex(s[i+2]); ok {
					if l, ok := unhex(s[i+3]); ok {
						b = append(b, h<<4|l)
						i += 3
						continue
					}
				}
			}
			b = append(b, c)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// optional unescapes a quoted log field that is "-" or "" when absent.
func optional(s string) string {
	if s == "-" {
		return ""
	}
	return unescape(s)
}

// parseStatus parses an HTTP status code, 0 to 999 (0: no response sent).
func parseStatus(s string) (int, bool) {
	if s == "" || len(s) > 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int(d)
	}
	return n, true
}

// parseBytes parses a byte count; "-" is 0.
func parseBytes(s string) (int64, bool) {
	if s == "-" {
		return 0, true
	}
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int64(d)
	}
	return n, true
}

// parseAddr parses a client address, "ip", "ip:port", "[ipv6]" or
// "[ipv6]:port", without allocating. IPv4-mapped IPv6 addresses become
// IPv4 and zones are dropped.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		var port string
		switch {
		case s != "" && s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return netip.Addr{}, false
			}
			if rest := s[end+1:]; rest != "" {
				if rest[0] != ':' {
					return netip.Addr{}, false
				}
				port = rest[1:]
			}
			s = s[1:end]
		case strings.Count(s, ":") == 1:
			s, port, _ = strings.Cut(s, ":")
		default:
			return netip.Addr{}, false
		}
		if port != "" && !numberOrDash(port) || port == "-" {
			return netip.Addr{}, false
		}
		if a, err = netip.ParseAddr(s); err != nil {
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}

// leftmostAddr parses the first address of a comma-separated list, as in
// X-Forwarded-For: the client, as the first proxy saw it.
func leftmostAddr(s string) (netip.Addr, bool) {
	first, _, _ := strings.Cut(s, ",")
	return parseAddr(strings.TrimSpace(first))
}

// stripPort returns host without a trailing ":port".
func stripPort(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host[i:], ']') < 0 && numberOrDash(host[i+1:]) {
		return host[:i]
	}
	return host
}

// quote quotes s for an error message, cut to 64 bytes.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}

// stripSyslog returns the message of a line a syslog daemon wrote, without
// its header: RFC 5424 ("<134>1 2026-11-28T12:00:00Z host app - - - msg"),
// or RFC 3164 ("Nov 28 12:00:00 host app[42]: msg", with or without
// "<134>", or with an RFC 3339 time as rsyslog writes). A line without a
// header is returned as it is.
func stripSyslog(line string) string {
	s := line
	if len(s) > 2 && s[0] == '<' {
		i := 1
		for i < len(s) && i <= 4 && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 1 || i >= len(s) || s[i] != '>' {
			return line
		}
		s = s[i+1:]
		if len(s) > 2 && s[0] >= '1' && s[0] <= '9' && s[1] == ' ' {
			return strip5424(s[2:])
		}
	}
	if len(s) < 16 {
		return s
	}
	if rest, ok := cutStamp3164(s); ok {
		return cutSyslogTag(rest)
	}
	if s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[0] >= '0' && s[0] <= '9' {
		if _, rest, ok := strings.Cut(s, " "); ok {
			return cutSyslogTag(rest)
		}
	}
	return s
}

// cutStamp3164 cuts an RFC 3164 timestamp, "Nov 28 12:00:00 " or
// "Nov  8 12:00:00 ", off s.
func cutStamp3164(s string) (string, bool) {
	if monthOf(s[:3]) == 0 || s[3] != ' ' {
		return "", false
	}
	s = strings.TrimLeft(s[4:], " ")
	i := 0
	for i < len(s) && i < 2 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || len(s) < i+10 || s[i] != ' ' {
		return "", false
	}
	c := s[i+1 : i+10]
	if c[2] != ':' || c[5] != ':' || c[8] != ' ' {
		return "", false
	}
	return s[i+10:], true
}

// cutSyslogTag cuts "HOST TAG: " or "TAG: " off s, or "HOST " when no tag
// follows.
func cutSyslogTag(s string) string {
	t1, r1, ok := strings.Cut(s, " ")
	if !ok {
		return s
	}
	if isSyslogTag(t1) {
		return r1
	}
	if t2, r2, ok := strings.Cut(r1, " "); ok && isSyslogTag(t2) {
		return r2
	}
	return r1
}

// isSyslogTag reports whether t is "app:" or "app[pid]:".
func isSyslogTag(t string) bool {
	if len(t) < 2 || t[len(t)-1] != ':' {
		return false
	}
	t = t[:len(t)-1]
	if n := len(t); n > 0 && t[n-1] == ']' {
		i := strings.IndexByte(t, '[')
		if i <= 0 {
			return false
		}
		t = t[:i]
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return false
		}
	}
	return t != ""
}

// strip5424 returns the message of an RFC 5424 line after "<PRI>VERSION ":
// TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG].
func strip5424(s string) string {
	for range 5 {
		_, rest, ok := strings.Cut(s, " ")
		if !ok {
			return s
		}
		s = rest
	}
	switch {
	case strings.HasPrefix(s, "-"):
		s = s[1:]
	case strings.HasPrefix(s, "["):
		for len(s) > 0 && s[0] == '[' {
			i := 1
			for i < len(s) && s[i] != ']' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(s) {
				return ""
			}
			s = s[i+1:]
		}
	}
	s = strings.TrimPrefix(s, " ")
	return strings.TrimPrefix(s, "\uFEFF")
}

// JSONMapping names the JSON fields (dotted paths for nested objects, e.g.
// "request.method") that hold each Entry field. A key that itself holds
// dots ("http.request.method" as one key) is found too. An empty field
// takes the first of its defaults a line has, chosen to read nginx
// (escape=json), Caddy, Traefik, Envoy and Elastic Common Schema logs:
//
//	Time       time, @timestamp, timestamp, ts, time_local, time_iso8601, start_time, StartUTC
//	ClientIP   client_ip, remote_addr, ip, src_ip, client.ip, source.ip, ClientAddr, ClientHost,
//	           request.client_ip, request.remote_ip, downstream_remote_address
//	Method     method, request_method, http.request.method, RequestMethod, request.method
//	Host       host, http_host, RequestHost, request.host, authority, url.domain
//	Path       path, uri, request_uri, url, url.path, RequestPath, request.uri
//	Query      query, query_string, args, url.query
//	Status     status, status_code, response_code, http.response.status_code, DownstreamStatus
//	Bytes      bytes, body_bytes_sent, bytes_sent, size, DownstreamContentSize, http.response.body.bytes
//	Latency    latency_ms (ms), duration_ms (ms), request_time (s), duration (s, as Caddy writes it),
//	           Duration (ns, Traefik), event.duration (ns, ECS)
//	UserAgent  user_agent, http_user_agent, user_agent.original, request_User-Agent, request.headers.User-Agent
//	Referer    referer, http_referer, request_Referer, request.headers.Referer, http.request.referrer
//
// APIKey, KeyID, User and Session have no defaults: they are read only
// when named.
//
// TimeFormat is "" (RFC 3339, "02/Jan/2006:15:04:05 -0700", or a Unix time
// as a number or numeric string: seconds, with a fraction, below 1e11,
// milliseconds below 1e14, microseconds below 1e17, else nanoseconds),
// "unix", "unix_ms", "unix_us", "unix_ns", or a Go time layout.
//
// Latency may be "NAME:UNIT" with UNIT one of s, ms, us, ns. Without a unit
// a named field holds the unit of the default of the same name, or the
// one its name ends with (_s, _sec, _seconds, _ms, _us, _ns), else
// milliseconds. A string holding a Go duration ("12.5ms") is read as one.
// Path may hold a query, which it loses to Query, or an absolute URL, which
// sets Host too; ClientIP may hold a port or a list of addresses (the
// leftmost is the client).
type JSONMapping struct {
	Time, TimeFormat, ClientIP, Method, Host, Path, Query, Status, Bytes, Latency, UserAgent, Referer, APIKey, KeyID, User, Session string
}

// jsonField is where one Entry field is found: the names to try in order,
// and whether they were named (a value of the wrong type is then an error
// rather than a reason to try the next name).
type jsonField struct {
	names []jsonName
	named bool
}

type jsonName struct {
	path string
	unit time.Duration // latency only
}

func defaults(paths ...string) jsonField {
	f := jsonField{names: make([]jsonName, len(paths))}
	for i, p := range paths {
		f.names[i].path = p
	}
	return f
}

var latencyDefaults = []jsonName{
	{"latency_ms", time.Millisecond}, {"duration_ms", time.Millisecond}, {"request_time", time.Second},
	{"duration", time.Second}, {"Duration", time.Nanosecond}, {"event.duration", time.Nanosecond},
}

// jsonParser parses one JSON object per line. It favours simplicity over
// speed: each line is decoded into a map.
type jsonParser struct {
	time, clientIP, method, host, path, query, status, bytes, latency jsonField
	userAgent, referer, apiKey, keyID, user, session                  jsonField
	action, reason                                                    jsonField // abuseguard's own access log
	timeFormat                                                        string
}

func newJSONParser(m JSONMapping) (*jsonParser, error) {
	p := &jsonParser{
		time:      defaults("time", "@timestamp", "timestamp", "ts", "time_local", "time_iso8601", "start_time", "StartUTC"),
		clientIP:  defaults("client_ip", "remote_addr", "ip", "src_ip", "client.ip", "source.ip", "ClientAddr", "ClientHost", "request.client_ip", "request.remote_ip", "downstream_remote_address"),
		method:    defaults("method", "request_method", "http.request.method", "RequestMethod", "request.method"),
		host:      defaults("host", "http_host", "RequestHost", "request.host", "authority", "url.domain"),
		path:      defaults("path", "uri", "request_uri", "url", "url.path", "RequestPath", "request.uri"),
		query:     defaults("query", "query_string", "args", "url.query"),
		status:    defaults("status", "status_code", "response_code", "http.response.status_code", "DownstreamStatus"),
		bytes:     defaults("bytes", "body_bytes_sent", "bytes_sent", "size", "DownstreamContentSize", "http.response.body.bytes"),
		latency:   jsonField{names: latencyDefaults},
		userAgent: defaults("user_agent", "http_user_agent", "user_agent.original", "request_User-Agent", "request.headers.User-Agent"),
		referer:   defaults("referer", "http_referer", "request_Referer", "request.headers.Referer", "http.request.referrer"),
		action:    defaults("action"),
		reason:    defaults("reason"),
	}
	for _, f := range []struct {
		name string
		dst  *jsonField
	}{
		{m.Time, &p.time}, {m.ClientIP, &p.clientIP}, {m.Method, &p.method}, {m.Host, &p.host}, {m.Path, &p.path},
		{m.Query, &p.query}, {m.Status, &p.status}, {m.Bytes, &p.bytes}, {m.UserAgent, &p.userAgent},
		{m.Referer, &p.referer}, {m.APIKey, &p.apiKey}, {m.KeyID, &p.keyID}, {m.User, &p.user}, {m.Session, &p.session},
	} {
		if f.name != "" {
			*f.dst = jsonField{names: []jsonName{{path: f.name}}, named: true}
		}
	}
	if m.Latency != "" {
		n, err := latencyName(m.Latency)
		if err != nil {
			return nil, err
		}
		p.latency = jsonField{names: []jsonName{n}, named: true}
	}
	switch m.TimeFormat {
	case "", "unix", "unix_ms", "unix_us", "unix_ns":
	default:
		if !strings.ContainsAny(m.TimeFormat, "0123456789") {
			return nil, fmt.Errorf("time format %q: want unix, unix_ms, unix_us, unix_ns or a Go layout such as 2006-01-02T15:04:05Z07:00", m.TimeFormat)
		}
	}
	p.timeFormat = m.TimeFormat
	return p, nil
}

// latencyName parses a mapped latency field, "NAME" or "NAME:UNIT".
func latencyName(s string) (jsonName, error) {
	units := map[string]time.Duration{"s": time.Second, "ms": time.Millisecond, "us": time.Microsecond, "µs": time.Microsecond, "ns": time.Nanosecond}
	if name, u, ok := strings.Cut(s, ":"); ok {
		unit, known := units[u]
		if name == "" || !known {
			return jsonName{}, fmt.Errorf("latency field %q: want NAME or NAME:UNIT with UNIT one of s, ms, us, ns", s)
		}
		return jsonName{name, unit}, nil
	}
	for _, d := range latencyDefaults {
		if d.path == s {
			return d, nil
		}
	}
	lower := strings.ToLower(s)
	for _, suf := range []struct {
		s    string
		unit time.Duration
	}{{"_seconds", time.Second}, {"_sec", time.Second}, {"_s", time.Second}, {"_ms", time.Millisecond}, {"_us", time.Microsecond}, {"_ns", time.Nanosecond}} {
		if strings.HasSuffix(lower, suf.s) {
			return jsonName{s, suf.unit}, nil
		}
	}
	return jsonName{s, time.Millisecond}, nil
}

func (p *jsonParser) Parse(line string, e *Entry) error {
	*e = Entry{}
	s := strings.TrimSpace(line)
	if s != "" && s[0] != '{' {
		s = stripSyslog(s)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	if m == nil {
		return errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("bad JSON: data after the object")
	}

	v, name, err := p.time.get(m)
	if err != nil {
		return err
	}
	if name == "" {
		return errors.New("missing time")
	}
	var ok bool
	if e.Time, ok = parseJSONTime(v, p.timeFormat); !ok {
		return fmt.Errorf("bad timestamp %s in %q", quote(v), name)
	}

	if v, name, err = p.clientIP.get(m); err != nil {
		return err
	}
	if name == "" {
		return errors.New("no client address")
	}
	if e.ClientIP, ok = leftmostAddr(v); !ok {
		return fmt.Errorf("bad client address %s in %q", quote(v), name)
	}

	if v, name, err = p.status.get(m); err != nil {
		return err
	}
	if name == "" {
		return errors.New("missing status")
	}
	if e.Status, ok = parseStatus(strings.TrimSpace(v)); !ok {
		return fmt.Errorf("bad status %s in %q", quote(v), name)
	}

	if v, name, err = p.bytes.get(m); err != nil {
		return err
	}
	if name != "" && v != "" {
		if e.Bytes, ok = parseBytes(v); !ok {
			return fmt.Errorf("bad bytes %s in %q", quote(v), name)
		}
	}

	var unit time.Duration
	if v, unit, err = p.latency.getLatency(m); err != nil {
		return err
	}
	if unit != 0 && v != "" {
		if e.Latency, ok = parseLatency(v, unit); !ok {
			return fmt.Errorf("bad latency %s", quote(v))
		}
	}

	if v, _, err = p.path.get(m); err != nil {
		return err
	}
	if host, rest, ok := cutAbsoluteURI(v); ok {
		e.Host = host
		setTarget(e, rest)
	} else if v != "" {
		setTarget(e, v)
	}
	if e.Query == "" {
		q, _, err := p.query.get(m)
		if err != nil {
			return err
		}
		if q != "-" {
			e.Query = strings.TrimPrefix(q, "?")
		}
	}
	for _, f := range []struct {
		field *jsonField
		dst   *string
	}{
		{&p.method, &e.Method}, {&p.host, &e.Host}, {&p.userAgent, &e.UserAgent}, {&p.referer, &e.Referer},
		{&p.apiKey, &e.APIKey}, {&p.keyID, &e.KeyID}, {&p.user, &e.User}, {&p.session, &e.Session},
	} {
		v, name, err := f.field.get(m)
		if err != nil {
			return err
		}
		if name != "" && v != "-" && v != "" {
			*f.dst = v
		}
	}
	action, _, _ := p.action.get(m)
	reason, _, _ := p.reason.get(m)
	e.GuardRefused = guardRefused(action, reason)
	return nil
}

// guardRefused reports whether an access log line's action and reason
// (abuseguard's own log) record an answer the guard gave itself.
func guardRefused(action, reason string) bool {
	switch action {
	case "", "allow":
		switch reason {
		case "request_too_large", "body_timeout", "client_closed":
			return true
		}
		return false
	}
	return true
}

// get returns the value of the first of f's names that m holds as a scalar
// (a string, number or bool, or an array whose first element is one, as
// Caddy logs headers), and its name; name is "" when m holds none.
func (f *jsonField) get(m map[string]any) (v, name string, err error) {
	for _, n := range f.names {
		raw, ok := lookup(m, n.path)
		if !ok || raw == nil {
			continue
		}
		if v, ok := scalar(raw); ok {
			return v, n.path, nil
		}
		if f.named {
			return "", "", fmt.Errorf("field %q is not a string or number", n.path)
		}
	}
	return "", "", nil
}

// getLatency is get for the latency field, returning its unit (0 when m
// has none of its names).
func (f *jsonField) getLatency(m map[string]any) (string, time.Duration, error) {
	v, name, err := f.get(m)
	if err != nil || name == "" {
		return "", 0, err
	}
	for _, n := range f.names {
		if n.path == name {
			return v, n.unit, nil
		}
	}
	return "", 0, nil
}

// lookup finds path in m: as one key, or as a dotted path through nested
// objects (whose keys may hold dots themselves).
func lookup(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if sub, ok := m[path[:i]].(map[string]any); ok {
			if v, ok := lookup(sub, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	case []any:
		if len(v) > 0 {
			return scalar(v[0])
		}
	}
	return "", false
}

// parseJSONTime parses a JSON time value in layout (see
// JSONMapping.TimeFormat) and returns it in UTC.
func parseJSONTime(v, layout string) (time.Time, bool) {
	var t time.Time
	switch layout {
	case "":
		if isNumber(v) {
			return unixTime(v, 0)
		}
		if t, ok := parseCLFTime(v); ok {
			return t, true
		}
		for _, l := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
			if pt, err := time.Parse(l, v); err == nil {
				t = pt
				break
			}
		}
	case "unix":
		return unixTime(v, time.Second)
	case "unix_ms":
		return unixTime(v, time.Millisecond)
	case "unix_us":
		return unixTime(v, time.Microsecond)
	case "unix_ns":
		return unixTime(v, time.Nanosecond)
	default:
		pt, err := time.Parse(layout, v)
		if err != nil {
			return time.Time{}, false
		}
		t = pt
	}
	t = t.UTC()
	return t, inRange(t)
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil && s != "" && (s[0] >= '0' && s[0] <= '9')
}

// unixTime parses a Unix time in unit, or, when unit is 0, in the unit its
// magnitude suggests (see JSONMapping.TimeFormat).
func unixTime(s string, unit time.Duration) (time.Time, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return time.Time{}, false
	}
	if unit == 0 {
		switch {
		case f < 1e11:
			unit = time.Second
		case f < 1e14:
			unit = time.Millisecond
		case f < 1e17:
			unit = time.Microsecond
		default:
			unit = time.Nanosecond
		}
	}
	var t time.Time
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch unit {
		case time.Second:
			if n > 253402300799 { // after 9999
				return time.Time{}, false
			}
			t = time.Unix(n, 0)
		case time.Millisecond:
			t = time.UnixMilli(n)
		case time.Microsecond:
			t = time.UnixMicro(n)
		default:
			t = time.Unix(0, n)
		}
	} else {
		secs := f * unit.Seconds()
		if secs > 253402300799 {
			return time.Time{}, false
		}
		whole := math.Floor(secs)
		t = time.Unix(int64(whole), int64((secs-whole)*1e9))
	}
	t = t.UTC()
	return t, inRange(t)
}

// parseLatency parses a number of units, or a Go duration string.
func parseLatency(v string, unit time.Duration) (time.Duration, bool) {
	if v == "-" {
		return 0, true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		d := f * float64(unit)
		if !(d >= 0 && d < 1<<63) {
			return 0, false
		}
		return time.Duration(d), true
	}
	d, err := time.ParseDuration(v)
	return d, err == nil && d >= 0
}

var (
	_ Parser = (*combinedParser)(nil)
	_ Parser = (*envoyParser)(nil)
	_ Parser = (*jsonParser)(nil)
)
