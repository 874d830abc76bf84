package replay

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
