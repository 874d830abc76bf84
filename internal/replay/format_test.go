package replay

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseCase is one line in one format, and the entry, or the error text, it
// should give.
type parseCase struct {
	name    string
	format  string
	mapping JSONMapping
	line    string
	want    Entry
	err     string // a substring of the error; "" when the line parses
}

// ip is the client address most cases use.
var ip = netip.MustParseAddr("203.0.113.7")

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

func runParseCases(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.format+"/"+c.name, func(t *testing.T) {
			p, err := NewParser(c.format, c.mapping)
			if err != nil {
				t.Fatal(err)
			}
			var got Entry
			err = p.Parse(c.line, &got)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q (entry %+v)", err, c.err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !got.Time.Equal(c.want.Time) || got.Time.Location() != time.UTC {
				t.Errorf("Time = %v, want %v in UTC", got.Time, c.want.Time)
			}
			got.Time, c.want.Time = time.Time{}, time.Time{}
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseCombined(t *testing.T) {
	const ts = "[28/Nov/2026:12:00:00 +0000]"
	typical := ip.String() + ` - - ` + ts + ` "GET /products/42?color=red HTTP/1.1" 200 5120 "https://shop.example/" "` + firefox + `"`
	want := Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/products/42", Query: "color=red", Status: 200, Bytes: 5120,
		Referer: "https://shop.example/", UserAgent: firefox}
	with := func(f func(e *Entry)) Entry {
		e := want
		f(&e)
		return e
	}
	cases := []parseCase{
		{name: "nginx default", line: typical, want: want},
		{name: "zone offset", line: strings.Replace(typical, ts, "[28/Nov/2026:13:30:00 +0130]", 1), want: want},
		{name: "negative offset", line: strings.Replace(typical, ts, "[28/Nov/2026:07:00:00 -0500]", 1), want: want},
		{name: "leap day", line: strings.Replace(typical, ts, "[29/Feb/2028:12:00:00 +0000]", 1),
			want: with(func(e *Entry) { e.Time = time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC) })},
		{name: "common log format", line: `198.51.100.4 - alice [28/Nov/2026:12:00:00 +0000] "POST /login HTTP/1.0" 401 -`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("198.51.100.4"), Method: "POST", Path: "/login", Status: 401, User: "alice"}},
		{name: "nginx main with forwarded-for and request time", line: typical + ` "192.0.2.1, 10.0.0.2" 0.012 0.010`, want: want},
		{name: "ipv6 client", line: `2001:db8::42 - - ` + ts + ` "GET / HTTP/2.0" 304 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("2001:db8::42"), Method: "GET", Path: "/", Status: 304}},
		{name: "ipv4-mapped client", line: `::ffff:192.0.2.9 - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "-"`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("192.0.2.9"), Method: "GET", Path: "/", Status: 200, Bytes: 1}},
		{name: "apache escaped quotes", line: ip.String() + ` - - ` + ts + ` "GET /q?s=\"x\" HTTP/1.1" 200 10 "-" "Mozilla/5.0 \"quoted\" agent \\ end"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/q", Query: `s="x"`, Status: 200, Bytes: 10, UserAgent: `Mozilla/5.0 "quoted" agent \ end`}},
		{name: "nginx hex escapes", line: ip.String() + ` - - ` + ts + ` "GET /search?q=\x22shoes\x22 HTTP/1.1" 200 10 "-" "bot \x22v2\x22"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/search", Query: `q="shoes"`, Status: 200, Bytes: 10, UserAgent: `bot "v2"`}},
		{name: "tls handshake on plain http", line: ip.String() + ` - - ` + ts + ` "\x16\x03\x01\x00\xA5\x01\x00\x00\xA1\x03\x03" 400 157 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "\x16\x03\x01\x00\xA5\x01\x00\x00\xA1\x03\x03", Status: 400, Bytes: 157}},
		{name: "empty request line", line: ip.String() + ` - - ` + ts + ` "-" 408 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Status: 408}},
		{name: "nothing in the request line", line: ip.String() + ` - - ` + ts + ` "" 400 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Status: 400}},
		{name: "garbage request line", line: ip.String() + ` - - ` + ts + ` "MGLNDD_203.0.113.1_443" 400 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "MGLNDD_203.0.113.1_443", Status: 400}},
		{name: "binary words", line: ip.String() + ` - - ` + ts + ` "\x05\x01\x00 \x03junk" 400 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "\x05\x01\x00", Status: 400}},
		{name: "long junk is clipped", line: ip.String() + ` - - ` + ts + ` "` + strings.Repeat("Z", 80) + `" 400 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: strings.Repeat("Z", 32), Status: 400}},
		{name: "method without a target", line: ip.String() + ` - - ` + ts + ` "GET" 400 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Status: 400}},
		{name: "absolute uri", line: ip.String() + ` - - ` + ts + ` "GET http://proxy-check.example:8080/ip?fmt=json HTTP/1.1" 404 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Absolute: true, Host: "proxy-check.example:8080", Path: "/ip", Query: "fmt=json", Status: 404}},
		{name: "absolute uri without path", line: ip.String() + ` - - ` + ts + ` "GET https://user@proxy-check.example HTTP/1.1" 404 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Absolute: true, Host: "proxy-check.example", Path: "/", Status: 404}},
		{name: "connect", line: ip.String() + ` - - ` + ts + ` "CONNECT example.org:443 HTTP/1.1" 405 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "CONNECT", Host: "example.org:443", Status: 405}},
		{name: "options star", line: ip.String() + ` - - ` + ts + ` "OPTIONS * HTTP/1.1" 200 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "OPTIONS", Path: "*", Status: 200}},
		{name: "http/0.9", line: ip.String() + ` - - ` + ts + ` "GET /" 200 12`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/", Status: 200, Bytes: 12}},
		{name: "space in target", line: ip.String() + ` - - ` + ts + ` "GET /a b HTTP/1.1" 400 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/a b", Status: 400}},
		{name: "percent-encoded path", line: ip.String() + ` - - ` + ts + ` "GET /files/na%C3%AFve%20plan.pdf?x=%20 HTTP/1.1" 200 10 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/files/naïve plan.pdf", Query: "x=%20", Status: 200, Bytes: 10}},
		{name: "malformed percent-encoding kept raw", line: ip.String() + ` - - ` + ts + ` "GET /a%zz/..%c0%af HTTP/1.1" 400 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/a%zz/..%c0%af", Status: 400}},
		{name: "query only", line: ip.String() + ` - - ` + ts + ` "GET /?id=1%27 HTTP/1.1" 200 1 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/", Query: "id=1%27", Status: 200, Bytes: 1}},
		{name: "status 499", line: strings.Replace(typical, `" 200 5120`, `" 499 0`, 1),
			want: with(func(e *Entry) { e.Status, e.Bytes = 499, 0 })},
		{name: "user with space", line: ip.String() + ` - bob smith ` + ts + ` "GET / HTTP/1.1" 200 1`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/", Status: 200, Bytes: 1, User: "bob smith"}},
		{name: "syslog rfc3164", line: "Nov 28 12:00:00 web-1 nginx: " + typical, want: want},
		{name: "syslog rfc3164 priority pid short day", line: "<190>Nov  8 12:00:00 web-1 nginx[812]: " + typical, want: want},
		{name: "syslog rfc3164 no host", line: "<190>Nov 28 12:00:00 nginx: " + typical, want: want},
		{name: "syslog rfc5424", line: "<134>1 2026-11-28T12:00:00.000Z web-1 nginx - - - " + typical, want: want},
		{name: "syslog rfc5424 structured data and bom", line: `<134>1 2026-11-28T12:00:00Z web-1 nginx 812 access [meta seq="1" note="a\]b"][x y="2"] ` + "\uFEFF" + typical, want: want},
		{name: "rsyslog rfc3339 time", line: "2026-11-28T12:00:00.123456+00:00 web-1 nginx: " + typical, want: want},

		{name: "empty", line: "", err: "truncated line"},
		{name: "only an address", line: "203.0.113.7", err: "truncated line"},
		{name: "hostname client", line: `crawler.example.net - - ` + ts + ` "GET / HTTP/1.1" 200 1`, err: "bad client address"},
		{name: "vhost is not combined", line: `shop.example:443 ` + typical, err: "bad client address"},
		{name: "no timestamp", line: ip.String() + ` - - "GET / HTTP/1.1" 200 1`, err: "no [timestamp]"},
		{name: "bad hour", line: strings.Replace(typical, ts, "[28/Nov/2026:25:00:00 +0000]", 1), err: "bad timestamp"},
		{name: "bad month", line: strings.Replace(typical, ts, "[28/Noo/2026:12:00:00 +0000]", 1), err: "bad timestamp"},
		{name: "february 30", line: strings.Replace(typical, ts, "[30/Feb/2026:12:00:00 +0000]", 1), err: "bad timestamp"},
		{name: "year 1", line: strings.Replace(typical, ts, "[01/Jan/0001:00:00:00 +0000]", 1), err: "bad timestamp"},
		{name: "iso timestamp", line: strings.Replace(typical, ts, "[2026-11-28T12:00:00Z]", 1), err: "bad timestamp"},
		{name: "no zone", line: strings.Replace(typical, ts, "[28/Nov/2026:12:00:00]", 1), err: "bad timestamp"},
		{name: "unquoted request", line: ip.String() + ` - - ` + ts + ` GET / HTTP/1.1 200 1`, err: "no quoted request line"},
		{name: "unterminated request", line: ip.String() + ` - - ` + ts + ` "GET / HTTP/1.1`, err: "unterminated request line"},
		{name: "missing status", line: ip.String() + ` - - ` + ts + ` "GET / HTTP/1.1"`, err: "missing status"},
		{name: "bad status", line: strings.Replace(typical, `" 200 5120`, `" 2x0 5120`, 1), err: "bad status"},
		{name: "status too long", line: strings.Replace(typical, `" 200 5120`, `" 2000 5120`, 1), err: "bad status"},
		{name: "missing bytes", line: ip.String() + ` - - ` + ts + ` "GET / HTTP/1.1" 200`, err: "missing bytes"},
		{name: "bad bytes", line: strings.Replace(typical, `" 200 5120`, `" 200 5k`, 1), err: "bad bytes"},
		{name: "unterminated user agent", line: ip.String() + ` - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "curl`, err: "unterminated user agent"},
	}
	for i := range cases {
		cases[i].format = "combined"
	}
	runParseCases(t, cases)
}

func TestParseApache(t *testing.T) {
	const ts = "[28/Nov/2026:12:00:00 +0000]"
	runParseCases(t, []parseCase{
		{name: "vhost_combined", format: "apache", line: `shop.example:443 ` + ip.String() + ` - - ` + ts + ` "GET /cart HTTP/1.1" 200 10 "-" "curl/8.5.0"`,
			want: Entry{Time: t0, ClientIP: ip, Host: "shop.example", Method: "GET", Path: "/cart", Status: 200, Bytes: 10, UserAgent: "curl/8.5.0"}},
		{name: "vhost_combined ipv6 client", format: "apache", line: `shop.example:80 2001:db8::1 - carol ` + ts + ` "GET / HTTP/1.1" 200 10`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("2001:db8::1"), Host: "shop.example", Method: "GET", Path: "/", Status: 200, Bytes: 10, User: "carol"}},
		{name: "combined", format: "apache", line: ip.String() + ` - - ` + ts + ` "HEAD / HTTP/1.1" 200 0 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "HEAD", Path: "/", Status: 200}},
		{name: "common", format: "apache", line: ip.String() + ` - - ` + ts + ` "GET /robots.txt HTTP/1.1" 404 196`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/robots.txt", Status: 404, Bytes: 196}},
		{name: "nginx alias", format: "nginx", line: ip.String() + ` - - ` + ts + ` "GET / HTTP/1.1" 200 1 "-" "-"`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Path: "/", Status: 200, Bytes: 1}},
		{name: "vhost with a bad client", format: "apache", line: `shop.example:443 nohost - - ` + ts + ` "GET / HTTP/1.1" 200 1`, err: "bad client address"},
	})
}

func TestParseEnvoy(t *testing.T) {
	const head = `[2026-11-28T12:00:00.123Z] "POST /api/v1/orders?dry=1 HTTP/2" 201 - 154 512 37 35 `
	at := t0.Add(123 * time.Millisecond)
	want := Entry{Time: at, ClientIP: ip, Method: "POST", Host: "api.shop.example", Path: "/api/v1/orders", Query: "dry=1",
		Status: 201, Bytes: 512, Latency: 37 * time.Millisecond, UserAgent: "okhttp/4.12.0"}
	with := func(f func(e *Entry)) Entry {
		e := want
		f(&e)
		return e
	}
	const tail = ` "okhttp/4.12.0" "7f3c2a9e-1b2d-4c5e-8f90-123456789abc" "api.shop.example" "10.1.2.3:8080"`
	cases := []parseCase{
		{name: "default", line: head + `"203.0.113.7"` + tail, want: want},
		{name: "forwarded-for list with port", line: head + `"203.0.113.7:51234, 10.0.0.1"` + tail, want: want},
		{name: "forwarded-for ipv6", line: head + `"[2001:db8::7]:443,10.0.0.1"` + tail,
			want: with(func(e *Entry) { e.ClientIP = netip.MustParseAddr("2001:db8::7") })},
		{name: "offset time", line: strings.Replace(head, "12:00:00.123Z", "13:00:00.123+01:00", 1) + `"203.0.113.7"` + tail, want: want},
		{name: "no upstream time", line: strings.Replace(head, " 37 35 ", " 37 - ", 1) + `"203.0.113.7"` + tail, want: want},
		{name: "extra fields", line: head + `"203.0.113.7"` + tail + ` "-" 198.51.100.9:40000`, want: want},
		{name: "no forwarded-for, appended downstream address", line: head + `"-"` + tail + ` "-" 198.51.100.9:40000`,
			want: with(func(e *Entry) { e.ClientIP = netip.MustParseAddr("198.51.100.9") })},
		{name: "istio layout", line: `[2026-11-28T12:00:00.123Z] "POST /api/v1/orders?dry=1 HTTP/2" 201 - via_upstream - "-" 154 512 37 35 "-"` + tail +
			` outbound|8080||orders.shop.svc.cluster.local 10.1.0.4:39612 10.1.0.4:8080 203.0.113.7:52110 - default`, want: want},
		{name: "istio layout ipv6 downstream", line: `[2026-11-28T12:00:00.123Z] "POST /api/v1/orders?dry=1 HTTP/2" 201 - via_upstream - "-" 154 512 37 35 "-"` + tail +
			` cluster 10.1.0.4:39612 10.1.0.4:8080 [2001:db8::9]:52110 - default`, want: with(func(e *Entry) { e.ClientIP = netip.MustParseAddr("2001:db8::9") })},
		{name: "old istio layout", line: `[2026-11-28T12:00:00.123Z] "POST /api/v1/orders?dry=1 HTTP/2" 201 - "-" "-" 154 512 37 35 "203.0.113.7"` + tail, want: want},
		{name: "bad forwarded-for falls back", line: head + `"unknown, 10.0.0.1"` + tail + ` c 10.1.0.4:1 10.1.0.4:8080 203.0.113.7:52110`, want: want},
		{name: "no upstream host", line: head + `"203.0.113.7" "okhttp/4.12.0" "id" "api.shop.example"`, want: want},
		{name: "no authority", line: head + `"203.0.113.7" "okhttp/4.12.0" "id" "-" "-"`, want: with(func(e *Entry) { e.Host = "" })},
		{name: "tcp proxy", line: `[2026-11-28T12:00:00.123Z] "- - -" 0 UF 0 0 1 - "203.0.113.7" "-" "-" "-" "10.1.2.3:5432"`,
			want: Entry{Time: at, ClientIP: ip, Latency: time.Millisecond}},
		{name: "syslog wrapped", line: "<134>Nov 28 12:00:00 edge-1 envoy[1]: " + head + `"203.0.113.7"` + tail, want: want},

		{name: "no forwarded-for and no downstream address", line: head + `"-"` + tail, err: "no client address"},
		{name: "bad forwarded-for", line: head + `"unknown"` + tail, err: "bad X-Forwarded-For"},
		{name: "bad time", line: strings.Replace(head, "2026-11-28T12:00:00.123Z", "28/Nov/2026:12:00:00 +0000", 1) + `"203.0.113.7"` + tail, err: "bad timestamp"},
		{name: "no time", line: `"GET / HTTP/1.1" 200 - 0 0 1 1 "203.0.113.7" "-" "-" "-" "-"`, err: "want [START_TIME]"},
		{name: "bad status", line: strings.Replace(head, " 201 ", " OK ", 1) + `"203.0.113.7"` + tail, err: "bad status"},
		{name: "missing status", line: `[2026-11-28T12:00:00.123Z] "GET / HTTP/1.1"`, err: "missing status"},
		{name: "bad duration", line: strings.Replace(head, " 37 35 ", " 99999999999999999 35 ", 1) + `"203.0.113.7"` + tail, err: "bad duration"},
		{name: "truncated", line: `[2026-11-28T12:00:00.123Z] "GET / HTTP/1.1" 200 - 0 0`, err: "default format"},
		{name: "combined line", line: ip.String() + ` - - [28/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1`, err: "want [START_TIME]"},
	}
	for i := range cases {
		cases[i].format = "envoy"
	}
	runParseCases(t, cases)
}

func TestParseJSON(t *testing.T) {
	unix := strconv.FormatInt(t0.Unix(), 10)
	cases := []parseCase{
		{name: "nginx escape=json", line: `{"time_local":"28/Nov/2026:12:00:00 +0000","remote_addr":"203.0.113.7","request_method":"GET","request_uri":"/search?q=shoes","status":"200","body_bytes_sent":"512","request_time":"0.042","http_referer":"-","http_user_agent":"Mozilla/5.0","http_host":"shop.example"}`,
			want: Entry{Time: t0, ClientIP: ip, Method: "GET", Host: "shop.example", Path: "/search", Query: "q=shoes", Status: 200, Bytes: 512, Latency: 42 * time.Millisecond, UserAgent: "Mozilla/5.0"}},
		{name: "caddy", line: `{"level":"info","ts":` + unix + `.5,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"10.0.0.1","remote_port":"50412","client_ip":"203.0.113.7","proto":"HTTP/2.0","method":"GET","host":"api.example","uri":"/v1/items%2Fx?page=2","headers":{"User-Agent":["curl/8.5.0"],"Referer":["https://api.example/"]}},"bytes_read":0,"duration":0.0031,"size":2048,"status":200}`,
			want: Entry{Time: t0.Add(500 * time.Millisecond), ClientIP: ip, Method: "GET", Host: "api.example", Path: "/v1/items/x", Query: "page=2", Status: 200, Bytes: 2048, Latency: 3100 * time.Microsecond, UserAgent: "curl/8.5.0", Referer: "https://api.example/"}},
		{name: "traefik", line: `{"ClientAddr":"[2001:db8::7]:41000","ClientHost":"2001:db8::7","DownstreamContentSize":77,"DownstreamStatus":404,"Duration":1500000,"RequestHost":"shop.example","RequestMethod":"GET","RequestPath":"/wp-login.php","StartUTC":"2026-11-28T11:59:59.9Z","request_User-Agent":"Mozilla/5.0","time":"2026-11-28T13:00:00+01:00"}`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("2001:db8::7"), Method: "GET", Host: "shop.example", Path: "/wp-login.php", Status: 404, Bytes: 77, Latency: 1500 * time.Microsecond, UserAgent: "Mozilla/5.0"}},
		{name: "ecs nested", line: `{"@timestamp":"2026-11-28T12:00:00Z","source":{"ip":"198.51.100.2"},"http":{"request":{"method":"DELETE"},"response":{"status_code":204}},"url":{"path":"/v1/keys/7","query":"force=1"},"user_agent":{"original":"Go-http-client/1.1"},"event":{"duration":2000000}}`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("198.51.100.2"), Method: "DELETE", Path: "/v1/keys/7", Query: "force=1", Status: 204, Latency: 2 * time.Millisecond, UserAgent: "Go-http-client/1.1"}},
		{name: "dotted keys", line: `{"@timestamp":"2026-11-28T12:00:00Z","source.ip":"198.51.100.2","http.request.method":"GET","http.response.status_code":200}`,
			want: Entry{Time: t0, ClientIP: netip.MustParseAddr("198.51.100.2"), Method: "GET", Status: 200}},
		{name: "unix milliseconds", line: `{"ts":` + unix + `123,"ip":"203.0.113.7","status":200}`,
			want: Entry{Time: t0.Add(123 * time.Millisecond), ClientIP: ip, Status: 200}},
		{name: "unix seconds string", line: `{"timestamp":"` + unix + `","ip":"203.0.113.7","status":200}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200}},
		{name: "unix nanoseconds", line: `{"ts":` + unix + `000000007,"ip":"203.0.113.7","status":200}`,
			want: Entry{Time: t0.Add(7), ClientIP: ip, Status: 200}},
		{name: "absolute url", line: `{"time":"2026-11-28T12:00:00Z","client_ip":"203.0.113.7","url":"https://shop.example/a?b=1","status":301}`,
			want: Entry{Time: t0, ClientIP: ip, Host: "shop.example", Path: "/a", Query: "b=1", Status: 301}},
		{name: "forwarded-for list", line: `{"time":"2026-11-28T12:00:00Z","client_ip":"203.0.113.7, 10.0.0.1","path":"/","status":200}`,
			want: Entry{Time: t0, ClientIP: ip, Path: "/", Status: 200}},
		{name: "syslog wrapped", line: `Nov 28 12:00:00 web-1 nginx: {"time":"2026-11-28T12:00:00Z","remote_addr":"203.0.113.7","status":200}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200}},
		{name: "mapped", mapping: JSONMapping{Time: "when", TimeFormat: "2006/01/02 15:04:05", ClientIP: "peer", Method: "verb", Path: "route",
			Query: "qs", Status: "code", Latency: "took", APIKey: "api.key", KeyID: "api.id", User: "uid", Session: "sid", Host: "vhost", UserAgent: "agent", Referer: "from", Bytes: "out"},
			line: `{"when":"2026/11/28 12:00:00","peer":"203.0.113.7:5555","verb":"PUT","route":"/x","qs":"a=1","code":"200","api":{"key":"sk_live_abc","id":"k1"},"uid":"u-1","sid":"s-1","took":"12ms","vhost":"h","agent":"ua","from":"r","out":9}`,
			want: Entry{Time: t0, ClientIP: ip, Method: "PUT", Host: "h", Path: "/x", Query: "a=1", Status: 200, Bytes: 9, Latency: 12 * time.Millisecond,
				UserAgent: "ua", Referer: "r", APIKey: "sk_live_abc", KeyID: "k1", User: "u-1", Session: "s-1"}},
		{name: "mapped latency unit", mapping: JSONMapping{Latency: "upstream:us"}, line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"upstream":1500}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200, Latency: 1500 * time.Microsecond}},
		{name: "mapped latency suffix", mapping: JSONMapping{Latency: "upstream_seconds"}, line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"upstream_seconds":0.25}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200, Latency: 250 * time.Millisecond}},
		{name: "mapped unix ms", mapping: JSONMapping{TimeFormat: "unix_ms"}, line: `{"time":` + unix + `000,"ip":"203.0.113.7","status":200}`,
			want: Entry{Time: t0, ClientIP: ip, Status: 200}},

		{name: "not json", line: `203.0.113.7 - - [28/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1`, err: "bad JSON"},
		{name: "array", line: `[1,2]`, err: "bad JSON"},
		{name: "null", line: `null`, err: "not a JSON object"},
		{name: "trailing data", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200} {}`, err: "data after the object"},
		{name: "missing time", line: `{"ip":"203.0.113.7","status":200}`, err: "missing time"},
		{name: "bad timestamp", line: `{"time":"yesterday","ip":"203.0.113.7","status":200}`, err: "bad timestamp"},
		{name: "negative unix time", line: `{"time":-5,"ip":"203.0.113.7","status":200}`, err: "bad timestamp"},
		{name: "no client address", line: `{"time":"2026-11-28T12:00:00Z","status":200}`, err: "no client address"},
		{name: "bad client address", line: `{"time":"2026-11-28T12:00:00Z","ip":"localhost","status":200}`, err: "bad client address"},
		{name: "missing status", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7"}`, err: "missing status"},
		{name: "bad status", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":"OK"}`, err: "bad status"},
		{name: "bad bytes", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"bytes":"lots"}`, err: "bad bytes"},
		{name: "bad latency", line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"latency_ms":"slow"}`, err: "bad latency"},
		{name: "mapped field of the wrong type", mapping: JSONMapping{User: "user"}, line: `{"time":"2026-11-28T12:00:00Z","ip":"203.0.113.7","status":200,"user":{"id":1}}`, err: `field "user" is not a string`},
	}
	for i := range cases {
		cases[i].format = "json"
	}
	runParseCases(t, cases)
}

func TestNewParser(t *testing.T) {
	for _, c := range []struct {
		name    string
		format  string
		mapping JSONMapping
		err     string
	}{
		{"every format", "", JSONMapping{}, ""},
		{"upper case", "NGINX", JSONMapping{}, ""},
		{"unknown", "w3c", JSONMapping{}, "combined, nginx, apache, envoy, json"},
		{"mapping for a text format", "combined", JSONMapping{Time: "ts"}, "--format json only"},
		{"bad latency unit", "json", JSONMapping{Latency: "took:minutes"}, "NAME:UNIT"},
		{"bad time format", "json", JSONMapping{TimeFormat: "iso"}, "time format"},
		{"go layout", "json", JSONMapping{TimeFormat: time.RFC1123}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			formats := []string{c.format}
			if c.format == "" {
				formats = Formats
			}
			for _, f := range formats {
				_, err := NewParser(f, c.mapping)
				if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
					t.Errorf("NewParser(%q) = %v, want error %q", f, err, c.err)
				}
			}
		})
	}
}

// TestCombinedClockCache checks that the remembered second never leaks into
// the next line's time.
func TestCombinedClockCache(t *testing.T) {
	p, _ := NewParser("combined", JSONMapping{})
	var e Entry
	for i, ts := range []string{"28/Nov/2026:12:00:00 +0000", "28/Nov/2026:12:00:00 +0000", "28/Nov/2026:12:00:01 +0000",
		"28/Nov/2026:13:00:01 +0100", "28/Nov/2026:12:00:00 +0000"} {
		if err := p.Parse(`203.0.113.7 - - [`+ts+`] "GET / HTTP/1.1" 200 1`, &e); err != nil {
			t.Fatal(err)
		}
		want := t0.Add(time.Duration(min(i/2, 1)) * time.Second)
		if i == 4 {
			want = t0
		}
		if !e.Time.Equal(want) {
			t.Errorf("%d %s: %v, want %v", i, ts, e.Time, want)
		}
	}
	// A bad timestamp after a good one must not hit the cache.
	if err := p.Parse(`203.0.113.7 - - [28/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1`, &e); err != nil {
		t.Fatal(err)
	}
	if err := p.Parse(`203.0.113.7 - - [28/Nov/2026:12:00:0x +0000] "GET / HTTP/1.1" 200 1`, &e); err == nil {
		t.Error("bad seconds parsed")
	}
}

// The benchmark lines are typical of each format: a browser fetching an
// API path with a query, a referer and a user agent.
const (
	benchCombined = `198.51.100.23 - - [28/Nov/2026:12:00:00 +0000] "GET /api/v2/products/1234/reviews?page=3&sort=recent HTTP/1.1" 200 18734 "https://shop.example/products/1234" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"`
	benchEnvoy    = `[2026-11-28T12:00:00.123Z] "GET /api/v2/products/1234/reviews?page=3&sort=recent HTTP/2" 200 - 0 18734 12 10 "198.51.100.23" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36" "0b7a3d1e-2f4c-4a8e-9c61-5d2f7e8a9b10" "shop.example" "10.1.2.3:8080"`
	benchJSON     = `{"time":"2026-11-28T12:00:00.123Z","remote_addr":"198.51.100.23","request_method":"GET","request_uri":"/api/v2/products/1234/reviews?page=3&sort=recent","status":200,"body_bytes_sent":18734,"request_time":0.012,"http_referer":"https://shop.example/products/1234","http_user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","http_host":"shop.example"}`
)

func benchParse(b *testing.B, format, line string) {
	p, err := NewParser(format, JSONMapping{})
	if err != nil {
		b.Fatal(err)
	}
	var e Entry
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := p.Parse(line, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCombined compares the hand-written parser, on a line whose
// second it has seen (as in a busy log) and on a new second every line,
// with the obvious regexp and time.Parse.
func BenchmarkParseCombined(b *testing.B) {
	b.Run("hand", func(b *testing.B) { benchParse(b, "combined", benchCombined) })
	b.Run("hand/new-second", func(b *testing.B) {
		p, _ := NewParser("combined", JSONMapping{})
		lines := make([]string, 60)
		for i := range lines {
			lines[i] = strings.Replace(benchCombined, "12:00:00", "12:00:"+strconv.Itoa(10+i%50), 1)
		}
		var e Entry
		b.ReportAllocs()
		b.SetBytes(int64(len(benchCombined)))
		i := 0
		for b.Loop() {
			if err := p.Parse(lines[i%len(lines)], &e); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("regexp", func(b *testing.B) {
		re := regexp.MustCompile(`^(\S+) \S+ (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\d+|-)(?: "([^"]*)" "([^"]*)")?`)
		var e Entry
		b.ReportAllocs()
		b.SetBytes(int64(len(benchCombined)))
		for b.Loop() {
			m := re.FindStringSubmatch(benchCombined)
			if m == nil {
				b.Fatal("no match")
			}
			e.ClientIP, _ = netip.ParseAddr(m[1])
			e.Time, _ = time.Parse("02/Jan/2006:15:04:05 -0700", m[3])
			method, target, _ := strings.Cut(m[4], " ")
			target, _, _ = strings.Cut(target, " ")
			e.Method = method
			e.Path, e.Query, _ = strings.Cut(target, "?")
			e.Status, _ = strconv.Atoi(m[5])
			e.Bytes, _ = strconv.ParseInt(m[6], 10, 64)
			e.Referer, e.UserAgent = m[7], m[8]
		}
	})
}

func BenchmarkParseEnvoy(b *testing.B) { benchParse(b, "envoy", benchEnvoy) }

func BenchmarkParseJSON(b *testing.B) { benchParse(b, "json", benchJSON) }
