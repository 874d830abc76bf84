package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/abuseguard/abuseguard/internal/request"
)

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
// APIKey, KeyID, User, Session and Body have no defaults: they are read
// only when named. Body is the request body or its field names: a JSON
// object (its top-level keys), an array of names, or a string holding a
// JSON object or a form (request.ReadBodyFields); its names land in
// Entry.BodyFields. A line with a blank or absent client address is taken when
// it has one of them (the client is told by it), and is a bad line
// otherwise.
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
	// Body names the field holding the request body or its field names.
	Body string
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
	body                                                              string    // the named body field, "" for none
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
	p.body = m.Body
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
	// A blank address ("" or "-", or none) is taken when the line names
	// its client otherwise (a session, key or user), checked at the end.
	noAddr := name == "" || strings.TrimSpace(v) == "" || strings.TrimSpace(v) == "-"
	if !noAddr {
		if e.ClientIP, ok = leftmostAddr(v); !ok {
			return fmt.Errorf("bad client address %s in %q", quote(v), name)
		}
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
	if p.body != "" {
		if err := readBody(m, p.body, e); err != nil {
			return err
		}
	}
	action, _, _ := p.action.get(m)
	reason, _, _ := p.reason.get(m)
	e.GuardRefused = guardRefused(action, reason)
	if noAddr && e.Session == "" && e.APIKey == "" && e.KeyID == "" && e.User == "" {
		return errors.New("no client address, and no session, API key or user to tell the client by")
	}
	return nil
}

// readBody sets e.BodyFields from m's field name: a JSON object's keys, an
// array of names, or a string body (a JSON object or a form); absent or
// null is no body. Another type is an error.
func readBody(m map[string]any, name string, e *Entry) error {
	raw, ok := lookup(m, name)
	if !ok || raw == nil {
		return nil
	}
	var bf request.BodyFields
	switch b := raw.(type) {
	case map[string]any:
		keys := make([]string, 0, len(b))
		for k := range b {
			keys = append(keys, k)
		}
		sort.Strings(keys) // a map has no order; the line's is lost
		e.BodyFields = keys
		return nil
	case []any:
		for _, x := range b {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("field %q: want an array of field names, got %s", name, quote(fmt.Sprint(x)))
			}
			e.BodyFields = append(e.BodyFields, s)
		}
		return nil
	case string:
		ct := "application/x-www-form-urlencoded"
		if t := strings.TrimSpace(b); strings.HasPrefix(t, "{") {
			ct = "application/json"
		}
		request.ReadBodyFields([]byte(b), ct, &bf)
		e.BodyFields = bf.Names()
		return nil
	}
	return fmt.Errorf("field %q is not a body: want an object, an array of names or a string", name)
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
		if t, ok := ParseCLFTime(v); ok {
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

var _ Parser = (*jsonParser)(nil)
