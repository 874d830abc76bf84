package main

import (
	"testing"
	"time"

	"github.com/abuseguard/abuseguard/internal/replay"
)

// TestAdapters reads one line of each layout the tool adapts and checks
// that the combined line it writes reads back, through the replay
// package's own parser, as the same request.
func TestAdapters(t *testing.T) {
	parser, err := replay.NewParser("combined", replay.JSONMapping{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, line                  string
		ip, method, path, query, ua string
		status                      int
		hasUA                       bool
		at                          time.Time
	}{
		{name: "bunkerweb with a request id",
			line: `api.example.net 203.0.113.8 - 7f3a9c - [03/Feb/2026:10:11:12 +0100] "GET /v2/items?id=4 HTTP/1.1" 404 120 "-" "probe/0.1"`,
			ip:   "203.0.113.8", method: "GET", path: "/v2/items", query: "id=4", ua: "probe/0.1", status: 404, hasUA: true,
			at: time.Date(2026, 2, 3, 9, 11, 12, 0, time.UTC)},
		{name: "common log without a User-Agent",
			line: `198.51.100.3 - - [03/Feb/2026:10:11:12 +0000] "HEAD / HTTP/1.0" 200 0`,
			ip:   "198.51.100.3", method: "HEAD", path: "/", status: 200, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "status dash",
			line: `198.51.100.4 - - [03/Feb/2026:10:11:12 +0000] "GET /slow HTTP/1.1" - - "-" "client/1"`,
			ip:   "198.51.100.4", method: "GET", path: "/slow", ua: "client/1", status: 0, hasUA: true, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "nginx error-log auth failure",
			line: `2026/02/03 10:11:12 [error] 7#7: *42 user "mallory": password mismatch, client: 203.0.113.50, server: api, request: "GET /admin HTTP/1.1", host: "api"`,
			ip:   "203.0.113.50", method: "GET", path: "/admin", status: 401, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "zoraxy",
			line: `2026/02/03 10:11:12 [2026-02-03 10:11:12.250000] [router:host-http] [origin:api.example.net] [client: 2001:db8::7] [useragent: Mozilla/5.0 (X11) Firefox/140.0] POST /v1/login 401`,
			ip:   "2001:db8::7", method: "POST", path: "/v1/login", ua: "Mozilla/5.0 (X11) Firefox/140.0", status: 401, hasUA: true,
			at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "aws alb",
			line: `https 2026-02-03T10:11:12.500000Z app/lb/abc 203.0.113.60:40000 10.0.0.2:80 0.001 0.002 0.000 403 403 10 99 "GET https://api.example.net:443/v1/x?y=1 HTTP/1.1" "tool/2" ECDHE TLSv1.2 arn:x "Root=1" "api.example.net" "arn:c" 0 2026-02-03T10:11:12.400000Z "forward" "-" "-"`,
			ip:   "203.0.113.60", method: "GET", path: "/v1/x", query: "y=1", ua: "tool/2", status: 403, hasUA: true,
			at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "haproxy behind syslog",
			line: `Feb  3 10:11:12 lb1 haproxy[99]: 198.51.100.70:51000 [03/Feb/2026:10:11:12.345] fe~ be/s1 0/0/1/2/3 404 200 - - ---- 1/1/0/0/0 0/0 "GET /nothing HTTP/1.1"`,
			ip:   "198.51.100.70", method: "GET", path: "/nothing", status: 404, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "iis event",
			line: `<Event><EventData><Data Name="date">2026-02-03</Data><Data Name="time">10:11:12</Data><Data Name="c-ip">203.0.113.80</Data><Data Name="cs-method">GET</Data><Data Name="cs-uri-stem">/owa/x</Data><Data Name="cs-uri-query">a=1&amp;b=2</Data><Data Name="sc-status">302</Data><Data Name="sc-bytes">10</Data><Data Name="csUser-Agent">Mozilla/5.0+(Windows)</Data></EventData></Event>`,
			ip:   "203.0.113.80", method: "GET", path: "/owa/x", query: "a=1&b=2", ua: "Mozilla/5.0 (Windows)", status: 302, hasUA: true,
			at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "traefik json with a client list",
			line: `{"ClientHost":"203.0.113.90,10.0.0.1","StartUTC":"2026-02-03T10:11:12.5Z","RequestMethod":"GET","RequestPath":"/a?b=c","RequestProtocol":"HTTP/1.1","DownstreamStatus":200,"DownstreamContentSize":5}`,
			ip:   "203.0.113.90", method: "GET", path: "/a", query: "b=c", status: 200, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
		{name: "upsun message",
			line: `{"timestamp":1,"container":{"name":"x"},"message":"web.0 nginx: 198.51.100.99 - - [03/Feb/2026:10:11:12 +0000] \"GET /z HTTP/1.1\" 200 1 \"-\" \"ua/1\""}`,
			ip:   "198.51.100.99", method: "GET", path: "/z", ua: "ua/1", status: 200, hasUA: true, at: time.Date(2026, 2, 3, 10, 11, 12, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, how, err := adapt(tc.line)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			if rec.HasUA != tc.hasUA {
				t.Errorf("%s: HasUA %v, want %v", how, rec.HasUA, tc.hasUA)
			}
			var e replay.Entry
			out := rec.combined()
			if err := parser.Parse(out, &e); err != nil {
				t.Fatalf("%s wrote %q, which does not parse: %v", how, out, err)
			}
			if e.ClientIP.String() != tc.ip || e.Method != tc.method || e.Path != tc.path || e.Query != tc.query ||
				e.UserAgent != tc.ua || e.Status != tc.status || !e.Time.Truncate(time.Second).Equal(tc.at) {
				t.Fatalf("%s wrote %q, read back as %+v", how, out, e)
			}
		})
	}
}

func TestAdaptRefusesWhatIsNoRequest(t *testing.T) {
	for _, line := range []string{
		`2026/02/03 10:11:12 [notice] 1#1: signal process started`,
		`2026-02-03 10:11:12.123456 [NOTICE] [42] [203.0.113.1:5000:HTTP2-1#_AdminVHost] [STDERR] Failed Login Attempt - username:x ip:203.0.113.1 url:`,
		`198.51.100.2:50034 [03/Feb/2026:02:43:11.234] frontend/backend: SSL handshake failure`,
		`{"logger":"http.handlers.waf","ts":1,"msg":"Coraza: Warning"}`,
		`{"eventTime":"2026-02-03T10:11:12","eventData":{"sourceIP":"203.0.113.1"}}`,
		`something else entirely`,
	} {
		if r, how, err := adapt(line); err == nil {
			t.Errorf("adapt(%q) = %+v via %s, want an error", line, r, how)
		}
	}
}
